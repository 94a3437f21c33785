#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/naming.hpp"

namespace opa::naming {
namespace {

// --- parse_guest_ifname ----------------------------------------------------------------------

struct GuestCase {
    std::string ifname;
    std::optional<GuestNic> expected;
};

class NamingGuestParseTest : public ::testing::TestWithParam<GuestCase> {};

TEST_P(NamingGuestParseTest, Parses) {
    const GuestCase& c = GetParam();
    EXPECT_EQ(parse_guest_ifname(c.ifname), c.expected) << "ifname: '" << c.ifname << "'";
}

constexpr auto kCt = GuestKind::kContainer;
constexpr auto kVm = GuestKind::kVm;
constexpr auto kFw = GuestKind::kFirewallLink;

INSTANTIATE_TEST_SUITE_P(
    Naming, NamingGuestParseTest,
    ::testing::Values(
        GuestCase{"veth100i0", GuestNic{kCt, 100, 0}},
        GuestCase{"veth100i1", GuestNic{kCt, 100, 1}},
        GuestCase{"veth100i31", GuestNic{kCt, 100, 31}},
        GuestCase{"tap100i0", GuestNic{kVm, 100, 0}},
        GuestCase{"tap4242i7", GuestNic{kVm, 4242, 7}},
        GuestCase{"fwln100o1", GuestNic{kFw, 100, 1}},
        // 16 bytes: no link can have that name, so it is no guest's (found by fuzz_naming).
        GuestCase{"veth999999999i31", std::nullopt},
        GuestCase{"tap999999999i31", GuestNic{kVm, 999999999, 31}},
        // not guest NICs
        GuestCase{"veth100", std::nullopt}, GuestCase{"veth100i", std::nullopt},
        GuestCase{"vethabc", std::nullopt}, GuestCase{"veth100i0p", std::nullopt},  // hotplug peer
        GuestCase{"fwbr100i0", std::nullopt},                                       // fw bridge
        GuestCase{"fwpr100p0", std::nullopt},                                       // fw peer
        GuestCase{"fwln100i0", std::nullopt},                                       // fwln uses 'o'
        GuestCase{"veth100o0", std::nullopt}, GuestCase{"tap100", std::nullopt},
        GuestCase{"vi100", std::nullopt}, GuestCase{"eth0", std::nullopt},
        GuestCase{"", std::nullopt}, GuestCase{"veth", std::nullopt},
        GuestCase{"vethi0", std::nullopt}, GuestCase{"veth-100i0", std::nullopt},
        GuestCase{"veth+100i0", std::nullopt}, GuestCase{"VETH100i0", std::nullopt},
        GuestCase{"veth100I0", std::nullopt},
        // numbers must be canonical and in range
        GuestCase{"veth0100i0", std::nullopt}, GuestCase{"veth100i01", std::nullopt},
        GuestCase{"veth100i00", std::nullopt}, GuestCase{"veth99i0", std::nullopt},
        GuestCase{"veth0i0", std::nullopt}, GuestCase{"veth1000000000i0", std::nullopt},
        GuestCase{"veth4294967296i0", std::nullopt},  // would overflow uint32
        GuestCase{"veth100i32", std::nullopt}, GuestCase{"veth100i100", std::nullopt},
        GuestCase{"veth100i1i2", std::nullopt}, GuestCase{"veth100 i0", std::nullopt},
        // Longer than an interface name can be (found by fuzz_naming): 16 and 15 bytes.
        GuestCase{"veth999099999i23", std::nullopt},
        GuestCase{"veth99909999i23", GuestNic{kCt, 99909999, 23}}));

TEST(NamingGuest, CheckGuestIdReportsWhichPartIsOutOfRange) {
    EXPECT_EQ(check_guest_id(100, 0), std::nullopt);
    EXPECT_EQ(check_guest_id(999999999, 31), std::nullopt);
    EXPECT_EQ(check_guest_id(99, 0), GuestIdError::kVmidOutOfRange);
    EXPECT_EQ(check_guest_id(0, 0), GuestIdError::kVmidOutOfRange);
    EXPECT_EQ(check_guest_id(1'000'000'000, 0), GuestIdError::kVmidOutOfRange);
    EXPECT_EQ(check_guest_id(100, 32), GuestIdError::kIndexOutOfRange);
    EXPECT_FALSE(describe(GuestIdError::kVmidOutOfRange).empty());
    EXPECT_FALSE(describe(GuestIdError::kIndexOutOfRange).empty());
}

// --- vi{VMID} port names ----------------------------------------------------------------------

struct PortNameCase {
    std::uint32_t vmid;
    std::uint32_t index;
    std::optional<std::string> expected;
};

class NamingPortNameTest : public ::testing::TestWithParam<PortNameCase> {};

TEST_P(NamingPortNameTest, FormatsAndParsesBack) {
    const PortNameCase& c = GetParam();
    const auto name = port_name_for(c.vmid, c.index);
    EXPECT_EQ(name, c.expected);
    if (name) {
        EXPECT_TRUE(is_valid_ifname(*name)) << *name;
        EXPECT_EQ(parse_port_name(*name), (PortId{c.vmid, c.index}));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Naming, NamingPortNameTest,
    ::testing::Values(PortNameCase{100, 0, "vi100"}, PortNameCase{100, 1, "vi100i1"},
                      PortNameCase{101, 0, "vi101"}, PortNameCase{100, 31, "vi100i31"},
                      PortNameCase{999999999, 31, "vi999999999i31"},
                      PortNameCase{999999999, 0, "vi999999999"}, PortNameCase{99, 0, std::nullopt},
                      PortNameCase{1'000'000'000, 0, std::nullopt},
                      PortNameCase{100, 32, std::nullopt}));

struct IfnameToPortCase {
    std::string ifname;
    std::optional<std::string> expected;
};

class NamingPortForIfnameTest : public ::testing::TestWithParam<IfnameToPortCase> {};

TEST_P(NamingPortForIfnameTest, Maps) {
    EXPECT_EQ(port_name_for_ifname(GetParam().ifname), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Naming, NamingPortForIfnameTest,
                         ::testing::Values(IfnameToPortCase{"veth100i0", "vi100"},
                                           IfnameToPortCase{"veth100i1", "vi100i1"},
                                           IfnameToPortCase{"tap100i0", "vi100"},
                                           IfnameToPortCase{"tap101i0", "vi101"},
                                           IfnameToPortCase{"fwln100o1", "vi100i1"},
                                           IfnameToPortCase{"veth999999999i31", std::nullopt},
                                           IfnameToPortCase{"veth99999999i31", "vi99999999i31"},
                                           IfnameToPortCase{"veth100i0p", std::nullopt},
                                           IfnameToPortCase{"veth100", std::nullopt},
                                           IfnameToPortCase{"ovsbr0", std::nullopt}));

struct PortParseCase {
    std::string name;
    std::optional<PortId> expected;
};

class NamingPortParseTest : public ::testing::TestWithParam<PortParseCase> {};

TEST_P(NamingPortParseTest, Parses) {
    EXPECT_EQ(parse_port_name(GetParam().name), GetParam().expected) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Naming, NamingPortParseTest,
    ::testing::Values(
        PortParseCase{"vi100", PortId{100, 0}}, PortParseCase{"vi100i1", PortId{100, 1}},
        PortParseCase{"vi999999999i31", PortId{999999999, 31}},
        PortParseCase{"vi100i0", std::nullopt},  // non-canonical spelling of vi100
        PortParseCase{"vi100i", std::nullopt}, PortParseCase{"vi", std::nullopt},
        PortParseCase{"vi99", std::nullopt}, PortParseCase{"vi0100", std::nullopt},
        PortParseCase{"vi100i01", std::nullopt}, PortParseCase{"vi100i32", std::nullopt},
        PortParseCase{"vi1000000000", std::nullopt}, PortParseCase{"vi100x", std::nullopt},
        PortParseCase{"veth100i0", std::nullopt}, PortParseCase{"VI100", std::nullopt},
        PortParseCase{"vi100i1i2", std::nullopt}));

// Guest NICs of different guests, or different NICs of one guest, never share a port name;
// a firewall link shares the name of the NIC it stands for. This was the original agent's bug:
// veth100i0, veth100i1 and tap100i0 all became vi100.
TEST(NamingCollision, DistinctNicsGetDistinctPortNames) {
    // Groups of names that must map to one port; different groups must map to different ports.
    // A VMID is a container or a VM, never both, so tap100iN never coexists with veth100iN.
    const std::vector<std::vector<std::string>> groups = {
        {"veth100i0", "fwln100o0"},
        {"veth100i1", "fwln100o1"},
        {"veth100i2"},
        {"tap101i0", "fwln101o0"},
        {"tap101i1"},
        {"veth1000i0"},
        {"veth1001i0"},
        {"tap10010i0"},
        {"veth100100i0"},
    };
    std::map<std::string, std::size_t> owner;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        for (const std::string& ifname : groups[g]) {
            const auto port = port_name_for_ifname(ifname);
            ASSERT_TRUE(port) << ifname;
            auto [it, inserted] = owner.emplace(*port, g);
            EXPECT_EQ(it->second, g) << ifname << " -> " << *port << " collides";
        }
    }
}

TEST(NamingCollision, ExhaustiveOverIndicesAndManyVmids) {
    // Every (vmid, index) for a spread of VMIDs including the digit-boundary ones where
    // "vi{VMID}i{N}" could be ambiguous if the separator were missing (e.g. 1001+i1 vs 100+11).
    std::set<std::string> seen;
    std::size_t count = 0;
    for (std::uint32_t vmid : {100u, 101u, 110u, 111u, 1000u, 1001u, 1011u, 10011u, 999999999u}) {
        for (std::uint32_t index = 0; index <= kMaxNicIndex; ++index) {
            const auto name = port_name_for(vmid, index);
            ASSERT_TRUE(name);
            EXPECT_LE(name->size(), kMaxIfnameLen);
            EXPECT_TRUE(seen.insert(*name).second) << *name;
            ++count;
        }
    }
    EXPECT_EQ(seen.size(), count);
}

TEST(NamingCollision, ContainerAndVmOfOneVmidMapAlike) {
    // Documented consequence of leaving the kind out of the name; safe because a VMID names
    // exactly one guest.
    EXPECT_EQ(port_name_for_ifname("veth100i1"), port_name_for_ifname("tap100i1"));
}

}  // namespace
}  // namespace opa::naming
