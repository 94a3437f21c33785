#include "nm/nm_client.hpp"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <set>
#include <tuple>

#include "bus/sdbus_compat.hpp"

namespace opa::nm {
namespace {

constexpr const char* kSettingsPath = "/org/freedesktop/NetworkManager/Settings";
constexpr const char* kSettingsInterface = "org.freedesktop.NetworkManager.Settings";
constexpr const char* kConnectionInterface = "org.freedesktop.NetworkManager.Settings.Connection";
constexpr const char* kDeviceInterface = "org.freedesktop.NetworkManager.Device";
constexpr const char* kActiveInterface = "org.freedesktop.NetworkManager.Connection.Active";
constexpr const char* kPropertiesInterface = "org.freedesktop.DBus.Properties";
constexpr const char* kDbusName = "org.freedesktop.DBus";
constexpr const char* kDbusPath = "/org/freedesktop/DBus";

std::string bus_address_for_humans() {
    const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    return address ? address : "the system bus";
}

// Turns an sd-bus failure into NmError saying what was attempted.
[[noreturn]] void rethrow_as_nm_error(const sdbus::Error& error, const std::string& what) {
    if (error.getName() == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        error.getName() == "org.freedesktop.DBus.Error.NameHasNoOwner") {
        throw NmError("NetworkManager is not running on " + bus_address_for_humans() + " (" + what +
                      ")");
    }
    throw NmError(what + ": " + error.getMessage() + " [" + error.getName() + "]");
}

template <typename Fn>
auto nm_call(const std::string& what, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const sdbus::Error& error) {
        rethrow_as_nm_error(error, what);
    }
}

std::string variant_string(const SettingValues& values, const char* key) {
    auto it = values.find(key);
    if (it == values.end() || !it->second.containsValueOfType<std::string>()) return {};
    return it->second.get<std::string>();
}

// connection.id of a profile's settings, for messages ("" when absent).
std::string profile_id_of(const Settings& settings) {
    auto section = settings.find("connection");
    if (section == settings.end()) return "";
    return variant_string(section->second, "id");
}

}  // namespace

// The latest state NM signalled for each device and active connection, for waiters.
struct NmClient::SignalState {
    std::mutex mutex;
    std::condition_variable changed;
    struct Seen {
        std::uint64_t generation = 0;  // signals seen for this device
        bool known = false;            // state holds: signalled, or read (note_state)
        std::uint32_t state = 0;
        std::uint32_t reason = 0;
        // The last states signalled, oldest first, the newest being generation's: a waiter
        // that wakes after several signals still sees each state the device passed through
        // (ACTIVATED for a moment, then gone with its link, is still ACTIVATED reached).
        // (A vector, not a deque: a deque takes half a KiB per device, and there are four
        // devices per attached port.)
        std::vector<std::pair<std::uint32_t, std::uint32_t>> recent;  // state, reason
    };
    static constexpr std::size_t kRecentStates = 8;
    std::map<std::string, Seen> devices;
    // Devices NM removed (newest last, at most kRemembered): NM may still signal a state for
    // one after DeviceRemoved, which must not bring it back for its waiters.
    static constexpr std::size_t kRemembered = 1024;
    std::set<std::string> removed;
    std::deque<std::string> removed_order;

    // The device's entry when its state is known (and NM is still `expected`, when given);
    // nullptr otherwise. mutex held.
    const Seen* known(const std::string& device_path, std::optional<std::uint64_t> expected) const {
        if (expected && instance != *expected) return nullptr;
        auto it = devices.find(device_path);
        if (it == devices.end() || !it->second.known) return nullptr;
        return &it->second;
    }
    std::function<void(bool)> owner_callback;
    std::uint64_t any_change = 0;  // bumped by every signal NM sends
    std::uint64_t instance = 0;    // bumped by every change of NM's bus name owner
};

bool DaemonInfo::has_ovs() const {
    return std::find(capabilities.begin(), capabilities.end(), kCapabilityOvs) !=
           capabilities.end();
}

