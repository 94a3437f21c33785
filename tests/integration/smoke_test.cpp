// The sandbox's NetworkManager answers over D-Bus and has its Open vSwitch plugin.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include <sdbus-c++/sdbus-c++.h>

#include "nm/nm_client.hpp"

namespace {

TEST(Smoke, NetworkManagerReportsVersionAndOvsCapability) {
    ASSERT_NE(std::getenv("DBUS_SYSTEM_BUS_ADDRESS"), nullptr)
        << "run through scripts/sandbox.sh exec, which points the system bus at the sandbox";
    opa::nm::NmClient nm;
    const opa::nm::DaemonInfo info = nm.daemon_info();
    EXPECT_TRUE(std::regex_match(info.version, std::regex(R"(\d+\.\d+\.\d+.*)"))) << info.version;
    EXPECT_TRUE(info.has_ovs()) << "Capabilities lack 2 (OVS)";
    EXPECT_NO_THROW(nm.require_ovs());
}

}  // namespace
