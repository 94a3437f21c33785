#include "agent/nm_backend.hpp"

#include "nm/external_ids.hpp"
#include "nm/orphan_rows.hpp"

namespace opa::agent {
namespace {

LinkKind kind_of(const std::string& member_type) {
    if (member_type == "tun") return LinkKind::Tap;
    if (member_type == "802-3-ethernet") return LinkKind::Veth;
    return LinkKind::Unknown;
}

Backend::Profiles to_profiles(const nm::AttachResult& r) {
    Backend::Profiles p;
    p.port_uuid = r.port_uuid;
    p.member_uuid = r.member_uuid;
    p.link_present = !r.device.empty();
    p.activated = r.state == nm::AttachState::Activated;
    p.kind = p.link_present ? kind_of(r.member_type) : LinkKind::Unknown;
    p.created = r.created;
    p.was_active = r.was_active;
    p.nm_objects = {{"port_uuid", r.port_uuid},
                    {"port_profile", r.port_profile},
                    {"member_uuid", r.member_uuid},
                    {"member_profile", r.member_profile},
                    {"member_type", r.member_type},
                    {"device", r.device},
                    {"active_connection", r.active_connection}};
    return p;
}

nm::VlanOptions vlan_of(const PortOptions& options) {
    nm::VlanOptions vlan;
    vlan.tag = options.tag;
    for (const vlan::Range& range : options.trunks.ranges()) {
        vlan.trunks.push_back({range.first, range.last});
    }
    return vlan;
}

template <typename Fn>
auto translate(Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const nm::NmError& error) {
        throw BackendError(error.what());
    }
}

}  // namespace

NmBackend::NmBackend(nm::NmClient& nm, std::string bridge,
                     std::function<bool(const std::string&)> nm_replugs)
    : nm_(nm), ports_(nm, std::move(bridge)), nm_replugs_(std::move(nm_replugs)) {}

nlohmann::json NmBackend::remove_orphan_row(const OrphanRow& row) {
    // NM attaches a veth it makes within a second; more means it is not taking the rows over.
    constexpr auto kTakeoverTimeout = std::chrono::seconds(10);
    return translate([&] {
        nm::remove_orphan_row(nm_, ports_,
                              {row.name, row.port_connection, row.interface_connection},
                              kTakeoverTimeout);
        return nlohmann::json{{"takeover_peer", nm::takeover_peer_name(row.interface_connection)}};
    });
}

Backend::Profiles NmBackend::prepare(const std::string& name, const PortOptions& options,
                                     Origin origin) {
    return translate([&] {
        const bool autoconnect = !nm_replugs_ || nm_replugs_(name);
        return to_profiles(ports_.prepare(
            {name, vlan_of(options), options.vmid, std::string(to_string(origin)), autoconnect}));
    });
}

Backend::Profiles NmBackend::activate(const std::string& name) {
    return translate([&] { return to_profiles(ports_.activate(name)); });
}

bool NmBackend::nm_restores(const std::string& name) const {
    return !nm_replugs_ || nm_replugs_(name);
}

Backend::Profiles NmBackend::reactivate(const std::string& name) {
    return translate([&] { return to_profiles(ports_.reactivate(name)); });
}

Backend::Profiles NmBackend::replug(const std::string& name) {
    return translate([&] { return to_profiles(ports_.replug(name)); });
}

nlohmann::json NmBackend::remove(const std::string& name) {
    return translate([&] {
        nm::DetachResult r = ports_.detach(name);
        return nlohmann::json{{"deleted_uuids", r.deleted_uuids},
                              {"deleted_profiles", r.deleted_profiles}};
    });
}

void NmBackend::set_options(const std::string& name, const PortOptions& options) {
    translate([&] { ports_.set_vlan(name, vlan_of(options)); });
}

std::vector<Backend::Owned> NmBackend::owned() {
    return translate([&] {
        std::vector<Owned> result;
        for (const nm::OwnedPort& port : ports_.owned_ports()) {
            Owned o;
            o.name = port.name;
            const nm::ConnectionInfo* any = port.port ? &*port.port : &*port.member;
            if (port.port) o.port_uuid = port.port->uuid;
            if (port.member) o.member_uuid = port.member->uuid;
            if (auto it = any->external_ids.find("vmid"); it != any->external_ids.end()) {
                // Not a VMID (someone edited it): the port works without it.
                o.options.vmid = nm::parse_vmid(it->second);
            }
            if (auto it = any->external_ids.find("origin"); it != any->external_ids.end()) {
                o.origin = origin_from_string(it->second).value_or(Origin::Request);
            }
            o.options.tag = port.tag;
            // A range someone edited out of 1..4094 is dropped: the set holds valid VLANs only.
            for (const nm::VlanRange& range : port.trunks)
                o.options.trunks.add(range.first, range.last);
            o.link_present = port.device.has_value();
            o.activated = port.device && port.device->state == nm::kStateActivated && port.member &&
                          port.port;
            if (port.device)
                o.kind = port.device->type == nm::kDeviceTun ? LinkKind::Tap : LinkKind::Veth;
            result.push_back(std::move(o));
        }
        return result;
    });
}

}  // namespace opa::agent
