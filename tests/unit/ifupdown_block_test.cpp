// Table-driven tests of render_block, apply_block (including the repairs of what a Proxmox GUI
// save does to the block), scan_block, input validation and the doctor check.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ifupdown/block.hpp"
#include "ifupdown/doctor.hpp"

namespace opa::ifupdown {
namespace {

constexpr std::string_view kTag = "ovs-port-agent";
constexpr std::string_view kBridge = "ovsbr0";

const std::string kLoopback = "auto lo\niface lo inet loopback\n";

// What the agent writes for one port, without the markers.
std::string stanza(const std::string& name, const std::string& options = "") {
    std::string text = "allow-ovsbr0 " + name + "\niface " + name +
                       " inet manual\n\tovs_type OVSPort\n\tovs_bridge ovsbr0\n";
    if (!options.empty()) text += "\tovs_options " + options + "\n";
    return text;
}

std::string block(const std::vector<std::string>& stanzas, std::string_view tag = kTag) {
    std::string text = "# BEGIN " + std::string(tag) + "\n";
    for (std::size_t i = 0; i < stanzas.size(); ++i) text += (i ? "\n" : "") + stanzas[i];
    return text + "# END " + std::string(tag) + "\n";
}

const std::vector<Port> kTwoPorts = {{"vi101", std::nullopt, {}}, {"vi100", 10, {}}};
const std::string kTwoPortsBlock = block({stanza("vi100", "tag=10"), stanza("vi101")});

// The admin's NIC in the bridge, as a GUI save writes it (it gains auto, OVSPort, ovs_bridge).
const std::string kAdminNic =
    "auto eno1\niface eno1 inet manual\n\tovs_bridge ovsbr0\n\tovs_type OVSPort\n";
const std::string kAdminBridge =
    "iface ovsbr0 inet manual\n\tovs_ports eno1\n\tovs_type OVSBridge\n";

// Our ports after a Proxmox GUI save, as proxmox-and-peers.md describes it: BEGIN dropped,
// `allow-` lines kept with an empty line after, options sorted, END kept only as a comment at
// the end of the last port's stanza.
std::string gui_saved_port(const std::string& name, const std::string& tag_option) {
    std::string text =
        "allow-ovsbr0 " + name + "\n\niface " + name + " inet manual\n\tovs_bridge ovsbr0\n";
    if (!tag_option.empty()) text += "\tovs_options " + tag_option + "\n";
    return text + "\tovs_type OVSPort\n";
}
const std::string kGuiSavedFile =
    kLoopback + "\n" + kAdminNic + "\n" + gui_saved_port("vi100", "tag=10") + "\n" +
    gui_saved_port("vi101", "") + "# END ovs-port-agent\n\n" + kAdminBridge;

struct ApplyCase {
    std::string name;
    std::string before;
    std::vector<Port> ports;
    ApplyOptions options;
    std::string expected;
};

void PrintTo(const ApplyCase& c, std::ostream* os) { *os << c.name; }

class IfupdownApply : public testing::TestWithParam<ApplyCase> {};

TEST_P(IfupdownApply, ProducesExpectedTextAndIsIdempotent) {
    const ApplyCase& c = GetParam();
    const std::string after = apply_block(c.before, kTag, kBridge, c.ports, c.options);
    EXPECT_EQ(after, c.expected);
    EXPECT_EQ(apply_block(after, kTag, kBridge, c.ports, c.options), after) << "not idempotent";
    EXPECT_TRUE(scan_block(after, kTag, kBridge, c.ports).clean());
}

const std::string kOldBlock = block({stanza("vi100", "tag=5"), stanza("vi102")});
const std::string kVmbr1 = "auto vmbr1\niface vmbr1 inet static\n\taddress 10.0.0.1/24\n";

INSTANTIATE_TEST_SUITE_P(
    Ifupdown, IfupdownApply,
    testing::Values(
        ApplyCase{"EmptyFileGetsJustTheBlock", "", kTwoPorts, {}, kTwoPortsBlock},
        ApplyCase{"LoopbackOnlyGetsBlankLineAndBlock",
                  kLoopback,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"MissingFinalNewlineIsCompleted",
                  "auto lo\niface lo inet loopback",
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"TrailingBlankLineIsReused",
                  kLoopback + "\n",
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"BlockInTheMiddleReplacedByteForByte",
                  kLoopback + "\n" + kOldBlock + "\n" + kVmbr1,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock + "\n" + kVmbr1},
        ApplyCase{"BlockWithoutBlankLinesAroundKeepsNeighbours",
                  kLoopback + kOldBlock + kVmbr1,
                  kTwoPorts,
                  {},
                  kLoopback + kTwoPortsBlock + kVmbr1},
        ApplyCase{"EndMissingBeforeOtherStanzas",
                  kLoopback + "\n# BEGIN ovs-port-agent\n" + stanza("vi100", "tag=5") + "\n" +
                      stanza("vi102") + "\n" + kVmbr1,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock + "\n" + kVmbr1},
        ApplyCase{"EndMissingAtEndOfFile",
                  kLoopback + "\n# BEGIN ovs-port-agent\n" + stanza("vi100", "tag=5"),
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"GuiSaveDroppedBeginRebuiltInPlace",
                  kGuiSavedFile,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kAdminNic + "\n" + kTwoPortsBlock + "\n" + kAdminBridge},
        ApplyCase{
            "GuiSaveWithPortGoneRemovesItsStanza",
            kGuiSavedFile,
            {{"vi101", std::nullopt, {}}},
            {},
            kLoopback + "\n" + kAdminNic + "\n" + block({stanza("vi101")}) + "\n" + kAdminBridge},
        ApplyCase{"DuplicateBlocksCollapseIntoTheFirst",
                  kLoopback + "\n" + kOldBlock + "\n" + kVmbr1 + "\n" + kOldBlock +
                      "\n# trailing comment\n",
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock + "\n" + kVmbr1 + "\n# trailing comment\n"},
        ApplyCase{"ChangedTagReplacesOldBlockInPlace",
                  kLoopback + "\n" + block({stanza("vi100")}, "old-agent") + "\n" + kVmbr1,
                  kTwoPorts, ApplyOptions{{}, {"old-agent"}},
                  kLoopback + "\n" + kTwoPortsBlock + "\n" + kVmbr1},
        ApplyCase{"NoPortsLeavesEmptyBlock",
                  kLoopback + "\n" + kOldBlock + "\n" + kVmbr1,
                  {},
                  {},
                  kLoopback + "\n" + block({}) + "\n" + kVmbr1},
        ApplyCase{"AdminNicStanzaInOvsPortsNeverTouched",
                  kLoopback + "\nallow-ovsbr0 eno1\n" + kAdminNic + "\n" + kAdminBridge, kTwoPorts,
                  ApplyOptions{{"eno1"}, {}},
                  kLoopback + "\nallow-ovsbr0 eno1\n" + kAdminNic + "\n" + kAdminBridge + "\n" +
                      kTwoPortsBlock},
        ApplyCase{"AdminNicAfterLoneBeginNotAbsorbed",
                  kLoopback + "\n# BEGIN ovs-port-agent\n" + stanza("vi100") +
                      "allow-ovsbr0 eno1\n" + kAdminNic + "\n" + kAdminBridge,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock + "\nallow-ovsbr0 eno1\n" + kAdminNic + "\n" +
                      kAdminBridge},
        ApplyCase{"AdminOvsPortOfUnknownNameNotTouched",
                  kLoopback + "\n" + stanza("enp3s0") + "\n" + kOldBlock,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + stanza("enp3s0") + "\n" + kTwoPortsBlock},
        ApplyCase{"StrayCopyOfManagedPortRemoved",
                  kLoopback + "\n" + stanza("vi100") + "\n" + kOldBlock,
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"PreviouslyManagedStrayRemoved",
                  kLoopback + "\n" + stanza("vi105", "tag=3") + "\n" + kVmbr1, kTwoPorts,
                  ApplyOptions{{"vi105"}, {}}, kLoopback + "\n" + kTwoPortsBlock + "\n" + kVmbr1},
        ApplyCase{"AutoLineForOurPortRemoved",
                  kLoopback + "\nauto vi100\niface vi100 inet manual\n\tovs_type OVSPort\n"
                              "\tovs_bridge ovsbr0\n",
                  kTwoPorts,
                  {},
                  kLoopback + "\n" + kTwoPortsBlock},
        ApplyCase{"MixedAllowLineKept",
                  kLoopback + "\nallow-ovsbr0 vi100 eno1\n" + kAdminBridge,
                  kTwoPorts,
                  {},
                  kLoopback + "\nallow-ovsbr0 vi100 eno1\n" + kAdminBridge + "\n" + kTwoPortsBlock},
        ApplyCase{
            "OurNameWithOtherOptionsNotTouched",
            kLoopback + "\niface vi100 inet static\n\taddress 10.1.1.1/24\n",
            kTwoPorts,
            {},
            kLoopback + "\niface vi100 inet static\n\taddress 10.1.1.1/24\n\n" + kTwoPortsBlock},
        ApplyCase{"CrlfBytesKept",
                  "auto lo\r\niface lo inet loopback\r\n",
                  kTwoPorts,
                  {},
                  "auto lo\r\niface lo inet loopback\r\n\n" + kTwoPortsBlock},
        ApplyCase{"CrlfGuiSavedStrayRecognised",
                  "auto lo\r\n\r\nallow-ovsbr0 vi100\r\n\r\niface vi100 inet manual\r\n"
                  "\tovs_bridge ovsbr0\r\n\tovs_type OVSPort\r\n# END ovs-port-agent\r\n",
                  kTwoPorts,
                  {},
                  "auto lo\r\n\r\n" + kTwoPortsBlock},
        ApplyCase{"MarkerSpellingIsLenient",
                  kLoopback + "#BEGIN  ovs-port-agent\n" + stanza("vi100") +
                      "  #   END ovs-port-agent  \n",
                  kTwoPorts,
                  {},
                  kLoopback + kTwoPortsBlock},
        ApplyCase{"OtherToolsMarkersKept",
                  kLoopback + "\n# BEGIN other-tool\n" + kVmbr1 + "# END other-tool\n",
                  kTwoPorts,
                  {},
                  kLoopback + "\n# BEGIN other-tool\n" + kVmbr1 + "# END other-tool\n\n" +
                      kTwoPortsBlock}),
    [](const testing::TestParamInfo<ApplyCase>& info) { return info.param.name; });

TEST(IfupdownRender, WritesTabsTagsTrunksAndNameOrder) {
    const std::vector<Port> ports = {
        {"vi200", std::nullopt, {{20, 20}, {30, 40}}},
        {"vi100", 0, {}},
        {"vi150", 4094, {{1, 1}}},
    };
    EXPECT_EQ(render_block(kTag, kBridge, ports),
              block({stanza("vi100", "tag=0"), stanza("vi150", "tag=4094 trunks=1"),
                     stanza("vi200", "trunks=20,30-40")}));
    EXPECT_EQ(render_block("t", "br", {}), "# BEGIN t\n# END t\n");
}

TEST(IfupdownRender, NeverWritesAutoOrOvsPorts) {
    const std::string text = render_block(kTag, kBridge, kTwoPorts);
    EXPECT_EQ(text.find("auto"), std::string::npos);
    EXPECT_EQ(text.find("ovs_ports"), std::string::npos);
}

struct InvalidCase {
    std::string name;
    std::string tag;
    std::string bridge;
    std::vector<Port> ports;
    std::string message_part;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class IfupdownInvalidInput : public testing::TestWithParam<InvalidCase> {};

TEST_P(IfupdownInvalidInput, RejectedWithClearMessage) {
    const InvalidCase& c = GetParam();
    const std::optional<std::string> problem = validate_block_input(c.tag, c.bridge, c.ports);
    ASSERT_TRUE(problem.has_value());
    EXPECT_NE(problem->find(c.message_part), std::string::npos) << *problem;
    EXPECT_THROW(render_block(c.tag, c.bridge, c.ports), InvalidInputError);
    EXPECT_THROW(apply_block("", c.tag, c.bridge, c.ports), InvalidInputError);
}

INSTANTIATE_TEST_SUITE_P(
    Ifupdown, IfupdownInvalidInput,
    testing::Values(
        InvalidCase{"EmptyTag", "", "ovsbr0", {}, "tag is empty"},
        InvalidCase{"TagWithSpace", "a b", "ovsbr0", {}, "blank"},
        InvalidCase{"EmptyBridge", "t", "", {}, "bridge name"},
        InvalidCase{"LongBridge", "t", "abcdefghijklmnop", {}, "bridge name"},
        InvalidCase{"EmptyPort", "t", "ovsbr0", {{"", std::nullopt, {}}}, "port name"},
        InvalidCase{"SixteenBytePort",
                    "t",
                    "ovsbr0",
                    {{"abcdefghijklmnop", std::nullopt, {}}},
                    "port name"},
        InvalidCase{"PortWithSpace", "t", "ovsbr0", {{"vi 1", std::nullopt, {}}}, "port name"},
        InvalidCase{"PortWithTab", "t", "ovsbr0", {{"vi\t1", std::nullopt, {}}}, "port name"},
        InvalidCase{"PortWithSlash", "t", "ovsbr0", {{"vi/1", std::nullopt, {}}}, "port name"},
        InvalidCase{"PortWithColon", "t", "ovsbr0", {{"vi:1", std::nullopt, {}}}, "port name"},
        InvalidCase{"PortWithNewline", "t", "ovsbr0", {{"vi\n1", std::nullopt, {}}}, "port name"},
        InvalidCase{"PortWithBackslash", "t", "ovsbr0", {{"vi\\1", std::nullopt, {}}}, "backslash"},
        InvalidCase{"PortNamedLikeBridge",
                    "t",
                    "ovsbr0",
                    {{"ovsbr0", std::nullopt, {}}},
                    "named like the bridge"},
        InvalidCase{"DuplicatePort",
                    "t",
                    "ovsbr0",
                    {{"vi1", std::nullopt, {}}, {"vi1", 3, {}}},
                    "listed twice"},
        InvalidCase{"Tag4095", "t", "ovsbr0", {{"vi1", 4095, {}}}, "0..4094"},
        InvalidCase{"TrunkAbove4094",
                    "t",
                    "ovsbr0",
                    {{"vi1", std::nullopt, {{1, 4095}}}},
                    "trunk VLAN 4095"},
        // Proxmox's trunks take 1..4094: VLAN 0 is no trunk VLAN (vlan/vlan.hpp, one rule).
        InvalidCase{"TrunkVlan0", "t", "ovsbr0", {{"vi1", std::nullopt, {{0, 5}}}}, "trunk VLAN 0"},
        InvalidCase{"TrunkRangeReversed",
                    "t",
                    "ovsbr0",
                    {{"vi1", std::nullopt, {{40, 30}}}},
                    "trunk range"}),
    [](const testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

// Found by fuzzing (tests/fuzz/fuzz_interfaces): the block took the place of a removed `auto`
// line that an option line without a stanza followed; that line then made the block's lines part
// of the stanza above, and the next apply added a second block.
TEST(IfupdownApplyFuzz, BlockBeforeStrayOptionLineGoesToTheEnd) {
    const std::string text = "iface eno1 inet manual\nauto vi100\n\tmtu 1500\n";
    ApplyOptions options;
    options.previously_managed = {"vi100"};
    const std::string out = apply_block(text, kTag, kBridge, {}, options);
    EXPECT_EQ(out,
              "iface eno1 inet manual\n\tmtu 1500\n\n# BEGIN ovs-port-agent\n"
              "# END ovs-port-agent\n");
    EXPECT_EQ(apply_block(out, kTag, kBridge, {}, options), out);
    EXPECT_TRUE(scan_block(out, kTag, kBridge, {}, options).clean());
}

// Found by fuzzing: the same with a complete pair, kept apart from the stanza above by a
// keyword line inside it; replaced in place, the new block joined the stanza.
TEST(IfupdownApplyFuzz, PairBeforeStrayOptionLineMovesToTheEnd) {
    const std::string text =
        "iface eno1 inet manual\n# BEGIN ovs-port-agent\nallow-ovsbr0 vi100\n"
        "# END ovs-port-agent\n\tmtu 1500\n";
    const std::string out = apply_block(text, kTag, kBridge, {});
    EXPECT_EQ(out,
              "iface eno1 inet manual\n\tmtu 1500\n\n# BEGIN ovs-port-agent\n"
              "# END ovs-port-agent\n");
    EXPECT_EQ(apply_block(out, kTag, kBridge, {}), out);
    EXPECT_TRUE(scan_block(out, kTag, kBridge, {}).clean());
}

TEST(IfupdownScan, ReportsWhatAGuiSaveLeft) {
    const BlockScan scan = scan_block(kGuiSavedFile, kTag, kBridge);
    EXPECT_EQ(scan.complete_blocks, 0u);
    EXPECT_EQ(scan.lone_markers, 1u);
    EXPECT_EQ(scan.block_ports, (std::vector<std::string>{"vi100", "vi101"}));
    EXPECT_TRUE(scan.stray_ports.empty());
    EXPECT_EQ(scan.protected_names, (std::vector<std::string>{"eno1", "ovsbr0"}));
    EXPECT_FALSE(scan.clean());
}

TEST(IfupdownScan, FindsStraysOfManagedPorts) {
    const std::string text = kLoopback + "\n" + stanza("vi100") + "\n" + kTwoPortsBlock;
    const BlockScan scan = scan_block(text, kTag, kBridge, kTwoPorts);
    EXPECT_EQ(scan.complete_blocks, 1u);
    EXPECT_EQ(scan.stray_ports, (std::vector<std::string>{"vi100"}));
    EXPECT_FALSE(scan.clean());
}

TEST(IfupdownDoctor, WarnsAboutAutoOvsBridge) {
    const std::string text = kLoopback + "\nauto ovsbr0\n" + kAdminBridge;
    const std::optional<BridgeAutostartFinding> finding = check_bridge_autostart(text, "ovsbr0");
    ASSERT_TRUE(finding.has_value());
    EXPECT_EQ(finding->auto_line, 4u);
    EXPECT_EQ(finding->iface_line, 5u);
    EXPECT_NE(finding->message().find("ifreload -a"), std::string::npos);
}

TEST(IfupdownDoctor, QuietWithoutAutoOrWithoutOvsBridge) {
    EXPECT_FALSE(
        check_bridge_autostart(kLoopback + "\nallow-ovs ovsbr0\n" + kAdminBridge, "ovsbr0"));
    EXPECT_FALSE(check_bridge_autostart(
        kLoopback + "\nauto ovsbr0\niface ovsbr0 inet manual\n\tbridge_ports none\n", "ovsbr0"));
    EXPECT_FALSE(check_bridge_autostart(kLoopback + "\nauto vmbr6\n" + kAdminBridge, "vmbr6"));
    EXPECT_FALSE(check_bridge_autostart("", "ovsbr0"));
}

TEST(IfupdownDoctor, AllowAutoCountsAsAuto) {
    EXPECT_TRUE(check_bridge_autostart("allow-auto lo ovsbr0\n" + kAdminBridge, "ovsbr0"));
}

}  // namespace
}  // namespace opa::ifupdown
