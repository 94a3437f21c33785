// Which links are the agent's: a pure decision from a link's name, kind and flags and the
// configured rules, with the reason, so a table test and a log line can both say why.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netwatch/link.hpp"

namespace opa::netwatch {

struct ClassifyRules {
    // A name starting with any of these is included (config `include_prefixes`).
    std::vector<std::string> include_prefixes;
    // The bridge's own devices (the bridge name and its internal interfaces): never included,
    // whatever their kind or name (with the netdev datapath they are taps).
    std::set<std::string, std::less<>> own_devices;
    // Names included regardless of prefix: links the agent renamed to template names.
    std::set<std::string, std::less<>> watched_names;
};

// Why a link is or is not the agent's. Checked in this order; the first that applies wins.
enum class Reason {
    Loopback,       // IFF_LOOPBACK or "lo"
    OwnDevice,      // the bridge or one of its internal interfaces
    OvsDatapath,    // ovs-system / ovs-netdev
    OtherKind,      // neither veth nor tun/tap
    Layer3Tun,      // a tun device in tun (not tap) mode
    WatchedName,    // included: named by watch_name()
    PrefixMatch,    // included: matches an include prefix
    NoPrefixMatch,  // right kind, but no prefix matches
};
std::string_view to_string(Reason reason);

struct Classification {
    bool included = false;
    Reason reason = Reason::NoPrefixMatch;
    bool operator==(const Classification&) const = default;
};

Classification classify(const LinkSnapshot& link, const ClassifyRules& rules);

}  // namespace opa::netwatch
