// Fuzz target: ifupdown/ (the /etc/network/interfaces parser and the agent's bounded block).
// The input's last bytes choose the tag, bridge, ports and options; the rest is the file.
// Properties, from parser.hpp and block.hpp:
// - the parser's lines tile the text exactly, and its items tile the lines;
// - apply_block throws InvalidInputError exactly when validate_block_input objects, and
//   nothing else;
// - its result holds exactly one clean block listing the ports, rendered as render_block does,
//   and applying again changes nothing (idempotence);
// - comments that are not markers are kept, in order, unless inside the BEGIN...END pair.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "ifupdown/block.hpp"
#include "ifupdown/parser.hpp"

namespace ifu = opa::ifupdown;

namespace {

void check_parse(std::string_view text) {
    const ifu::InterfacesText parsed = ifu::parse_interfaces(text);
    std::size_t offset = 0;
    for (const ifu::Line& line : parsed.lines) {
        FUZZ_CHECK(line.offset == offset);
        FUZZ_CHECK(line.size > 0);
        const std::string_view bytes = text.substr(line.offset, line.size);
        const bool has_newline = bytes.back() == '\n';
        FUZZ_CHECK(bytes.substr(0, bytes.size() - (has_newline ? 1 : 0)) == line.content);
        FUZZ_CHECK(line.content.find('\n') == std::string_view::npos);
        if (!has_newline) FUZZ_CHECK(line.offset + line.size == text.size());
        for (const std::string_view word : line.words) {
            FUZZ_CHECK(!word.empty());
            FUZZ_CHECK(word.find_first_of(" \t\r\n") == std::string_view::npos);
        }
        offset += line.size;
    }
    FUZZ_CHECK(offset == text.size());
    std::size_t next_line = 0;
    for (const ifu::Item& item : parsed.items) {
        FUZZ_CHECK(item.first_line == next_line);
        FUZZ_CHECK(item.first_line <= item.last_line && item.last_line < parsed.lines.size());
        for (const std::size_t line : item.option_lines)
            FUZZ_CHECK(line > item.first_line && line <= item.last_line);
        for (const std::size_t line : item.interior_comment_lines) {
            FUZZ_CHECK(line > item.first_line && line < item.last_line);
            FUZZ_CHECK(parsed.lines[line].is_comment());
        }
        next_line = item.last_line + 1;
    }
    FUZZ_CHECK(next_line == parsed.lines.size());
}

bool is_marker(const ifu::InterfacesText& parsed, const ifu::Item& item,
               const std::set<std::string_view>& tags) {
    if (item.kind != ifu::ItemKind::kComment) return false;
    std::vector<std::string_view> words = parsed.head(item).words;
    words.front().remove_prefix(1);
    if (words.front().empty()) words.erase(words.begin());
    return words.size() == 2 && (words[0] == "BEGIN" || words[0] == "END") &&
           tags.contains(words[1]);
}

// Comment lines of `text` that apply_block must keep: every non-marker comment, except those
// inside the one BEGIN...END pair (callers make sure there is at most one pair and no lone
// marker).
std::vector<std::string_view> kept_comments(std::string_view text,
                                            const std::set<std::string_view>& tags) {
    const ifu::InterfacesText parsed = ifu::parse_interfaces(text);
    std::vector<std::string_view> comments;
    bool inside_pair = false;
    for (const ifu::Item& item : parsed.items) {
        if (is_marker(parsed, item, tags)) {
            inside_pair = !inside_pair;
            continue;
        }
        if (inside_pair) continue;
        for (std::size_t line = item.first_line; line <= item.last_line; ++line) {
            if (parsed.lines[line].is_comment()) comments.push_back(parsed.lines[line].content);
        }
    }
    return comments;
}

bool is_subsequence(const std::vector<std::string_view>& needles, std::string_view text) {
    const ifu::InterfacesText parsed = ifu::parse_interfaces(text);
    std::size_t next = 0;
    for (const ifu::Line& line : parsed.lines) {
        if (next < needles.size() && line.content == needles[next]) ++next;
    }
    return next == needles.size();
}

std::string pick(FuzzedDataProvider& input, const std::vector<std::string>& pool) {
    const auto choice = input.ConsumeIntegralInRange<std::size_t>(0, pool.size());
    if (choice < pool.size()) return pool[choice];
    return input.ConsumeRandomLengthString(18);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<std::string> kTags = {"ovs-port-agent", "ovs-port-agent", "old-tag",
                                                   "opa"};
    static const std::vector<std::string> kBridges = {"ovsbr0", "ovsbr0", "vmbr0", "ovsbr1"};
    static const std::vector<std::string> kNames = {
        "vi100", "vi101",  "vi100i1", "veth100i0", "tap101i0",  "eth0",
        "eth1",  "enp3s0", "ovsbr0",  "vmbr0",     "fwln100o0", "vi999999999i31"};

    FuzzedDataProvider input(data, size);
    const std::string tag = pick(input, kTags);
    const std::string bridge = pick(input, kBridges);
    std::vector<ifu::Port> ports(input.ConsumeIntegralInRange<std::size_t>(0, 4));
    for (ifu::Port& port : ports) {
        port.name = pick(input, kNames);
        if (input.ConsumeBool()) port.tag = input.ConsumeIntegralInRange<std::uint16_t>(0, 4100);
        const auto trunks = input.ConsumeIntegralInRange<std::size_t>(0, 2);
        for (std::size_t i = 0; i < trunks; ++i) {
            const auto first = input.ConsumeIntegralInRange<std::uint16_t>(0, 4100);
            const auto last = input.ConsumeIntegralInRange<std::uint16_t>(0, 4100);
            port.trunks.push_back({first, last});
        }
    }
    ifu::ApplyOptions options;
    for (std::size_t i = input.ConsumeIntegralInRange<std::size_t>(0, 2); i > 0; --i)
        options.previously_managed.push_back(pick(input, kNames));
    if (input.ConsumeBool()) options.previous_tags.push_back(pick(input, kTags));
    const std::string text = input.ConsumeRemainingBytesAsString();

    check_parse(text);

    const auto invalid = ifu::validate_block_input(tag, bridge, ports);
    std::string out;
    try {
        out = ifu::apply_block(text, tag, bridge, ports, options);
    } catch (const ifu::InvalidInputError&) {
        FUZZ_CHECK(invalid.has_value());
        return 0;
    }
    FUZZ_CHECK(!invalid.has_value());
    check_parse(out);

    const std::string block = ifu::render_block(tag, bridge, ports);
    // The block starts a line (the file may hold the same bytes mid-line too).
    std::size_t at = out.find(block);
    while (at != std::string::npos && at != 0 && out[at - 1] != '\n') at = out.find(block, at + 1);
    FUZZ_CHECK(at != std::string::npos);

    FUZZ_CHECK(ifu::apply_block(out, tag, bridge, ports, options) == out);

    const ifu::BlockScan after = ifu::scan_block(out, tag, bridge, ports, options);
    FUZZ_CHECK(after.clean());
    std::vector<std::string> names;
    // A port named like a protected name (a bridge member) is written but never counted as ours.
    for (const ifu::Port& port : ports) {
        if (!std::binary_search(after.protected_names.begin(), after.protected_names.end(),
                                port.name))
            names.push_back(port.name);
    }
    std::sort(names.begin(), names.end());
    FUZZ_CHECK(after.block_ports == names);

    const ifu::BlockScan before = ifu::scan_block(text, tag, bridge, ports, options);
    if (before.lone_markers == 0 && before.complete_blocks <= 1) {
        std::set<std::string_view> tags = {tag};
        for (const std::string& previous : options.previous_tags) tags.insert(previous);
        FUZZ_CHECK(is_subsequence(kept_comments(text, tags), out));
    }
    return 0;
}
