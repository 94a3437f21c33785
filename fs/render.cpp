#include "fs/render.hpp"

#include <charconv>

#include "ledger/entry.hpp"

namespace opa::fs {

std::string render_state(const agent::Port& port) {
    return std::string(agent::to_string(port.state)) + "\n";
}

std::string render_time(std::chrono::system_clock::time_point when) {
    return ledger::format_utc_timestamp(when);
}

std::string render_info(const agent::Port& port, std::string_view bridge) {
    std::string text;
    auto line = [&](std::string_view key, std::string_view value) {
        text.append(key).append(" = ").append(value).append("\n");
    };
    line("bridge", bridge);
    line("interface", port.name);
    line("kind", agent::to_string(port.kind));
    line("vmid", port.options.vmid ? std::to_string(*port.options.vmid) : "");
    line("tag", port.options.tag ? std::to_string(*port.options.tag) : "");
    line("origin", agent::to_string(port.origin));
    line("state", agent::to_string(port.state));
    line("link", port.link_present ? "present" : "absent");
    line("port_uuid", port.port_uuid);
    line("member_uuid", port.member_uuid);
    line("since", render_time(port.since));
    line("created", render_time(port.created));
    return text;
}

std::string render_tag(const agent::Port& port) {
    return port.options.tag ? std::to_string(*port.options.tag) + "\n" : std::string();
}

std::string render_last_error(std::string_view error) {
    if (error.empty()) return {};
    std::string text(error);
    if (text.back() != '\n') text.push_back('\n');
    return text;
}

std::string render_bridge(std::string_view bridge, std::string_view state) {
    std::string text(bridge);
    text.append(" ").append(state.empty() ? "unknown" : state).append("\n");
    return text;
}

TagRequest parse_tag_write(std::string_view text) {
    const std::string_view original = text;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    if (text.empty()) return {};  // `echo > tag`: untagged
    std::uint16_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        std::string shown(original.substr(0, 64));
        while (!shown.empty() && blank(shown.back())) shown.pop_back();
        return {std::nullopt, "invalid VLAN tag '" + shown +
                                  "': write a number 0..4094, or an empty line for untagged"};
    }
    return {value, {}};
}

}  // namespace opa::fs
