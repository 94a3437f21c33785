#include "dbus/client.hpp"

#include "bus/sdbus_compat.hpp"

// Generated at build time from dbus/dev.ovs.PortAgent1.xml.
#include "dev_ovs_PortAgent1_proxy.h"

namespace opa::dbus {
namespace {

// The bus's own errors, reworded for the person at the command line.
AgentError agent_error(const sdbus::Error& error, std::string_view method) {
    const std::string& name = error.getName();
    if (error_kind_from_name(name)) return AgentError(name, error.getMessage());
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
        return AgentError(name, std::string("the agent is not running: nothing owns ") + kBusName +
                                    " on the system bus; start it with `systemctl start "
                                    "ovs-port-agent`.");
    }
    if (name == "org.freedesktop.DBus.Error.AccessDenied") {
        return AgentError(name, "the system bus refused " + std::string(method) +
                                    ": only root may change ports; run the command with sudo.");
    }
    if (name == "org.freedesktop.DBus.Error.NoReply" ||
        name == "org.freedesktop.DBus.Error.Timeout") {
        return AgentError(name, "the agent did not answer " + std::string(method) +
                                    " in time; see `journalctl -u ovs-port-agent`.");
    }
    std::string message = error.getMessage().empty() ? name : error.getMessage();
    return AgentError(name, std::string(method) + " failed: " + message + ".");
}

// Runs one call and turns its failure into an AgentError.
template <typename Call>
auto calling(std::string_view method, Call&& call) -> decltype(call()) {
    try {
        return call();
    } catch (const sdbus::Error& error) {
        throw agent_error(error, method);
    }
}

}  // namespace

// The generated proxy, without signal subscriptions: the CLI only calls. (registerProxy() is
// never called, so no match rule is added and no event loop is needed.)
class AgentClient::Proxy final : public sdbus::ProxyInterfaces<dev::ovs::PortAgent1_proxy> {
  public:
    explicit Proxy(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, bus::ServiceName(kBusName), sdbus::ObjectPath(kObjectPath)) {}
    ~Proxy() = default;

  private:
    void onPortAdded(const std::string&) override {}
    void onPortRemoved(const std::string&) override {}
    void onPortStateChanged(const std::string&, const std::string&) override {}
};

AgentClient::AgentClient() {
    try {
        owned_connection_ = sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& error) {
        throw AgentError(error.getName(),
                         "cannot connect to the system bus: " + error.getMessage() + ".");
    }
    proxy_ = std::make_unique<Proxy>(*owned_connection_);
}

AgentClient::AgentClient(sdbus::IConnection& connection)
    : proxy_(std::make_unique<Proxy>(connection)) {}

AgentClient::~AgentClient() = default;

std::string AgentClient::ping() {
    return calling("Ping", [&] { return proxy_->Ping(); });
}

std::vector<std::string> AgentClient::list_ports() {
    return calling("ListPorts", [&] { return proxy_->ListPorts(); });
}

std::string AgentClient::create_container_interface(const std::string& raw_ifname,
                                                    const std::string& container_id,
                                                    std::uint32_t vmid) {
    return calling("CreateContainerInterface", [&] {
        return proxy_->CreateContainerInterface(raw_ifname, container_id, vmid);
    });
}

std::string AgentClient::remove_container_interface(const std::string& ifname) {
    return calling("RemoveContainerInterface",
                   [&] { return proxy_->RemoveContainerInterface(ifname); });
}

PortInfo AgentClient::get_port(const std::string& name) {
    return calling("GetPort", [&] { return port_from_dict(proxy_->GetPort(name)); });
}

LedgerCheck AgentClient::verify_ledger() {
    return calling("VerifyLedger", [&] {
        const auto [ok, report] = proxy_->VerifyLedger();
        return LedgerCheck{ok, report};
    });
}

void AgentClient::reload_config() {
    calling("ReloadConfig", [&] { proxy_->ReloadConfig(); });
}

}  // namespace opa::dbus
