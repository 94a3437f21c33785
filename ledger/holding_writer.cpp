#include "ledger/holding_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <iterator>
#include <utility>
#include <vector>

namespace opa::ledger {

using nlohmann::json;

HoldingWriter::HoldingWriter(Ledger& ledger, HoldingOptions options)
    : ledger_(ledger), options_(options) {}

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
            batch.push_back(NewEntry{"ledger_recovered",
                                     json{{"held", written_late_ + n},
                                          {"dropped", outage_->dropped},
                                          {"down_ms", down.count()},
                                          {"error", outage_->first_error},
                                          {"since", format_utc_timestamp(outage_->since)}}});
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
        if (last) {
            ended = OutageEnd{written_late_, outage_->dropped, down, outage_->first_error,
                              written.back().seq};
            outage_.reset();
            written_late_ = 0;
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
