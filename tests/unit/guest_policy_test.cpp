// A guest NIC's link, decided from its Proxmox config row by row: only a NIC that names the
// agent's bridge says anything about it (Proxmox plugs it, and its VLANs count); one that names
// no bridge or another bridge is left alone, whatever tag or trunks it carries.
#include <gtest/gtest.h>

#include "agent/guest_policy.hpp"

namespace opa::proxmox {
namespace {

using naming::GuestKind;
using naming::GuestNic;

GuestNicConfig nic_on(std::string bridge, bool firewall = false) {
    GuestNicConfig nic;
    nic.index = 0;
    nic.bridge = std::move(bridge);
    nic.tag = 10;
    nic.trunks = {{1, 4094}};
    nic.firewall = firewall;
    return nic;
}

TEST(GuestPolicy, ALinkIsLeftAloneUnlessItsNicNamesTheAgentsBridge) {
    const GuestNic ct{GuestKind::kContainer, 100, 0};
    const GuestNic fwln{GuestKind::kFirewallLink, 100, 0};
    struct Case {
        GuestNic guest;
        std::optional<GuestNicConfig> nic;
        GuestLinkAction action;
        std::string reason_part;
    } cases[] = {
        {ct, std::nullopt, GuestLinkAction::Attach, ""},
        {ct, nic_on(""), GuestLinkAction::LeaveAlone, "names no bridge for net0"},
        {ct, nic_on("vmbr0"), GuestLinkAction::LeaveAlone, "on bridge vmbr0, not ovsbr0"},
        {ct, nic_on("ovsbr0"), GuestLinkAction::LeaveToProxmox, "Proxmox plugs it"},
        {ct, nic_on("ovsbr0", true), GuestLinkAction::LeaveAlone, "firewall is on"},
        {fwln, nic_on("ovsbr0", true), GuestLinkAction::LeaveToProxmox, "Proxmox plugs it"},
        {fwln, nic_on("", true), GuestLinkAction::LeaveAlone, "names no bridge"},
    };
    for (const Case& c : cases) {
        const GuestLinkDecision decision = decide_guest_link(c.guest, c.nic, "ovsbr0");
        EXPECT_EQ(decision.action, c.action) << c.reason_part;
        EXPECT_NE(decision.reason.find(c.reason_part), std::string::npos) << decision.reason;
        EXPECT_EQ(decision.reason.empty(), c.action == GuestLinkAction::Attach);
    }
}

TEST(GuestPolicy, VlansComeOnlyFromANicThatNamesTheAgentsBridge) {
    EXPECT_TRUE(vlans_from_config(nic_on("ovsbr0"), "ovsbr0"));
    EXPECT_FALSE(vlans_from_config(nic_on(""), "ovsbr0"));
    EXPECT_FALSE(vlans_from_config(nic_on("vmbr0"), "ovsbr0"));
    EXPECT_FALSE(vlans_from_config(nic_on(""), ""));
}

}  // namespace
}  // namespace opa::proxmox
