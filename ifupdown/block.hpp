// The agent's bounded block in /etc/network/interfaces: rendering it, and putting it into a file
// while keeping every other byte, repairing what a Proxmox GUI save did to it. Pure functions:
// no I/O, no logging. Invalid input throws InvalidInputError; nothing else throws (but
// std::bad_alloc).
//
// The block (tag "ovs-port-agent", bridge "ovsbr0"):
//
//   # BEGIN ovs-port-agent
//   allow-ovsbr0 vi100
//   iface vi100 inet manual
//   <TAB>ovs_type OVSPort
//   <TAB>ovs_bridge ovsbr0
//   <TAB>ovs_options tag=10 trunks=20,30-40
//
//   allow-ovsbr0 vi101
//   iface vi101 inet manual
//   <TAB>ovs_type OVSPort
//   <TAB>ovs_bridge ovsbr0
//   # END ovs-port-agent
//
// Ports in name order; `ovs_options` only when the port has a tag or trunks. Never an `auto`
// line: ifupdown2 acts on `auto` OVS stanzas at `ifreload -a` and would clear the port's tag and
// external_ids; `allow-<bridge>` classes are not brought up by `ifreload -a`. With no ports the
// block is just the two marker lines.
//
// Recognition and repair (apply_block). A stanza is *our-shaped* when it is exactly
//   iface X inet manual      with options only ovs_type OVSPort, ovs_bridge <bridge>, and
//                            optionally ovs_options (each at most once, in any order),
// has no comment between its options, X is a valid interface name, and X is not *protected*.
// X is protected when any stanza of the file lists it in ovs_ports, ovs_bonds or bridge_ports
// (either spelling, '_' or '-'): an administrator's NIC in a bridge (eth1, enp3s0) is never ours,
// whatever its stanza looks like, and we never list our ports there.
// Regions of the file that are ours:
//   - each `# BEGIN <tag>` ... `# END <tag>` pair, whatever is between them;
//   - a BEGIN without END: the BEGIN line and the run of our-shaped stanzas, allow-<bridge> lines
//     and blank lines right after it (the END was lost);
//   - an END without BEGIN: the END line and the run of our-shaped stanzas, allow-<bridge> lines
//     and blank lines right before it (a GUI save drops BEGIN and keeps END as a comment after
//     the last port's stanza).
// In a run, a stanza whose name looks like a physical NIC to Proxmox (eth<N>, en*, ib*, nic<N>,
// if<N>) counts only when it is a port we manage or managed before; an allow-<bridge> line counts
// only when each of its names is a stanza of the run, a port we manage or a previously managed
// port; the run stops at the first line that does not count.
// Our names are: the ports we manage now, options.previously_managed, and the names inside the
// regions. Outside the regions, these are removed as well: our-shaped stanzas of our names, and
// `allow-<bridge>` and `auto` lines that name only our names (unprotected). Blank lines that
// followed a removed part are dropped when a blank line or the start of the file precedes it, so
// repairs do not pile up blank lines. Comments that are not markers are never removed (outside
// the BEGIN...END pairs).
// Then one clean block is written: in place of the first region (a complete pair is replaced
// byte for byte, so every byte outside it stays identical); else in place of the first removed
// stanza; else at the end of the file after a blank line. A block placed anywhere but in a
// complete pair gets a blank line before and after it when the neighbours are not blank.
// Exception: where an option line without a stanza (which ifupdown2 rejects) would follow the
// block, past blank and comment lines, it would join the block's lines to the stanza above; the
// block then goes to the end of the file instead.
// Markers of options.previous_tags count as ours too (for a changed managed_block_tag).
//
// Bytes: a CRLF file keeps its '\r's (our block is written with '\n'); a trailing '\r' reads as
// blank space when recognising lines, as in ifupdown2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vlan/vlan.hpp"

namespace opa::ifupdown {

inline constexpr std::uint16_t kMaxVlanId = vlan::kMaxId;
inline constexpr std::string_view kDefaultBlockTag = "ovs-port-agent";

// A VLAN id range of a trunk, first <= last; a single VLAN has first == last.
struct VlanRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    bool operator==(const VlanRange&) const = default;
};

struct Port {
    std::string name;
    std::optional<std::uint16_t> tag;  // access VLAN, 0..kMaxVlanId
    std::vector<VlanRange> trunks;     // written in the given order
    bool operator==(const Port&) const = default;
};

// Bad tag, bridge or port: thrown before anything is touched.
class InvalidInputError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// nullopt when the input is valid, else what is wrong, e.g.
// "port name \"a b\" is not a valid interface name: contains whitespace". Rules: the tag is
// 1..64 printable ASCII bytes without blanks; the bridge and every port name are valid interface
// names (agent/naming.hpp: 1..15 bytes, no whitespace, '/', ':', control or non-ASCII bytes) and
// contain no '\' (ifupdown2 joins lines at a backslash); no port is named like the bridge; no
// two ports share a name; tags and trunk ranges follow vlan/vlan.hpp (tag 0..4094, trunk VLANs
// 1..4094, first <= last).
std::optional<std::string> validate_block_input(std::string_view tag, std::string_view bridge,
                                                const std::vector<Port>& ports);

// "tag=10 trunks=20,30-40", "tag=10", "trunks=5" or "" (no ovs_options line then).
std::string render_ovs_options(const Port& port);

// The block text, markers included, always ending in '\n'. Throws InvalidInputError.
std::string render_block(std::string_view tag, std::string_view bridge, std::vector<Port> ports);

struct ApplyOptions {
    // Ports the agent wrote before and no longer manages: their stanzas are ours even when a GUI
    // save moved them away from the markers. The agent keeps this from its own records (or from
    // ports_in_block on the previous file).
    std::vector<std::string> previously_managed;
    // Earlier values of managed_block_tag: their markers are ours too, so a renamed tag replaces
    // the old block in place.
    std::vector<std::string> previous_tags;
};

// `existing` with exactly one clean block for `ports` (see the top of this file). Idempotent:
// apply_block(apply_block(x)) == apply_block(x). Throws InvalidInputError.
std::string apply_block(std::string_view existing, std::string_view tag, std::string_view bridge,
                        const std::vector<Port>& ports, const ApplyOptions& options = {});

// What the file holds of ours, for diagnostics and for the agent's start-up.
struct BlockScan {
    std::size_t complete_blocks = 0;  // BEGIN ... END pairs
    std::size_t lone_markers = 0;     // BEGIN without END, END without BEGIN
    // Port names in our regions (inside pairs: every iface stanza), sorted, unique.
    std::vector<std::string> block_ports;
    // Our-shaped stanzas of our names found outside the regions, sorted, unique.
    std::vector<std::string> stray_ports;
    // Names protected by ovs_ports / ovs_bonds / bridge_ports, sorted, unique.
    std::vector<std::string> protected_names;
    bool clean() const { return complete_blocks == 1 && lone_markers == 0 && stray_ports.empty(); }
};

// Scans like apply_block does, with `ports` taken as the ports managed now. Throws
// InvalidInputError for an invalid tag or bridge.
BlockScan scan_block(std::string_view text, std::string_view tag, std::string_view bridge,
                     const std::vector<Port>& ports = {}, const ApplyOptions& options = {});

}  // namespace opa::ifupdown
