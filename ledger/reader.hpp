#pragma once

// Reading entries back (for the CLI and the per-port FUSE "ledger" file). Readers take no
// lock: a last line without '\n' is a writer mid-append and is skipped, not an error.
// Reading does not verify the chain; use verify() for that.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "ledger/entry.hpp"

namespace opa::ledger {

// Calls `visit` for every complete entry, in file order. Lines that are not entries throw
// LedgerError naming path:line. v1 entries (original agent) come back with seq = their line
// number and ts = their unix time as RFC 3339 ("...T..:..:..000Z").
void for_each_entry(const std::filesystem::path& ledger_path,
                    const std::function<void(const Entry&)>& visit);

// The entry one line (without its '\n') holds; `line_number` (1-based) is a v1 entry's seq and
// names the line in the error. Throws LedgerError naming path:line.
Entry parse_line(std::string_view line, std::uint64_t line_number,
                 const std::filesystem::path& ledger_path);

// Reads the complete lines of the open ledger `fd` from byte `offset`, where line
// `lines_before + 1` starts, and calls `visit(line_offset, line_without_newline, entry)` for
// each, in file order. An unterminated last line is left for later. `ledger_path` only names
// the file in errors. Throws LedgerError (after visiting the lines before a bad one).
void for_each_entry_from(
    int fd, const std::filesystem::path& ledger_path, std::uint64_t offset,
    std::uint64_t lines_before,
    const std::function<void(std::uint64_t, std::string_view, const Entry&)>& visit);

std::vector<Entry> read_all(const std::filesystem::path& ledger_path);

// Entries whose details.port is the string `port`.
std::vector<Entry> entries_for_port(const std::filesystem::path& ledger_path,
                                    std::string_view port);

}  // namespace opa::ledger
