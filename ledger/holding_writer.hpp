#pragma once

// Appends to a Ledger and, while the file cannot be written (its disk is full, ...), keeps what
// could not be appended in memory, in order, to append it as soon as the file can be written
// again: at the next record(), or when the caller calls flush() (the daemon does so every few
// seconds while entries are held). Nothing is lost unless more than `max_held` entries pile up;
// those beyond are counted as dropped.
//
// An entry written late keeps the time it was recorded (when its append failed and it was kept)
// in its details, as "held_since" (RFC 3339 UTC, like "ts"); its "ts" is the time it was written,
// so the chain format is unchanged. Held entries' times rise in the order they are written. After
// the last held entry comes one "ledger_recovered" entry: {held, dropped, down_ms, error, since}
// (error: the first failure's text; since: when the outage began).
//
// Order: entries are written in the order their record() calls returned. Calls that overlap
// (several threads) are ordered by the ledger, as without holding.
//
// Library code: nothing is logged. Each call says what happened (an outage began, dropping
// began, an outage ended) so that the caller can report it once.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ledger/ledger.hpp"
#include "ledger/spill_file.hpp"

namespace opa::ledger {

struct HoldingOptions {
    std::size_t max_held = 10000;   // entries kept in memory; further ones are counted as dropped
    std::size_t flush_chunk = 256;  // held entries written per write+fsync when flushing
    // Where held entries are also kept on disk (spill_file.hpp), so that a crash during the
    // outage loses none of them; empty: in memory only.
    std::filesystem::path spill_path;
    std::uint64_t spill_max_bytes = 16 * 1024 * 1024;
};

// Entries are held: the file could not be written since `since`.
struct Outage {
    std::string first_error;  // the failure that began the outage
    std::string error;        // the latest failure
    int error_number = 0;     // the latest failure's errno (EIO when it named none)
    std::chrono::system_clock::time_point since;
    std::size_t held = 0;
    std::uint64_t dropped = 0;
};

// An outage that ended: every held entry was written, then a "ledger_recovered" entry.
struct OutageEnd {
    std::size_t held = 0;  // entries written late
    std::uint64_t dropped = 0;
    std::chrono::milliseconds down{0};
    std::string error;                // the failure that began the outage
    std::uint64_t recovered_seq = 0;  // seq of the "ledger_recovered" entry
};

// What replay_spill() found and did.
struct SpillReplay {
    std::size_t read = 0;             // entries in the spill file
    std::size_t already_written = 0;  // of them, found in the ledger already (not again)
    std::size_t bad_lines = 0;        // lines that were not entries (a torn last line)
    std::optional<OutageEnd> ended;   // they were written, then "ledger_recovered"
    std::string error;                // why the spill file could not be read
};

struct HoldResult {
    enum class Kind {
        Written,  // appended now
        Held,     // kept in memory, written later
        Dropped,  // more than max_held are held: counted, not kept
        Invalid,  // can never be written (details not an object, not UTF-8): not kept
    };
    Kind kind = Kind::Written;
    std::string error;               // why not written now (Held, Dropped, Invalid)
    std::string spill_error;         // Held, but not on disk: why (the entry is in memory only)
    bool outage_began = false;       // this entry's failure began an outage
    bool dropping_began = false;     // this entry is the outage's first dropped one
    std::optional<OutageEnd> ended;  // the held entries were written during this call
};

struct FlushResult {
    std::optional<OutageEnd> ended;  // an outage ended during this call
    std::optional<Outage> outage;    // entries are still held
};

class HoldingWriter {
  public:
    explicit HoldingWriter(Ledger& ledger, HoldingOptions options = {});
    HoldingWriter(const HoldingWriter&) = delete;
    HoldingWriter& operator=(const HoldingWriter&) = delete;

    // Appends one entry; while entries are held, tries to write them first, and holds this one
    // behind them if that fails. Thread-safe. Never throws except std::bad_alloc.
    HoldResult record(std::string_view action, nlohmann::json details);

    // Tries to write what is held, in order (a no-op when nothing is). Thread-safe.
    FlushResult flush();

    // At start, before anything new: the entries an earlier run held in the spill file are
    // written (those the ledger has already, from a crash right after their flush, are not
    // written twice), then "ledger_recovered" with "spill": the path. While the ledger still
    // cannot be written they stay held, in the file too. Never throws except std::bad_alloc.
    SpillReplay replay_spill();

    // True while entries are held (or dropped and not yet accounted for). Cheap.
    [[nodiscard]] bool holding() const noexcept { return holding_.load(std::memory_order_acquire); }
    [[nodiscard]] std::optional<Outage> outage() const;
    [[nodiscard]] Ledger& ledger() noexcept { return ledger_; }

  private:
    struct Failure {
        std::string text;
        int error_number = 0;
    };
    // mutex_ held. Keeps the entry (or counts it dropped), beginning an outage if none is on.
    void hold_locked(std::string_view action, nlohmann::json details, const Failure& failure,
                     HoldResult& result);
    // mutex_ held. Writes held entries chunk by chunk; true when the outage ended.
    bool flush_locked(std::optional<OutageEnd>& ended);
    // Appends one entry; on failure fills `failure` and returns false.
    bool try_append(std::string_view action, const nlohmann::json& details, Failure& failure,
                    HoldResult& result);

    Ledger& ledger_;
    const HoldingOptions options_;
    std::optional<SpillFile> spill_;  // set when options_.spill_path is

    // Guards everything below. Never held by a thread waiting for another one's lock; the
    // ledger's own locks are taken under it (lock order: mutex_, then the ledger's).
    mutable std::mutex mutex_;
    std::atomic<bool> holding_{false};
    std::deque<NewEntry> held_;
    std::optional<Outage> outage_;
    std::chrono::steady_clock::time_point down_since_{};
    std::size_t written_late_ = 0;  // held entries of this outage written already
    bool from_spill_ = false;       // this outage's entries came from an earlier run's spill
};

}  // namespace opa::ledger
