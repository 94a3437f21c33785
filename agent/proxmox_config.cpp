#include "agent/proxmox_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <map>

namespace opa::proxmox {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_ascii_digit);
}

// Digits only (Perl's numeric view of "010" is 10, so leading zeros are accepted here), no sign,
// no more than `max_digits` of them so the value cannot overflow.
std::optional<std::uint32_t> parse_decimal(std::string_view text, std::size_t max_digits) {
    if (!all_digits(text) || text.size() > max_digits) return std::nullopt;
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<std::uint16_t> parse_vlan_id(std::string_view text) {
    const auto value = parse_decimal(text, 9);
    if (!value || *value < kMinVlanId || *value > kMaxVlanId) return std::nullopt;
    return static_cast<std::uint16_t>(*value);
}

// Six pairs of hex digits separated by ':', the only form Proxmox writes and accepts.
bool is_mac(std::string_view text) {
    constexpr std::size_t kMacLen = 17;
    if (text.size() != kMacLen) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool separator_position = i % 3 == 2;
        if (separator_position ? text[i] != ':' : !is_hex_digit(text[i])) return false;
    }
    return true;
}

// PVE::JSONSchema::parse_boolean.
std::optional<bool> parse_boolean(std::string_view text) {
    auto equals_ignoring_case = [text](std::string_view word) {
        return std::equal(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
            return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
        });
    };
    for (std::string_view word : {"1", "on", "yes", "true"}) {
        if (equals_ignoring_case(word)) return true;
    }
    for (std::string_view word : {"0", "off", "no", "false"}) {
        if (equals_ignoring_case(word)) return false;
    }
    return std::nullopt;
}

// The NIC models of PVE::QemuServer ($nic_model_list).
constexpr std::array<std::string_view, 14> kQemuNicModels{
    "e1000",    "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e",  "i82551", "i82557b",
    "i82559er", "ne2k_isa",      "ne2k_pci",      "pcnet",         "rtl8139", "virtio", "vmxnet3",
};

// Keys with a meaning of their own, which therefore cannot be a model name.
constexpr std::array<std::string_view, 18> kNicKeys{
    "bridge", "tag", "trunks", "firewall", "name", "hwaddr",    "macaddr",      "model", "ip",
    "ip6",    "gw",  "gw6",    "type",     "rate", "link_down", "host-managed", "mtu",   "queues",
};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& words, std::string_view word) {
    return std::find(words.begin(), words.end(), word) != words.end();
}

// `id[;id...]`, each id a VLAN id or an `a-b` range with a <= b.
std::optional<std::string> parse_trunks(std::string_view text,
                                        std::vector<std::pair<std::uint16_t, std::uint16_t>>* out) {
    std::vector<std::pair<std::uint16_t, std::uint16_t>> trunks;
    while (true) {
        const std::size_t semicolon = text.find(';');
        const std::string_view item = text.substr(0, semicolon);
        const std::size_t dash = item.find('-');
        const auto first = parse_vlan_id(item.substr(0, dash));
        const auto last =
            dash == std::string_view::npos ? first : parse_vlan_id(item.substr(dash + 1));
        if (!first || !last) {
            return "'" + std::string(item) + "' is not a VLAN id (1..4094) or a range a-b of them";
        }
        if (*first > *last) return "range '" + std::string(item) + "' ends before it starts";
        trunks.emplace_back(*first, *last);
        if (semicolon == std::string_view::npos) break;
        text.remove_prefix(semicolon + 1);
    }
    *out = std::move(trunks);
    return std::nullopt;
}

// A VM's net line has a `model=MAC` pair (`virtio=BC:24:11:00:00:01`): Proxmox writes it first
// and accepts it anywhere for the models it knows. A first pair with an unknown key and a MAC is
// taken as one too, for a model added by a later Proxmox.
bool is_model_pair(std::string_view key, std::string_view value, bool first_pair) {
    if (contains(kQemuNicModels, key)) return true;
    return first_pair && !contains(kNicKeys, key) && is_mac(value);
}

// Applies one key=value pair to `nic`; the error, if the pair makes the line unusable.
std::optional<std::string> apply_pair(std::string_view key, std::string_view value, bool model_pair,
                                      GuestNicConfig* nic) {
    auto quoted = [&] { return std::string(key) + "=" + std::string(value); };
    if (model_pair) {
        if (!is_mac(value)) return quoted() + ": not a MAC address";
        nic->model = key;
        nic->mac = value;
    } else if (key == "bridge") {
        nic->bridge = value;
    } else if (key == "tag") {
        const auto tag = parse_vlan_id(value);
        if (!tag) return quoted() + ": not a VLAN id (1..4094)";
        nic->tag = *tag;
    } else if (key == "trunks") {
        if (auto error = parse_trunks(value, &nic->trunks)) return quoted() + ": " + *error;
    } else if (key == "firewall") {
        const auto firewall = parse_boolean(value);
        if (!firewall) return quoted() + ": not a boolean (1/0, on/off, yes/no, true/false)";
        nic->firewall = *firewall;
    } else if (key == "name") {
        nic->name = value;
    } else if (key == "hwaddr" || key == "macaddr") {
        if (!is_mac(value)) return quoted() + ": not a MAC address";
        nic->mac = value;
    } else if (key == "model") {
        nic->model = value;
    }
    // Any other key (ip=, gw=, rate=, mtu=, type=, ...) means nothing to the agent.
    return std::nullopt;
}

