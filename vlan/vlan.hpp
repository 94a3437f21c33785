// VLAN ids: the one place for their limits, their validation and the set a trunk port carries.
// Every layer (the core, NM profiles, the interfaces block, the tree, Proxmox configs) asks here.
//
// The rule: an access tag is 0..4094 (OVS's own range without the reserved 4095; 0 is allowed
// as before); a trunk VLAN is 1..4094, as Proxmox's `trunks` accepts. Trunks are a set: the same
// VLAN twice, or overlapping ranges, are one, and however they are written the set is at most
// 4094 bits and renders as compact ranges ("20,30-40"). Pure.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace opa::vlan {

inline constexpr std::uint16_t kMaxId = 4094;
inline constexpr std::uint16_t kMinTag = 0;
inline constexpr std::uint16_t kMinTrunk = 1;

// nullopt when `tag` is a valid access tag, else "VLAN tag 5000 is out of range (0..4094)".
std::optional<std::string> tag_error(std::uint64_t tag);
// nullopt when first..last is a valid trunk range, else why ("trunk VLAN 0 is out of range
// (1..4094)", "trunk range 40-30 ends before it starts").
std::optional<std::string> trunk_range_error(std::uint64_t first, std::uint64_t last);

struct Range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    bool operator==(const Range&) const = default;
};

// The VLANs a trunk port carries; empty means none were asked for (OVS then carries all).
class Trunks {
  public:
    Trunks() = default;
    // Adds first..last; false (and nothing added) when trunk_range_error says no.
    bool add(std::uint64_t first, std::uint64_t last);
    bool add(std::uint64_t id) { return add(id, id); }

    bool contains(std::uint16_t id) const { return id <= kMaxId && ids_.test(id); }
    bool empty() const { return ids_.none(); }
    std::size_t count() const { return ids_.count(); }
    // Ascending, each as long as possible: {20-20, 30-40}.
    std::vector<Range> ranges() const;
    // Ascending ids (at most 4094 of them).
    std::vector<std::uint16_t> ids() const;
    // "20,30-40"; "" when empty.
    std::string to_string() const;
    bool operator==(const Trunks&) const = default;

  private:
    std::bitset<kMaxId + 1> ids_;  // bit 0 is never set
};

// A set from a list of ids, for tests and callers holding ids: invalid ones make it nullopt.
std::optional<Trunks> trunks_of(const std::vector<std::uint16_t>& ids);

}  // namespace opa::vlan
