#include "nm/ovs_ports.hpp"

#include <map>

#include "nm/external_ids.hpp"

namespace opa::nm {
namespace {

// Who the port profile says the port belongs to, for its member profile. A vmid someone edited
// into something else is an error that names it, not an exception that ends a worker.
Ownership ownership_of(const std::string& ifname, const ConnectionInfo& port) {
    Ownership owner{ifname, std::nullopt, ""};
    if (auto it = port.external_ids.find("vmid"); it != port.external_ids.end()) {
        owner.vmid = parse_vmid(it->second);
        if (!owner.vmid) {
            throw NmError("port " + ifname + ": its profile's external id vmid=\"" + it->second +
                          "\" is not a VMID (1-999999999); fix or delete the profile");
        }
    }
    if (auto it = port.external_ids.find("origin"); it != port.external_ids.end()) {
        owner.origin = it->second;
    }
    return owner;
}

const std::vector<std::uint32_t> kMemberDeviceTypes = {kDeviceVeth, kDeviceEthernet, kDeviceTun};

bool is_member_type(std::uint32_t type) {
    return type == kDeviceVeth || type == kDeviceEthernet || type == kDeviceTun;
}

std::string member_type_for(const std::optional<DeviceInfo>& device) {
    return device && device->type == kDeviceTun ? "tun" : "802-3-ethernet";
}

// connection.autoconnect of a profile (NM's default, true, when absent).
bool autoconnect_of(NmClient& nm, const std::string& path) {
    Settings settings = nm.get_settings(path);
    auto section = settings.find("connection");
    if (section == settings.end()) return true;
    auto value = section->second.find("autoconnect");
    if (value == section->second.end() || !value->second.containsValueOfType<bool>()) return true;
    return value->second.get<bool>();
}

// The VLAN settings of a port profile (tag and trunks) into `port`.
void read_vlan(NmClient& nm, OwnedPort& port) {
    Settings settings = nm.get_settings(port.port->path);
    auto section = settings.find("ovs-port");
    if (section == settings.end()) return;
    auto tag = section->second.find("tag");
    if (tag != section->second.end() && tag->second.containsValueOfType<std::uint32_t>()) {
        port.tag = static_cast<std::uint16_t>(tag->second.get<std::uint32_t>());
    }
    using Ranges = std::vector<std::map<std::string, sdbus::Variant>>;
    auto trunks = section->second.find("trunks");
    if (trunks == section->second.end() || !trunks->second.containsValueOfType<Ranges>()) return;
    for (auto& range : trunks->second.get<Ranges>()) {
        auto first = range.find("start");
        auto last = range.find("end");
        if (first == range.end() || last == range.end() ||
            !first->second.containsValueOfType<std::uint64_t>() ||
            !last->second.containsValueOfType<std::uint64_t>()) {
            continue;
        }
        port.trunks.push_back({static_cast<std::uint16_t>(first->second.get<std::uint64_t>()),
                               static_cast<std::uint16_t>(last->second.get<std::uint64_t>())});
    }
}

}  // namespace

bool is_owned_by_agent(const ConnectionInfo& info) {
    if (!parse_profile_id(info.id)) return false;
    auto owner = info.external_ids.find(std::string(kOwnerKey));
    return owner == info.external_ids.end() || owner->second == kOwnerValue;
}

OvsPorts::OvsPorts(NmClient& nm, std::string bridge_name,
                   std::chrono::milliseconds activation_timeout)
    : nm_(nm), bridge_name_(std::move(bridge_name)), activation_timeout_(activation_timeout) {}

std::optional<ConnectionInfo> OvsPorts::by_uuid(const std::string& uuid) {
    std::optional<std::string> path = nm_.connection_path_by_uuid(uuid);
    if (!path) return std::nullopt;
    return nm_.connection_info(*path);
}

void OvsPorts::index_legacy(const std::vector<ConnectionInfo>& all) {
    legacy_.clear();
    for (const ConnectionInfo& info : all) {
        if (!is_owned_by_agent(info)) continue;
        auto role = parse_profile_id(info.id);
        if (role->first != ProfileRole::Port && role->first != ProfileRole::Member) continue;
        if (info.uuid == profile_uuid(role->first, role->second)) continue;
        legacy_[*role] = info.uuid;
    }
    legacy_indexed_ = true;
}

std::optional<ConnectionInfo> OvsPorts::find_owned(ProfileRole role, const std::string& name) {
    auto is_it = [&](const std::optional<ConnectionInfo>& info) {
        if (!info || !is_owned_by_agent(*info)) return false;
        auto parsed = parse_profile_id(info->id);
        return parsed->first == role && parsed->second == name;
    };
    if (auto info = by_uuid(profile_uuid(role, name)); is_it(info)) return info;
    std::string legacy;
    {
        std::lock_guard lock(lookup_mutex_);
        if (!legacy_indexed_) index_legacy(nm_.list_connections());
        auto it = legacy_.find({role, name});
        if (it == legacy_.end()) return std::nullopt;
        legacy = it->second;
    }
    if (auto info = by_uuid(legacy); is_it(info)) return info;
    std::lock_guard lock(lookup_mutex_);
    if (auto it = legacy_.find({role, name}); it != legacy_.end() && it->second == legacy) {
        legacy_.erase(it);  // deleted: this version makes its replacement deterministic
    }
    return std::nullopt;
}

std::optional<ConnectionInfo> OvsPorts::bridge_profile() {
    auto is_it = [&](const ConnectionInfo& info) {
        return info.type == "ovs-bridge" && info.interface_name == bridge_name_;
    };
    std::optional<ConnectionInfo> cached;
    std::string device;
    std::uint64_t instance = 0;
    std::optional<std::uint64_t> validated;
    {
        std::lock_guard lock(lookup_mutex_);
        cached = bridge_;
        device = bridge_device_;
        instance = bridge_device_instance_;
        validated = bridge_validated_at_;
    }
    // The profile stays what it was while the bridge's device has stayed ACTIVATED with no
    // state change since it was checked (deleting or replacing an active profile deactivates
    // the device first): no call at all.
    std::optional<std::uint64_t> generation;
    if (!device.empty()) generation = nm_.state_generation(device, instance);
    if (cached && validated && generation == validated &&
        nm_.last_signalled_state(device, instance) == kStateActivated) {
        return cached;
    }
    auto found = [&](const ConnectionInfo& info) {
        std::lock_guard lock(lookup_mutex_);
        bridge_ = info;
        // Valid for the device's state as it was before the checking call.
        bridge_validated_at_ = generation;
        return info;
    };
    if (cached) {
        // A UUID never changes, and only a profile's own UUID finds it: if NM still answers
        // with the same object, the profile is the one read before (one call, not three).
        // Someone re-typing or renaming the bridge's profile in place is not looked for.
        if (nm_.connection_path_by_uuid(cached->uuid) == cached->path) return found(*cached);
        if (auto info = by_uuid(cached->uuid); info && is_it(*info)) return found(*info);
    }
    for (ConnectionInfo& info : nm_.list_connections()) {
        if (is_it(info)) return found(info);
    }
    return std::nullopt;
}

bool active_with(NmClient& nm, const DeviceInfo& device, const std::string& member_uuid) {
    if (device.state != kStateActivated || device.active_connection == "/") return false;
    // A renamed link's device still carries the member of its old name: not this port's.
    try {
        return nm.active_connection_uuid(device.active_connection) == member_uuid;
    } catch (const NmError&) {
        return false;  // deactivated meanwhile
    }
}

std::vector<OwnedPort> OvsPorts::owned_ports() {
    std::map<std::string, OwnedPort> ports;
    std::vector<ConnectionInfo> all = nm_.list_connections();
    {
        std::lock_guard lock(lookup_mutex_);
        index_legacy(all);
    }
    for (ConnectionInfo& info : all) {
        if (!is_owned_by_agent(info)) continue;
        auto role = parse_profile_id(info.id);
        if (role->first != ProfileRole::Port && role->first != ProfileRole::Member) continue;
        OwnedPort& port = ports[role->second];
        port.name = role->second;
        (role->first == ProfileRole::Port ? port.port : port.member) = std::move(info);
    }
    if (ports.empty()) return {};
    // One pass over NM's devices rather than a lookup per port.
    for (DeviceInfo& device : nm_.devices()) {
        if (!is_member_type(device.type)) continue;
        auto it = ports.find(device.interface);
        if (it != ports.end() && device.real) it->second.device = std::move(device);
    }
    std::vector<OwnedPort> result;
    for (auto& [name, port] : ports) {
        if (port.port) read_vlan(nm_, port);
        result.push_back(std::move(port));
    }
    return result;
}

std::optional<OwnedPort> OvsPorts::owned_port(const std::string& ifname) {
    std::optional<ConnectionInfo> port_profile = find_owned(ProfileRole::Port, ifname);
    std::optional<ConnectionInfo> member = find_owned(ProfileRole::Member, ifname);
    if (!port_profile && !member) return std::nullopt;
    OwnedPort port{ifname, std::move(port_profile), std::move(member), {}, {}, {}};
    port.device = nm_.real_device_by_interface(ifname, kMemberDeviceTypes);
    if (port.port) read_vlan(nm_, port);
    return port;
}

AttachResult OvsPorts::attach(const PortRequest& request) {
    AttachResult prepared = prepare(request);
    if (prepared.device.empty() || prepared.state == AttachState::Activated) return prepared;
    AttachResult activated = activate(request.ifname);
    activated.created = prepared.created;
    return activated;
}

AttachResult OvsPorts::prepare(const PortRequest& request) {
    if (std::string problem = validate_vlan(request.vlan); !problem.empty()) {
        throw NmError("port " + request.ifname + ": " + problem);
    }
    const auto bridge = bridge_profile();
    if (!bridge) {
        throw NmError("bridge " + bridge_name_ +
                      " has no NetworkManager profile; create it with 'ovs-port-agent "
                      "setup-bridge'");
    }
    const WireNames wire = nm_.wire_names();
    const Ownership owner{request.ifname, request.vmid, request.origin};

    // A new port's profiles do not exist yet: adding them straight away (NM refuses a UUID it
    // holds already) saves looking for them first. Where they may exist under an older
    // version's random UUID, or NM says the UUID exists, they are looked up.
    bool legacy_possible = true;
    {
        std::lock_guard lock(lookup_mutex_);
        legacy_possible = !legacy_indexed_ ||
                          legacy_.count({ProfileRole::Port, request.ifname}) > 0 ||
                          legacy_.count({ProfileRole::Member, request.ifname}) > 0;
    }
    if (!legacy_possible) {
        if (std::optional<AttachResult> fresh = prepare_new(request, *bridge, wire, owner)) {
            return *fresh;
        }
    }
    return *prepare_new(request, *bridge, wire, owner, false);
}

std::optional<AttachResult> OvsPorts::prepare_new(const PortRequest& request,
                                                  const ConnectionInfo& bridge,
                                                  const WireNames& wire, const Ownership& owner,
                                                  bool assume_new) {
    const std::uint64_t instance = nm_.instance();  // what is read below is from this NM
    AttachResult result;
    std::optional<OwnedPort> existing;
    if (!assume_new) existing = owned_port(request.ifname);
    std::optional<DeviceInfo> device =
        existing ? existing->device
                 : nm_.real_device_by_interface(request.ifname, kMemberDeviceTypes);
    if (device && !device->real) device.reset();
    const std::string member_type = member_type_for(device);

    // What this call creates, deleted again if a later step fails.
    std::vector<std::string> created;
    auto undo = [&] {
        for (auto it = created.rbegin(); it != created.rend(); ++it) {
            try {
                nm_.delete_connection(*it);
            } catch (const NmError&) {
                // Already gone.
            }
        }
    };
    // Profiles are added with BLOCK_AUTOCONNECT: the agent activates them itself, once;
    // autoconnect=true lets NM bring the port back by itself after NM restarts.
    const std::uint32_t add_flags = kAddInMemory | kAddBlockAutoconnect;
    try {
        if (existing && existing->port) {
            result.port_uuid = existing->port->uuid;
            result.port_profile = existing->port->path;
        } else {
            const ProfileCommon common{profile_uuid(ProfileRole::Port, request.ifname),
                                       request.autoconnect};
            result.port_uuid = common.uuid;
            std::optional<std::string> path = nm_.add_connection_if_new(
                port_profile(request.ifname, common, bridge.uuid, request.vlan, owner, wire),
                add_flags);
            if (!path && assume_new) return std::nullopt;  // exists: look it up
            if (!path) throw NmError("port " + request.ifname + ": its profile exists already");
            result.port_profile = *path;
            created.push_back(result.port_profile);
        }
        if (existing && existing->member) {
            result.member_uuid = existing->member->uuid;
            result.member_profile = existing->member->path;
            result.member_type = existing->member->type;
        } else {
            const ProfileCommon common{profile_uuid(ProfileRole::Member, request.ifname),
                                       request.autoconnect};
            Settings member =
                member_type == "tun"
                    ? tun_member_profile(request.ifname, common, result.port_uuid,
                                         nm_.tun_properties(device->path), owner, wire)
                    : ethernet_member_profile(request.ifname, common, result.port_uuid, owner,
                                              wire);
            result.member_uuid = common.uuid;
            std::optional<std::string> path = nm_.add_connection_if_new(member, add_flags);
            if (!path) {
                undo();
                if (assume_new) return std::nullopt;
                throw NmError("port " + request.ifname + ": its member profile exists already");
            }
            result.member_profile = *path;
            result.member_type = member_type;
            created.push_back(result.member_profile);
        }
    } catch (...) {
        undo();
        throw;
    }
    result.created = !created.empty();
    result.state = AttachState::Pending;
    if (device) {
        result.device = device->path;
        if (active_with(nm_, *device, result.member_uuid)) {
            // Attached already (an earlier run, or NM's autoconnect after a restart).
            result.state = AttachState::Activated;
            result.active_connection = device->active_connection;
        } else {
            // What activate() reads of a profile this call added: the rest stays empty.
            auto added = [&](ProfileRole role, const std::string& path, const std::string& uuid,
                             const std::string& type, const std::string& controller) {
                return ConnectionInfo{path,
                                      profile_id(role, request.ifname),
                                      uuid,
                                      type,
                                      request.ifname,
                                      controller,
                                      {},
                                      true};
            };
            Prepared memo{OwnedPort{request.ifname, {}, {}, device, {}, {}}, bridge, Clock::now(),
                          instance};
            memo.port.port = existing && existing->port
                                 ? *existing->port
                                 : added(ProfileRole::Port, result.port_profile, result.port_uuid,
                                         "ovs-port", bridge.uuid);
            memo.port.member =
                existing && existing->member
                    ? *existing->member
                    : added(ProfileRole::Member, result.member_profile, result.member_uuid,
                            result.member_type, result.port_uuid);
            std::lock_guard lock(lookup_mutex_);
            prepared_.insert_or_assign(request.ifname, std::move(memo));
        }
    }
    return result;
}

std::optional<OvsPorts::Prepared> OvsPorts::take_prepared(const std::string& ifname) {
    // Older than this, the device may have changed meanwhile: read everything again.
    constexpr auto kPreparedFresh = std::chrono::seconds(1);
    std::lock_guard lock(lookup_mutex_);
    auto it = prepared_.find(ifname);
    if (it == prepared_.end()) return std::nullopt;
    Prepared memo = std::move(it->second);
    prepared_.erase(it);
    if (Clock::now() - memo.at > kPreparedFresh || memo.instance != nm_.instance()) {
        return std::nullopt;
    }
    return memo;
}

AttachResult OvsPorts::activate(const std::string& ifname) { return activate_member(ifname, true); }

AttachResult OvsPorts::replug(const std::string& ifname) { return activate_member(ifname, false); }

AttachResult OvsPorts::activate_member(const std::string& ifname, bool take_claim) {
    std::optional<OwnedPort> port;
    std::optional<ConnectionInfo> bridge;
    if (std::optional<Prepared> memo = take_prepared(ifname)) {
        port = std::move(memo->port);
        bridge = std::move(memo->bridge);
    } else {
        port = owned_port(ifname);
    }
    if (!port || !port->port) throw NmError("the agent has no port named " + ifname);
    if (!port->device) {
        // The kernel announced the link, but NM may not have made its device yet.
        try {
            nm_.wait_for(
                [&] {
                    port->device = nm_.real_device_by_interface(ifname, kMemberDeviceTypes);
                    return port->device.has_value();
                },
                Clock::now() + activation_timeout_, "NetworkManager to show " + ifname);
        } catch (const NmError&) {
            throw NmError("interface " + ifname + " does not exist");
        }
    }
    if (!bridge) bridge = bridge_profile();
    if (!bridge) throw NmError("bridge " + bridge_name_ + " has no NetworkManager profile");
    const WireNames wire = nm_.wire_names();
    const DeviceInfo& device = *port->device;

    AttachResult result;
    result.port_uuid = port->port->uuid;
    result.port_profile = port->port->path;
    result.device = device.path;
    const std::string member_type = member_type_for(device);
    if (port->member && port->member->type != member_type) {
        // Made while the link did not exist yet, for the other kind of link.
        nm_.delete_connection(port->member->path);
        port->member.reset();
    }
    if (!port->member) {
        const Ownership owner = ownership_of(ifname, *port->port);
        // The member follows its port: both autoconnect, or neither.
        const ProfileCommon common{profile_uuid(ProfileRole::Member, ifname),
                                   autoconnect_of(nm_, port->port->path)};
        Settings member =
            member_type == "tun"
                ? tun_member_profile(ifname, common, port->port->uuid,
                                     nm_.tun_properties(device.path), owner, wire)
                : ethernet_member_profile(ifname, common, port->port->uuid, owner, wire);
        port->member = ConnectionInfo{};
        port->member->uuid = common.uuid;
        port->member->path = nm_.add_connection(member, kAddInMemory | kAddBlockAutoconnect);
        port->member->type = member_type;
    }
    result.member_uuid = port->member->uuid;
    result.member_profile = port->member->path;
    result.member_type = port->member->type;
    if (take_claim && active_with(nm_, device, result.member_uuid)) {
        result.state = AttachState::Activated;
        result.active_connection = device.active_connection;
        result.was_active = true;
        return result;
    }

    const auto deadline = Clock::now() + activation_timeout_;
    try {
        ensure_bridge_active(*bridge, deadline);
        // A checkpoint over this one device (overlapping others', so ports change in parallel)
        // puts the device back as it was if activation fails. It does not delete new profiles:
        // that would also delete other ports' profiles added meanwhile.
        CheckpointGuard checkpoint(nm_, {device.path}, kPortCheckpointTimeout,
                                   kCheckpointAllowOverlapping);
        // The device is "strictly unmanaged" until something claims it; activation claims it.
        result.active_connection = nm_.activate(result.member_profile, device.path);
        nm_.wait_device_state(
            device.path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
        checkpoint.commit();
    } catch (const NmError& error) {
        throw NmError("attaching " + ifname + " to " + bridge_name_ + ": " + error.what());
    }
    result.state = AttachState::Activated;
    return result;
}

void OvsPorts::ensure_bridge_active(const ConnectionInfo& bridge, Clock::time_point deadline) {
    // The bridge's device as last seen: one call to check it instead of a listing of all.
    std::string cached;
    std::uint64_t cached_instance = 0;
    {
        std::lock_guard lock(lookup_mutex_);
        cached = bridge_device_;
        cached_instance = bridge_device_instance_;
    }
    if (!cached.empty()) {
        // NM signals every state change of the bridge's device: if the last one seen (from the
        // same NM: a restarted one reuses paths for other devices) was ACTIVATED, it still is.
        if (nm_.last_signalled_state(cached, cached_instance) == kStateActivated) return;
        try {
            const DeviceInfo device = nm_.device(cached);
            if (device.type == kDeviceOvsBridge && device.interface == bridge_name_ &&
                device.state == kStateActivated) {
                // Known from now on, until NM signals a change: the next port asks nothing.
                nm_.note_state(cached, cached_instance, kStateActivated);
                return;
            }
        } catch (const NmError&) {
            // Gone (NM restarted, the bridge re-made): look it up again.
        }
    }
    // One caller at a time: ports activated in parallel (a burst, the re-plug after NM restarts)
    // must not each start an activation of the bridge; a second one tears the first down
    // ("new-activation"), and NM 1.42 can then lose the bridge's OVSDB row while calling the
    // device activated.
    std::lock_guard bridge_lock(bridge_mutex_);
    const std::uint64_t instance = nm_.instance();  // before the lookup: never newer than it
    auto device = nm_.device_by_interface(bridge_name_, {kDeviceOvsBridge});
    if (device) {
        std::lock_guard lock(lookup_mutex_);
        bridge_device_ = device->path;
        bridge_device_instance_ = instance;
    }
    if (device && device->state == kStateActivated) {
        nm_.note_state(device->path, instance, kStateActivated);
        return;
    }
    if (device && device->state >= kStatePrepare && device->state < kStateActivated) {
        // Being activated already (NM's own autoconnect after a restart): wait for it.
        nm_.wait_device_state(
            device->path, [](std::uint32_t s) { return s == kStateActivated || s < kStatePrepare; },
            deadline);
        if (nm_.device(device->path).state == kStateActivated) return;
    }
    // Activating a port's member would pull the bridge up too, but the bridge then activates its
    // own ports (autoconnect-slaves) and the two activations of this port collide. So the bridge
    // comes first, alone, as the rules say.
    nm_.activate(bridge.path);
    device = nm_.device_by_interface(bridge_name_, {kDeviceOvsBridge});
    if (!device) throw NmError("bridge " + bridge_name_ + " has no NetworkManager device");
    nm_.wait_device_state(
        device->path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
}

namespace {
// How long detach() waits for NM to release the interface from its port.
constexpr std::chrono::seconds kReleaseTimeout{5};
}  // namespace

DetachResult OvsPorts::detach(const std::string& ifname) {
    take_prepared(ifname);
    std::optional<OwnedPort> port = owned_port(ifname);
    if (!port) throw NmError("the agent has no port named " + ifname);
    DetachResult result;
    // Member first: deleting it removes the Interface row; the port profile's deletion then
    // removes the Port row and NM's port device.
    for (const auto* profile : {&port->member, &port->port}) {
        if (!*profile) continue;
        try {
            nm_.delete_connection((*profile)->path);
        } catch (const NmError&) {
            // Someone deleted it meanwhile: it is gone either way, which is checked here.
            if (nm_.connection_path_by_uuid((*profile)->uuid)) throw;
        }
        result.deleted_uuids.push_back((*profile)->uuid);
        result.deleted_profiles.push_back((*profile)->path);
    }
    // NM releases the interface from its OVS port (deletes its OVSDB rows) by the interface's
    // name at that moment: returning only once the device has let go of the port means the
    // link may be renamed afterwards without leaving the old name's rows behind.
    if (port->device && port->device->state >= kStatePrepare) {
        try {
            nm_.wait_device_state(
                port->device->path, [](std::uint32_t s) { return s < kStatePrepare; },
                Clock::now() + kReleaseTimeout);
        } catch (const NmError&) {
            // Gone with its link, or NM is slow: the profiles are deleted either way.
        }
    }
    return result;
}

void OvsPorts::set_vlan(const std::string& ifname, const VlanOptions& vlan) {
    if (std::string problem = validate_vlan(vlan); !problem.empty()) {
        throw NmError("port " + ifname + ": " + problem);
    }
    take_prepared(ifname);
    std::optional<OwnedPort> port = owned_port(ifname);
    if (!port || !port->port) throw NmError("the agent has no port named " + ifname);
    const auto bridge = bridge_profile();
    if (!bridge) throw NmError("bridge " + bridge_name_ + " has no NetworkManager profile");
    const Ownership owner = ownership_of(ifname, *port->port);
    const ProfileCommon common{port->port->uuid, autoconnect_of(nm_, port->port->path)};
    nm_.update_connection(port->port->path,
                          port_profile(ifname, common, bridge->uuid, vlan, owner, nm_.wire_names()),
                          port->port->in_memory);
    // NM 1.42 reapplies only external-ids of an OVS port; the tag takes effect when the port is
    // activated again, which re-activating its member does.
    if (!port->member || !port->device || port->device->state != kStateActivated) return;
    const auto deadline = Clock::now() + activation_timeout_;
    const std::string device_path = port->device->path;
    const std::string old_activation = port->device->active_connection;
    auto port_device = nm_.device_by_interface(ifname, {kDeviceOvsPort});
    if (port_device && port_device->active_connection != "/") {
        nm_.deactivate(port_device->active_connection);
        // The member's old activation ends with its port. NM may start a new one by itself at
        // once (autoconnect), so the state alone cannot tell; the activation's path can.
        nm_.wait_for([&] { return nm_.device(device_path).active_connection != old_activation; },
                     deadline, ifname + " to leave its old activation");
    }
    const DeviceInfo now = nm_.device(device_path);
    if (now.active_connection == "/" || now.active_connection == old_activation) {
        nm_.activate(port->member->path, device_path);
    }
    nm_.wait_device_state(
        device_path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
}

AttachResult OvsPorts::reactivate(const std::string& ifname) {
    take_prepared(ifname);  // NM's view is what is in question: read it again
    const auto deadline = Clock::now() + activation_timeout_;
    auto port_device = nm_.device_by_interface(ifname, {kDeviceOvsPort});
    if (port_device && port_device->active_connection != "/") {
        const std::string stale = port_device->active_connection;
        try {
            nm_.deactivate(stale);
        } catch (const NmError&) {
            // Ended meanwhile: what matters is checked below.
        }
        bool link_gone = false;
        nm_.wait_for(
            [&] {
                // The link may go meanwhile (a container stopping): nothing to re-activate.
                link_gone = !nm_.device_by_interface(ifname, kMemberDeviceTypes);
                auto now = nm_.device_by_interface(ifname, {kDeviceOvsPort});
                return link_gone || !now || now->active_connection != stale;
            },
            deadline, ifname + " to leave its stale activation");
        if (link_gone) throw NmError("interface " + ifname + " does not exist");
    }
    return activate(ifname);
}

}  // namespace opa::nm
