#include "nm/profiles.hpp"

#include <charconv>
#include <fstream>
#include <random>

#include "vlan/vlan.hpp"

#include <openssl/evp.h>

namespace opa::nm {
namespace {

constexpr std::string_view kRoleBridge = "bridge:";
constexpr std::string_view kRoleBridgePort = "bridge-port:";
constexpr std::string_view kRoleUplink = "uplink:";
constexpr std::string_view kRolePort = "port:";
constexpr std::string_view kRoleInterface = "iface:";
constexpr std::string_view kRoleMember = "member:";

std::string_view role_word(ProfileRole role) {
    switch (role) {
        case ProfileRole::Bridge:
            return kRoleBridge;
        case ProfileRole::BridgePort:
            return kRoleBridgePort;
        case ProfileRole::Uplink:
            return kRoleUplink;
        case ProfileRole::Port:
            return kRolePort;
        case ProfileRole::Interface:
            return kRoleInterface;
        case ProfileRole::Member:
            return kRoleMember;
    }
    return kRoleMember;
}

SettingValues connection_section(const std::string& id, const ProfileCommon& common,
                                 const std::string& type, const std::string& ifname) {
    SettingValues connection;
    connection["id"] = sdbus::Variant(id);
    connection["uuid"] = sdbus::Variant(common.uuid);
    connection["type"] = sdbus::Variant(type);
    connection["interface-name"] = sdbus::Variant(ifname);
    connection["autoconnect"] = sdbus::Variant(common.autoconnect);
    if (common.autoconnect_ports) {
        connection["autoconnect-slaves"] = sdbus::Variant(std::int32_t{1});
    }
    return connection;
}

void set_controller(SettingValues& connection, const WireNames& wire,
                    const std::string& controller_uuid, const std::string& port_type) {
    connection[wire.controller] = sdbus::Variant(controller_uuid);
    connection[wire.port_type] = sdbus::Variant(port_type);
}

void add_ownership(Settings& settings, const std::optional<Ownership>& owner) {
    if (!owner) return;
    std::map<std::string, std::string> data;
    data[std::string(kOwnerKey)] = std::string(kOwnerValue);
    data["port"] = owner->port;
    if (owner->vmid) data["vmid"] = std::to_string(*owner->vmid);
    if (!owner->origin.empty()) data["origin"] = owner->origin;
    settings["ovs-external-ids"]["data"] = sdbus::Variant(data);
}

}  // namespace

WireNames wire_names_for(std::string_view nm_version) {
    unsigned major = 0;
    unsigned minor = 0;
    const char* begin = nm_version.data();
    const char* end = begin + nm_version.size();
    auto [p, ec] = std::from_chars(begin, end, major);
    if (ec == std::errc() && p < end && *p == '.') std::from_chars(p + 1, end, minor);
    if (major > 1 || (major == 1 && minor >= 46)) return {"controller", "port-type"};
    return {"master", "slave-type"};
}

std::string profile_id(ProfileRole role, std::string_view name) {
    std::string id(kIdPrefix);
    id += role_word(role);
    id += name;
    return id;
}

std::optional<std::pair<ProfileRole, std::string>> parse_profile_id(std::string_view id) {
    if (!id.starts_with(kIdPrefix)) return std::nullopt;
    id.remove_prefix(kIdPrefix.size());
    for (ProfileRole role : {ProfileRole::Bridge, ProfileRole::BridgePort, ProfileRole::Interface,
                             ProfileRole::Uplink, ProfileRole::Port, ProfileRole::Member}) {
        std::string_view word = role_word(role);
        if (id.starts_with(word) && id.size() > word.size()) {
            return std::make_pair(role, std::string(id.substr(word.size())));
        }
    }
    return std::nullopt;
}

std::string validate_vlan(const VlanOptions& vlan) {
    if (auto problem = vlan.tag ? vlan::tag_error(*vlan.tag) : std::nullopt) return *problem;
    static const char* const kModes[] = {"",      "access",          "native-tagged",
                                         "trunk", "native-untagged", "dot1q-tunnel"};
    bool known = false;
    for (const char* m : kModes) known = known || vlan.mode == m;
    if (!known) {
        return "unknown VLAN mode '" + vlan.mode +
               "' (access, native-tagged, native-untagged, trunk, dot1q-tunnel)";
    }
    for (const VlanRange& r : vlan.trunks) {
        if (auto problem = vlan::trunk_range_error(r.first, r.last)) return *problem;
    }
    return {};
}

Settings bridge_profile(const std::string& name, const ProfileCommon& common,
                        const std::string& datapath_type) {
    Settings s;
    s["connection"] =
        connection_section(profile_id(ProfileRole::Bridge, name), common, "ovs-bridge", name);
    // Bring the bridge's ports up with it (rule 7: activate only the bridge).
    s["connection"]["autoconnect-slaves"] = sdbus::Variant(std::int32_t{1});
    if (!datapath_type.empty()) s["ovs-bridge"]["datapath-type"] = sdbus::Variant(datapath_type);
    // The rules: no IP on the bridge itself.
    s["ipv4"]["method"] = sdbus::Variant(std::string("disabled"));
    s["ipv6"]["method"] = sdbus::Variant(std::string("disabled"));
    return s;
}

Settings port_profile(const std::string& name, const ProfileCommon& common,
                      const std::string& bridge_uuid, const VlanOptions& vlan,
                      const std::optional<Ownership>& owner, const WireNames& wire,
                      ProfileRole role) {
    Settings s;
    s["connection"] = connection_section(profile_id(role, name), common, "ovs-port", name);
    set_controller(s["connection"], wire, bridge_uuid, "ovs-bridge");
    SettingValues& port = s["ovs-port"];
    if (vlan.tag) port["tag"] = sdbus::Variant(std::uint32_t{*vlan.tag});
    if (!vlan.mode.empty()) port["vlan-mode"] = sdbus::Variant(vlan.mode);
    if (!vlan.trunks.empty()) {
        std::vector<std::map<std::string, sdbus::Variant>> trunks;
        for (const VlanRange& r : vlan.trunks) {
            // NM 1.42 reads the ends as uint64 ("t"); other types are silently dropped.
            trunks.push_back({{"start", sdbus::Variant(std::uint64_t{r.first})},
                              {"end", sdbus::Variant(std::uint64_t{r.last})}});
        }
        port["trunks"] = sdbus::Variant(trunks);
    }
    if (port.empty()) s.erase("ovs-port");
    add_ownership(s, owner);
    return s;
}

Settings internal_interface_profile(const std::string& name, const ProfileCommon& common,
                                    const std::string& port_uuid, const IpConfig& ip,
                                    const WireNames& wire) {
    Settings s;
    s["connection"] =
        connection_section(profile_id(ProfileRole::Interface, name), common, "ovs-interface", name);
    set_controller(s["connection"], wire, port_uuid, "ovs-port");
    s["ovs-interface"]["type"] = sdbus::Variant(std::string("internal"));
    SettingValues& ipv4 = s["ipv4"];
    if (ip.addresses.empty()) {
        ipv4["method"] = sdbus::Variant(std::string("disabled"));
    } else {
        ipv4["method"] = sdbus::Variant(std::string("manual"));
        std::vector<std::map<std::string, sdbus::Variant>> data;
        for (const Ipv4Address& a : ip.addresses) {
            data.push_back(
                {{"address", sdbus::Variant(a.address)}, {"prefix", sdbus::Variant(a.prefix)}});
        }
        ipv4["address-data"] = sdbus::Variant(data);
        if (!ip.gateway.empty()) ipv4["gateway"] = sdbus::Variant(ip.gateway);
        if (!ip.dns.empty()) ipv4["dns-data"] = sdbus::Variant(ip.dns);
    }
    s["ipv6"]["method"] = sdbus::Variant(std::string(ip.ipv6_auto ? "auto" : "disabled"));
    return s;
}

Settings ethernet_member_profile(const std::string& ifname, const ProfileCommon& common,
                                 const std::string& port_uuid,
                                 const std::optional<Ownership>& owner, const WireNames& wire,
                                 ProfileRole role) {
    Settings s;
    s["connection"] =
        connection_section(profile_id(role, ifname), common, "802-3-ethernet", ifname);
    set_controller(s["connection"], wire, port_uuid, "ovs-port");
    add_ownership(s, owner);
    return s;
}

Settings tun_member_profile(const std::string& ifname, const ProfileCommon& common,
                            const std::string& port_uuid, const TunProperties& tun,
                            const std::optional<Ownership>& owner, const WireNames& wire) {
    Settings s;
    s["connection"] =
        connection_section(profile_id(ProfileRole::Member, ifname), common, "tun", ifname);
    set_controller(s["connection"], wire, port_uuid, "ovs-port");
    SettingValues& t = s["tun"];
    t["mode"] = sdbus::Variant(tun.mode);
    // NM's tun.owner and tun.group are strings holding the numeric id.
    if (tun.owner) t["owner"] = sdbus::Variant(std::to_string(*tun.owner));
    if (tun.group) t["group"] = sdbus::Variant(std::to_string(*tun.group));
    t["pi"] = sdbus::Variant(tun.pi);
    t["vnet-hdr"] = sdbus::Variant(tun.vnet_hdr);
    t["multi-queue"] = sdbus::Variant(tun.multi_queue);
    add_ownership(s, owner);
    return s;
}

std::string new_uuid() {
    // The kernel's generator gives RFC 4122 version-4 UUIDs.
    std::ifstream in("/proc/sys/kernel/random/uuid");
    std::string uuid;
    if (in >> uuid && uuid.size() == 36) return uuid;
    std::random_device rd;
    std::uniform_int_distribution<int> hex(0, 15);
    const char* digits = "0123456789abcdef";
    uuid = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
    for (char& c : uuid) {
        if (c == 'x') c = digits[hex(rd)];
        if (c == 'y') c = digits[8 + hex(rd) % 4];
    }
    return uuid;
}

std::string uuid_v5(std::string_view namespace_uuid, std::string_view name) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string data;
    int high = -1;
    for (char c : namespace_uuid) {
        if (c == '-') continue;
        const int n = nibble(c);
        if (n < 0) return {};
        if (high < 0) {
            high = n;
        } else {
            data.push_back(static_cast<char>(high << 4 | n));
            high = -1;
        }
    }
    if (data.size() != 16 || high >= 0 || namespace_uuid.size() != 36) return {};
    data.append(name);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &md_len, EVP_sha1(), nullptr) != 1 ||
        md_len < 16) {
        return {};
    }
    md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x50);  // version 5
    md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static const char* const kDigits = "0123456789abcdef";
    std::string uuid;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) uuid.push_back('-');
        uuid.push_back(kDigits[md[i] >> 4]);
        uuid.push_back(kDigits[md[i] & 0x0f]);
    }
    return uuid;
}

std::string profile_uuid(ProfileRole role, std::string_view name) {
    return uuid_v5(kProfileUuidNamespace, profile_id(role, name));
}

}  // namespace opa::nm
