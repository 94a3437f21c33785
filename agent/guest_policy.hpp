// What the agent does with a guest NIC's link it discovers, from the NIC's Proxmox config, and
// where the port's VLANs may come from. On Proxmox the right to use a bridge is checked against
// the bridge a NIC names: a user who may edit a guest's network config but not use the agent's
// bridge must not get onto it, nor pick its VLANs, by naming no bridge or another one. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/naming.hpp"
#include "agent/proxmox_config.hpp"

namespace opa::proxmox {

enum class GuestLinkAction {
    Attach,          // no config line for it (not a Proxmox guest's NIC): the agent's, untagged
    LeaveToProxmox,  // it names the agent's bridge: Proxmox's start hook plugs it
    LeaveAlone,      // no bridge, another bridge, or the firewall's fwbr: only root attaches it
};

struct GuestLinkDecision {
    GuestLinkAction action = GuestLinkAction::Attach;
    std::string reason;  // a clause for the log and the ledger; empty for Attach
    bool operator==(const GuestLinkDecision&) const = default;
};

// `nic`: the NIC's config line, nullopt when the guest has no readable config or no line for it.
GuestLinkDecision decide_guest_link(const naming::GuestNic& guest,
                                    const std::optional<GuestNicConfig>& nic,
                                    std::string_view bridge);

// Whether a port for this NIC takes the config's tag and trunks: only when the NIC names
// `bridge` (otherwise root's request alone says which VLANs).
bool vlans_from_config(const GuestNicConfig& nic, std::string_view bridge);

}  // namespace opa::proxmox
