#include "agent/guest_policy.hpp"

namespace opa::proxmox {

GuestLinkDecision decide_guest_link(const naming::GuestNic& guest,
                                    const std::optional<GuestNicConfig>& nic,
                                    std::string_view bridge) {
    if (!nic) return {};
    const std::string net = "net" + std::to_string(guest.index);
    if (nic->firewall && guest.kind != naming::GuestKind::kFirewallLink) {
        return {GuestLinkAction::LeaveAlone,
                "the guest's firewall is on, so Proxmox puts it on its fwbr bridge (fwln" +
                    std::to_string(guest.vmid) + "o" + std::to_string(guest.index) +
                    " goes on the OVS bridge)"};
    }
    if (nic->bridge.empty()) {
        return {GuestLinkAction::LeaveAlone, "the guest's config names no bridge for " + net +
                                                 "; only root's request attaches it"};
    }
    if (nic->bridge != bridge) {
        return {GuestLinkAction::LeaveAlone, "the guest's config puts " + net + " on bridge " +
                                                 nic->bridge + ", not " + std::string(bridge)};
    }
    return {GuestLinkAction::LeaveToProxmox,
            "Proxmox plugs it into " + std::string(bridge) + " itself"};
}

bool vlans_from_config(const GuestNicConfig& nic, std::string_view bridge) {
    return !nic.bridge.empty() && nic.bridge == bridge;
}

}  // namespace opa::proxmox