std::string ovs_missing_message(const DaemonInfo& info) {
    return "NetworkManager " + info.version +
           " has no Open vSwitch support (its Capabilities lack 2 = OVS; Debian builds "
           "network-manager with OVS disabled). Install Debian's network-manager rebuilt with "
           "OVS: sudo scripts/install.sh --with-nm-ovs (scripts/build-nm-ovs.sh --deb makes the "
           "packages; 'ovs-port-agent doctor' names the command for this host).";
}

std::string device_state_name(std::uint32_t state) {
    switch (state) {
        case 0:
            return "unknown";
        case 10:
            return "unmanaged";
        case 20:
            return "unavailable";
        case 30:
            return "disconnected";
        case 40:
            return "prepare";
        case 50:
            return "config";
        case 60:
            return "need-auth";
        case 70:
            return "ip-config";
        case 80:
            return "ip-check";
        case 90:
            return "secondaries";
        case 100:
            return "activated";
        case 110:
            return "deactivating";
        case 120:
            return "failed";
    }
    return "state-" + std::to_string(state);
}

std::string state_reason_name(std::uint32_t reason) {
    // NMDeviceStateReason, NM's own spelling (nm-dbus-interface.h of 1.42).
    static const char* const kNames[] = {"none",
                                         "unknown",
                                         "now-managed",
                                         "now-unmanaged",
                                         "config-failed",
                                         "ip-config-unavailable",
                                         "ip-config-expired",
                                         "no-secrets",
                                         "supplicant-disconnect",
                                         "supplicant-config-failed",
                                         "supplicant-failed",
                                         "supplicant-timeout",
                                         "ppp-start-failed",
                                         "ppp-disconnect",
                                         "ppp-failed",
                                         "dhcp-start-failed",
                                         "dhcp-error",
                                         "dhcp-failed",
                                         "shared-start-failed",
                                         "shared-failed",
                                         "autoip-start-failed",
                                         "autoip-error",
                                         "autoip-failed",
                                         "modem-busy",
                                         "modem-no-dial-tone",
                                         "modem-no-carrier",
                                         "modem-dial-timeout",
                                         "modem-dial-failed",
                                         "modem-init-failed",
                                         "gsm-apn-failed",
                                         "gsm-registration-not-searching",
                                         "gsm-registration-denied",
                                         "gsm-registration-timeout",
                                         "gsm-registration-failed",
                                         "gsm-pin-check-failed",
                                         "firmware-missing",
                                         "removed",
                                         "sleeping",
                                         "connection-removed",
                                         "user-requested",
                                         "carrier",
                                         "connection-assumed",
                                         "supplicant-available",
                                         "modem-not-found",
                                         "bt-failed",
                                         "gsm-sim-not-inserted",
                                         "gsm-sim-pin-required",
                                         "gsm-sim-puk-required",
                                         "gsm-sim-wrong",
                                         "infiniband-mode",
                                         "dependency-failed",
                                         "br2684-failed",
                                         "modem-manager-unavailable",
                                         "ssid-not-found",
                                         "secondary-connection-failed",
                                         "dcb-fcoe-failed",
                                         "teamd-control-failed",
                                         "modem-failed",
                                         "modem-available",
                                         "sim-pin-incorrect",
                                         "new-activation",
                                         "parent-changed",
                                         "parent-managed-changed",
                                         "ovsdb-failed",
                                         "ip-address-duplicate",
                                         "ip-method-unsupported",
                                         "sriov-configuration-failed",
                                         "peer-not-found"};
    if (reason < std::size(kNames)) return kNames[reason];
    return "reason-" + std::to_string(reason);
}

