#include "nm/bridge_setup.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "nm/ip4_check.hpp"
#include "nm/profiles.hpp"

namespace opa::nm {
namespace {

struct Existing {
    std::map<std::string, ConnectionInfo> by_id;
    const ConnectionInfo* find(ProfileRole role, const std::string& name) const {
        auto it = by_id.find(profile_id(role, name));
        return it == by_id.end() ? nullptr : &it->second;
    }
};

Existing existing_profiles(NmClient& nm) {
    Existing e;
    for (ConnectionInfo& info : nm.list_connections()) {
        if (parse_profile_id(info.id)) e.by_id.emplace(info.id, std::move(info));
    }
    return e;
}

bool is_ovs_device(std::uint32_t type) {
    return type == kDeviceOvsBridge || type == kDeviceOvsPort || type == kDeviceOvsInterface;
}

// Rule 5: what the NIC holds, read once NM has published all of it. NM shows an Ip4Config in
// parts (a NIC that has just come up can show its address before its gateway), so the read waits,
// up to `deadline`, until it shows what the NIC's applied profile configures; what is still not
// shown then is taken from the profile.
constexpr auto kIp4SettleTime = std::chrono::seconds(5);
Ip4Info read_nic_ip4(NmClient& nm, const std::string& device_path, Clock::time_point deadline) {
    Ip4Info configured;
    try {
        configured = configured_ip4(nm.applied_connection(device_path));
    } catch (const NmError&) {
        // No applied profile (deactivated meanwhile): what NM shows is all there is.
    }
    Ip4Info shown = nm.ip4_config(device_path);
    if (!ip4_settled(shown, configured)) {
        try {
            nm.wait_for(
                [&] {
                    shown = nm.ip4_config(device_path);
                    return ip4_settled(shown, configured);
                },
                deadline, "the uplink's IPv4 configuration");
        } catch (const NmError&) {
            // Moved as NM shows it, completed from the profile below.
        }
    }
    return ip4_to_move(shown, configured);
}

// How long the bridge may show its addresses without its gateway before its routes count as
// dropped (NM adds both in one step; a Reapply too many is harmless).
constexpr auto kRouteGrace = std::chrono::seconds(3);

DeviceInfo wait_activated(NmClient& nm, const std::string& ifname,
                          const std::vector<std::uint32_t>& types, Clock::time_point deadline) {
    auto device = nm.device_by_interface(ifname, types);
    if (!device) throw NmError("NetworkManager has no device " + ifname);
    return nm.wait_device_state(
        device->path, [](std::uint32_t s) { return s == kStateActivated; }, deadline);
}

// One bridge's profiles: bridge, internal port and interface (with `ip`), and optionally the
// uplink's port and NIC member. Only missing profiles are added; returns what was added.
std::vector<std::string> add_missing_profiles(NmClient& nm, const Existing& existing,
                                              const std::string& bridge,
                                              const std::string& datapath_type, const IpConfig& ip,
                                              const std::optional<std::string>& uplink,
                                              const WireNames& wire, const SetupLog& log,
                                              const SetupRecord& record) {
    std::vector<std::string> added;
    auto created = [&](std::string id, const std::string& uuid) {
        if (record) {
            record("bridge_profile_created", {{"bridge", bridge}, {"profile", id}, {"uuid", uuid}});
        }
        added.push_back(std::move(id));
    };
    auto uuid_of = [&](ProfileRole role, const std::string& name, std::string& uuid) {
        const ConnectionInfo* info = existing.find(role, name);
        if (info) uuid = info->uuid;
        return info != nullptr;
    };
    // Profiles for the bridge are kept on disk and autoconnect, so the bridge comes back at boot.
    std::string bridge_uuid = new_uuid();
    if (!uuid_of(ProfileRole::Bridge, bridge, bridge_uuid)) {
        nm.add_connection(bridge_profile(bridge, {bridge_uuid, true, true}, datapath_type),
                          kAddToDisk | kAddBlockAutoconnect);
        created(profile_id(ProfileRole::Bridge, bridge), bridge_uuid);
    }
    std::string port_uuid = new_uuid();
    if (!uuid_of(ProfileRole::BridgePort, bridge, port_uuid)) {
        nm.add_connection(port_profile(bridge, {port_uuid, true, true}, bridge_uuid, {},
                                       std::nullopt, wire, ProfileRole::BridgePort),
                          kAddToDisk | kAddBlockAutoconnect);
        created(profile_id(ProfileRole::BridgePort, bridge), port_uuid);
    }
    std::string iface_uuid = new_uuid();
    if (!uuid_of(ProfileRole::Interface, bridge, iface_uuid)) {
        nm.add_connection(
            internal_interface_profile(bridge, {iface_uuid, true, false}, port_uuid, ip, wire),
            kAddToDisk | kAddBlockAutoconnect);
        created(profile_id(ProfileRole::Interface, bridge), iface_uuid);
    }
    if (uplink) {
        std::string uplink_port_uuid = new_uuid();
        if (!uuid_of(ProfileRole::BridgePort, *uplink, uplink_port_uuid)) {
            nm.add_connection(port_profile(*uplink, {uplink_port_uuid, true, true}, bridge_uuid, {},
                                           std::nullopt, wire, ProfileRole::BridgePort),
                              kAddToDisk | kAddBlockAutoconnect);
            created(profile_id(ProfileRole::BridgePort, *uplink), uplink_port_uuid);
        }
        std::string member_uuid = new_uuid();
        if (!uuid_of(ProfileRole::Uplink, *uplink, member_uuid)) {
            Settings member =
                ethernet_member_profile(*uplink, {member_uuid, true, false}, uplink_port_uuid,
                                        std::nullopt, wire, ProfileRole::Uplink);
            // Preferred over the NIC's own profile at boot.
            member["connection"]["autoconnect-priority"] = sdbus::Variant(std::int32_t{50});
            nm.add_connection(member, kAddToDisk | kAddBlockAutoconnect);
            created(profile_id(ProfileRole::Uplink, *uplink), member_uuid);
        }
    }
    for (const std::string& id : added) log("created profile " + id);
    return added;
}

// After the network changed, a ledger that cannot take the entry does not undo the change.
void record_quietly(const SetupRecord& record, std::string_view action,
                    const nlohmann::json& details) noexcept {
    if (!record) return;
    try {
        record(action, details);
    } catch (...) {
        // The caller's sink reports its own failures.
    }
}

bool bridge_is_up(NmClient& nm, const std::string& bridge,
                  const std::optional<std::string>& uplink) {
    auto up = [&](const std::string& name, std::uint32_t type) {
        auto d = nm.device_by_interface(name, {type});
        return d && d->state == kStateActivated;
    };
    if (!up(bridge, kDeviceOvsBridge) || !up(bridge, kDeviceOvsInterface)) return false;
    if (uplink && !up(*uplink, kDeviceEthernet) && !up(*uplink, kDeviceVeth)) return false;
    return true;
}

}  // namespace

std::string describe_network_state(NmClient& nm) {
    std::ostringstream out;
    out << "devices:\n";
    for (const DeviceInfo& d : nm.devices()) {
        out << "  " << d.interface << " type=" << d.type << " state=" << device_state_name(d.state)
            << " managed=" << (d.managed ? "yes" : "no");
        if (d.state == kStateActivated) {
            try {
                out << " ip4=" << format_ip4(nm.ip4_config(d.path));
            } catch (const NmError&) {
                // The device went away while being described.
            }
        }
        out << "\n";
    }
    out << "profiles:\n";
    for (const ConnectionInfo& c : nm.list_connections()) {
        out << "  " << c.id << " type=" << c.type << " interface=" << c.interface_name
            << (c.controller.empty() ? "" : " controller=" + c.controller) << "\n";
    }
    return out.str();
}

BridgeSetupReport setup_bridge(NmClient& nm, const BridgeSetupOptions& options, const SetupLog& log,
                               const SetupRecord& record) {
    BridgeSetupReport report;
    nm.require_ovs();
    // Throws when the ledger cannot take it: nothing has changed yet.
    if (record) {
        record("bridge_setup_started", {{"bridge", options.bridge},
                                        {"uplink", options.uplink.value_or("")},
                                        {"datapath_type", options.datapath_type},
                                        {"empty_bridges", options.empty_bridges}});
    }
    const WireNames wire = nm.wire_names();
    report.state_before = describe_network_state(nm);
    log("state before:\n" + report.state_before);

    // Rule 11: OVS objects NetworkManager does not manage are reported.
    Existing existing = existing_profiles(nm);
    for (const DeviceInfo& d : nm.devices()) {
        if (is_ovs_device(d.type) && (!d.managed || d.state == kStateUnmanaged)) {
            report.unmanaged_ovs.push_back(d.interface);
            log("OVS device not managed by NetworkManager: " + d.interface + " (type " +
                std::to_string(d.type) + ")");
        }
    }

    std::vector<std::string> bridges = {options.bridge};
    bridges.insert(bridges.end(), options.empty_bridges.begin(), options.empty_bridges.end());
    // A bridge of that name made outside NetworkManager (ovs-vsctl, ifupdown2) cannot be taken
    // over: NM 1.42 neither activates its profile on such a bridge nor deletes the bridge
    // (Device.Delete leaves the OVSDB rows; tried in the sandbox). Say so before changing
    // anything rather than time out and roll back.
    for (const std::string& b : bridges) {
        for (const DeviceInfo& d : nm.devices()) {
            if (d.type == kDeviceOvsBridge && d.interface == b && d.real &&
                d.state == kStateUnmanaged && !existing.find(ProfileRole::Bridge, b)) {
                throw NmError("bridge " + b +
                              " exists in Open vSwitch but NetworkManager does not manage it "
                              "(made with ovs-vsctl or ifupdown2?). NetworkManager cannot take "
                              "it over; remove it (ovs-vsctl del-br " +
                              b +
                              ", after moving its ports) and run setup-bridge again, or choose "
                              "another bridge_name");
            }
        }
    }
    bool all_there = true;
    for (const std::string& b : bridges) {
        const bool profiles = existing.find(ProfileRole::Bridge, b) &&
                              existing.find(ProfileRole::BridgePort, b) &&
                              existing.find(ProfileRole::Interface, b);
        all_there = all_there && profiles &&
                    bridge_is_up(nm, b, b == options.bridge ? options.uplink : std::nullopt);
    }
    if (options.uplink) {
        all_there = all_there && existing.find(ProfileRole::BridgePort, *options.uplink) &&
                    existing.find(ProfileRole::Uplink, *options.uplink);
    }
    if (all_there) {
        report.steps.push_back("nothing to do: the bridge is set up and active");
        log(report.steps.back());
        if (record) record("bridge_setup_unchanged", {{"bridge", options.bridge}});
        report.state_after = report.state_before;
        return report;
    }

    // Rule 5: the host's IP, gateway and DNS come from the NIC's Ip4Config, over D-Bus.
    IpConfig ip;
    if (options.uplink) {
        auto nic = nm.device_by_interface(*options.uplink, {kDeviceEthernet, kDeviceVeth});
        if (!nic) throw NmError("uplink " + *options.uplink + " is not a NIC NetworkManager knows");
        if (nic->state == kStateActivated) {
            Ip4Info current = read_nic_ip4(nm, nic->path, Clock::now() + kIp4SettleTime);
            for (const Ipv4Address& a : current.addresses) ip.addresses.push_back(a);
            ip.gateway = current.gateway;
            ip.dns = current.dns;
        }
        log("uplink " + *options.uplink + " holds " +
            format_ip4({ip.addresses, ip.gateway, ip.dns}) + "; moving it to " + options.bridge);
    }

    // Rule 9: a checkpoint over everything; new profiles are deleted and new devices
    // disconnected on rollback.
    const auto deadline = Clock::now() + options.timeout;
    // Its timeout (longer than the setup's own) marks it as the agent's for the start-up sweep.
    CheckpointGuard checkpoint(nm, {}, kSetupCheckpointTimeout,
                               kCheckpointDeleteNewConnections | kCheckpointDisconnectNewDevices);
    log("checkpoint " + checkpoint.path() + " created");
    try {
        for (const std::string& b : bridges) {
            const bool main = b == options.bridge;
            auto added =
                add_missing_profiles(nm, existing, b, options.datapath_type, main ? ip : IpConfig{},
                                     main ? options.uplink : std::nullopt, wire, log, record);
            for (auto& id : added) report.steps.push_back("created " + id);
        }
        if (options.before_activation) options.before_activation();
        existing = existing_profiles(nm);
        for (const std::string& b : bridges) {
            // Rule 7: only the bridge is activated; it brings up its ports and interfaces.
            const ConnectionInfo* bridge = existing.find(ProfileRole::Bridge, b);
            if (!bridge) throw NmError("profile of bridge " + b + " vanished");
            nm.activate(bridge->path);
            report.steps.push_back("activated bridge " + b);
            log(report.steps.back());
            if (record) record("bridge_activated", {{"bridge", b}, {"uuid", bridge->uuid}});
        }
        // Rule 8: verify. The devices are ACTIVATED, then NM publishes the bridge's IPv4 in parts
        // (addresses, then the default route that is its gateway, DNS) while the NIC gives up its
        // own: done only when everything moved is on the bridge and off the NIC at once. A host
        // whose default route is missing after setup has lost its network.
        std::optional<DeviceInfo> main_iface;
        for (const std::string& b : bridges) {
            wait_activated(nm, b, {kDeviceOvsBridge}, deadline);
            DeviceInfo iface = wait_activated(nm, b, {kDeviceOvsInterface}, deadline);
            if (b == options.bridge) main_iface = iface;
        }
        std::optional<DeviceInfo> nic;
        if (options.uplink) {
            nic = wait_activated(nm, *options.uplink, {kDeviceEthernet, kDeviceVeth}, deadline);
        }
        if (options.after_activation) options.after_activation();
        if (main_iface && !ip.addresses.empty()) {
            const Ip4Info moved{ip.addresses, ip.gateway, ip.dns};
            const std::string nic_name = nic ? nic->interface : std::string();
            const auto gaps = [&] {
                return move_gaps(options.bridge, nm.ip4_config(main_iface->path), moved, nic_name,
                                 nic ? nm.ip4_config(nic->path) : Ip4Info{});
            };
            const auto until = [&](Clock::time_point limit) -> WaitFor {
                return [&nm, limit](const std::function<bool()>& check, const std::string& what) {
                    nm.wait_for(check, limit, what);
                };
            };
            const std::string what = options.bridge + " to hold " + format_ip4(moved) +
                                     (nic ? " and " + nic_name + " to give up its address" : "");
            try {
                wait_without_gaps(gaps, until(std::min(deadline, Clock::now() + kRouteGrace)),
                                  what);
            } catch (const NmError& error) {
                if (Clock::now() >= deadline) throw;
                // NM sets the address and its routes together; routes still missing this long
                // after the address were dropped by the kernel (see routes_lost).
                if (routes_lost(nm.ip4_config(main_iface->path), moved)) {
                    log(std::string(error.what()) + "; reapplying the profile of " +
                        options.bridge + " (its routes were dropped after NM set them)");
                    nm.reapply(main_iface->path);
                    report.steps.push_back("reapplied " + options.bridge +
                                           "'s profile to restore its routes");
                }
                wait_without_gaps(gaps, until(deadline), what);
            }
        }
        checkpoint.commit();
        log("verified; checkpoint destroyed");
    } catch (const std::exception& error) {
        log(std::string("setup failed: ") + error.what() + "; rolling back");
        std::string rollback = "done";
        try {
            checkpoint.rollback();
            // NM restores devices asynchronously; what the checkpoint did not delete (profiles
            // of an earlier partial run) stays as it was before.
            log("rolled back to the checkpoint");
        } catch (const NmError& rollback_error) {
            log(std::string("rollback failed: ") + rollback_error.what());
            rollback = std::string("failed: ") + rollback_error.what();
        }
        record_quietly(record, "bridge_setup_rolled_back",
                       {{"bridge", options.bridge},
                        {"error", error.what()},
                        {"checkpoint", checkpoint.path()},
                        {"rollback", rollback}});
        throw NmError(std::string("setup-bridge rolled back: ") + error.what());
    }
    if (record) {
        nlohmann::json moved = nlohmann::json::object();
        if (options.uplink) {
            nlohmann::json addresses = nlohmann::json::array();
            for (const Ipv4Address& a : ip.addresses) {
                addresses.push_back(a.address + "/" + std::to_string(a.prefix));
            }
            moved = {{"from", *options.uplink},
                     {"to", options.bridge},
                     {"addresses", addresses},
                     {"gateway", ip.gateway},
                     {"dns", ip.dns}};
        }
        record_quietly(record, "bridge_setup_done",
                       {{"bridge", options.bridge},
                        {"address_moved", moved},
                        {"checkpoint", checkpoint.path()},
                        {"checkpoint_outcome", "destroyed"}});
    }
    report.changed = true;
    report.state_after = describe_network_state(nm);
    log("state after:\n" + report.state_after);
    return report;
}

}  // namespace opa::nm
