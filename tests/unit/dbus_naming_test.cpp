// CreateContainerInterface's port name: raw interface name × VMID → vi{VMID}[i{N}] or a named
// error.
#include <gtest/gtest.h>

#include "dbus/errors.hpp"
#include "dbus/validate.hpp"

namespace {

using namespace opa::dbus;

struct NameCase {
    std::string raw_ifname;
    std::uint32_t vmid;
    std::optional<std::string> port_name;  // nullopt: refused with `error`
    ErrorKind error = ErrorKind::Failed;
};

std::ostream& operator<<(std::ostream& out, const NameCase& c) {
    return out << "'" << c.raw_ifname << "' vmid " << c.vmid;
}

class DbusInterfaceName : public ::testing::TestWithParam<NameCase> {};

TEST_P(DbusInterfaceName, DerivesPortNameOrRefuses) {
    const NameCase& c = GetParam();
    try {
        const std::string name = port_name_for_request(c.raw_ifname, c.vmid);
        ASSERT_TRUE(c.port_name) << "expected " << error_name(c.error) << ", got " << name;
        EXPECT_EQ(name, *c.port_name);
    } catch (const ServiceError& error) {
        ASSERT_FALSE(c.port_name) << "expected " << *c.port_name << ", got " << error.what();
        EXPECT_EQ(error.kind(), c.error) << error.what();
        EXPECT_FALSE(std::string(error.what()).empty());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Dbus, DbusInterfaceName,
    ::testing::Values(
        // The seed README's call: not a Proxmox name, so NIC 0.
        NameCase{"veth-123-eth0", 100, "vi100"}, NameCase{"eth0", 4242, "vi4242"},
        // Proxmox guest names carry the NIC index.
        NameCase{"veth100i0", 100, "vi100"}, NameCase{"veth100i1", 100, "vi100i1"},
        NameCase{"tap100i0", 100, "vi100"}, NameCase{"tap105i31", 105, "vi105i31"},
        NameCase{"fwln100o2", 100, "vi100i2"},
        NameCase{"veth999999999i3", 999999999, "vi999999999i3"},
        // Already the port name.
        NameCase{"vi100", 100, "vi100"},
        // Not Proxmox's canonical form: any other name stands for NIC 0.
        NameCase{"veth100i01", 100, "vi100"}, NameCase{"veth100i0p", 100, "vi100"},
        // A guest name of another VMID contradicts the vmid argument.
        NameCase{"veth101i0", 100, std::nullopt, ErrorKind::InvalidArgs},
        NameCase{"tap100i1", 1000, std::nullopt, ErrorKind::InvalidArgs},
        // VMIDs outside Proxmox's range.
        NameCase{"veth-123-eth0", 0, std::nullopt, ErrorKind::InvalidArgs},
        NameCase{"veth-123-eth0", 99, std::nullopt, ErrorKind::InvalidArgs},
        NameCase{"veth-123-eth0", 1000000000, std::nullopt, ErrorKind::InvalidArgs},
        NameCase{"veth-123-eth0", 4294967295u, std::nullopt, ErrorKind::InvalidArgs},
        // Unusable raw names.
        NameCase{"", 100, std::nullopt, ErrorKind::InvalidName},
        NameCase{"veth-12345678901", 100, std::nullopt, ErrorKind::InvalidName},
        NameCase{"a/b", 100, std::nullopt, ErrorKind::InvalidName},
        NameCase{"a:b", 100, std::nullopt, ErrorKind::InvalidName},
        NameCase{"a b", 100, std::nullopt, ErrorKind::InvalidName},
        NameCase{"..", 100, std::nullopt, ErrorKind::InvalidName},
        // Both wrong: the name is reported first.
        NameCase{"", 0, std::nullopt, ErrorKind::InvalidName}));

TEST(DbusPortNameCheck, RefusesUnusableNames) {
    EXPECT_NO_THROW(check_ifname("vi100", "port name"));
    try {
        check_ifname("abcdefghijklmnop", "port name");
        ADD_FAILURE() << "a 16-byte name was accepted";
    } catch (const ServiceError& error) {
        EXPECT_EQ(error.kind(), ErrorKind::InvalidName);
        EXPECT_NE(std::string(error.what()).find("at most 15 bytes"), std::string::npos)
            << error.what();
    }
}

}  // namespace