NmClient::NmClient() : signals_(std::make_unique<SignalState>()) {
    try {
        bus_ = sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& error) {
        throw NmError("cannot connect to " + bus_address_for_humans() + ": " + error.getMessage());
    }
    manager_ = bus::make_proxy(*bus_, kBusName, kObjectPath);
    settings_ = bus::make_proxy(*bus_, kBusName, kSettingsPath);
    // Match rules on the well-known name: the bus delivers the signals of whoever owns it, also
    // after a restart of NetworkManager.
    bus::add_match(*bus_, bus::signal_rule(kBusName, kDeviceInterface, "StateChanged"),
                   [this](sdbus::Message& m) { on_device_state_changed(m); });
    bus::add_match(*bus_, bus::signal_rule(kBusName, kActiveInterface, "StateChanged"),
                   [this](sdbus::Message&) { on_any_change(); });
    // A new device (a link NM has just seen) is a change waiters may be waiting for.
    bus::add_match(*bus_, bus::signal_rule(kBusName, kInterface, "DeviceAdded"),
                   [this](sdbus::Message&) { on_any_change(); });
    // An IPv4 configuration that changes (addresses, gateway, DNS arrive after ACTIVATED) is
    // what setup-bridge's verification waits for; ports have none, so this stays quiet.
    bus::add_match(*bus_,
                   bus::signal_rule(kBusName, kPropertiesInterface, "PropertiesChanged") +
                       ",arg0='org.freedesktop.NetworkManager.IP4Config'",
                   [this](sdbus::Message&) { on_any_change(); });
    bus::add_match(*bus_, bus::signal_rule(kBusName, kInterface, "DeviceRemoved"),
                   [this](sdbus::Message& m) { on_device_removed(m); });
    bus::add_match(*bus_,
                   bus::signal_rule(kDbusName, "org.freedesktop.DBus", "NameOwnerChanged") +
                       ",arg0='" + kBusName + "'",
                   [this](sdbus::Message& m) { on_name_owner_changed(m); });
    bus_->enterEventLoopAsync();
}

NmClient::~NmClient() {
    try {
        bus_->leaveEventLoop();
    } catch (const sdbus::Error&) {
        // The loop is gone already; nothing to stop.
    }
}

// The callbacks run on the event loop thread; no exception may escape into sd-bus.
void NmClient::on_device_state_changed(sdbus::Message& message) {
    try {
        std::uint32_t new_state = 0, old_state = 0, reason = 0;
        message >> new_state >> old_state >> reason;
        std::lock_guard lock(signals_->mutex);
        if (signals_->removed.count(message.getPath())) return;
        auto& seen = signals_->devices[message.getPath()];
        seen.generation++;
        seen.known = true;
        seen.state = new_state;
        seen.reason = reason;
        seen.recent.emplace_back(new_state, reason);
        if (seen.recent.size() > SignalState::kRecentStates) {
            seen.recent.erase(seen.recent.begin());
        }
        signals_->any_change++;
        signals_->changed.notify_all();
    } catch (const std::exception&) {
        // A malformed signal carries nothing to wait for; waiters re-read the property.
    }
}

void NmClient::on_name_owner_changed(sdbus::Message& message) {
    std::function<void(bool)> callback;
    bool running = false;
    try {
        std::string name, old_owner, new_owner;
        message >> name >> old_owner >> new_owner;
        running = !new_owner.empty();
        {
            std::lock_guard wire_lock(wire_mutex_);
            wire_names_.reset();  // a new NM may be another version
        }
        std::lock_guard lock(signals_->mutex);
        // A new NM has new object paths' states: forget what the old one said.
        signals_->devices.clear();
        signals_->removed.clear();
        signals_->removed_order.clear();
        signals_->instance++;
        signals_->changed.notify_all();
        callback = signals_->owner_callback;
    } catch (const std::exception&) {
        return;
    }
    if (callback) {
        try {
            callback(running);
        } catch (...) {
            // The callback owner logs its own failures; nothing may cross into sd-bus.
        }
    }
}

void NmClient::on_device_removed(sdbus::Message& message) {
    try {
        sdbus::ObjectPath path;
        message >> path;
        std::lock_guard lock(signals_->mutex);
        // Waiters on it fail at once (they find it gone); this also keeps the map from growing
        // with every link that ever came and went.
        signals_->devices.erase(path);
        if (signals_->removed.insert(path).second) {
            signals_->removed_order.push_back(path);
            if (signals_->removed_order.size() > SignalState::kRemembered) {
                signals_->removed.erase(signals_->removed_order.front());
                signals_->removed_order.pop_front();
            }
        }
        signals_->any_change++;
        signals_->changed.notify_all();
    } catch (const std::exception&) {
        // Malformed: waiters still end at their deadline.
    }
}

void NmClient::on_any_change() {
    std::lock_guard lock(signals_->mutex);
    signals_->any_change++;
    signals_->changed.notify_all();
}

