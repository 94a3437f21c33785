// Which links are the agent's: names x kinds x prefixes -> included or ignored, with the reason.
#include <net/if.h>

#include <gtest/gtest.h>

#include "netwatch/classify.hpp"

namespace opa::netwatch {
namespace {

struct ClassifyCase {
    std::string label;
    std::string name;
    LinkKind kind;
    std::uint32_t flags;
    bool included;
    Reason reason;
};

// gtest prints a parameter in test listings (ctest names): the label, not the raw bytes.
void PrintTo(const ClassifyCase& c, std::ostream* out) { *out << c.label; }

ClassifyRules proxmox_rules() {
    ClassifyRules rules;
    rules.include_prefixes = {"veth-", "tap", "veth"};
    rules.own_devices = {"ovsbr0", "ovsbr0-int", "mgmt0"};
    rules.watched_names = {"vi100", "vi100i1"};
    return rules;
}

class NetwatchClassifyTable : public testing::TestWithParam<ClassifyCase> {};

TEST_P(NetwatchClassifyTable, DecidesWithReason) {
    const ClassifyCase& c = GetParam();
    LinkSnapshot link;
    link.ifindex = 7;
    link.name = c.name;
    link.kind = c.kind;
    link.flags = c.flags;
    const Classification result = classify(link, proxmox_rules());
    EXPECT_EQ(result.included, c.included) << c.name << ": " << to_string(result.reason);
    EXPECT_EQ(result.reason, c.reason) << c.name << ": got " << to_string(result.reason);
}

const ClassifyCase kCases[] = {
    // Proxmox container and VM interfaces.
    {"ct_veth", "veth100i0", LinkKind::Veth, IFF_UP, true, Reason::PrefixMatch},
    {"ct_veth_second_nic", "veth100i1", LinkKind::Veth, 0, true, Reason::PrefixMatch},
    {"vm_tap", "tap100i0", LinkKind::Tap, IFF_UP, true, Reason::PrefixMatch},
    {"dash_prefix", "veth-web", LinkKind::Veth, 0, true, Reason::PrefixMatch},
    // Named by the prefix of the other kind: the kind does not have to match the prefix.
    {"tap_named_veth", "veth200i0", LinkKind::Tap, 0, true, Reason::PrefixMatch},
    // Renamed to a template name: included because watched, not by prefix.
    {"watched_rename", "vi100", LinkKind::Veth, IFF_UP, true, Reason::WatchedName},
    {"watched_tap", "vi100i1", LinkKind::Tap, 0, true, Reason::WatchedName},
    // Right kind, wrong name.
    {"firewall_link", "fwln100o0", LinkKind::Veth, 0, false, Reason::NoPrefixMatch},
    {"plain_eth", "eth0", LinkKind::Veth, 0, false, Reason::NoPrefixMatch},
    {"case_matters", "VETH100i0", LinkKind::Veth, 0, false, Reason::NoPrefixMatch},
    {"prefix_inside", "myveth0", LinkKind::Veth, 0, false, Reason::NoPrefixMatch},
    {"unwatched_template", "vi101", LinkKind::Veth, 0, false, Reason::NoPrefixMatch},
    // Right name, wrong kind.
    {"dummy_named_veth", "veth9", LinkKind::Other, 0, false, Reason::OtherKind},
    {"bridge_named_tap", "tapbr", LinkKind::Other, 0, false, Reason::OtherKind},
    {"watched_but_dummy", "vi100", LinkKind::Other, 0, false, Reason::OtherKind},
    {"layer3_tun", "tap5", LinkKind::Tun, 0, false, Reason::Layer3Tun},
    // Never ours.
    {"loopback_flag", "veth-lo", LinkKind::Veth, IFF_LOOPBACK, false, Reason::Loopback},
    {"lo", "lo", LinkKind::Other, IFF_UP, false, Reason::Loopback},
    {"bridge_itself", "ovsbr0", LinkKind::Tap, IFF_UP, false, Reason::OwnDevice},
    {"internal_port", "ovsbr0-int", LinkKind::Tap, 0, false, Reason::OwnDevice},
    {"own_beats_prefix", "mgmt0", LinkKind::Veth, 0, false, Reason::OwnDevice},
    {"ovs_netdev", "ovs-netdev", LinkKind::Tap, 0, false, Reason::OvsDatapath},
    {"ovs_system", "ovs-system", LinkKind::Other, 0, false, Reason::OvsDatapath},
};

INSTANTIATE_TEST_SUITE_P(Netwatch, NetwatchClassifyTable, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<ClassifyCase>& info) {
                             return info.param.label;
                         });

TEST(NetwatchClassify, OwnDeviceBeatsWatchedName) {
    ClassifyRules rules = proxmox_rules();
    rules.watched_names.insert("ovsbr0");
    LinkSnapshot link{3, "ovsbr0", LinkKind::Tap, "tun", 0, 0, 0};
    EXPECT_EQ(classify(link, rules), (Classification{false, Reason::OwnDevice}));
}

TEST(NetwatchClassify, EmptyPrefixMatchesNothing) {
    ClassifyRules rules;
    rules.include_prefixes = {""};
    LinkSnapshot link{3, "veth0", LinkKind::Veth, "veth", 0, 0, 0};
    EXPECT_EQ(classify(link, rules), (Classification{false, Reason::NoPrefixMatch}));
}

TEST(NetwatchClassify, NoPrefixesIncludesOnlyWatchedNames) {
    ClassifyRules rules;
    rules.watched_names = {"vi7"};
    LinkSnapshot veth{3, "veth0", LinkKind::Veth, "veth", 0, 0, 0};
    LinkSnapshot renamed{4, "vi7", LinkKind::Veth, "veth", 0, 0, 0};
    EXPECT_FALSE(classify(veth, rules).included);
    EXPECT_TRUE(classify(renamed, rules).included);
}

}  // namespace
}  // namespace opa::netwatch
