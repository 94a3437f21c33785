// The D-Bus service dev.ovs.PortAgent1 at /dev/ovs/PortAgent1: the core's face on the system
// bus. Its interface is dbus/dev.ovs.PortAgent1.xml; the adaptor is generated from it.
//
// Threading: handlers run on the connection's event-loop thread (the daemon runs it with
// enterEventLoopAsync) and may block while the core talks to NetworkManager. Signals are
// emitted on a thread of the service's own, never from the core's listener: sd-bus holds its
// connection lock for as long as a handler runs, and a worker of the core that waited for that
// lock while the handler waited for the worker's port would deadlock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sdbus {
class IConnection;
}

namespace opa::agent {
class Core;
}

namespace opa::dbus {

struct ServiceOptions {
    // The project version, served as the Version property.
    std::string version;
    // The ledger VerifyLedger checks; empty: VerifyLedger answers Failed.
    std::filesystem::path ledger_path;
    // Renames a link (netwatch's netlink rename, in the daemon). Called by
    // CreateContainerInterface when raw_ifname differs from the port name, before the port is
    // created; it should return quietly when no link `old_name` exists (the port then waits,
    // pending, for a link with its name) and throw with a sentence when the rename fails.
    // Empty: links are never renamed.
    std::function<void(const std::string& old_name, const std::string& new_name)> rename_link;
    // Why the link `name` may not be renamed (a clause: "is the bridge's uplink"), nullopt when
    // it may or no such link exists; asked before anything changes. Empty: every link may.
    std::function<std::optional<std::string>(const std::string& name)> rename_refusal;
    // Re-reads the configuration (ReloadConfig). Throws with a sentence when the file is bad;
    // a ServiceError keeps its kind, anything else becomes Failed. Empty: ReloadConfig answers
    // Failed.
    std::function<void()> reload_config;
};

class Service {
  public:
    // Registers the object on `connection` and a listener on `core` (for the signals). Both
    // must outlive the service. Does not request the bus name: call request_name() once the
    // daemon is ready to serve, so that a client never sees the name before the object.
    Service(sdbus::IConnection& connection, agent::Core& core, ServiceOptions options);
    // Releases the name (if requested) and removes the object; the core's listener stays
    // registered but does nothing from then on.
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    // Requests dev.ovs.PortAgent1 on the connection. Throws sdbus::Error when the bus refuses
    // (the policy file is missing, or another agent owns the name).
    void request_name();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace opa::dbus
