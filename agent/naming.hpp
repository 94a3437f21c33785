// Interface and OVS port naming: validation of Linux interface names, recognition of the
// names Proxmox VE gives guest NICs, the collision-free `vi{VMID}` port scheme, and the
// `naming_template` renderer. Pure functions: no I/O, no logging, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opa::naming {

// IFNAMSIZ is 16 including the terminating NUL.
inline constexpr std::size_t kMaxIfnameLen = 15;

// ---------------------------------------------------------------------------------------------
// Interface name validation
// ---------------------------------------------------------------------------------------------

// Why a name is not a usable interface name. Stricter than the kernel's dev_valid_name(): we
// also refuse control characters, non-ASCII bytes and a backslash, because the name ends up in
// /etc/network/interfaces, NM profiles, OVS and a FUSE tree. The one rule for every layer.
enum class IfnameError {
    kEmpty,
    kTooLong,  // more than kMaxIfnameLen bytes (maps to ENAMETOOLONG)
    kDotName,  // "." or ".."
    kSlash,
    kColon,      // reserved by the kernel for alias labels (eth0:1)
    kBackslash,  // the kernel takes it, ifupdown2 cannot read it (it joins lines there)
    kWhitespace,
    kControl,  // other bytes below 0x20, and 0x7f
    kNonAscii,
};

// nullopt when `name` is valid. When several problems exist, the first of: empty, too long,
// "."/"..", then the first offending byte.
std::optional<IfnameError> ifname_error(std::string_view name);
bool is_valid_ifname(std::string_view name);
// Human-readable reason, e.g. "longer than 15 bytes".
std::string_view describe(IfnameError error);
// errno for the FUSE and D-Bus faces: ENAMETOOLONG for kTooLong, EINVAL for the rest.
int errno_for(IfnameError error);

// ---------------------------------------------------------------------------------------------
// Proxmox guest NIC names
// ---------------------------------------------------------------------------------------------

inline constexpr std::uint32_t kMinVmid = 100;          // Proxmox reserves 0..99
inline constexpr std::uint32_t kMaxVmid = 999'999'999;  // Proxmox's upper limit (9 digits)
inline constexpr std::uint32_t kMaxNicIndex = 31;       // net0..net31

enum class GuestKind {
    kContainer,     // veth{VMID}i{N}: host side of an LXC container's veth pair
    kVm,            // tap{VMID}i{N}: a QEMU VM's tap device
    kFirewallLink,  // fwln{VMID}o{N}: what OVS gets instead of the NIC when firewall=1
};
std::string_view to_string(GuestKind kind);

struct GuestNic {
    GuestKind kind;
    std::uint32_t vmid;
    std::uint32_t index;
    bool operator==(const GuestNic&) const = default;
};

// Recognises exactly the names Proxmox generates: canonical decimal numbers (no sign, no
// leading zeros), VMID in kMinVmid..kMaxVmid, index in 0..kMaxNicIndex. Everything else,
// including the hotplug peer veth{VMID}i{N}p and the firewall bridge fwbr{VMID}i{N}, is nullopt.
std::optional<GuestNic> parse_guest_ifname(std::string_view ifname);

enum class GuestIdError { kVmidOutOfRange, kIndexOutOfRange };
std::optional<GuestIdError> check_guest_id(std::uint32_t vmid, std::uint32_t index);
std::string_view describe(GuestIdError error);

// ---------------------------------------------------------------------------------------------
// The vi{VMID} port scheme
// ---------------------------------------------------------------------------------------------
//
// NIC index 0 -> "vi{VMID}", NIC index N >= 1 -> "vi{VMID}i{N}". A VMID belongs to exactly one
// guest (container or VM), so the kind need not be part of the name: veth100i1 and tap100i1
// cannot both exist. fwln{VMID}o{N} stands for guest NIC N and maps to the same name. The
// longest result is "vi999999999i31" (14 bytes). The mapping is a bijection between valid
// (vmid, index) pairs and canonical port names: "vi100i0" is not canonical (index 0 has no
// suffix) and is rejected by parse_port_name.

struct PortId {
    std::uint32_t vmid;
    std::uint32_t index;
    bool operator==(const PortId&) const = default;
};

// nullopt exactly when check_guest_id(vmid, index) reports an error.
std::optional<std::string> port_name_for(std::uint32_t vmid, std::uint32_t index);
// nullopt when `ifname` is not a guest NIC name (see parse_guest_ifname).
std::optional<std::string> port_name_for_ifname(std::string_view ifname);
// The reverse of port_name_for; nullopt for anything port_name_for would not produce.
std::optional<PortId> parse_port_name(std::string_view port_name);

// ---------------------------------------------------------------------------------------------
// naming_template
// ---------------------------------------------------------------------------------------------
//
// A template is literal text with the variables {container}, {index} and {vmid}; there is no
// escape for braces. Rendering:
//   1. expand the variables ({index} and {vmid} in canonical decimal);
//   2. sanitize: A-Z become a-z, a-z 0-9 _ stay, every other byte becomes '_';
//   3. if the result is longer than 15 bytes, keep its first kHashPrefixLen (7) bytes and append
//      kHashSuffixLen (8) lower-case hex digits: the first 4 bytes of SHA-256 over the
//      expansion of step 1 (before sanitizing), giving exactly 15 bytes.
// Hashing the unsanitized expansion keeps long names that differ only in case or punctuation
// apart; short names that differ only that way do collide after sanitizing. A 32-bit suffix
// makes a collision among 10,000 long names sharing a prefix about a 1% event (birthday bound);
// a 20-bit suffix would make it near-certain, hence 7 + 8 rather than 10 + 5.

inline constexpr std::size_t kHashPrefixLen = 7;
inline constexpr std::size_t kHashSuffixLen = 8;
static_assert(kHashPrefixLen + kHashSuffixLen == kMaxIfnameLen);

struct TemplateError {
    enum class Kind {
        kEmpty,            // the template itself is empty
        kUnknownVariable,  // {foo}
        kUnbalancedBrace,  // '{' without '}', '}' without '{', or '{' inside a variable
        kMissingVmid,      // render_template: template uses {vmid} but no VMID was given
        kEmptyResult,      // render_template: the expansion is empty
    };
    Kind kind;
    std::size_t offset = 0;  // byte offset into the template of the offending brace/variable
    std::string variable;    // the unknown variable's name, for kUnknownVariable
    std::string message() const;
    bool operator==(const TemplateError&) const = default;
};

// nullopt when the template is syntactically valid and uses only known variables.
std::optional<TemplateError> check_template(std::string_view naming_template);

// Exactly one of `name` and `error` is set.
struct RenderResult {
    std::optional<std::string> name;
    std::optional<TemplateError> error;
    explicit operator bool() const { return name.has_value(); }
};

RenderResult render_template(std::string_view naming_template, std::string_view container,
                             std::uint32_t index, std::optional<std::uint32_t> vmid = std::nullopt);

}  // namespace opa::naming
