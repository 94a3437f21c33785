#include "netwatch/link.hpp"

#include <net/if.h>

namespace opa::netwatch {

std::string_view to_string(LinkKind kind) {
    switch (kind) {
        case LinkKind::Veth:
            return "veth";
        case LinkKind::Tap:
            return "tap";
        case LinkKind::Tun:
            return "tun";
        case LinkKind::Other:
            break;
    }
    return "other";
}

std::string_view to_string(LinkChange change) {
    switch (change) {
        case LinkChange::Appeared:
            return "appeared";
        case LinkChange::Gone:
            return "gone";
        case LinkChange::Changed:
            break;
    }
    return "changed";
}

bool LinkSnapshot::admin_up() const { return (flags & IFF_UP) != 0; }

bool LinkSnapshot::same_state(const LinkSnapshot& other) const {
    return kind == other.kind && flags == other.flags && operstate == other.operstate &&
           controller_ifindex == other.controller_ifindex;
}

std::string describe(const LinkEvent& event) {
    std::string text = std::string(to_string(event.change)) + " " + event.link.name + " (" +
                       std::string(to_string(event.link.kind)) + ", ifindex " +
                       std::to_string(event.link.ifindex) +
                       (event.link.admin_up() ? ", up" : ", down");
    if (event.replaced) text += ", replaced";
    return text + ")";
}

}  // namespace opa::netwatch
