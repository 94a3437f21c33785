// Checks of the administrator's interfaces file for `doctor`. Pure: findings are returned, not
// printed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace opa::ifupdown {

// The file declares our NM-managed bridge `auto <bridge>` (or allow-auto) with an
// `iface <bridge>` stanza of `ovs_type OVSBridge`. Then ifreload -a (which a GUI "Apply
// Configuration" runs) del-ports every port of the bridge not in its ovs_ports, i.e. every
// container port, and clears the bridge's external-ids, stripping NetworkManager's tags.
struct BridgeAutostartFinding {
    std::string bridge;
    std::size_t auto_line = 0;   // 1-based line of the first auto line naming the bridge
    std::size_t iface_line = 0;  // 1-based line of the OVSBridge iface stanza
    std::string message() const;
};

std::optional<BridgeAutostartFinding> check_bridge_autostart(std::string_view interfaces_text,
                                                             std::string_view bridge);

}  // namespace opa::ifupdown
