// A client of NetworkManager's D-Bus API (org.freedesktop.NetworkManager), over sdbus-c++.
// Errors of this layer are NmError exceptions whose text a person can act on.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace opa::nm {

inline constexpr const char* kBusName = "org.freedesktop.NetworkManager";
inline constexpr const char* kObjectPath = "/org/freedesktop/NetworkManager";
inline constexpr const char* kInterface = "org.freedesktop.NetworkManager";
// NM_CAPABILITY_OVS: the daemon has its Open vSwitch plugin loaded.
inline constexpr std::uint32_t kCapabilityOvs = 2;

class NmError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct DaemonInfo {
    std::string version;
    std::vector<std::uint32_t> capabilities;

    bool has_ovs() const;
};

// Connects to the system bus; sd-bus honours DBUS_SYSTEM_BUS_ADDRESS, which is how the agent
// and its tests reach the sandbox's private bus.
std::unique_ptr<sdbus::IConnection> connect_system_bus();

// The text shown when NM lacks OVS support: what it means and what to do about it.
std::string ovs_missing_message(const DaemonInfo& info);

class NmClient {
  public:
    explicit NmClient(sdbus::IConnection& bus);
    ~NmClient();
    NmClient(const NmClient&) = delete;
    NmClient& operator=(const NmClient&) = delete;

    // Version and Capabilities of the running daemon.
    DaemonInfo daemon_info();
    // Throws NmError(ovs_missing_message) unless the daemon can manage OVS; returns its info.
    DaemonInfo require_ovs();
    // NetworkManager's root object introspection XML (a debugging aid).
    std::string introspect();

  private:
    sdbus::IConnection& bus_;
    std::unique_ptr<sdbus::IProxy> manager_;
};

}  // namespace opa::nm
