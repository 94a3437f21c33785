// What setup-bridge moves from the NIC and what its verification waits for (pure, no bus).
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "nm/ip4_check.hpp"

namespace {

using namespace opa::nm;

const Ip4Info kNic{{{"192.0.2.10", 24}}, "192.0.2.1", {"192.0.2.53"}};

Settings applied_ipv4(SettingValues ipv4) {
    Settings s;
    s["connection"]["id"] = sdbus::Variant(std::string("nic"));
    s["ipv4"] = std::move(ipv4);
    return s;
}

SettingValues manual_ipv4() {
    SettingValues ipv4;
    ipv4["method"] = sdbus::Variant(std::string("manual"));
    std::vector<std::map<std::string, sdbus::Variant>> data = {
        {{"address", sdbus::Variant(std::string("192.0.2.10"))},
         {"prefix", sdbus::Variant(std::uint32_t{24})}}};
    ipv4["address-data"] = sdbus::Variant(data);
    ipv4["gateway"] = sdbus::Variant(std::string("192.0.2.1"));
    ipv4["dns-data"] = sdbus::Variant(std::vector<std::string>{"192.0.2.53"});
    return ipv4;
}

TEST(NmIp4Check, EverythingShownIsNothingMissing) {
    EXPECT_TRUE(missing_ip4(kNic, kNic).empty());
    // More than wanted is fine: another address, another DNS server.
    Ip4Info more = kNic;
    more.addresses.push_back({"198.51.100.1", 24});
    more.dns.push_back("192.0.2.54");
    EXPECT_TRUE(missing_ip4(more, kNic).empty());
}

TEST(NmIp4Check, EachPartMissingIsNamed) {
    EXPECT_EQ(
        missing_ip4({}, kNic),
        (std::vector<std::string>{"address 192.0.2.10/24", "gateway 192.0.2.1", "DNS 192.0.2.53"}));
    // The state the fresh-clone failure showed: the address there, the default route not yet.
    Ip4Info no_gateway = kNic;
    no_gateway.gateway.clear();
    EXPECT_EQ(missing_ip4(no_gateway, kNic), std::vector<std::string>{"gateway 192.0.2.1"});
    Ip4Info no_dns = kNic;
    no_dns.dns.clear();
    EXPECT_EQ(missing_ip4(no_dns, kNic), std::vector<std::string>{"DNS 192.0.2.53"});
}

TEST(NmIp4Check, AnAddressCountsOnlyWithItsPrefixAndAGatewayOnlyIfTheSame) {
    Ip4Info other_prefix = kNic;
    other_prefix.addresses = {{"192.0.2.10", 16}};
    EXPECT_EQ(missing_ip4(other_prefix, kNic), std::vector<std::string>{"address 192.0.2.10/24"});
    Ip4Info other_gateway = kNic;
    other_gateway.gateway = "192.0.2.254";
    EXPECT_EQ(missing_ip4(other_gateway, kNic), std::vector<std::string>{"gateway 192.0.2.1"});
}

TEST(NmIp4Check, NoGatewayWantedChecksNone) {
    Ip4Info wanted = kNic;
    wanted.gateway.clear();
    Ip4Info shown = kNic;
    shown.gateway = "192.0.2.254";
    EXPECT_TRUE(missing_ip4(shown, wanted).empty());
}

TEST(NmIp4Check, TheAppliedProfileGivesAddressesGatewayAndDns) {
    const Ip4Info ip = configured_ip4(applied_ipv4(manual_ipv4()));
    ASSERT_EQ(ip.addresses.size(), 1u);
    EXPECT_EQ(ip.addresses[0].address, "192.0.2.10");
    EXPECT_EQ(ip.addresses[0].prefix, 24u);
    EXPECT_EQ(ip.gateway, "192.0.2.1");
    EXPECT_EQ(ip.dns, std::vector<std::string>{"192.0.2.53"});
}

TEST(NmIp4Check, NeverDefaultMeansNoGatewayToMove) {
    SettingValues ipv4 = manual_ipv4();
    ipv4["never-default"] = sdbus::Variant(true);
    EXPECT_EQ(configured_ip4(applied_ipv4(ipv4)).gateway, "");
}

TEST(NmIp4Check, OlderDnsInNetworkByteOrderIsRead) {
    SettingValues ipv4 = manual_ipv4();
    ipv4.erase("dns-data");
    in_addr address{};
    ASSERT_EQ(inet_pton(AF_INET, "192.0.2.53", &address), 1);
    ipv4["dns"] = sdbus::Variant(std::vector<std::uint32_t>{address.s_addr});
    EXPECT_EQ(configured_ip4(applied_ipv4(ipv4)).dns, std::vector<std::string>{"192.0.2.53"});
}

TEST(NmIp4Check, DhcpOrMissingOrMistypedSettingsConfigureNothing) {
    SettingValues dhcp;
    dhcp["method"] = sdbus::Variant(std::string("auto"));
    const Ip4Info from_dhcp = configured_ip4(applied_ipv4(dhcp));
    EXPECT_TRUE(from_dhcp.addresses.empty() && from_dhcp.gateway.empty() && from_dhcp.dns.empty());
    EXPECT_TRUE(configured_ip4(Settings{}).addresses.empty());
    SettingValues mistyped;
    mistyped["gateway"] = sdbus::Variant(std::uint32_t{7});
    mistyped["address-data"] = sdbus::Variant(std::string("192.0.2.10/24"));
    const Ip4Info bad = configured_ip4(applied_ipv4(mistyped));
    EXPECT_TRUE(bad.addresses.empty());
    EXPECT_EQ(bad.gateway, "");
}

TEST(NmIp4Check, ANicIsSettledOnlyWhenItShowsWhatItsProfileConfigures) {
    const Ip4Info configured = kNic;
    EXPECT_TRUE(ip4_settled(kNic, configured));
    Ip4Info address_only{{{"192.0.2.10", 24}}, "", {}};
    EXPECT_FALSE(ip4_settled(address_only, configured));
    // DHCP: nothing configured statically; an address with or without gateway is all there is.
    EXPECT_TRUE(ip4_settled(address_only, {}));
    // A gateway or DNS server shown before any address is not settled (NM 1.52's order).
    EXPECT_FALSE(ip4_settled({{}, "192.0.2.1", {}}, {}));
    EXPECT_FALSE(ip4_settled({{}, "", {"192.0.2.53"}}, {}));
    EXPECT_TRUE(ip4_settled({}, {}));
}

TEST(NmIp4Check, WhatIsMovedIsCompletedFromTheProfile) {
    const Ip4Info moved = ip4_to_move({{{"192.0.2.10", 24}}, "", {}}, kNic);
    ASSERT_EQ(moved.addresses.size(), 1u);
    EXPECT_EQ(moved.gateway, "192.0.2.1");
    EXPECT_EQ(moved.dns, std::vector<std::string>{"192.0.2.53"});
    // What NM shows beyond the profile (a DHCP lease's DNS) is kept too.
    const Ip4Info shown{{{"192.0.2.10", 24}}, "192.0.2.1", {"192.0.2.99"}};
    EXPECT_EQ(ip4_to_move(shown, kNic).dns, (std::vector<std::string>{"192.0.2.99", "192.0.2.53"}));
}

TEST(NmIp4Check, TheMoveIsDoneOnlyWhenTheBridgeHoldsAllAndTheNicNone) {
    EXPECT_TRUE(move_gaps("opabr0", kNic, kNic, "upl0", {}).empty());
    Ip4Info no_gateway = kNic;
    no_gateway.gateway.clear();
    EXPECT_EQ(
        move_gaps("opabr0", no_gateway, kNic, "upl0", kNic),
        (std::vector<std::string>{"opabr0: gateway 192.0.2.1", "upl0 still holds 192.0.2.10/24"}));
    // No uplink: only the bridge is checked.
    EXPECT_TRUE(move_gaps("opabr0", kNic, kNic, "", kNic).empty());
}

TEST(NmIp4Check, RoutesCountAsLostOnlyWhenTheAddressesAreThereAndTheGatewayIsNot) {
    Ip4Info flushed = kNic;  // what the bridge shows after OVS set its link down and up
    flushed.gateway.clear();
    EXPECT_TRUE(routes_lost(flushed, kNic));
    EXPECT_FALSE(routes_lost(kNic, kNic));
    // Not configured yet (no address): waiting, not reapplying.
    EXPECT_FALSE(routes_lost({}, kNic));
    Ip4Info dns_missing = kNic;
    dns_missing.dns.clear();
    EXPECT_FALSE(routes_lost(dns_missing, kNic));
    // No gateway moved: nothing to lose.
    Ip4Info no_gateway_wanted = kNic;
    no_gateway_wanted.gateway.clear();
    EXPECT_FALSE(routes_lost(flushed, no_gateway_wanted));
}

TEST(NmIp4Check, WaitingEndsWhenTheGapsCloseAndNamesThemAtTheDeadline) {
    // A fake NM: each signal brings the next state; the deadline comes after the last one.
    std::vector<std::vector<std::string>> states = {
        {"opabr0: gateway 192.0.2.1", "opabr0: DNS 192.0.2.53"}, {"opabr0: DNS 192.0.2.53"}, {}};
    std::size_t signals = 0;
    const auto fake_wait = [&](std::size_t signals_before_deadline) {
        return [&, signals_before_deadline](const std::function<bool()>& check,
                                            const std::string& what) {
            for (signals = 0; signals <= signals_before_deadline; ++signals) {
                if (check()) return;
            }
            throw NmError("timed out waiting for " + what);
        };
    };
    std::size_t reads = 0;
    const auto gaps = [&] { return states[std::min(reads++, states.size() - 1)]; };
    EXPECT_NO_THROW(wait_without_gaps(gaps, fake_wait(5), "opabr0"));
    EXPECT_EQ(reads, 3u);

    reads = 0;
    try {
        wait_without_gaps(gaps, fake_wait(1), "opabr0 to hold its address");
        FAIL() << "the deadline passed without an error";
    } catch (const NmError& error) {
        EXPECT_STREQ(error.what(),
                     "timed out waiting for opabr0 to hold its address; missing: opabr0: DNS "
                     "192.0.2.53");
    }
}

TEST(NmIp4Check, AWaitThatFailsForAnotherReasonIsPassedOn) {
    const auto failing = [](const std::function<bool()>&, const std::string&) {
        throw NmError("NetworkManager went away");
    };
    try {
        wait_without_gaps([] { return std::vector<std::string>{}; }, failing, "opabr0");
        FAIL() << "no error";
    } catch (const NmError& error) {
        EXPECT_STREQ(error.what(), "NetworkManager went away");
    }
}

TEST(NmIp4Check, FormatNamesEveryPart) {
    EXPECT_EQ(format_ip4(kNic), "192.0.2.10/24 gw 192.0.2.1 dns 192.0.2.53");
    EXPECT_EQ(format_ip4({}), "none");
}

}  // namespace