std::optional<std::uint32_t> NmClient::last_signalled_state(const std::string& device_path,
                                                            std::uint64_t instance) const {
    std::lock_guard lock(signals_->mutex);
    const auto* seen = signals_->known(device_path, instance);
    return seen ? std::optional(seen->state) : std::nullopt;
}

void NmClient::note_state(const std::string& device_path, std::uint64_t instance,
                          std::uint32_t state) {
    std::lock_guard lock(signals_->mutex);
    if (signals_->instance != instance || signals_->removed.count(device_path)) return;
    auto& seen = signals_->devices[device_path];
    if (seen.known) return;  // a signal was first: it is as new as this read, or newer
    seen.known = true;
    seen.state = state;
}

std::optional<std::uint64_t> NmClient::state_generation(const std::string& device_path,
                                                        std::uint64_t instance) const {
    std::lock_guard lock(signals_->mutex);
    const auto* seen = signals_->known(device_path, instance);
    return seen ? std::optional(seen->generation) : std::nullopt;
}

std::uint64_t NmClient::instance() const {
    std::lock_guard lock(signals_->mutex);
    return signals_->instance;
}

std::optional<std::uint32_t> NmClient::last_signalled_state(const std::string& device_path) const {
    std::lock_guard lock(signals_->mutex);
    const auto* seen = signals_->known(device_path, std::nullopt);
    return seen ? std::optional(seen->state) : std::nullopt;
}

void NmClient::wait_for(const std::function<bool()>& check, Clock::time_point deadline,
                        const std::string& what) {
    for (;;) {
        std::uint64_t seen = 0;
        {
            std::lock_guard lock(signals_->mutex);
            seen = signals_->any_change;
        }
        // Checked after noting the counter: a change during the check wakes the wait below.
        if (check()) return;
        std::unique_lock lock(signals_->mutex);
        if (!signals_->changed.wait_until(lock, deadline,
                                          [&] { return signals_->any_change != seen; })) {
            lock.unlock();
            if (check()) return;
            throw NmError("timed out waiting for " + what);
        }
    }
}

void NmClient::on_nm_owner_changed(std::function<void(bool)> callback) {
    std::lock_guard lock(signals_->mutex);
    signals_->owner_callback = std::move(callback);
}

template <typename T>
T NmClient::get_property(const std::string& path, const char* interface, const char* name) {
    return nm_call("reading " + std::string(name) + " of " + path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        return proxy->getProperty(name).onInterface(interface).get<T>();
    });
}

DaemonInfo NmClient::daemon_info() {
    return nm_call("reading NetworkManager's Version and Capabilities", [&] {
        DaemonInfo info;
        info.version = manager_->getProperty("Version").onInterface(kInterface).get<std::string>();
        info.capabilities = manager_->getProperty("Capabilities")
                                .onInterface(kInterface)
                                .get<std::vector<std::uint32_t>>();
        return info;
    });
}

DaemonInfo NmClient::require_ovs() {
    DaemonInfo info = daemon_info();
    if (!info.has_ovs()) throw NmError(ovs_missing_message(info));
    return info;
}

WireNames NmClient::wire_names() {
    {
        std::lock_guard lock(wire_mutex_);
        if (wire_names_) return *wire_names_;
    }
    WireNames names = wire_names_for(daemon_info().version);
    std::lock_guard lock(wire_mutex_);
    wire_names_ = names;
    return names;
}

std::string NmClient::introspect() {
    return nm_call("introspecting NetworkManager", [&] {
        std::string xml;
        manager_->callMethod("Introspect")
            .onInterface("org.freedesktop.DBus.Introspectable")
            .storeResultsTo(xml);
        return xml;
    });
}

bool NmClient::nm_running() {
    try {
        auto dbus = bus::make_proxy(*bus_, kDbusName, kDbusPath);
        bool has_owner = false;
        dbus->callMethod("NameHasOwner")
            .onInterface("org.freedesktop.DBus")
            .withArguments(std::string(kBusName))
            .storeResultsTo(has_owner);
        return has_owner;
    } catch (const sdbus::Error&) {
        return false;
    }
}

std::string NmClient::add_connection(const Settings& settings, std::uint32_t flags) {
    std::optional<std::string> path = add_connection_if_new(settings, flags);
    if (!path) {
        throw NmError("adding profile '" + profile_id_of(settings) +
                      "': a connection with this UUID already exists");
    }
    return *path;
}

