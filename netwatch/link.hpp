// What netwatch knows about a network link, and what it reports about it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace opa::netwatch {

// The kinds the agent attaches, from IFLA_LINKINFO's IFLA_INFO_KIND. A "tun" link is a Tap
// unless the kernel says it runs in layer-3 tun mode (IFLA_TUN_TYPE == IFF_TUN): an OVS port
// needs Ethernet frames. Other covers every other kind (bridge, dummy, openvswitch, none...).
enum class LinkKind { Other, Veth, Tap, Tun };
std::string_view to_string(LinkKind kind);

// A link as one RTM_NEWLINK/RTM_DELLINK message describes it.
struct LinkSnapshot {
    int ifindex = 0;
    std::string name;
    LinkKind kind = LinkKind::Other;
    std::string kind_name;       // IFLA_INFO_KIND as the kernel sent it ("" when absent)
    std::uint32_t flags = 0;     // IFF_* (IFF_UP, IFF_LOWER_UP, IFF_LOOPBACK, ...)
    std::uint8_t operstate = 0;  // IF_OPER_* (0 = unknown, 6 = up)
    int controller_ifindex = 0;  // IFLA_MASTER: the OVS datapath or bridge it is enslaved to

    bool admin_up() const;
    // The parts a "changed" report is about; the name and index identify the link.
    bool same_state(const LinkSnapshot& other) const;
    bool operator==(const LinkSnapshot&) const = default;
};

// What happened to an included link, at the level of names: a rename is Gone(old name) plus
// Appeared(new name); a link leaving the watch (unwatch_name, prefix no longer matching) is Gone.
enum class LinkChange { Appeared, Gone, Changed };
std::string_view to_string(LinkChange change);

struct LinkEvent {
    LinkChange change = LinkChange::Changed;
    LinkSnapshot link;  // for Gone: the last state seen
    // Only in debounced batches: the name was gone and came back within the burst (a new
    // ifindex, or a rename away and back), so anything attached to the old link is stale.
    bool replaced = false;
    bool operator==(const LinkEvent&) const = default;
};

std::string describe(const LinkEvent& event);

}  // namespace opa::netwatch
