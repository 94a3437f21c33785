#include "ifupdown/doctor.hpp"

#include "ifupdown/parser.hpp"

namespace opa::ifupdown {

std::string BridgeAutostartFinding::message() const {
    return "line " + std::to_string(auto_line) + " declares `auto " + bridge + "` and line " +
           std::to_string(iface_line) +
           " makes it an OVSBridge: an \"Apply Configuration\" in the Proxmox GUI (ifreload -a) "
           "would remove every container port not listed in its ovs_ports and clear the "
           "bridge's external-ids; remove `" +
           bridge + "` from the auto line";
}

std::optional<BridgeAutostartFinding> check_bridge_autostart(std::string_view interfaces_text,
                                                             std::string_view bridge) {
    const InterfacesText parsed = parse_interfaces(interfaces_text);
    std::size_t auto_line = 0;
    std::size_t iface_line = 0;
    for (const Item& item : parsed.items) {
        const std::vector<std::string_view>& words = parsed.head(item).words;
        if (item.kind == ItemKind::kAuto && auto_line == 0) {
            for (std::size_t i = 1; i < words.size(); ++i) {
                if (words[i] == bridge) auto_line = item.first_line + 1;
            }
        } else if (item.kind == ItemKind::kIface && iface_line == 0 && words.size() >= 2 &&
                   words[1] == bridge) {
            for (const std::size_t line : item.option_lines) {
                const std::vector<std::string_view>& option = parsed.lines[line].words;
                if ((option[0] == "ovs_type" || option[0] == "ovs-type") && option.size() == 2 &&
                    option[1] == "OVSBridge") {
                    iface_line = item.first_line + 1;
                }
            }
        }
    }
    if (auto_line == 0 || iface_line == 0) return std::nullopt;
    return BridgeAutostartFinding{std::string(bridge), auto_line, iface_line};
}

}  // namespace opa::ifupdown