std::optional<std::string> NmClient::add_connection_if_new(const Settings& settings,
                                                           std::uint32_t flags) {
    try {
        sdbus::ObjectPath path;
        std::map<std::string, sdbus::Variant> result;
        settings_->callMethod("AddConnection2")
            .onInterface(kSettingsInterface)
            .withArguments(settings, flags, std::map<std::string, sdbus::Variant>{})
            .storeResultsTo(path, result);
        return std::string(path);
    } catch (const sdbus::Error& error) {
        if (error.getName() == "org.freedesktop.NetworkManager.Settings.UuidExists") {
            return std::nullopt;
        }
        rethrow_as_nm_error(error, "adding profile '" + profile_id_of(settings) + "'");
    }
}

void NmClient::update_connection(const std::string& path, const Settings& settings,
                                 bool in_memory) {
    nm_call("updating profile " + path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        std::map<std::string, sdbus::Variant> result;
        const std::uint32_t flags = in_memory ? 0x2 : 0x1;  // IN_MEMORY | TO_DISK
        proxy->callMethod("Update2")
            .onInterface(kConnectionInterface)
            .withArguments(settings, flags, std::map<std::string, sdbus::Variant>{})
            .storeResultsTo(result);
    });
}

void NmClient::delete_connection(const std::string& path) {
    nm_call("deleting profile " + path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        proxy->callMethod("Delete").onInterface(kConnectionInterface);
    });
}

Settings NmClient::get_settings(const std::string& path) {
    return nm_call("reading profile " + path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        Settings settings;
        proxy->callMethod("GetSettings").onInterface(kConnectionInterface).storeResultsTo(settings);
        return settings;
    });
}

std::vector<std::string> NmClient::list_connection_paths() {
    return nm_call("listing profiles", [&] {
        std::vector<sdbus::ObjectPath> paths;
        settings_->callMethod("ListConnections")
            .onInterface(kSettingsInterface)
            .storeResultsTo(paths);
        return std::vector<std::string>(paths.begin(), paths.end());
    });
}

std::optional<ConnectionInfo> NmClient::connection_info(const std::string& path) {
    Settings settings;
    bool unsaved = false;
    try {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        proxy->callMethod("GetSettings").onInterface(kConnectionInterface).storeResultsTo(settings);
        unsaved = proxy->getProperty("Unsaved").onInterface(kConnectionInterface).get<bool>();
    } catch (const sdbus::Error& error) {
        if (error.getName() == "org.freedesktop.DBus.Error.UnknownObject" ||
            error.getName() == "org.freedesktop.DBus.Error.UnknownMethod") {
            return std::nullopt;  // deleted meanwhile
        }
        rethrow_as_nm_error(error, "reading profile " + path);
    }
    ConnectionInfo info;
    info.path = path;
    info.in_memory = unsaved;
    const SettingValues& connection = settings["connection"];
    info.id = variant_string(connection, "id");
    info.uuid = variant_string(connection, "uuid");
    info.type = variant_string(connection, "type");
    info.interface_name = variant_string(connection, "interface-name");
    info.controller = variant_string(connection, "master");
    if (info.controller.empty()) info.controller = variant_string(connection, "controller");
    if (auto ext = settings.find("ovs-external-ids"); ext != settings.end()) {
        if (auto data = ext->second.find("data");
            data != ext->second.end() &&
            data->second.containsValueOfType<std::map<std::string, std::string>>()) {
            info.external_ids = data->second.get<std::map<std::string, std::string>>();
        }
    }
    return info;
}

std::vector<ConnectionInfo> NmClient::list_connections() {
    std::vector<ConnectionInfo> result;
    for (const std::string& path : list_connection_paths()) {
        if (auto info = connection_info(path)) result.push_back(std::move(*info));
    }
    return result;
}

std::optional<std::string> NmClient::connection_path_by_uuid(const std::string& uuid) {
    try {
        sdbus::ObjectPath path;
        settings_->callMethod("GetConnectionByUuid")
            .onInterface(kSettingsInterface)
            .withArguments(uuid)
            .storeResultsTo(path);
        return std::string(path);
    } catch (const sdbus::Error& error) {
        if (error.getName() == "org.freedesktop.NetworkManager.Settings.InvalidConnection") {
            return std::nullopt;
        }
        rethrow_as_nm_error(error, "looking up profile " + uuid);
    }
}

