#pragma once

// Reading entries back (for the CLI and the per-port FUSE "ledger" file). Readers take no
// lock: a last line without '\n' is a writer mid-append and is skipped, not an error.
// Reading does not verify the chain; use verify() for that.

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

std::vector<Entry> read_all(const std::filesystem::path& ledger_path);

// Entries whose details.port is the string `port`.
std::vector<Entry> entries_for_port(const std::filesystem::path& ledger_path,
                                    std::string_view port);

}  // namespace opa::ledger
