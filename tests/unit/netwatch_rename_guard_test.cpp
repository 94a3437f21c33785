// Which links CreateContainerInterface may rename (it sets them down first): table-tested.
#include <gtest/gtest.h>

#include <net/if.h>

#include "netwatch/rename_guard.hpp"

namespace opa::netwatch {
namespace {

LinkSnapshot link(const std::string& name, LinkKind kind, std::string kind_name = {},
                  std::uint32_t flags = IFF_UP) {
    LinkSnapshot l;
    l.name = name;
    l.kind = kind;
    l.kind_name = std::move(kind_name);
    l.flags = flags;
    return l;
}

TEST(RenameRefusal, OnlyAGuestsVethOrTapMayBeRenamed) {
    const RenameRules rules{"ovsbr0", "eth1"};
    struct Case {
        LinkSnapshot link;
        std::string controller;
        std::optional<std::string> refusal;
    } cases[] = {
        {link("veth100i0", LinkKind::Veth, "veth"), "", std::nullopt},
        {link("tap100i0", LinkKind::Tap, "tun"), "", std::nullopt},
        {link("veth100i0", LinkKind::Veth, "veth"), "ovs-system", std::nullopt},
        {link("veth100i0", LinkKind::Veth, "veth"), "ovs-netdev", std::nullopt},
        {link("eth1", LinkKind::Veth, "veth"), "", "is the bridge's uplink"},
        {link("ovsbr0", LinkKind::Tap, "tun"), "", "is the bridge's own interface"},
        {link("ovs-system", LinkKind::Other, "openvswitch"), "", "is the OVS datapath"},
        {link("lo", LinkKind::Other, "", IFF_LOOPBACK), "", "is the loopback interface"},
        {link("eth0", LinkKind::Other), "", "is not a veth or tap (kind none)"},
        {link("vmbr0", LinkKind::Other, "bridge"), "", "is not a veth or tap (kind bridge)"},
        {link("tun0", LinkKind::Tun, "tun"), "", "is not a veth or tap (kind tun)"},
        {link("veth200i0", LinkKind::Veth, "veth"), "vmbr0", "is a port of vmbr0"},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(rename_refusal(c.link, c.controller, rules), c.refusal) << c.link.name;
    }
}

TEST(RenameRefusal, WithoutAnUplinkNoNameIsTakenForIt) {
    EXPECT_EQ(rename_refusal(link("eth1", LinkKind::Veth, "veth"), "", {"ovsbr0", std::nullopt}),
              std::nullopt);
}

}  // namespace
}  // namespace opa::netwatch