std::string NmClient::activate(const std::string& connection_path, const std::string& device_path) {
    return nm_call("activating profile " + connection_path, [&] {
        sdbus::ObjectPath active;
        manager_->callMethod("ActivateConnection")
            .onInterface(kInterface)
            .withArguments(sdbus::ObjectPath(connection_path), sdbus::ObjectPath(device_path),
                           sdbus::ObjectPath("/"))
            .storeResultsTo(active);
        return std::string(active);
    });
}

void NmClient::deactivate(const std::string& active_path) {
    nm_call("deactivating " + active_path, [&] {
        manager_->callMethod("DeactivateConnection")
            .onInterface(kInterface)
            .withArguments(sdbus::ObjectPath(active_path));
    });
}

std::vector<std::string> NmClient::all_devices() {
    return nm_call("listing devices", [&] {
        std::vector<sdbus::ObjectPath> paths;
        manager_->callMethod("GetAllDevices").onInterface(kInterface).storeResultsTo(paths);
        return std::vector<std::string>(paths.begin(), paths.end());
    });
}

DeviceInfo NmClient::device(const std::string& path) {
    return nm_call("reading device " + path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, path);
        std::map<std::string, sdbus::Variant> props;
        proxy->callMethod("GetAll")
            .onInterface(kPropertiesInterface)
            .withArguments(std::string(kDeviceInterface))
            .storeResultsTo(props);
        DeviceInfo info;
        info.path = path;
        info.interface = props["Interface"].get<std::string>();
        info.type = props["DeviceType"].get<std::uint32_t>();
        info.state = props["State"].get<std::uint32_t>();
        info.state_reason =
            std::get<1>(props["StateReason"].get<sdbus::Struct<std::uint32_t, std::uint32_t>>());
        info.active_connection = props["ActiveConnection"].get<sdbus::ObjectPath>();
        info.managed = props["Managed"].get<bool>();
        info.real = props["Real"].get<bool>();
        return info;
    });
}

std::vector<DeviceInfo> NmClient::devices() {
    std::vector<DeviceInfo> result;
    for (const std::string& path : all_devices()) {
        try {
            result.push_back(device(path));
        } catch (const NmError&) {
            // The device went away while listing.
        }
    }
    return result;
}

std::optional<DeviceInfo> NmClient::device_by_interface(const std::string& ifname,
                                                        const std::vector<std::uint32_t>& types) {
    for (const std::string& path : all_devices()) {
        DeviceInfo info;
        try {
            info = device(path);
        } catch (const NmError&) {
            continue;
        }
        if (info.interface != ifname) continue;
        if (types.empty() || std::find(types.begin(), types.end(), info.type) != types.end()) {
            return info;
        }
    }
    return std::nullopt;
}

std::optional<DeviceInfo> NmClient::real_device_by_interface(
    const std::string& ifname, const std::vector<std::uint32_t>& types) {
    auto wanted = [&](const DeviceInfo& info) {
        return info.real && info.interface == ifname &&
               (types.empty() || std::find(types.begin(), types.end(), info.type) != types.end());
    };
    sdbus::ObjectPath path;
    try {
        manager_->callMethod("GetDeviceByIpIface")
            .onInterface(kInterface)
            .withArguments(ifname)
            .storeResultsTo(path);
    } catch (const sdbus::Error& error) {
        // NM looks among realized devices only: no answer means none has this name.
        if (error.getName() == "org.freedesktop.NetworkManager.UnknownDevice") return std::nullopt;
        rethrow_as_nm_error(error, "looking up device " + ifname);
    }
    try {
        if (DeviceInfo info = device(path); wanted(info)) return info;
    } catch (const NmError&) {
        // Gone meanwhile: the listing below decides.
    }
    for (DeviceInfo& info : devices()) {
        if (wanted(info)) return std::move(info);
    }
    return std::nullopt;
}

std::string NmClient::active_connection_uuid(const std::string& active_path) {
    return get_property<std::string>(active_path,
                                     "org.freedesktop.NetworkManager.Connection.Active", "Uuid");
}

