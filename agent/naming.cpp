#include "agent/naming.hpp"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace opa::naming {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Canonical decimal only: digits, no sign, no leading zero (except "0" itself), at most
// `max_digits` digits, so that every number has exactly one spelling and names round-trip.
std::optional<std::uint32_t> parse_canonical_decimal(std::string_view text,
                                                     std::size_t max_digits) {
    if (text.empty() || text.size() > max_digits) return std::nullopt;
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    for (char c : text) {
        if (!is_ascii_digit(c)) return std::nullopt;
    }
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

constexpr std::size_t kMaxVmidDigits = 9;
constexpr std::size_t kMaxIndexDigits = 2;

// Splits "{prefix}{digits}{separator}{digits}" into its two numbers, both canonical and in
// range. `rest` is the text after the prefix.
std::optional<PortId> parse_vmid_separator_index(std::string_view rest, char separator) {
    const std::size_t separator_pos = rest.find(separator);
    if (separator_pos == std::string_view::npos) return std::nullopt;
    const auto vmid = parse_canonical_decimal(rest.substr(0, separator_pos), kMaxVmidDigits);
    const auto index = parse_canonical_decimal(rest.substr(separator_pos + 1), kMaxIndexDigits);
    if (!vmid || !index || check_guest_id(*vmid, *index)) return std::nullopt;
    return PortId{*vmid, *index};
}

struct GuestPrefix {
    std::string_view prefix;
    char separator;
    GuestKind kind;
};
constexpr std::array kGuestPrefixes{
    GuestPrefix{"veth", 'i', GuestKind::kContainer},
    GuestPrefix{"tap", 'i', GuestKind::kVm},
    GuestPrefix{"fwln", 'o', GuestKind::kFirewallLink},
};

constexpr std::string_view kPortPrefix = "vi";

TemplateError template_error(TemplateError::Kind kind, std::size_t offset = 0,
                             std::string_view variable = {}) {
    return TemplateError{.kind = kind, .offset = offset, .variable = std::string(variable)};
}

constexpr std::string_view kVarContainer = "container";
constexpr std::string_view kVarIndex = "index";
constexpr std::string_view kVarVmid = "vmid";

bool is_known_variable(std::string_view name) {
    return name == kVarContainer || name == kVarIndex || name == kVarVmid;
}

// One piece of a parsed template: literal text, or a variable name.
struct TemplatePiece {
    bool is_variable;
    std::string_view text;
};

// Walks the template, calling `on_piece` for each piece; returns the first syntax error.
template <typename OnPiece>
std::optional<TemplateError> walk_template(std::string_view tmpl, OnPiece&& on_piece) {
    if (tmpl.empty()) return template_error(TemplateError::Kind::kEmpty);
    std::size_t pos = 0;
    while (pos < tmpl.size()) {
        const std::size_t brace = tmpl.find_first_of("{}", pos);
        if (brace == std::string_view::npos) {
            on_piece(TemplatePiece{false, tmpl.substr(pos)});
            break;
        }
        if (brace > pos) on_piece(TemplatePiece{false, tmpl.substr(pos, brace - pos)});
        if (tmpl[brace] == '}') {
            return template_error(TemplateError::Kind::kUnbalancedBrace, brace);
        }
        const std::size_t close = tmpl.find_first_of("{}", brace + 1);
        if (close == std::string_view::npos || tmpl[close] == '{') {
            return template_error(TemplateError::Kind::kUnbalancedBrace, brace);
        }
        const std::string_view name = tmpl.substr(brace + 1, close - brace - 1);
        if (!is_known_variable(name)) {
            return template_error(TemplateError::Kind::kUnknownVariable, brace, name);
        }
        on_piece(TemplatePiece{true, name});
        pos = close + 1;
    }
    return std::nullopt;
}

std::string sanitize(std::string_view expansion) {
    std::string out;
    out.reserve(expansion.size());
    for (char c : expansion) {
        if (c >= 'A' && c <= 'Z') {
            out.push_back(static_cast<char>(c - 'A' + 'a'));
        } else if ((c >= 'a' && c <= 'z') || is_ascii_digit(c) || c == '_') {
            out.push_back(c);
        } else {
            out.push_back('_');
        }
    }
    return out;
}

// First kHashSuffixLen hex digits of SHA-256(data). EVP_Digest only fails on allocation
// failure inside OpenSSL; there is no sane name to return then, so we abort like `new` would.
std::string sha256_hex_prefix(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) !=
        1) {
        std::abort();
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; out.size() < kHashSuffixLen; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0xf]);
    }
    out.resize(kHashSuffixLen);
    return out;
}

}  // namespace