// The settings a pair occupies, for finding one given twice (Proxmox refuses such a line):
// `virtio=MAC` is both the model and the MAC; hwaddr (LXC) and macaddr (VM) are the same.
std::vector<std::string_view> settings_of(std::string_view key, bool model_pair) {
    if (model_pair) return {"model", "macaddr"};
    if (key == "hwaddr") return {"macaddr"};
    return {key};
}

// Parses the value of a netN line; the error that makes it unusable, if any.
std::optional<std::string> parse_nic_value(std::string_view value, GuestNicConfig* nic) {
    std::vector<std::string_view> seen_settings;
    bool first_pair = true;
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        const std::string_view item = trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        // Proxmox's property-string parser skips empty items ("a=1,,b=2").
        if (item.empty()) continue;

        const std::size_t equals = item.find('=');
        if (equals == std::string_view::npos) {
            return "'" + std::string(item) + "' is not a key=value pair";
        }
        const std::string_view key = trim(item.substr(0, equals));
        const std::string_view pair_value = trim(item.substr(equals + 1));
        if (key.empty()) return "'" + std::string(item) + "' has no key";
        if (pair_value.empty()) return "'" + std::string(item) + "' has no value";

        const bool model_pair = is_model_pair(key, pair_value, first_pair);
        first_pair = false;
        for (std::string_view setting : settings_of(key, model_pair)) {
            if (std::find(seen_settings.begin(), seen_settings.end(), setting) !=
                seen_settings.end()) {
                return "'" + std::string(setting) + "' given twice";
            }
            seen_settings.push_back(setting);
        }
        if (auto error = apply_pair(key, pair_value, model_pair, nic)) return error;
    }
    if (first_pair) return "no settings";
    return std::nullopt;
}

std::string problem(std::size_t line_number, std::string_view key, std::string_view detail) {
    return "line " + std::to_string(line_number) + ": " + std::string(key) + ": " +
           std::string(detail);
}

// The whole of a regular file, or nullopt; no exceptions (read_guest_config's contract).
std::optional<std::string> read_regular_file(const std::filesystem::path& path) {
    // O_NONBLOCK: a FIFO in place of the file must not hang the caller in open(); it has no
    // effect on the regular files that are read.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};

    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
    std::string text;
    std::array<char, 8192> buffer{};
    while (true) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return std::nullopt;
        if (got == 0) break;
        text.append(buffer.data(), static_cast<std::size_t>(got));
    }
    return text;
}

}  // namespace

GuestConfig parse_guest_config(std::string_view text) {
    GuestConfig config;
    struct NicLine {
        GuestNicConfig nic;
        std::size_t line_number;
    };
    std::map<std::uint32_t, NicLine> nics;  // by index: sorted, and the later line wins

    std::size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t newline = text.find('\n');
        const std::string_view line = trim(text.substr(0, newline));
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);

        if (line.empty() || line.front() == '#') continue;
        // The first section header ends the current config; snapshots and pending changes follow.
        if (line.front() == '[') break;

        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view key = trim(line.substr(0, colon));
        if (!key.starts_with("net") || !all_digits(key.substr(3))) continue;

        const std::string_view index_text = key.substr(3);
        if (index_text.size() > 1 && index_text.front() == '0') {
            config.problems.push_back(problem(line_number, key, "NIC index has leading zeros"));
            continue;
        }
        const auto index = parse_decimal(index_text, 2);
        if (!index || *index > naming::kMaxNicIndex) {
            config.problems.push_back(
                problem(line_number, key,
                        "NIC index out of range 0.." + std::to_string(naming::kMaxNicIndex)));
            continue;
        }

        GuestNicConfig nic;
        nic.index = *index;
        if (auto error = parse_nic_value(trim(line.substr(colon + 1)), &nic)) {
            config.problems.push_back(problem(line_number, key, *error));
            continue;
        }
        if (auto it = nics.find(nic.index); it != nics.end()) {
            config.problems.push_back(problem(it->second.line_number, key,
                                              "replaced by line " + std::to_string(line_number) +
                                                  " (the later line wins, as in Proxmox)"));
        }
        nics.insert_or_assign(nic.index, NicLine{std::move(nic), line_number});
    }

    config.nics.reserve(nics.size());
    for (auto& [index, nic_line] : nics) config.nics.push_back(std::move(nic_line.nic));
    return config;
}

std::optional<GuestConfig> read_guest_config(const std::filesystem::path& pve_root,
                                             naming::GuestKind kind, std::uint32_t vmid) {
    const std::string file_name = std::to_string(vmid) + ".conf";
    std::vector<std::filesystem::path> candidates;
    if (kind != naming::GuestKind::kVm) candidates.push_back(pve_root / "lxc" / file_name);
    if (kind != naming::GuestKind::kContainer) {
        candidates.push_back(pve_root / "qemu-server" / file_name);
    }
    for (const std::filesystem::path& path : candidates) {
        if (auto text = read_regular_file(path)) return parse_guest_config(*text);
    }
    return std::nullopt;
}

std::optional<GuestNicConfig> nic_for_ifname(const std::filesystem::path& pve_root,
                                             std::string_view ifname) {
    const auto guest_nic = naming::parse_guest_ifname(ifname);
    if (!guest_nic) return std::nullopt;
    const auto config = read_guest_config(pve_root, guest_nic->kind, guest_nic->vmid);
    if (!config) return std::nullopt;
    return nic_at(*config, guest_nic->index);
}

std::optional<GuestNicConfig> nic_at(const GuestConfig& config, std::uint32_t index) {
    for (const GuestNicConfig& nic : config.nics) {
        if (nic.index == index) return nic;
    }
    return std::nullopt;
}

}  // namespace opa::proxmox
