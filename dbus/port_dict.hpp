// GetPort's answer, a{sv}: one port as the core knows it. Both ends of the bus use this header,
// so the keys and their types are written down once.
//
//   name s, state s (pending|activating|activated|failed|deactivating), kind s
//   (unknown|veth|tap), origin s (request|link), link_present b, port_uuid s, member_uuid s,
//   last_error s, since x (unix seconds: entered `state`), created x, changed x (unix
//   seconds), generation t, and only when set: vmid u, tag q.
#pragma once

#include <sdbus-c++/Types.h>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "agent/core.hpp"

namespace opa::dbus {

using PortDict = std::map<std::string, sdbus::Variant>;

// A port as a client sees it.
struct PortInfo {
    std::string name;
    std::string state;
    std::string kind;
    std::string origin;
    bool link_present = false;
    std::string port_uuid;
    std::string member_uuid;
    std::string last_error;
    std::int64_t since = 0;  // unix seconds
    std::int64_t created = 0;
    std::int64_t changed = 0;
    std::uint64_t generation = 0;
    std::optional<std::uint32_t> vmid;
    std::optional<std::uint16_t> tag;
};

PortDict port_to_dict(const agent::Port& port);

// Tolerates missing keys (a newer or older agent): they keep their defaults. Throws
// sdbus::Error when a key has another type than documented.
PortInfo port_from_dict(const PortDict& dict);

}  // namespace opa::dbus
