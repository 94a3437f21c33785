// The text of the tree's attribute files, and the parsing of what is written to them. Pure
// functions over core snapshots: no I/O, no locks, no FUSE.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/core.hpp"

namespace opa::fs {

// "activated\n"
std::string render_state(const agent::Port& port);
// "key = value" lines, always the same keys in the same order; an unknown value is empty.
std::string render_info(const agent::Port& port, std::string_view bridge);
// "10\n", or "" when the port is untagged.
std::string render_tag(const agent::Port& port);
// "" when there is no error, otherwise the text and a newline.
std::string render_last_error(std::string_view error);
// "ovsbr0 activated\n"
std::string render_bridge(std::string_view bridge, std::string_view state);
// "2026-11-25T18:32:31.123Z"
std::string render_time(std::chrono::system_clock::time_point when);

// What a write to `tag` asks for: a tag, or untagged (an empty or blank write).
struct TagRequest {
    std::optional<std::uint16_t> tag;
    std::string error;  // non-empty: the write is refused (EINVAL) with this text
};
// Accepts optional surrounding blanks and one trailing newline around a decimal number, or
// nothing at all. Range checks beyond "fits 16 bits" are the core's (0..4094).
TagRequest parse_tag_write(std::string_view text);

}  // namespace opa::fs
