#include "netwatch/rename_guard.hpp"

#include <net/if.h>

namespace opa::netwatch {

std::optional<std::string> rename_refusal(const LinkSnapshot& link, std::string_view controller,
                                          const RenameRules& rules) {
    const std::string_view name = link.name;
    if ((link.flags & IFF_LOOPBACK) != 0 || name == "lo") return "is the loopback interface";
    if (name == rules.bridge) return "is the bridge's own interface";
    if (rules.uplink && name == *rules.uplink) return "is the bridge's uplink";
    if (name == "ovs-system" || name == "ovs-netdev") return "is the OVS datapath";
    if (link.kind != LinkKind::Veth && link.kind != LinkKind::Tap) {
        return "is not a veth or tap (kind " +
               (link.kind_name.empty() ? std::string("none") : link.kind_name) + ")";
    }
    if (!controller.empty() && controller != "ovs-system" && controller != "ovs-netdev") {
        return "is a port of " + std::string(controller);
    }
    return std::nullopt;
}

}  // namespace opa::netwatch
