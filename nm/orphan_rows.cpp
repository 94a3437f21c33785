#include "nm/orphan_rows.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace opa::nm {
namespace {

bool is_uuid(std::string_view text) {
    if (text.size() != 36) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) {
            return false;
        }
    }
    return true;
}

std::string takeover_id(std::string_view role, std::string_view name) {
    return std::string(kTakeoverIdPrefix) + std::string(role) + ":" + std::string(name);
}

// Deletes profiles an earlier take-over of `name` left (the agent stopped in the middle).
void delete_leftovers(NmClient& nm, const std::string& name) {
    for (const ConnectionInfo& info : nm.list_connections()) {
        if (info.id == takeover_id("port", name) || info.id == takeover_id("member", name)) {
            nm.delete_connection(info.path);
        }
    }
}

}  // namespace

std::string takeover_peer_name(std::string_view interface_connection) {
    std::string peer = "opa";
    for (char c : interface_connection) {
        if (peer.size() == 15) break;
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            peer += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return peer;
}

std::string takeover_problem(const OrphanRow& row) {
    if (row.name.empty() || row.name.size() > 15) return "not an interface name";
    if (row.port_connection.empty() || row.interface_connection.empty()) {
        return "its rows carry no NetworkManager connection UUID for the port and the interface";
    }
    if (!is_uuid(row.port_connection) || !is_uuid(row.interface_connection)) {
        return "its rows' connection UUIDs are not UUIDs";
    }
    return {};
}

TakeoverProfiles takeover_profiles(const OrphanRow& row, const std::string& bridge_uuid,
                                   const WireNames& wire) {
    auto connection = [&](std::string_view role, const std::string& uuid, const std::string& type,
                          const std::string& controller, const std::string& controller_type) {
        SettingValues c;
        c["id"] = sdbus::Variant(takeover_id(role, row.name));
        c["uuid"] = sdbus::Variant(uuid);
        c["type"] = sdbus::Variant(type);
        c["interface-name"] = sdbus::Variant(row.name);
        c["autoconnect"] = sdbus::Variant(false);
        c[wire.controller] = sdbus::Variant(controller);
        c[wire.port_type] = sdbus::Variant(controller_type);
        return c;
    };
    TakeoverProfiles profiles;
    profiles.port["connection"] =
        connection("port", row.port_connection, "ovs-port", bridge_uuid, "ovs-bridge");
    profiles.member["connection"] =
        connection("member", row.interface_connection, "veth", row.port_connection, "ovs-port");
    profiles.member["veth"]["peer"] = sdbus::Variant(takeover_peer_name(row.interface_connection));
    return profiles;
}

void remove_orphan_row(NmClient& nm, OvsPorts& ports, const OrphanRow& row,
                       std::chrono::milliseconds timeout) {
    const std::string what = "orphan row " + row.name;
    if (std::string problem = takeover_problem(row); !problem.empty()) {
        throw NmError(what + ": " + problem);
    }
    delete_leftovers(nm, row.name);
    if (ports.owned_port(row.name)) throw NmError(what + ": the agent has profiles for it");
    if (nm.real_device_by_interface(row.name, {kDeviceEthernet, kDeviceVeth, kDeviceTun})) {
        throw NmError(what + ": a link of that name exists");
    }
    const auto bridge = ports.bridge_profile();
    if (!bridge) throw NmError(what + ": bridge " + ports.bridge_name() + " has no profile");
    // NM shows the row as an OVS port device it does not manage; unmanaged, it cannot be the
    // controller of the member.
    if (auto device = nm.device_by_interface(row.name, {kDeviceOvsPort});
        device && device->state == kStateUnmanaged) {
        nm.set_managed(device->path, true);
    }
    const TakeoverProfiles profiles = takeover_profiles(row, bridge->uuid, nm.wire_names());
    std::vector<std::string> added;
    auto delete_added = [&] {
        for (auto it = added.rbegin(); it != added.rend(); ++it) {
            try {
                nm.delete_connection(*it);
            } catch (const NmError&) {
                // Gone already.
            }
        }
    };
    try {
        const std::uint32_t flags = kAddInMemory | kAddBlockAutoconnect;
        added.push_back(nm.add_connection(profiles.port, flags));
        added.push_back(nm.add_connection(profiles.member, flags));
        nm.activate(added.back());
        nm.wait_for(
            [&] {
                auto veth = nm.real_device_by_interface(row.name, {kDeviceVeth});
                return veth && veth->state == kStateActivated;
            },
            std::chrono::steady_clock::now() + timeout, "NetworkManager to take " + what + " over");
    } catch (const NmError& error) {
        delete_added();
        throw NmError(what + ": " + error.what());
    }
    // Member first: NM detaches the veth (deleting the Interface row and the emptied Port row)
    // and deletes the veth it made.
    delete_added();
    // Returns once the veth is gone, so its link events are seen while the name is marked as
    // the take-over's (a veth NM is slow to delete is no failure: the rows are gone).
    try {
        nm.wait_for([&] { return !nm.real_device_by_interface(row.name, {kDeviceVeth}); },
                    std::chrono::steady_clock::now() + timeout, what + "'s veth to go");
    } catch (const NmError&) {
    }
}

}  // namespace opa::nm