// --- interface names --------------------------------------------------------------------------

std::optional<IfnameError> ifname_error(std::string_view name) {
    if (name.empty()) return IfnameError::kEmpty;
    if (name.size() > kMaxIfnameLen) return IfnameError::kTooLong;
    if (name == "." || name == "..") return IfnameError::kDotName;
    for (char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '/') return IfnameError::kSlash;
        if (c == ':') return IfnameError::kColon;
        if (c == '\\') return IfnameError::kBackslash;
        if (c == ' ' || (c >= '\t' && c <= '\r')) return IfnameError::kWhitespace;
        if (byte < 0x20 || byte == 0x7f) return IfnameError::kControl;
        if (byte >= 0x80) return IfnameError::kNonAscii;
    }
    return std::nullopt;
}

bool is_valid_ifname(std::string_view name) { return !ifname_error(name).has_value(); }

std::string_view describe(IfnameError error) {
    switch (error) {
        case IfnameError::kEmpty:
            return "is empty";
        case IfnameError::kTooLong:
            return "is longer than 15 bytes";
        case IfnameError::kDotName:
            return "is \".\" or \"..\"";
        case IfnameError::kSlash:
            return "contains '/'";
        case IfnameError::kColon:
            return "contains ':'";
        case IfnameError::kBackslash:
            return "contains '\\' (ifupdown2 joins lines at a backslash)";
        case IfnameError::kWhitespace:
            return "contains whitespace";
        case IfnameError::kControl:
            return "contains a control character";
        case IfnameError::kNonAscii:
            return "contains a non-ASCII byte";
    }
    return "is invalid";
}

int errno_for(IfnameError error) { return error == IfnameError::kTooLong ? ENAMETOOLONG : EINVAL; }

// --- guest NICs -------------------------------------------------------------------------------

std::string_view to_string(GuestKind kind) {
    switch (kind) {
        case GuestKind::kContainer:
            return "container";
        case GuestKind::kVm:
            return "vm";
        case GuestKind::kFirewallLink:
            return "firewall-link";
    }
    return "unknown";
}

std::optional<GuestNic> parse_guest_ifname(std::string_view ifname) {
    // veth{9 digits}i{2 digits} has 16 bytes: no interface can have that name (fuzz_naming).
    if (ifname.size() > kMaxIfnameLen) return std::nullopt;
    for (const GuestPrefix& guest : kGuestPrefixes) {
        if (!ifname.starts_with(guest.prefix)) continue;
        const auto id =
            parse_vmid_separator_index(ifname.substr(guest.prefix.size()), guest.separator);
        if (!id) return std::nullopt;
        return GuestNic{guest.kind, id->vmid, id->index};
    }
    return std::nullopt;
}

std::optional<GuestIdError> check_guest_id(std::uint32_t vmid, std::uint32_t index) {
    if (vmid < kMinVmid || vmid > kMaxVmid) return GuestIdError::kVmidOutOfRange;
    if (index > kMaxNicIndex) return GuestIdError::kIndexOutOfRange;
    return std::nullopt;
}

