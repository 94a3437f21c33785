// NetworkManager connection profiles for Open vSwitch objects, as D-Bus settings (a{sa{sv}}).
// Pure: builds values, talks to nobody. The wire names of the controller/port relation depend on
// NM's version (master/slave-type before 1.46, controller/port-type from 1.46); our own code
// says controller and port throughout.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sdbus-c++/Types.h>

namespace opa::nm {

using SettingValues = std::map<std::string, sdbus::Variant>;
using Settings = std::map<std::string, SettingValues>;  // a{sa{sv}}

// Every profile the agent creates has an id starting with this, and carries
// ovs-external-ids owner=kOwnerValue, so the agent never deletes what it did not create.
inline constexpr std::string_view kIdPrefix = "ovs-port-agent:";
inline constexpr std::string_view kOwnerKey = "owner";
inline constexpr std::string_view kOwnerValue = "ovs-port-agent";

struct WireNames {
    std::string controller;  // "master" | "controller"
    std::string port_type;   // "slave-type" | "port-type"
};
// Wire names the running NM accepts, from its Version ("1.42.4").
WireNames wire_names_for(std::string_view nm_version);

// Bridge: the ovs-bridge. BridgePort: a port of the bridge's own (its internal interface's or the
// uplink's). Interface: the internal ovs-interface carrying the host's IP. Uplink: the NIC in its
// port. Port and Member: a container port and its interface (veth or tap).
enum class ProfileRole { Bridge, BridgePort, Interface, Uplink, Port, Member };
std::string profile_id(ProfileRole role, std::string_view name);
// Parses an id made by profile_id; nullopt for ids the agent did not make.
std::optional<std::pair<ProfileRole, std::string>> parse_profile_id(std::string_view id);

struct VlanRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
};
struct VlanOptions {
    std::optional<std::uint16_t> tag;  // access VLAN 0..4094
    std::string mode;                  // "" = NM's default; access, native-tagged, ...
    std::vector<VlanRange> trunks;
};
// Empty when valid, else a sentence saying what is wrong (tag range, mode name, trunk ranges).
std::string validate_vlan(const VlanOptions& vlan);

// Who a port belongs to, stored in OVSDB through NM's ovs-external-ids setting.
struct Ownership {
    std::string port;
    std::optional<std::uint32_t> vmid;
    std::string origin;  // why the agent made it ("request", "link"); "" = not recorded
};

struct Ipv4Address {
    std::string address;
    std::uint32_t prefix = 0;
};
struct IpConfig {
    std::vector<Ipv4Address> addresses;  // empty: ipv4.method disabled
    std::string gateway;
    std::vector<std::string> dns;
    bool ipv6_auto = false;  // false: ipv6.method disabled
};

// A tap device's properties; NM's tun profile must match the existing device.
struct TunProperties {
    std::uint32_t mode = 2;  // 1 tun, 2 tap
    std::optional<std::int64_t> owner;
    std::optional<std::int64_t> group;
    bool pi = false;
    bool vnet_hdr = false;
    bool multi_queue = false;
};

struct ProfileCommon {
    std::string uuid;
    bool autoconnect = false;
    // connection.autoconnect-slaves: activating this profile activates its ports too. The
    // bridge always has it (rule 7: activate only the bridge); so do the ports made with it.
    bool autoconnect_ports = false;
};

Settings bridge_profile(const std::string& name, const ProfileCommon& common,
                        const std::string& datapath_type);
Settings port_profile(const std::string& name, const ProfileCommon& common,
                      const std::string& bridge_uuid, const VlanOptions& vlan,
                      const std::optional<Ownership>& owner, const WireNames& wire,
                      ProfileRole role = ProfileRole::Port);
// An internal interface (the host's IP lives here).
Settings internal_interface_profile(const std::string& name, const ProfileCommon& common,
                                    const std::string& port_uuid, const IpConfig& ip,
                                    const WireNames& wire);
// An existing NIC or veth as the member of a port (802-3-ethernet, no IP).
Settings ethernet_member_profile(const std::string& ifname, const ProfileCommon& common,
                                 const std::string& port_uuid,
                                 const std::optional<Ownership>& owner, const WireNames& wire,
                                 ProfileRole role = ProfileRole::Member);
// An existing tap as the member of a port.
Settings tun_member_profile(const std::string& ifname, const ProfileCommon& common,
                            const std::string& port_uuid, const TunProperties& tun,
                            const std::optional<Ownership>& owner, const WireNames& wire);

std::string new_uuid();

// Name-based UUID (RFC 4122 version 5: SHA-1 over the namespace's 16 bytes and the name).
// Empty when `namespace_uuid` is not a UUID.
std::string uuid_v5(std::string_view namespace_uuid, std::string_view name);
// The agent's fixed namespace for profile UUIDs.
inline constexpr std::string_view kProfileUuidNamespace = "e7c835fe-7d99-49c6-928a-e86193eb42a2";
// The UUID the agent gives the profile of `role` for `name`: uuid_v5 of profile_id(role, name).
// Deterministic, so a port's profiles are found with GetConnectionByUuid instead of a listing.
// Profiles made by older versions have random UUIDs (new_uuid) and are found by listing.
std::string profile_uuid(ProfileRole role, std::string_view name);

}  // namespace opa::nm