Ip4Info NmClient::ip4_config(const std::string& device_path) {
    Ip4Info info;
    const auto config = get_property<sdbus::ObjectPath>(device_path, kDeviceInterface, "Ip4Config");
    if (config == "/" || config.empty()) return info;
    const char* ip4 = "org.freedesktop.NetworkManager.IP4Config";
    for (auto& entry : get_property<std::vector<std::map<std::string, sdbus::Variant>>>(
             config, ip4, "AddressData")) {
        info.addresses.push_back(
            {entry["address"].get<std::string>(), entry["prefix"].get<std::uint32_t>()});
    }
    info.gateway = get_property<std::string>(config, ip4, "Gateway");
    for (auto& entry : get_property<std::vector<std::map<std::string, sdbus::Variant>>>(
             config, ip4, "NameserverData")) {
        info.dns.push_back(entry["address"].get<std::string>());
    }
    return info;
}

Settings NmClient::applied_connection(const std::string& device_path) {
    return nm_call("reading the profile applied to " + device_path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, device_path);
        Settings settings;
        std::uint64_t version = 0;
        proxy->callMethod("GetAppliedConnection")
            .onInterface(kDeviceInterface)
            .withArguments(std::uint32_t{0})
            .storeResultsTo(settings, version);
        return settings;
    });
}

void NmClient::reapply(const std::string& device_path) {
    nm_call("reapplying the profile of " + device_path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, device_path);
        // An empty connection and version 0: the device's profile as NM holds it, unchecked.
        proxy->callMethod("Reapply")
            .onInterface(kDeviceInterface)
            .withArguments(Settings{}, std::uint64_t{0}, std::uint32_t{0});
    });
}

void NmClient::set_managed(const std::string& device_path, bool managed) {
    nm_call("setting Managed of " + device_path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, device_path);
        proxy->callMethod("Set")
            .onInterface(kPropertiesInterface)
            .withArguments(std::string(kDeviceInterface), std::string("Managed"),
                           sdbus::Variant(managed));
    });
}

TunProperties NmClient::tun_properties(const std::string& device_path) {
    return nm_call("reading tun properties of " + device_path, [&] {
        auto proxy = bus::make_proxy(*bus_, kBusName, device_path);
        std::map<std::string, sdbus::Variant> props;
        proxy->callMethod("GetAll")
            .onInterface(kPropertiesInterface)
            .withArguments(std::string("org.freedesktop.NetworkManager.Device.Tun"))
            .storeResultsTo(props);
        TunProperties tun;
        tun.mode = props["Mode"].get<std::string>() == "tun" ? 1 : 2;
        const auto owner = props["Owner"].get<std::int64_t>();
        const auto group = props["Group"].get<std::int64_t>();
        if (owner >= 0) tun.owner = owner;
        if (group >= 0) tun.group = group;
        tun.pi = !props["NoPi"].get<bool>();
        tun.vnet_hdr = props["VnetHdr"].get<bool>();
        tun.multi_queue = props["MultiQueue"].get<bool>();
        return tun;
    });
}

DeviceInfo NmClient::wait_device_state(const std::string& device_path,
                                       const std::function<bool(std::uint32_t)>& done,
                                       Clock::time_point deadline) {
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(signals_->mutex);
        generation = signals_->devices[device_path].generation;
    }
    DeviceInfo info = device(device_path);
    std::unique_lock lock(signals_->mutex);
    // Checks every state signalled after `generation`, in order (a signal newer than our read
    // wins; D-Bus keeps one sender's messages in order). True when one of them is `done`.
    auto catch_up = [&]() -> bool {
        auto it = signals_->devices.find(device_path);
        if (it == signals_->devices.end() || signals_->removed.count(device_path)) {
            // Removed (DeviceRemoved, or NM restarted): it will not reach any state now.
            throw NmError("device " + info.interface + " was removed (state " +
                          device_state_name(info.state) + ")");
        }
        const SignalState::Seen& seen = it->second;
        const std::uint64_t missed = seen.generation - generation;
        const std::size_t skip = missed >= seen.recent.size()
                                     ? 0
                                     : seen.recent.size() - static_cast<std::size_t>(missed);
        for (std::size_t i = skip; i < seen.recent.size(); ++i) {
            info.state = seen.recent[i].first;
            info.state_reason = seen.recent[i].second;
            if (done(info.state)) {
                generation = seen.generation;
                return true;
            }
        }
        generation = seen.generation;
        return false;
    };
    if (catch_up()) return info;
    for (;;) {
        if (done(info.state)) return info;
        if (info.state == kStateFailed) {
            throw NmError("device " + info.interface +
                          " failed: " + state_reason_name(info.state_reason));
        }
        if (signals_->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
            throw NmError("timed out waiting for device " + info.interface + " (state " +
                          device_state_name(info.state) + ", reason " +
                          state_reason_name(info.state_reason) + ")");
        }
        if (catch_up()) return info;
    }
}