std::string_view describe(GuestIdError error) {
    switch (error) {
        case GuestIdError::kVmidOutOfRange:
            return "VMID is outside 100..999999999";
        case GuestIdError::kIndexOutOfRange:
            return "NIC index is outside 0..31";
    }
    return "invalid guest id";
}

// --- vi{VMID} ---------------------------------------------------------------------------------

std::optional<std::string> port_name_for(std::uint32_t vmid, std::uint32_t index) {
    if (check_guest_id(vmid, index)) return std::nullopt;
    std::string name(kPortPrefix);
    name += std::to_string(vmid);
    if (index != 0) {
        name += 'i';
        name += std::to_string(index);
    }
    return name;
}

std::optional<std::string> port_name_for_ifname(std::string_view ifname) {
    const auto nic = parse_guest_ifname(ifname);
    if (!nic) return std::nullopt;
    return port_name_for(nic->vmid, nic->index);
}

std::optional<PortId> parse_port_name(std::string_view port_name) {
    if (!port_name.starts_with(kPortPrefix)) return std::nullopt;
    const std::string_view rest = port_name.substr(kPortPrefix.size());
    if (rest.find('i') == std::string_view::npos) {
        const auto vmid = parse_canonical_decimal(rest, kMaxVmidDigits);
        if (!vmid || check_guest_id(*vmid, 0)) return std::nullopt;
        return PortId{*vmid, 0};
    }
    const auto id = parse_vmid_separator_index(rest, 'i');
    // Index 0 is spelled without a suffix; "vi100i0" would make two names for one port.
    if (!id || id->index == 0) return std::nullopt;
    return id;
}

// --- naming_template --------------------------------------------------------------------------

std::string TemplateError::message() const {
    switch (kind) {
        case Kind::kEmpty:
            return "naming template is empty";
        case Kind::kUnknownVariable:
            return "unknown variable {" + variable + "} at offset " + std::to_string(offset) +
                   " (known: {container}, {index}, {vmid})";
        case Kind::kUnbalancedBrace:
            return "unbalanced brace at offset " + std::to_string(offset);
        case Kind::kMissingVmid:
            return "template uses {vmid} but no VMID is known";
        case Kind::kEmptyResult:
            return "template expands to an empty name";
    }
    return "invalid naming template";
}

std::optional<TemplateError> check_template(std::string_view naming_template) {
    return walk_template(naming_template, [](const TemplatePiece&) {});
}

RenderResult render_template(std::string_view naming_template, std::string_view container,
                             std::uint32_t index, std::optional<std::uint32_t> vmid) {
    std::string expansion;
    std::optional<std::size_t> vmid_offset;
    auto error = walk_template(naming_template, [&](const TemplatePiece& piece) {
        if (!piece.is_variable) {
            expansion += piece.text;
        } else if (piece.text == kVarContainer) {
            expansion += container;
        } else if (piece.text == kVarIndex) {
            expansion += std::to_string(index);
        } else if (vmid) {
            expansion += std::to_string(*vmid);
        } else if (!vmid_offset) {
            // The piece's text points into the template, one past its '{'.
            vmid_offset = static_cast<std::size_t>(piece.text.data() - naming_template.data()) - 1;
        }
    });
    if (error) return RenderResult{.name = std::nullopt, .error = std::move(error)};
    if (vmid_offset) {
        return RenderResult{
            .name = std::nullopt,
            .error = template_error(TemplateError::Kind::kMissingVmid, *vmid_offset)};
    }
    if (expansion.empty()) {
        return RenderResult{.name = std::nullopt,
                            .error = template_error(TemplateError::Kind::kEmptyResult)};
    }
    std::string name = sanitize(expansion);
    if (name.size() > kMaxIfnameLen) {
        name.resize(kHashPrefixLen);
        name += sha256_hex_prefix(expansion);
    }
    return RenderResult{.name = std::move(name), .error = std::nullopt};
}

}  // namespace opa::naming
