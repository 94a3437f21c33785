#pragma once

// Held ledger entries kept durably while the ledger cannot be written (its disk is full): one
// JSON object per line, {"action": ..., "details": ...}, appended and fsync'd as each entry is
// held, rewritten with what is left after a partial flush, removed once everything is in the
// ledger. It lives on another filesystem than the ledger (by default under /run), so that a
// SIGKILL or an OOM kill during the outage loses nothing: the next start appends what it holds
// before anything new. Library code: errors are LedgerError, nothing is logged.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/unique_fd.hpp"
#include "ledger/ledger.hpp"

namespace opa::ledger {

// What a spill file held when it was read back.
struct SpillContents {
    std::vector<NewEntry> entries;  // in the order they were held
    std::size_t bad_lines = 0;      // lines that were not entries (a torn last line), skipped
};

class SpillFile {
  public:
    // Nothing is opened or created until the first append. `max_bytes` bounds the file: an
    // entry that would take it beyond is not spilled (it stays held in memory only).
    SpillFile(std::filesystem::path path, std::uint64_t max_bytes);

    // Appends one held entry and fsyncs it. Returns false when it was not spilled because of
    // the bound; throws LedgerError when the file cannot be written.
    bool append(const NewEntry& entry);
    // Rewrites the file atomically with `entries` (what is still held); removes it when empty.
    void replace(const std::deque<NewEntry>& entries);
    // Removes the file (everything is in the ledger).
    void remove();

    const std::filesystem::path& path() const { return path_; }
    std::uint64_t bytes() const { return bytes_; }

    // Reads a spill file; empty when it does not exist. Throws LedgerError when it cannot be
    // read.
    static SpillContents read(const std::filesystem::path& path);

  private:
    std::filesystem::path path_;
    std::uint64_t max_bytes_;
    std::uint64_t bytes_ = 0;
    UniqueFd fd_;
};

// One line of a spill file (with its '\n').
std::string spill_line(const NewEntry& entry);

}  // namespace opa::ledger
