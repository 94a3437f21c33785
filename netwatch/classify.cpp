#include "netwatch/classify.hpp"

#include <net/if.h>

#include <algorithm>

namespace opa::netwatch {

std::string_view to_string(Reason reason) {
    switch (reason) {
        case Reason::Loopback:
            return "loopback";
        case Reason::OwnDevice:
            return "the bridge's own device";
        case Reason::OvsDatapath:
            return "OVS datapath device";
        case Reason::OtherKind:
            return "not a veth or tap";
        case Reason::Layer3Tun:
            return "tun in layer-3 mode";
        case Reason::WatchedName:
            return "watched name";
        case Reason::PrefixMatch:
            return "prefix match";
        case Reason::NoPrefixMatch:
            break;
    }
    return "no include prefix matches";
}

Classification classify(const LinkSnapshot& link, const ClassifyRules& rules) {
    const std::string_view name = link.name;
    if ((link.flags & IFF_LOOPBACK) != 0 || name == "lo") return {false, Reason::Loopback};
    if (rules.own_devices.contains(name)) return {false, Reason::OwnDevice};
    if (name == "ovs-system" || name == "ovs-netdev") return {false, Reason::OvsDatapath};
    if (link.kind == LinkKind::Tun) return {false, Reason::Layer3Tun};
    if (link.kind != LinkKind::Veth && link.kind != LinkKind::Tap) {
        return {false, Reason::OtherKind};
    }
    if (rules.watched_names.contains(name)) return {true, Reason::WatchedName};
    const bool prefixed = std::any_of(
        rules.include_prefixes.begin(), rules.include_prefixes.end(),
        [&](const std::string& prefix) { return !prefix.empty() && name.starts_with(prefix); });
    if (prefixed) return {true, Reason::PrefixMatch};
    return {false, Reason::NoPrefixMatch};
}

}  // namespace opa::netwatch
