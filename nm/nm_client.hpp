// A client of NetworkManager's D-Bus API (org.freedesktop.NetworkManager), over sdbus-c++.
// Errors of this layer are NmError exceptions whose text a person can act on.
//
// Threading: the client owns its bus connection and runs the connection's event loop in a thread
// of its own, so that NM's signals (device StateChanged, NameOwnerChanged) are seen while other
// threads make calls. Any thread may call any method; waits are event driven, with a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nm/profiles.hpp"

namespace sdbus {
class IConnection;
class IProxy;
class Message;
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

// The text shown when NM lacks OVS support: what it means and what to do about it.
std::string ovs_missing_message(const DaemonInfo& info);

// NMDeviceType values the agent cares about.
enum DeviceType : std::uint32_t {
    kDeviceEthernet = 1,
    kDeviceTun = 16,
    kDeviceVeth = 20,
    kDeviceOvsInterface = 24,
    kDeviceOvsPort = 25,
    kDeviceOvsBridge = 26,
};
// NMDeviceState values.
enum DeviceState : std::uint32_t {
    kStateUnknown = 0,
    kStateUnmanaged = 10,
    kStateUnavailable = 20,
    kStateDisconnected = 30,
    kStatePrepare = 40,
    kStateActivated = 100,
    kStateDeactivating = 110,
    kStateFailed = 120,
};
std::string device_state_name(std::uint32_t state);
// NMDeviceStateReason as NM's own short names ("ovsdb-failed", "dependency-failed", ...).
std::string state_reason_name(std::uint32_t reason);

struct DeviceInfo {
    std::string path;
    std::string interface;
    std::uint32_t type = 0;
    std::uint32_t state = 0;
    std::uint32_t state_reason = 0;
    std::string active_connection;  // "/" when none
    bool managed = false;
    bool real = false;
};

struct ConnectionInfo {
    std::string path;
    std::string id;
    std::string uuid;
    std::string type;
    std::string interface_name;
    std::string controller;  // uuid (or name) of the controller profile, "" when none
    std::map<std::string, std::string> external_ids;  // ovs-external-ids.data
    bool in_memory = false;                           // Unsaved / volatile
};

struct Ip4Info {
    std::vector<Ipv4Address> addresses;
    std::string gateway;
    std::vector<std::string> dns;
};

// AddConnection2 flags.
enum AddFlags : std::uint32_t {
    kAddToDisk = 0x1,
    kAddInMemory = 0x2,
    kAddBlockAutoconnect = 0x20,
};
// CheckpointCreate flags.
enum CheckpointFlags : std::uint32_t {
    kCheckpointDestroyAll = 0x1,
    kCheckpointDeleteNewConnections = 0x2,
    kCheckpointDisconnectNewDevices = 0x4,
    kCheckpointAllowOverlapping = 0x8,
};

using Clock = std::chrono::steady_clock;

// NM does not record who made a checkpoint, so the agent's rollback timeouts are its mark: a
// checkpoint with one of these timeouts is the agent's. Left behind by a crash, it is swept at
// start-up (NM would otherwise hold it until the timeout and roll back).
inline constexpr std::uint32_t kPortCheckpointTimeout = 67;   // per-port attach
inline constexpr std::uint32_t kSetupCheckpointTimeout = 97;  // setup-bridge

class NmClient {
  public:
    // Connects to the system bus (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS, which is how the agent
    // and its tests reach the sandbox's private bus) and starts the event loop thread.
    NmClient();
    ~NmClient();
    NmClient(const NmClient&) = delete;
    NmClient& operator=(const NmClient&) = delete;

    // Version and Capabilities of the running daemon.
    DaemonInfo daemon_info();
    // Throws NmError(ovs_missing_message) unless the daemon can manage OVS; returns its info.
    DaemonInfo require_ovs();
    // Wire names for the running daemon's version (read once, re-read after an NM restart).
    WireNames wire_names();
    // NetworkManager's root object introspection XML (a debugging aid).
    std::string introspect();
    // Is NetworkManager's name owned on the bus right now?
    bool nm_running();
    // Called from the event loop thread whenever NM's bus name changes owner (restart, stop):
    // `running` tells whether it has an owner now. Replaces any earlier callback.
    void on_nm_owner_changed(std::function<void(bool running)> callback);

    // Settings.
    std::string add_connection(const Settings& settings, std::uint32_t flags);
    // add_connection(), or nullopt when NM holds a profile with the settings' UUID already
    // (NM's UuidExists): one call where a lookup first would take two.
    std::optional<std::string> add_connection_if_new(const Settings& settings, std::uint32_t flags);
    // Update2 keeping the profile's storage (in-memory stays in memory).
    void update_connection(const std::string& path, const Settings& settings, bool in_memory);
    void delete_connection(const std::string& path);
    Settings get_settings(const std::string& path);
    std::vector<std::string> list_connection_paths();
    // Every profile with its identity fields; profiles that vanish while listing are skipped.
    std::vector<ConnectionInfo> list_connections();
    std::optional<ConnectionInfo> connection_info(const std::string& path);
    std::optional<std::string> connection_path_by_uuid(const std::string& uuid);

    // Activation.
    std::string activate(const std::string& connection_path, const std::string& device_path = "/");
    void deactivate(const std::string& active_path);
    // The UUID of the profile an active connection activates.
    std::string active_connection_uuid(const std::string& active_path);

