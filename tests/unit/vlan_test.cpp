// The one VLAN rule (vlan/vlan.hpp): tags 0..4094, trunk VLANs 1..4094 as Proxmox takes them,
// trunks a set that collapses duplicates and overlaps and renders as compact ranges.
#include <gtest/gtest.h>

#include "vlan/vlan.hpp"

namespace opa::vlan {
namespace {

TEST(Vlan, TagsAre0To4094) {
    EXPECT_FALSE(tag_error(0));
    EXPECT_FALSE(tag_error(4094));
    EXPECT_EQ(tag_error(4095), "VLAN tag 4095 is out of range (0..4094)");
    EXPECT_TRUE(tag_error(1ull << 40));
}

TEST(Vlan, TrunkVlansAre1To4094AsInProxmox) {
    EXPECT_FALSE(trunk_range_error(1, 4094));
    EXPECT_EQ(trunk_range_error(0, 10), "trunk VLAN 0 is out of range (1..4094)");
    EXPECT_EQ(trunk_range_error(10, 4095), "trunk VLAN 4095 is out of range (1..4094)");
    EXPECT_EQ(trunk_range_error(40, 30), "trunk range 40-30 ends before it starts");
    Trunks trunks;
    EXPECT_FALSE(trunks.add(0));
    EXPECT_FALSE(trunks.add(5, 70000));
    EXPECT_TRUE(trunks.empty()) << "a refused range adds nothing";
}

TEST(Vlan, TrunksCollapseDuplicatesAndOverlapsIntoCompactRanges) {
    Trunks trunks;
    ASSERT_TRUE(trunks.add(30, 40));
    ASSERT_TRUE(trunks.add(35, 45));
    ASSERT_TRUE(trunks.add(20));
    ASSERT_TRUE(trunks.add(20));
    ASSERT_TRUE(trunks.add(46));
    EXPECT_EQ(trunks.count(), 18u);  // 20, and 30..46
    EXPECT_EQ(trunks.ranges(), (std::vector<Range>{{20, 20}, {30, 46}}));
    EXPECT_EQ(trunks.to_string(), "20,30-46");
    EXPECT_TRUE(trunks.contains(46));
    EXPECT_FALSE(trunks.contains(47));
    EXPECT_FALSE(trunks.contains(0));
    EXPECT_FALSE(trunks.contains(65535));
}

// What a guest config's `trunks=1-4094;1-4094;...` gives: one set, one short line.
TEST(Vlan, EveryVlanWrittenAThousandTimesIsOneRange) {
    Trunks trunks;
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(trunks.add(1, 4094));
    EXPECT_EQ(trunks.count(), 4094u);
    EXPECT_EQ(trunks.ranges().size(), 1u);
    EXPECT_EQ(trunks.to_string(), "1-4094");
    Trunks again;
    again.add(1, 4094);
    EXPECT_EQ(trunks, again);
}

TEST(Vlan, TrunksOfIdsRefusesAnInvalidOne) {
    EXPECT_EQ(trunks_of({5, 3, 4})->to_string(), "3-5");
    EXPECT_FALSE(trunks_of({5, 0}));
    EXPECT_TRUE(trunks_of({})->empty());
}

}  // namespace
}  // namespace opa::vlan
