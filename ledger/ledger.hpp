#pragma once

// Append-only, SHA-256 hash-chained JSONL ledger. One Ledger object per path and process is
// the normal use; several objects, threads and processes may append to the same file at once.
// The file format and hash rule are documented in README "Ledger" and in entry.hpp.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/unique_fd.hpp"
#include "ledger/entry.hpp"
#include "ledger/reader.hpp"
#include "ledger/sha256.hpp"
#include "ledger/verify.hpp"

namespace opa::ledger {

// The last entry written, as mirrored in "<ledger>.head".
struct ChainHead {
    std::uint64_t seq = 0;
    std::string hash{kGenesisPrevHash};
};

// What opening the ledger repaired: a torn last line (a crash mid-write) moved aside.
struct Recovery {
    std::filesystem::path moved_to;
    std::uint64_t moved_bytes = 0;
    std::string reason;
    std::uint64_t recorded_at_seq = 0;  // seq of the "ledger_recovered" entry
};

std::filesystem::path head_path_for(const std::filesystem::path& ledger_path);

// One entry to append: its action and details (a JSON object; null is taken as {}).
struct NewEntry {
    std::string action;
    nlohmann::json details = nlohmann::json::object();
};

class Ledger {
  public:
    // Creates missing directories (0750) and the file (0640), repairs a torn last line.
    // Throws LedgerError.
    explicit Ledger(std::filesystem::path path);
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    // Appends one entry and returns it once it is on disk (fsync'd). Thread-safe; concurrent
    // callers share one write+fsync (group commit). `details` must be a JSON object (null is
    // taken as {}). Throws LedgerError.
    Entry append(std::string_view action, nlohmann::json details = nlohmann::json::object());
    // Appends `entries` in this order, next to each other, with one write and one fsync: all of
    // them reach the file or none does (a failed write is truncated away). Throws
    // InvalidEntryError, before anything is written, for an entry that can never be written;
    // LedgerError (with the errno) when the file cannot be written.
    std::vector<Entry> append_all(std::vector<NewEntry> entries);

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    // The newest entry this object has written or seen.
    [[nodiscard]] ChainHead head() const;
    // Set when the constructor repaired a torn tail.
    [[nodiscard]] const std::optional<Recovery>& recovery() const noexcept { return recovery_; }
    // Why "<ledger>.head" could not be replaced after the last append (e.g. the disk is full),
    // or empty when it is current. The entries themselves were written and fsync'd: a head file
    // that lags behind the ledger is a note for `verify`, not a failure, and the next append
    // brings it up to date.
    [[nodiscard]] std::string head_error() const;

  private:
    struct PendingAppend;
    struct TailState;

    // Leader only: writes `batch` (plus a recovery entry if the tail is torn) under flock.
    // Returns the repair it made, if any.
    std::optional<Recovery> commit(const std::vector<PendingAppend*>& batch);
    TailState scan_tail(off_t file_size);
    Recovery move_torn_tail_aside(const TailState& tail, off_t file_size);

    const std::filesystem::path path_;
    const std::filesystem::path head_path_;
    UniqueFd fd_;

    // Guards the queue and leader flag. Lock order: queue_mutex_ is never held while the
    // file lock (flock) is taken; the leader drops it before touching the file.
    mutable std::mutex queue_mutex_;
    std::condition_variable queue_changed_;
    std::vector<PendingAppend*> queue_;
    bool leader_active_ = false;
    ChainHead published_head_;          // copy of last_seq_/last_hash_ for head()
    std::string published_head_error_;  // copy of head_error_ for head_error()

    // Owned by the current leader (or the constructor); published through queue_mutex_.
    off_t known_size_ = -1;  // file size after our last write; -1 = never looked
    std::uint64_t last_seq_ = 0;
    std::string last_hash_{kGenesisPrevHash};
    Sha256 sha_;
    std::optional<Recovery> recovery_;
    std::string head_error_;
};

}  // namespace opa::ledger
