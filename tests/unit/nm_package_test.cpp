// doctor's view of the host's NetworkManager package: missing, Debian's without OVS, the OVS
// rebuild, the rebuild of an older Debian version; and dpkg's version ordering it relies on.
#include <gtest/gtest.h>

#include "nm/nm_package.hpp"

using opa::nm::classify;
using opa::nm::compare_debian_versions;
using opa::nm::DaemonInfo;
using opa::nm::NmPackage;
using opa::nm::NmPackageKind;
using opa::nm::nm_verdict;

TEST(NmPackage, DebianVersionOrder) {
    EXPECT_GT(compare_debian_versions("1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u1"), 0);
    EXPECT_LT(compare_debian_versions("1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u2"), 0);
    EXPECT_GT(compare_debian_versions("1.52.1-1+ovs1", "1.52.1-1"), 0);
    EXPECT_LT(compare_debian_versions("1.52.1-1+ovs1", "1.52.1-2"), 0);
    EXPECT_LT(compare_debian_versions("1.52.1-1~bpo", "1.52.1-1"), 0);
    EXPECT_EQ(compare_debian_versions("1.42.4-1", "1.42.4-1"), 0);
    EXPECT_GT(compare_debian_versions("1:1.0-1", "2.0-1"), 0);
    EXPECT_GT(compare_debian_versions("1.42.10-1", "1.42.4-1"), 0);
}

TEST(NmPackage, Classify) {
    EXPECT_EQ(classify({"", "1.42.4-1+deb12u1", false}), NmPackageKind::Missing);
    EXPECT_EQ(classify({"1.42.4-1+deb12u1", "1.42.4-1+deb12u1", false}),
              NmPackageKind::DebianWithoutOvs);
    EXPECT_EQ(classify({"1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u1", true}),
              NmPackageKind::RebuiltWithOvs);
    EXPECT_EQ(classify({"1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u2", true}),
              NmPackageKind::RebuiltOutOfStep);
    EXPECT_EQ(classify({"1.42.4-1+deb12u1+ovs1", "", true}), NmPackageKind::RebuiltWithOvs);
    EXPECT_EQ(classify({"1.52.1-1", "1.52.1-1", true}), NmPackageKind::OtherWithOvs);
}

TEST(NmPackage, Verdicts) {
    const std::string fix = "sudo /usr/lib/ovs-port-agent/nm-ovs-deb.sh install";
    const DaemonInfo with_ovs{"1.42.4", {2}};
    const DaemonInfo without_ovs{"1.42.4", {}};
    // Nothing installed, nothing answers: the command that installs it.
    auto v = nm_verdict(std::nullopt, "no bus", {"", "1.42.4-1+deb12u1", false}, fix);
    EXPECT_EQ(v.level, 2);
    EXPECT_NE(v.what.find("not installed"), std::string::npos) << v.what;
    EXPECT_NE(v.advice.find(fix), std::string::npos) << v.advice;
    // Debian's package answers without OVS: the exact command.
    v = nm_verdict(without_ovs, "", {"1.42.4-1+deb12u1", "1.42.4-1+deb12u1", false}, fix);
    EXPECT_EQ(v.level, 2);
    EXPECT_NE(v.what.find("without Open vSwitch"), std::string::npos) << v.what;
    EXPECT_NE(v.advice.find(fix), std::string::npos) << v.advice;
    // The rebuild, in step with Debian: ok, and it says so.
    v = nm_verdict(with_ovs, "", {"1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u1", true}, fix);
    EXPECT_EQ(v.level, 0);
    EXPECT_NE(v.what.find("rebuilt with OVS"), std::string::npos) << v.what;
    // Debian published a newer version: X installed, Debian has Y, one command.
    v = nm_verdict(with_ovs, "", {"1.42.4-1+deb12u1+ovs1", "1.42.4-1+deb12u2", true}, fix);
    EXPECT_EQ(v.level, 1);
    EXPECT_NE(v.what.find("1.42.4-1+deb12u1+ovs1 with OVS is installed; Debian has 1.42.4-1+deb12u2"),
              std::string::npos)
        << v.what;
    EXPECT_NE(v.advice.find(fix), std::string::npos) << v.advice;
    // A private build with OVS on the bus (the sandbox) and no package: ok.
    v = nm_verdict(with_ovs, "", {"", "1.42.4-1+deb12u1", false}, fix);
    EXPECT_EQ(v.level, 0);
}
