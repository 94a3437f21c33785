#include "ledger/holding_writer.hpp"

#include "ledger/reader.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <iterator>
#include <set>
#include <utility>
#include <vector>

namespace opa::ledger {

using nlohmann::json;

HoldingWriter::HoldingWriter(Ledger& ledger, HoldingOptions options)
    : ledger_(ledger), options_(std::move(options)) {
    if (!options_.spill_path.empty()) spill_.emplace(options_.spill_path, options_.spill_max_bytes);
}

std::optional<Outage> HoldingWriter::outage() const {
    std::lock_guard lock(mutex_);
    return outage_;
}

bool HoldingWriter::try_append(std::string_view action, const json& details, Failure& failure,
                               HoldResult& result) {
    try {
        ledger_.append(action, details);
        return true;
    } catch (const InvalidEntryError& error) {
        result.kind = HoldResult::Kind::Invalid;
        result.error = error.what();
        return true;  // nothing to hold: it would fail the same way every time
    } catch (const LedgerError& error) {
        failure = {error.what(), error.error_number()};
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& error) {
        failure = {std::string("ledger: ") + error.what(), 0};
    }
    return false;
}

HoldResult HoldingWriter::record(std::string_view action, json details) {
    HoldResult result;
    if (holding()) {
        std::lock_guard lock(mutex_);
        if (outage_ && !flush_locked(result.ended)) {
            hold_locked(action, std::move(details), {outage_->error, outage_->error_number},
                        result);
            return result;
        }
    }
    Failure failure;
    if (try_append(action, details, failure, result)) return result;
    std::lock_guard lock(mutex_);
    hold_locked(action, std::move(details), failure, result);
    return result;
}

void HoldingWriter::hold_locked(std::string_view action, json details, const Failure& failure,
                                HoldResult& result) {
    // Taken under the lock, so that held entries' times rise in the order they are kept (and
    // written), also when several threads record at once.
    const auto when = std::chrono::system_clock::now();
    const int error_number = failure.error_number != 0 ? failure.error_number : EIO;
    if (!outage_) {
        outage_ = Outage{failure.text, failure.text, error_number, when, 0, 0};
        down_since_ = std::chrono::steady_clock::now();
        written_late_ = 0;
        result.outage_began = true;
    } else {
        outage_->error = failure.text;
        outage_->error_number = error_number;
    }
    result.error = failure.text;
    if (held_.size() >= options_.max_held) {
        result.kind = HoldResult::Kind::Dropped;
        result.dropping_began = ++outage_->dropped == 1;
    } else {
        result.kind = HoldResult::Kind::Held;
        details["held_since"] = format_utc_timestamp(when);
        held_.push_back(NewEntry{std::string(action), std::move(details)});
        outage_->held = held_.size();
        if (spill_) {
            try {
                if (!spill_->append(held_.back())) {
                    result.spill_error = spill_->path().string() + ": full (" +
                                         std::to_string(options_.spill_max_bytes) + " bytes)";
                }
            } catch (const std::exception& error) {
                result.spill_error = error.what();
            }
        }
    }
    holding_.store(true, std::memory_order_release);
}

bool HoldingWriter::flush_locked(std::optional<OutageEnd>& ended) {
    const std::size_t chunk = std::max<std::size_t>(1, options_.flush_chunk);
    while (outage_) {
        const std::size_t n = std::min(chunk, held_.size());
        const bool last = n == held_.size();
        std::vector<NewEntry> batch(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(n));
        const auto down = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - down_since_);
        if (last) {
            json recovered{{"held", written_late_ + n},
                           {"dropped", outage_->dropped},
                           {"down_ms", down.count()},
                           {"error", outage_->first_error},
                           {"since", format_utc_timestamp(outage_->since)}};
            if (from_spill_) recovered["spill"] = options_.spill_path.string();
            batch.push_back(NewEntry{"ledger_recovered", std::move(recovered)});
        }
        std::vector<Entry> written;
        try {
            written = ledger_.append_all(std::move(batch));
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const LedgerError& error) {
            outage_->error = error.what();
            outage_->error_number = error.error_number() != 0 ? error.error_number() : EIO;
            return false;
        } catch (const std::exception& error) {
            outage_->error = std::string("ledger: ") + error.what();
            outage_->error_number = EIO;
            return false;
        }
        held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(n));
        written_late_ += n;
        outage_->held = held_.size();
        // The file keeps only what is still held (a crash now must not write these twice).
        if (spill_) {
            try {
                spill_->replace(held_);
            } catch (const std::exception&) {
                // Left as it was: the next start finds these in the ledger and skips them.
            }
        }
        if (last) {
            ended = OutageEnd{written_late_, outage_->dropped, down, outage_->first_error,
                              written.back().seq};
            outage_.reset();
            written_late_ = 0;
            from_spill_ = false;
            holding_.store(false, std::memory_order_release);
            return true;
        }
    }
    return true;
}

FlushResult HoldingWriter::flush() {
    FlushResult result;
    if (!holding()) return result;
    std::lock_guard lock(mutex_);
    flush_locked(result.ended);
    result.outage = outage_;
    return result;
}

}  // namespace opa::ledger

namespace opa::ledger {

SpillReplay HoldingWriter::replay_spill() {
    SpillReplay replay;
    if (!spill_) return replay;
    SpillContents contents;
    try {
        contents = SpillFile::read(options_.spill_path);
    } catch (const std::exception& error) {
        replay.error = error.what();
        return replay;
    }
    replay.read = contents.entries.size();
    replay.bad_lines = contents.bad_lines;
    if (contents.entries.empty()) {
        try {
            spill_->remove();
        } catch (const std::exception& error) {
            replay.error = error.what();
        }
        return replay;
    }
    // Entries written late carry their held_since: those already in the ledger are not
    // written again.
    std::set<std::string> written;
    try {
        for_each_entry(ledger_.path(), [&](const Entry& entry) {
            if (entry.details.is_object() && entry.details.contains("held_since")) {
                written.insert(entry.action + "\n" + entry.details.dump());
            }
        });
    } catch (const std::exception&) {
        // A ledger that cannot be read back: better twice than lost.
    }
    std::lock_guard lock(mutex_);
    std::deque<NewEntry> pending;
    for (NewEntry& entry : contents.entries) {
        if (written.count(entry.action + "\n" + entry.details.dump())) {
            ++replay.already_written;
        } else {
            pending.push_back(std::move(entry));
        }
    }
    if (pending.empty()) {
        try {
            spill_->remove();
        } catch (const std::exception& error) {
            replay.error = error.what();
        }
        return replay;
    }
    const auto now = std::chrono::system_clock::now();
    const std::string why = "held in " + options_.spill_path.string() + " by an earlier run";
    // Before anything this run records: in front of what may be held already.
    held_.insert(held_.begin(), std::make_move_iterator(pending.begin()),
                 std::make_move_iterator(pending.end()));
    if (!outage_) {
        outage_ = Outage{why, why, EIO, now, 0, 0};
        down_since_ = std::chrono::steady_clock::now();
        written_late_ = 0;
    }
    outage_->held = held_.size();
    from_spill_ = true;
    holding_.store(true, std::memory_order_release);
    try {
        spill_->replace(held_);
    } catch (const std::exception&) {
        // The file still holds what was read from it.
    }
    flush_locked(replay.ended);
    return replay;
}

}  // namespace opa::ledger
