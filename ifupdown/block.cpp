#include "ifupdown/block.hpp"

#include <algorithm>
#include <set>

#include "agent/naming.hpp"
#include "ifupdown/parser.hpp"

namespace opa::ifupdown {
namespace {

constexpr std::size_t kMaxTagLen = 64;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

using NameSet = std::set<std::string, std::less<>>;

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::optional<std::string> name_problem(std::string_view name) {
    if (auto error = naming::ifname_error(name)) return std::string(naming::describe(*error));
    if (name.find('\\') != std::string_view::npos) {
        return std::string("contains '\\' (ifupdown2 joins lines at a backslash)");
    }
    return std::nullopt;
}

bool is_usable_name(std::string_view name) { return !name_problem(name).has_value(); }

bool all_digits(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Names Proxmox's parser takes for physical NICs: eth<N>, en*, ib*, nic<N>, if<N> (no VLAN dot).
bool looks_physical(std::string_view name) {
    if (name.find_first_of(".:") != std::string_view::npos) return false;
    if (name.starts_with("eth")) return all_digits(name.substr(3));
    if (name.starts_with("nic")) return all_digits(name.substr(3));
    if (name.starts_with("if")) return all_digits(name.substr(2));
    return (name.starts_with("en") || name.starts_with("ib")) && name.size() > 2;
}

std::optional<std::string> tag_problem(std::string_view tag) {
    if (tag.empty()) return "the block tag is empty";
    if (tag.size() > kMaxTagLen) return "the block tag is longer than 64 bytes";
    for (const char c : tag) {
        if (c <= ' ' || c >= 0x7f) {
            return "the block tag " + quoted(tag) + " contains a blank, control or non-ASCII byte";
        }
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Analysis of a file: regions, protected names, strays
// ---------------------------------------------------------------------------------------------

enum class Marker { kNone, kBegin, kEnd };

struct Region {
    std::size_t first_item = 0;
    std::size_t last_item = 0;  // inclusive
    bool complete = false;      // a BEGIN ... END pair
};

struct Analysis {
    InterfacesText parsed;
    NameSet protected_names;
    std::vector<Region> regions;  // in file order, not overlapping
    std::vector<bool> removed;    // per item: stray parts and secondary regions
    NameSet region_ports;
    NameSet stray_ports;
    std::size_t lone_markers = 0;
};

class Analyzer {
  public:
    Analyzer(std::string_view text, std::string_view tag, std::string_view bridge,
             const std::vector<Port>& ports, const ApplyOptions& options)
        : bridge_(bridge) {
        analysis_.parsed = parse_interfaces(text);
        tags_.emplace(tag);
        for (const std::string& previous : options.previous_tags) tags_.insert(previous);
        for (const Port& port : ports) managed_.insert(port.name);
        for (const std::string& name : options.previously_managed) managed_.insert(name);
    }

    Analysis run() && {
        collect_protected_names();
        find_regions();
        find_strays();
        return std::move(analysis_);
    }

  private:
    const InterfacesText& parsed() const { return analysis_.parsed; }
    const std::vector<Item>& items() const { return analysis_.parsed.items; }
    const std::vector<std::string_view>& head_words(const Item& item) const {
        return parsed().head(item).words;
    }

    Marker marker_of(const Item& item) const {
        if (item.kind != ItemKind::kComment) return Marker::kNone;
        // "# BEGIN tag", "#BEGIN tag" and extra blanks all count.
        std::vector<std::string_view> words = head_words(item);
        words.front().remove_prefix(1);
        if (words.front().empty()) words.erase(words.begin());
        if (words.size() != 2 || !tags_.contains(words[1])) return Marker::kNone;
        if (words[0] == "BEGIN") return Marker::kBegin;
        if (words[0] == "END") return Marker::kEnd;
        return Marker::kNone;
    }

    void collect_protected_names() {
        static constexpr std::string_view kMemberKeys[] = {
            "ovs_ports", "ovs-ports", "ovs_bonds", "ovs-bonds", "bridge_ports", "bridge-ports",
        };
        analysis_.protected_names.emplace(bridge_);
        for (const Item& item : items()) {
            for (const std::size_t line : item.option_lines) {
                const std::vector<std::string_view>& words = parsed().lines[line].words;
                if (std::find(std::begin(kMemberKeys), std::end(kMemberKeys), words.front()) ==
                    std::end(kMemberKeys)) {
                    continue;
                }
                for (std::size_t i = 1; i < words.size(); ++i) {
                    analysis_.protected_names.emplace(words[i]);
                }
            }
        }
    }

    bool is_protected(std::string_view name) const {
        return analysis_.protected_names.contains(name);
    }

    // The port name when `item` is an our-shaped stanza (see block.hpp).
    std::optional<std::string_view> our_shaped_port(const Item& item) const {
        if (item.kind != ItemKind::kIface || !item.interior_comment_lines.empty()) {
            return std::nullopt;
        }
        const std::vector<std::string_view>& head = head_words(item);
        if (head.size() != 4 || head[2] != "inet" || head[3] != "manual") return std::nullopt;
        bool seen_type = false;
        bool seen_bridge = false;
        bool seen_options = false;
        for (const std::size_t line : item.option_lines) {
            const std::vector<std::string_view>& words = parsed().lines[line].words;
            if (words[0] == "ovs_type" && !seen_type) {
                if (words.size() != 2 || words[1] != "OVSPort") return std::nullopt;
                seen_type = true;
            } else if (words[0] == "ovs_bridge" && !seen_bridge) {
                if (words.size() != 2 || words[1] != bridge_) return std::nullopt;
                seen_bridge = true;
            } else if (words[0] == "ovs_options" && !seen_options) {
                if (words.size() < 2) return std::nullopt;
                seen_options = true;
            } else {
                return std::nullopt;
            }
        }
        if (!seen_type || !seen_bridge) return std::nullopt;
        const std::string_view name = head[1];
        if (!is_usable_name(name) || is_protected(name)) return std::nullopt;
        return name;
    }

    // Names of an allow-<bridge> line, or nullopt for any other line or a protected name.
    std::optional<std::vector<std::string_view>> bridge_allow_names(const Item& item) const {
        if (item.kind != ItemKind::kAllow) return std::nullopt;
        const std::vector<std::string_view>& words = head_words(item);
        if (allow_class(words.front()) != bridge_ || words.size() < 2) return std::nullopt;
        std::vector<std::string_view> names(words.begin() + 1, words.end());
        for (const std::string_view name : names) {
            if (!is_usable_name(name) || is_protected(name)) return std::nullopt;
        }
        return names;
    }

    // An our-shaped stanza joins a run next to a lone marker unless it looks like a physical NIC
    // we do not manage: an administrator's NIC missing from ovs_ports must not be swallowed.
    std::optional<std::string_view> run_port(const Item& item) const {
        auto port = our_shaped_port(item);
        if (port && looks_physical(*port) && !managed_.contains(*port)) return std::nullopt;
        return port;
    }

    bool may_join_run(const Item& item) const {
        return item.kind == ItemKind::kBlank || run_port(item) ||
               bridge_allow_names(item).has_value();
    }

    // An allow line stays in a run when each name is a stanza of the run or a managed port.
    bool allow_fits_run(const Item& item, const NameSet& run_ports) const {
        const std::optional<std::vector<std::string_view>> names = bridge_allow_names(item);
        for (const std::string_view name : *names) {
            if (!run_ports.contains(name) && !managed_.contains(name)) return false;
        }
        return true;
    }

    NameSet run_ports(std::size_t first, std::size_t last) const {
        NameSet names;
        for (std::size_t i = first; i <= last; ++i) {
            if (auto port = run_port(items()[i])) names.emplace(*port);
        }
        return names;
    }

    // A BEGIN whose END was lost: BEGIN plus the run of our lines after it, before `limit`.
    Region forward_run(std::size_t begin, std::size_t limit) const {
        std::size_t end = begin;
        while (end + 1 < limit && may_join_run(items()[end + 1])) ++end;
        const NameSet ports = run_ports(begin, end);
        std::size_t last = begin;
        for (std::size_t i = begin + 1; i <= end; ++i) {
            const Item& item = items()[i];
            if (item.kind == ItemKind::kAllow && !allow_fits_run(item, ports)) break;
            if (item.kind != ItemKind::kBlank) last = i;  // trailing blanks stay outside
        }
        return Region{begin, last, false};
    }

    // An END whose BEGIN was dropped: END plus the run of our lines before it, from `floor`.
    Region backward_run(std::size_t end, std::size_t floor) const {
        std::size_t begin = end;
        while (begin > floor && may_join_run(items()[begin - 1])) --begin;
        const NameSet ports = run_ports(begin, end);
        std::size_t first = end;
        for (std::size_t i = end; i-- > begin;) {
            const Item& item = items()[i];
            if (item.kind == ItemKind::kAllow && !allow_fits_run(item, ports)) break;
            if (item.kind != ItemKind::kBlank) first = i;  // leading blanks stay outside
        }
        return Region{first, end, false};
    }

    void find_regions() {
        // A sentinel rather than std::optional: GCC 12 at -O2 warns (falsely) that the
        // optional's value may be used uninitialized, and warnings are errors here.
        constexpr std::size_t kNoBegin = static_cast<std::size_t>(-1);
        std::size_t open_begin = kNoBegin;
        auto floor = [this] {
            return analysis_.regions.empty() ? 0 : analysis_.regions.back().last_item + 1;
        };
        for (std::size_t i = 0; i < items().size(); ++i) {
            const Marker marker = marker_of(items()[i]);
            if (marker == Marker::kBegin) {
                if (open_begin != kNoBegin) add_region(forward_run(open_begin, i));
                open_begin = i;
            } else if (marker == Marker::kEnd) {
                if (open_begin != kNoBegin) {
                    add_region(Region{open_begin, i, true});
                    open_begin = kNoBegin;
                } else {
                    add_region(backward_run(i, floor()));
                }
            }
        }
        if (open_begin != kNoBegin) add_region(forward_run(open_begin, items().size()));
    }

    void add_region(const Region& region) {
        if (!region.complete) ++analysis_.lone_markers;
        analysis_.regions.push_back(region);
        for (std::size_t i = region.first_item; i <= region.last_item; ++i) {
            const Item& item = items()[i];
            const std::vector<std::string_view>& words = head_words(item);
            if (item.kind == ItemKind::kIface && words.size() >= 2 && is_usable_name(words[1]) &&
                !is_protected(words[1])) {
                analysis_.region_ports.emplace(words[1]);
            } else if (auto names = bridge_allow_names(item)) {
                analysis_.region_ports.insert(names->begin(), names->end());
            }
        }
    }

    void find_strays() {
        NameSet ours = managed_;
        ours.insert(analysis_.region_ports.begin(), analysis_.region_ports.end());
        auto all_ours = [&](const Item& item) {
            const std::vector<std::string_view>& words = head_words(item);
            if (words.size() < 2) return false;
            for (std::size_t i = 1; i < words.size(); ++i) {
                if (!ours.contains(words[i]) || is_protected(words[i])) return false;
            }
            return true;
        };

        std::vector<bool> in_region(items().size(), false);
        for (const Region& region : analysis_.regions) {
            for (std::size_t i = region.first_item; i <= region.last_item; ++i) in_region[i] = true;
        }
        analysis_.removed.assign(items().size(), false);
        for (std::size_t i = 0; i < items().size(); ++i) {
            if (in_region[i]) continue;
            const Item& item = items()[i];
            if (auto port = our_shaped_port(item); port && ours.contains(*port)) {
                analysis_.removed[i] = true;
                analysis_.stray_ports.emplace(*port);
            } else if ((bridge_allow_names(item) || item.kind == ItemKind::kAuto) &&
                       all_ours(item)) {
                analysis_.removed[i] = true;
            }
        }
    }

    std::string_view bridge_;
    NameSet tags_;
    NameSet managed_;
    Analysis analysis_;
};

Analysis analyze(std::string_view text, std::string_view tag, std::string_view bridge,
                 const std::vector<Port>& ports, const ApplyOptions& options) {
    return Analyzer(text, tag, bridge, ports, options).run();
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

bool ends_with_blank_line(std::string_view out) {
    if (out.empty()) return true;  // start of file: nothing to separate from
    if (out.back() != '\n') return false;
    out.remove_suffix(1);
    const std::size_t start = out.rfind('\n') == std::string_view::npos ? 0 : out.rfind('\n') + 1;
    return out.substr(start).find_first_not_of(" \t\r") == std::string_view::npos;
}

std::vector<std::string> sorted_names(const NameSet& names) {
    return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace

std::optional<std::string> validate_block_input(std::string_view tag, std::string_view bridge,
                                                const std::vector<Port>& ports) {
    if (auto problem = tag_problem(tag)) return problem;
    if (auto problem = name_problem(bridge)) {
        return "bridge name " + quoted(bridge) + " is not a valid interface name: " + *problem;
    }
    NameSet seen;
    for (const Port& port : ports) {
        if (auto problem = name_problem(port.name)) {
            return "port name " + quoted(port.name) + " is not a valid interface name: " + *problem;
        }
        if (port.name == bridge) return "port " + quoted(port.name) + " is named like the bridge";
        if (!seen.insert(port.name).second) {
            return "port " + quoted(port.name) + " is listed twice";
        }
        if (auto problem = port.tag ? vlan::tag_error(*port.tag) : std::nullopt) {
            return "port " + quoted(port.name) + ": " + *problem;
        }
        for (const VlanRange& range : port.trunks) {
            if (auto problem = vlan::trunk_range_error(range.first, range.last)) {
                return "port " + quoted(port.name) + ": " + *problem;
            }
        }
    }
    return std::nullopt;
}

std::string render_ovs_options(const Port& port) {
    std::string options;
    if (port.tag) options = "tag=" + std::to_string(*port.tag);
    if (!port.trunks.empty()) {
        if (!options.empty()) options += ' ';
        options += "trunks=";
        for (std::size_t i = 0; i < port.trunks.size(); ++i) {
            const VlanRange& range = port.trunks[i];
            if (i > 0) options += ',';
            options += std::to_string(range.first);
            if (range.last != range.first) options += "-" + std::to_string(range.last);
        }
    }
    return options;
}

std::string render_block(std::string_view tag, std::string_view bridge, std::vector<Port> ports) {
    if (auto problem = validate_block_input(tag, bridge, ports)) throw InvalidInputError(*problem);
    std::sort(ports.begin(), ports.end(),
              [](const Port& a, const Port& b) { return a.name < b.name; });
    std::string block = "# BEGIN " + std::string(tag) + "\n";
    for (std::size_t i = 0; i < ports.size(); ++i) {
        const Port& port = ports[i];
        if (i > 0) block += '\n';
        block += "allow-" + std::string(bridge) + " " + port.name + "\n";
        block += "iface " + port.name + " inet manual\n";
        block += "\tovs_type OVSPort\n";
        block += "\tovs_bridge " + std::string(bridge) + "\n";
        if (const std::string options = render_ovs_options(port); !options.empty()) {
            block += "\tovs_options " + options + "\n";
        }
    }
    block += "# END " + std::string(tag) + "\n";
    return block;
}

std::string apply_block(std::string_view existing, std::string_view tag, std::string_view bridge,
                        const std::vector<Port>& ports, const ApplyOptions& options) {
    const std::string block = render_block(tag, bridge, ports);  // validates
    const Analysis analysis = analyze(existing, tag, bridge, ports, options);
    const InterfacesText& parsed = analysis.parsed;
    const std::vector<Item>& items = parsed.items;

    std::vector<bool> removed = analysis.removed;
    std::size_t position = kNone;       // item where the block goes; kNone: end of file
    std::size_t replaced_last = kNone;  // last item of a complete pair replaced byte for byte
    for (std::size_t r = 0; r < analysis.regions.size(); ++r) {
        const Region& region = analysis.regions[r];
        if (r == 0 && region.complete) {
            replaced_last = region.last_item;
        } else {
            for (std::size_t i = region.first_item; i <= region.last_item; ++i) removed[i] = true;
        }
    }
    if (!analysis.regions.empty()) {
        position = analysis.regions.front().first_item;
    } else {
        const auto first_removed = std::find(removed.begin(), removed.end(), true);
        if (first_removed != removed.end()) position = first_removed - removed.begin();
    }
    // An option line with no stanza of its own right after the block (past blank and comment
    // lines) would make the block's lines interior lines of the stanza above (parser.hpp), and the
    // next apply would not find the block again. ifupdown2 rejects such a file anyway; the block
    // (and a pair that stood there) then goes to the end of the file.
    if (position != kNone) {
        const std::size_t after_block = replaced_last != kNone ? replaced_last + 1 : position;
        bool stray_option_follows = false;
        for (std::size_t i = after_block; i < items.size(); ++i) {
            if (removed[i] || items[i].kind == ItemKind::kBlank ||
                items[i].kind == ItemKind::kComment)
                continue;
            stray_option_follows = items[i].kind == ItemKind::kStrayOption;
            break;
        }
        if (stray_option_follows) {
            if (replaced_last != kNone) {
                for (std::size_t i = position; i <= replaced_last; ++i) removed[i] = true;
                replaced_last = kNone;
            }
            position = kNone;
        }
    }

    std::string out;
    out.reserve(existing.size() + block.size() + 2);
    bool separate_next = false;         // a blank line is owed between the block and what follows
    bool blank_or_start_before = true;  // the last kept thing is a blank line or the file start
    bool dropping_blanks = false;       // blanks after a removed part are being dropped
    auto place_block_with_blank_lines = [&] {
        if (!out.empty() && out.back() != '\n') out += '\n';
        if (!ends_with_blank_line(out)) out += '\n';
        out += block;
        separate_next = true;
        blank_or_start_before = true;
    };

    for (std::size_t i = 0; i < items.size(); ++i) {
        const Item& item = items[i];
        if (i == position) {
            if (replaced_last != kNone) {
                out += block;
                i = replaced_last;
                blank_or_start_before = false;
                dropping_blanks = false;
                continue;
            }
            place_block_with_blank_lines();
        }
        if (removed[i]) {
            if (blank_or_start_before) dropping_blanks = true;
            continue;
        }
        const bool blank = item.kind == ItemKind::kBlank;
        if (blank && dropping_blanks) continue;
        if (separate_next && !blank) out += '\n';
        separate_next = false;
        dropping_blanks = false;
        blank_or_start_before = blank;
        out.append(parsed.text.substr(parsed.begin_offset(item),
                                      parsed.end_offset(item) - parsed.begin_offset(item)));
    }
    if (position == kNone) place_block_with_blank_lines();
    return out;
}

BlockScan scan_block(std::string_view text, std::string_view tag, std::string_view bridge,
                     const std::vector<Port>& ports, const ApplyOptions& options) {
    if (auto problem = validate_block_input(tag, bridge, ports)) throw InvalidInputError(*problem);
    const Analysis analysis = analyze(text, tag, bridge, ports, options);
    BlockScan scan;
    for (const Region& region : analysis.regions) {
        if (region.complete) ++scan.complete_blocks;
    }
    scan.lone_markers = analysis.lone_markers;
    scan.block_ports = sorted_names(analysis.region_ports);
    scan.stray_ports = sorted_names(analysis.stray_ports);
    scan.protected_names = sorted_names(analysis.protected_names);
    return scan;
}

}  // namespace opa::ifupdown
