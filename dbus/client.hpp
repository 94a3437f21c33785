// The CLI's side of dev.ovs.PortAgent1: synchronous calls through the generated proxy. Every
// failure is an AgentError whose what() is a sentence for the user: the agent's own error
// message, or a plain rewording of the bus's (agent not running, call refused by the policy).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dbus/errors.hpp"
#include "dbus/port_dict.hpp"

namespace sdbus {
class IConnection;
}

namespace opa::dbus {

class AgentError : public std::runtime_error {
  public:
    AgentError(std::string name, const std::string& message)
        : std::runtime_error(message), name_(std::move(name)) {}
    // The D-Bus error name, e.g. "dev.ovs.PortAgent1.Error.NotFound" or
    // "org.freedesktop.DBus.Error.ServiceUnknown".
    const std::string& name() const noexcept { return name_; }
    // Ours, when the agent refused; nullopt when the bus or the connection failed.
    std::optional<ErrorKind> kind() const { return error_kind_from_name(name_); }

  private:
    std::string name_;
};

struct LedgerCheck {
    bool ok = false;
    std::string report;  // "PASS: ..." or "FAIL: ..." and note lines
};

class AgentClient {
  public:
    // Connects to the system bus (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS). Throws AgentError.
    AgentClient();
    // Talks over `connection`, which must outlive the client. Needs no event loop.
    explicit AgentClient(sdbus::IConnection& connection);
    ~AgentClient();
    AgentClient(const AgentClient&) = delete;
    AgentClient& operator=(const AgentClient&) = delete;

    std::string ping();
    std::vector<std::string> list_ports();
    // Returns the port's name (vi{VMID} or vi{VMID}i{N}).
    std::string create_container_interface(const std::string& raw_ifname,
                                           const std::string& container_id, std::uint32_t vmid);
    std::string remove_container_interface(const std::string& ifname);
    PortInfo get_port(const std::string& name);
    LedgerCheck verify_ledger();
    void reload_config();

  private:
    class Proxy;
    std::unique_ptr<sdbus::IConnection> owned_connection_;
    std::unique_ptr<Proxy> proxy_;
};

}  // namespace opa::dbus
