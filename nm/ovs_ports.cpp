#include "nm/ovs_ports.hpp"

#include <map>

namespace opa::nm {
bool is_owned_by_agent(const ConnectionInfo& info) {
    if (!parse_profile_id(info.id)) return false;
    auto owner = info.external_ids.find(std::string(kOwnerKey));
    return owner == info.external_ids.end() || owner->second == kOwnerValue;
}

OvsPorts::OvsPorts(NmClient& nm, std::string bridge_name,
                   std::chrono::milliseconds activation_timeout)
    : nm_(nm), bridge_name_(std::move(bridge_name)), activation_timeout_(activation_timeout) {}

std::optional<ConnectionInfo> OvsPorts::bridge_profile() {
    for (ConnectionInfo& info : nm_.list_connections()) {
        if (info.type == "ovs-bridge" && info.interface_name == bridge_name_) return info;
    }
    return std::nullopt;
}

std::vector<OwnedPort> OvsPorts::owned_ports() {
    std::map<std::string, OwnedPort> ports;
    for (ConnectionInfo& info : nm_.list_connections()) {
        if (!is_owned_by_agent(info)) continue;
        auto role = parse_profile_id(info.id);
        if (role->first != ProfileRole::Port && role->first != ProfileRole::Member) continue;
        OwnedPort& port = ports[role->second];
        port.name = role->second;
        (role->first == ProfileRole::Port ? port.port : port.member) = std::move(info);
    }
    std::vector<OwnedPort> result;
    for (auto& [name, port] : ports) result.push_back(std::move(port));
    return result;
}

std::optional<OwnedPort> OvsPorts::owned_port(const std::string& ifname) {
    for (OwnedPort& port : owned_ports()) {
        if (port.name == ifname) return port;
    }
    return std::nullopt;
}

AttachResult OvsPorts::attach(const PortRequest& request) {
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
    const Ownership owner{request.ifname, request.vmid};

    AttachResult result;
    auto device =
        nm_.device_by_interface(request.ifname, {kDeviceVeth, kDeviceEthernet, kDeviceTun});
    const bool is_tun = device && device->type == kDeviceTun;
    const std::string member_type = is_tun ? "tun" : "802-3-ethernet";

    std::optional<OwnedPort> existing = owned_port(request.ifname);
    // A member profile of the wrong kind (made while the link did not exist yet) is replaced.
    if (existing && existing->member && existing->member->type != member_type && device) {
        nm_.delete_connection(existing->member->path);
        existing->member.reset();
    }

    // What this call creates, to be deleted again if the attach fails.
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
    // autoconnect=true lets NM re-add the port by itself after it restarts.
    const std::uint32_t add_flags = kAddInMemory | kAddBlockAutoconnect;
    const ProfileCommon port_common{existing && existing->port ? existing->port->uuid : new_uuid(),
                                    true};
    try {
        if (existing && existing->port) {
            result.port_uuid = existing->port->uuid;
            result.port_profile = existing->port->path;
        } else {
            result.port_uuid = port_common.uuid;
            result.port_profile = nm_.add_connection(
                port_profile(request.ifname, port_common, bridge->uuid, request.vlan, owner, wire),
                add_flags);
            created.push_back(result.port_profile);
        }
        if (existing && existing->member) {
            result.member_uuid = existing->member->uuid;
            result.member_profile = existing->member->path;
        } else {
            const ProfileCommon member_common{new_uuid(), true};
            Settings member =
                is_tun ? tun_member_profile(request.ifname, member_common, result.port_uuid,
                                            nm_.tun_properties(device->path), owner, wire)
                       : ethernet_member_profile(request.ifname, member_common, result.port_uuid,
                                                 owner, wire);
            result.member_uuid = member_common.uuid;
            result.member_profile = nm_.add_connection(member, add_flags);
            created.push_back(result.member_profile);
        }
    } catch (...) {
        undo();
        throw;
    }
    result.member_type = member_type;
    result.created = !created.empty();
    if (!device) {
        result.state = AttachState::Pending;
        return result;
    }
    result.device = device->path;
    if (device->state == kStateActivated && device->active_connection != "/") {
        // Already attached (an earlier attach, or NM's autoconnect after a restart).
        result.state = AttachState::Activated;
        result.active_connection = device->active_connection;
        return result;
    }

    const auto deadline = Clock::now() + activation_timeout_;
    try {
        ensure_bridge_active(*bridge, deadline);
        // A checkpoint over this one device (overlapping others, so ports change in parallel)
        // puts the device back as it was if activation fails. New profiles are deleted by
        // undo() rather than by the checkpoint, which would delete other ports' new profiles too.
        CheckpointGuard checkpoint(nm_, {device->path}, 60, kCheckpointAllowOverlapping);
        // The device is "strictly unmanaged" until something claims it; activation claims it.
        result.active_connection = nm_.activate(result.member_profile, device->path);
        nm_.wait_device_state(
            device->path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
        checkpoint.commit();
    } catch (const NmError& error) {
        undo();
        throw NmError("attaching " + request.ifname + " to " + bridge_name_ + ": " + error.what());
    }
    result.state = AttachState::Activated;
    return result;
}

void OvsPorts::ensure_bridge_active(const ConnectionInfo& bridge, Clock::time_point deadline) {
    auto device = nm_.device_by_interface(bridge_name_, {kDeviceOvsBridge});
    if (device && device->state == kStateActivated) return;
    // Activating a port's member would pull the bridge up too, but the bridge then activates its
    // own ports (autoconnect-slaves) and the two activations of this port collide. So the bridge
    // comes first, alone, as the rules say.
    nm_.activate(bridge.path);
    device = nm_.device_by_interface(bridge_name_, {kDeviceOvsBridge});
    if (!device) throw NmError("bridge " + bridge_name_ + " has no NetworkManager device");
    nm_.wait_device_state(
        device->path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
}

DetachResult OvsPorts::detach(const std::string& ifname) {
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
            // Someone deleted it meanwhile: it is gone either way. Verify below.
            if (nm_.connection_path_by_uuid((*profile)->uuid)) throw;
        }
        result.deleted_uuids.push_back((*profile)->uuid);
        result.deleted_profiles.push_back((*profile)->path);
    }
    return result;
}

void OvsPorts::set_vlan(const std::string& ifname, const VlanOptions& vlan) {
    if (std::string problem = validate_vlan(vlan); !problem.empty()) {
        throw NmError("port " + ifname + ": " + problem);
    }
    std::optional<OwnedPort> port = owned_port(ifname);
    if (!port || !port->port) throw NmError("the agent has no port named " + ifname);
    const auto bridge = bridge_profile();
    if (!bridge) throw NmError("bridge " + bridge_name_ + " has no NetworkManager profile");
    std::optional<Ownership> owner = Ownership{ifname, std::nullopt};
    if (auto vmid = port->port->external_ids.find("vmid"); vmid != port->port->external_ids.end()) {
        owner->vmid = static_cast<std::uint32_t>(std::stoul(vmid->second));
    }
    const ProfileCommon common{port->port->uuid, true};
    nm_.update_connection(port->port->path,
                          port_profile(ifname, common, bridge->uuid, vlan, owner, nm_.wire_names()),
                          port->port->in_memory);
    // NM 1.42 reapplies only external-ids of an OVS port; the tag takes effect when the port is
    // activated again, which re-activating its member does.
    if (!port->member) return;
    auto device = nm_.device_by_interface(ifname, {kDeviceVeth, kDeviceEthernet, kDeviceTun});
    if (!device || device->state != kStateActivated) return;  // applied when it attaches
    const auto deadline = Clock::now() + activation_timeout_;
    auto port_device = nm_.device_by_interface(ifname, {kDeviceOvsPort});
    if (port_device && port_device->active_connection != "/") {
        nm_.deactivate(port_device->active_connection);
        nm_.wait_device_state(
            device->path, [](std::uint32_t s) { return s != kStateActivated; }, deadline);
    }
    nm_.activate(port->member->path, device->path);
    nm_.wait_device_state(
        device->path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
}

}  // namespace opa::nm