    // Devices.
    std::vector<std::string> all_devices();
    DeviceInfo device(const std::string& path);
    std::vector<DeviceInfo> devices();
    // The device named `ifname` whose DeviceType is one of `types` (all types when empty):
    // bridge, port and interface of OVS may share one name.
    std::optional<DeviceInfo> device_by_interface(const std::string& ifname,
                                                  const std::vector<std::uint32_t>& types = {});
    // The same among realized devices only, usually in two calls: NM's own index by name
    // (GetDeviceByIpIface) answers, and only when the device it names has another type (an OVS
    // port shares its interface's name) are all devices listed.
    std::optional<DeviceInfo> real_device_by_interface(const std::string& ifname,
                                                       const std::vector<std::uint32_t>& types);
    Ip4Info ip4_config(const std::string& device_path);
    // The profile NM applied to an activated device (GetAppliedConnection).
    Settings applied_connection(const std::string& device_path);
    // Device.Reapply of the device's own profile as it is: NM configures its IP again.
    void reapply(const std::string& device_path);
    // Sets the device's Managed property (NM then activates profiles on it).
    void set_managed(const std::string& device_path, bool managed);
    TunProperties tun_properties(const std::string& device_path);

    // Waits, on StateChanged signals, until the device's state satisfies `done` or the deadline
    // passes. Throws NmError naming the state and NM's reason when the device FAILED or the
    // deadline passed; returns the device as it is then.
    DeviceInfo wait_device_state(const std::string& device_path,
                                 const std::function<bool(std::uint32_t)>& done,
                                 Clock::time_point deadline);
    // Re-evaluates `check` each time NetworkManager signals a change (any PropertiesChanged or
    // StateChanged) until it holds; throws NmError("timed out waiting for <what>") at the
    // deadline. For conditions no single signal carries, such as an address leaving a device.
    void wait_for(const std::function<bool()>& check, Clock::time_point deadline,
                  const std::string& what);
    // The last state NM signalled for a device (StateChanged) or a caller noted (note_state),
    // without asking NM; nullopt when none is known since this client started (or NM restarted).
    std::optional<std::uint32_t> last_signalled_state(const std::string& device_path) const;
    // The same, only if NM has not restarted since instance() returned `instance`: a new NM
    // numbers its devices afresh, so a path remembered from before may name another device.
    std::optional<std::uint32_t> last_signalled_state(const std::string& device_path,
                                                      std::uint64_t instance) const;
    // Which NetworkManager this is: bumped each time NM's bus name changes owner. Object paths
    // compare only within one instance.
    std::uint64_t instance() const;
    // A state read from NM (not signalled), so last_signalled_state() knows it until the next
    // signal; ignored when a signal came first or NM restarted meanwhile.
    void note_state(const std::string& device_path, std::uint64_t instance, std::uint32_t state);
    // How many state changes NM signalled for the device (of `instance`) since its state became
    // known: equal values mean nothing happened to it in between. nullopt when not known.
    std::optional<std::uint64_t> state_generation(const std::string& device_path,
                                                  std::uint64_t instance) const;

    // Checkpoints.
    std::string checkpoint_create(const std::vector<std::string>& devices,
                                  std::uint32_t rollback_timeout_s, std::uint32_t flags);
    // device path -> result (0 ok, 1 no device, 2 unmanaged, 3 failed)
    std::map<std::string, std::uint32_t> checkpoint_rollback(const std::string& checkpoint);
    void checkpoint_destroy(const std::string& checkpoint);
    std::vector<std::string> checkpoints();
    // Created time (CLOCK_BOOTTIME ms) and rollback timeout of a checkpoint.
    std::pair<std::int64_t, std::uint32_t> checkpoint_times(const std::string& checkpoint);
    // Destroys the agent's own checkpoints (see kPortCheckpointTimeout) and returns their paths;
    // others' checkpoints are left alone.
    std::vector<std::string> sweep_agent_checkpoints();

  private:
    struct SignalState;
    void on_device_state_changed(sdbus::Message& message);
    void on_name_owner_changed(sdbus::Message& message);
    void on_device_removed(sdbus::Message& message);
    void on_any_change();
    template <typename T>
    T get_property(const std::string& path, const char* interface, const char* name);

    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> manager_;
    std::unique_ptr<sdbus::IProxy> settings_;
    std::unique_ptr<SignalState> signals_;
    std::optional<WireNames> wire_names_;
    std::mutex wire_mutex_;
};

// RAII around an NM checkpoint: rolls back unless commit() was called. Rollback also happens
// when the scope is left by an exception.
class CheckpointGuard {
  public:
    CheckpointGuard(NmClient& nm, const std::vector<std::string>& devices,
                    std::uint32_t rollback_timeout_s, std::uint32_t flags);
    ~CheckpointGuard();
    CheckpointGuard(const CheckpointGuard&) = delete;
    CheckpointGuard& operator=(const CheckpointGuard&) = delete;

    void commit();  // destroys the checkpoint: the changes stay
    // Rolls back now; returns NM's per-device results.
    std::map<std::string, std::uint32_t> rollback();
    const std::string& path() const { return path_; }

  private:
    NmClient& nm_;
    std::string path_;
    bool done_ = false;
};

}  // namespace opa::nm
