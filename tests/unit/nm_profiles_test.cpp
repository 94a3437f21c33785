// Profile ids, wire names and settings built for NetworkManager (pure, no bus).
#include <set>

#include <gtest/gtest.h>

#include "nm/profiles.hpp"

namespace {

using namespace opa::nm;

TEST(NmProfiles, IdsRoundTripForEveryRole) {
    for (ProfileRole role : {ProfileRole::Bridge, ProfileRole::BridgePort, ProfileRole::Interface,
                             ProfileRole::Uplink, ProfileRole::Port, ProfileRole::Member}) {
        const std::string id = profile_id(role, "vi100");
        auto parsed = parse_profile_id(id);
        ASSERT_TRUE(parsed) << id;
        EXPECT_EQ(parsed->first, role) << id;
        EXPECT_EQ(parsed->second, "vi100") << id;
    }
    EXPECT_EQ(profile_id(ProfileRole::BridgePort, "ovsbr0"), "ovs-port-agent:bridge-port:ovsbr0");
    EXPECT_FALSE(parse_profile_id("Wired connection 1"));
    EXPECT_FALSE(parse_profile_id("ovs-port-agent:port:"));
    EXPECT_FALSE(parse_profile_id("ovs-port-agent:unknown:x"));
}

TEST(NmProfiles, WireNamesFollowTheVersion) {
    EXPECT_EQ(wire_names_for("1.42.4").controller, "master");
    EXPECT_EQ(wire_names_for("1.42.4").port_type, "slave-type");
    EXPECT_EQ(wire_names_for("1.46.0").controller, "controller");
    EXPECT_EQ(wire_names_for("1.46.0").port_type, "port-type");
    EXPECT_EQ(wire_names_for("2.0").controller, "controller");
    EXPECT_EQ(wire_names_for("garbage").controller, "master");
}

TEST(NmProfiles, VlanValidation) {
    EXPECT_TRUE(validate_vlan({}).empty());
    EXPECT_TRUE(validate_vlan({4094, "access", {}}).empty());
    EXPECT_NE(validate_vlan({4095, "", {}}).find("out of range"), std::string::npos);
    EXPECT_NE(validate_vlan({std::nullopt, "bogus", {}}).find("unknown VLAN mode"),
              std::string::npos);
    EXPECT_NE(validate_vlan({std::nullopt, "trunk", {{30, 20}}}).find("ends before it starts"),
              std::string::npos);
    // One rule with every other layer (vlan/vlan.hpp): trunk VLANs are 1..4094, as in Proxmox.
    EXPECT_NE(validate_vlan({std::nullopt, "trunk", {{0, 5}}}).find("trunk VLAN 0"),
              std::string::npos);
    EXPECT_TRUE(validate_vlan({std::nullopt, "trunk", {{20, 30}, {40, 40}}}).empty());
}

TEST(NmProfiles, PortProfileCarriesTagTrunksAndOwnership) {
    const WireNames wire = wire_names_for("1.42.4");
    VlanOptions vlan{10, "native-untagged", {{20, 30}}};
    Settings s = port_profile("vi100", {"u-1", true, false}, "bridge-uuid", vlan,
                              Ownership{"vi100", 100, "request"}, wire);
    EXPECT_EQ(s["connection"]["id"].get<std::string>(), "ovs-port-agent:port:vi100");
    EXPECT_EQ(s["connection"]["type"].get<std::string>(), "ovs-port");
    EXPECT_EQ(s["connection"]["master"].get<std::string>(), "bridge-uuid");
    EXPECT_EQ(s["connection"]["slave-type"].get<std::string>(), "ovs-bridge");
    EXPECT_TRUE(s["connection"]["autoconnect"].get<bool>());
    EXPECT_EQ(s["ovs-port"]["tag"].get<std::uint32_t>(), 10u);
    EXPECT_EQ(s["ovs-port"]["vlan-mode"].get<std::string>(), "native-untagged");
    auto trunks = s["ovs-port"]["trunks"].get<std::vector<std::map<std::string, sdbus::Variant>>>();
    ASSERT_EQ(trunks.size(), 1u);
    // NM 1.42.4 reads the range ends as uint64 only (uint32 ones are dropped without an error).
    EXPECT_EQ(trunks[0]["start"].get<std::uint64_t>(), 20u);
    EXPECT_EQ(trunks[0]["end"].get<std::uint64_t>(), 30u);
    auto ids = s["ovs-external-ids"]["data"].get<std::map<std::string, std::string>>();
    EXPECT_EQ(ids["owner"], "ovs-port-agent");
    EXPECT_EQ(ids["vmid"], "100");
    EXPECT_EQ(ids["port"], "vi100");
    EXPECT_EQ(ids["origin"], "request");
}

TEST(NmProfiles, NewerNmGetsControllerWords) {
    Settings s = ethernet_member_profile("vi100", {"u-2", true, false}, "port-uuid", std::nullopt,
                                         wire_names_for("1.46.0"));
    EXPECT_EQ(s["connection"]["controller"].get<std::string>(), "port-uuid");
    EXPECT_EQ(s["connection"]["port-type"].get<std::string>(), "ovs-port");
    EXPECT_EQ(s["connection"].count("master"), 0u);
    EXPECT_EQ(s.count("ovs-external-ids"), 0u);
}

TEST(NmProfiles, InternalInterfaceCarriesTheHostIp) {
    IpConfig ip{{{"192.0.2.10", 24}}, "192.0.2.1", {"192.0.2.53"}, false};
    Settings s = internal_interface_profile("ovsbr0", {"u-3", true, false}, "port-uuid", ip,
                                            wire_names_for("1.42.4"));
    EXPECT_EQ(s["ovs-interface"]["type"].get<std::string>(), "internal");
    EXPECT_EQ(s["ipv4"]["method"].get<std::string>(), "manual");
    EXPECT_EQ(s["ipv4"]["gateway"].get<std::string>(), "192.0.2.1");
    EXPECT_EQ(s["ipv4"]["dns-data"].get<std::vector<std::string>>(),
              std::vector<std::string>{"192.0.2.53"});
    EXPECT_EQ(s["ipv6"]["method"].get<std::string>(), "disabled");
    Settings no_ip = internal_interface_profile("ovsbr1", {"u-4", true, false}, "p", {},
                                                wire_names_for("1.42.4"));
    EXPECT_EQ(no_ip["ipv4"]["method"].get<std::string>(), "disabled");
}

TEST(NmProfiles, BridgeHasNoIpAndBringsUpItsPorts) {
    Settings s = bridge_profile("ovsbr0", {"u-5", true, false}, "netdev");
    EXPECT_EQ(s["ovs-bridge"]["datapath-type"].get<std::string>(), "netdev");
    EXPECT_EQ(s["ipv4"]["method"].get<std::string>(), "disabled");
    EXPECT_EQ(s["connection"]["autoconnect-slaves"].get<std::int32_t>(), 1);
    EXPECT_EQ(s["connection"].count("master"), 0u);
}

TEST(NmProfiles, TapProfileMatchesTheDevice) {
    TunProperties tun;
    tun.owner = 1000;
    tun.vnet_hdr = true;
    Settings s = tun_member_profile("tap100i0", {"u-6", true, false}, "port-uuid", tun,
                                    std::nullopt, wire_names_for("1.42.4"));
    EXPECT_EQ(s["connection"]["type"].get<std::string>(), "tun");
    EXPECT_EQ(s["tun"]["mode"].get<std::uint32_t>(), 2u);
    EXPECT_EQ(s["tun"]["owner"].get<std::string>(), "1000");
    EXPECT_TRUE(s["tun"]["vnet-hdr"].get<bool>());
    EXPECT_EQ(s["tun"].count("group"), 0u);
}

TEST(NmProfiles, UuidV5MatchesRfc4122) {
    // Python's uuid.uuid5(uuid.NAMESPACE_DNS, "python.org").
    EXPECT_EQ(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
              "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    EXPECT_EQ(uuid_v5("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "python.org"),
              "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    EXPECT_EQ(uuid_v5("not-a-uuid", "x"), "");
    EXPECT_EQ(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c", "x"), "");
    EXPECT_EQ(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430cg", "x"), "");
}

TEST(NmProfiles, ProfileUuidsAreStableAndDistinct) {
    // Fixed forever: profiles made by one version are found by the next.
    // uuid.uuid5(UUID("e7c835fe-7d99-49c6-928a-e86193eb42a2"), "ovs-port-agent:port:vi100")
    EXPECT_EQ(profile_uuid(ProfileRole::Port, "vi100"), "7c1eee0b-5849-5e78-9097-5385e4626977");
    EXPECT_EQ(profile_uuid(ProfileRole::Member, "vi100"), "83e2639c-07f6-50ba-a4eb-ebd1b49a9335");
    std::set<std::string> seen;
    for (ProfileRole role : {ProfileRole::Bridge, ProfileRole::BridgePort, ProfileRole::Interface,
                             ProfileRole::Uplink, ProfileRole::Port, ProfileRole::Member}) {
        for (const char* name : {"vi100", "vi1000", "tap100i0"}) {
            const std::string uuid = profile_uuid(role, name);
            EXPECT_EQ(uuid.size(), 36u);
            EXPECT_EQ(uuid[14], '5') << uuid;
            EXPECT_TRUE(seen.insert(uuid).second) << uuid;
            EXPECT_EQ(profile_uuid(role, name), uuid);
        }
    }
}

}  // namespace