std::string NmClient::checkpoint_create(const std::vector<std::string>& devices,
                                        std::uint32_t rollback_timeout_s, std::uint32_t flags) {
    return nm_call("creating a checkpoint", [&] {
        std::vector<sdbus::ObjectPath> paths(devices.begin(), devices.end());
        sdbus::ObjectPath checkpoint;
        manager_->callMethod("CheckpointCreate")
            .onInterface(kInterface)
            .withArguments(paths, rollback_timeout_s, flags)
            .storeResultsTo(checkpoint);
        return std::string(checkpoint);
    });
}

std::map<std::string, std::uint32_t> NmClient::checkpoint_rollback(const std::string& checkpoint) {
    return nm_call("rolling back checkpoint " + checkpoint, [&] {
        std::map<std::string, std::uint32_t> result;
        manager_->callMethod("CheckpointRollback")
            .onInterface(kInterface)
            .withArguments(sdbus::ObjectPath(checkpoint))
            .storeResultsTo(result);
        return result;
    });
}

void NmClient::checkpoint_destroy(const std::string& checkpoint) {
    nm_call("destroying checkpoint " + checkpoint, [&] {
        manager_->callMethod("CheckpointDestroy")
            .onInterface(kInterface)
            .withArguments(sdbus::ObjectPath(checkpoint));
    });
}

std::vector<std::string> NmClient::checkpoints() {
    auto paths =
        get_property<std::vector<sdbus::ObjectPath>>(kObjectPath, kInterface, "Checkpoints");
    return std::vector<std::string>(paths.begin(), paths.end());
}

std::pair<std::int64_t, std::uint32_t> NmClient::checkpoint_times(const std::string& checkpoint) {
    const char* iface = "org.freedesktop.NetworkManager.Checkpoint";
    return {get_property<std::int64_t>(checkpoint, iface, "Created"),
            get_property<std::uint32_t>(checkpoint, iface, "RollbackTimeout")};
}

std::vector<std::string> NmClient::sweep_agent_checkpoints() {
    std::vector<std::string> swept;
    for (const std::string& checkpoint : checkpoints()) {
        std::uint32_t timeout = 0;
        try {
            timeout = checkpoint_times(checkpoint).second;
        } catch (const NmError&) {
            continue;  // rolled back or destroyed meanwhile
        }
        if (timeout != kPortCheckpointTimeout && timeout != kSetupCheckpointTimeout) continue;
        try {
            checkpoint_destroy(checkpoint);
            swept.push_back(checkpoint);
        } catch (const NmError&) {
            // Gone meanwhile: NM's own timeout got there first.
        }
    }
    return swept;
}

CheckpointGuard::CheckpointGuard(NmClient& nm, const std::vector<std::string>& devices,
                                 std::uint32_t rollback_timeout_s, std::uint32_t flags)
    : nm_(nm), path_(nm.checkpoint_create(devices, rollback_timeout_s, flags)) {}

CheckpointGuard::~CheckpointGuard() {
    if (done_) return;
    try {
        nm_.checkpoint_rollback(path_);
    } catch (const NmError&) {
        // NM rolls back by itself when the checkpoint's timeout expires.
    }
}

void CheckpointGuard::commit() {
    if (done_) return;
    done_ = true;
    nm_.checkpoint_destroy(path_);
}

std::map<std::string, std::uint32_t> CheckpointGuard::rollback() {
    done_ = true;
    return nm_.checkpoint_rollback(path_);
}

}  // namespace opa::nm
