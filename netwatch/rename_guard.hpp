// Which links a request may rename. A rename sets the link down first: done to the uplink or
// the bridge's own interface it would cut the host off. Only a guest candidate qualifies. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "netwatch/link.hpp"

namespace opa::netwatch {

struct RenameRules {
    std::string bridge;                 // its name is also its internal interface's
    std::optional<std::string> uplink;  // config `uplink`
};

// Why `link` may not be renamed (a clause: "is the bridge's uplink"), nullopt when it may:
// a veth or tap that is not the bridge, its internal interface, the uplink or an OVS datapath,
// and is enslaved to nothing but the OVS datapath (`controller`: the name of the device it is
// enslaved to, "" when none). Ports someone else owns in OVSDB are the caller's check.
std::optional<std::string> rename_refusal(const LinkSnapshot& link, std::string_view controller,
                                          const RenameRules& rules);

}  // namespace opa::netwatch
