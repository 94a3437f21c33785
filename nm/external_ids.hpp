// Reading back what the agent stored in a port's external ids (NM's ovs-external-ids, mirrored
// in OVSDB). Anyone with root may edit them, so every value is parsed, never trusted. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace opa::nm {

// A VMID as the agent writes it: canonical decimal (no sign, blanks or leading zeros), 1 to
// 999999999. nullopt for anything else ("abc", "", "-1", "1e3", "4294967296").
std::optional<std::uint32_t> parse_vmid(std::string_view text);

}  // namespace opa::nm
