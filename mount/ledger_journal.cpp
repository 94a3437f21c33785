#include "mount/ledger_journal.hpp"

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace opa::mount {

LedgerJournal::LedgerJournal(ledger::Ledger& ledger, ledger::HoldingOptions options,
                             std::function<void()> on_outage)
    : writer_(ledger, options), on_outage_(std::move(on_outage)) {}

void LedgerJournal::record(std::string_view action, const nlohmann::json& details) noexcept {
    try {
        report(writer_.record(action, details), action);
    } catch (const std::exception& error) {
        try {
            spdlog::error("ledger: cannot record {} {}: {}", action, details.dump(), error.what());
        } catch (...) {
            // Logging failed too; nothing else can be done here.
        }
    }
}

std::optional<agent::JournalFault> LedgerJournal::unwritable() noexcept {
    if (!writer_.holding()) return std::nullopt;
    try {
        const ledger::FlushResult flushed = writer_.flush();
        if (flushed.ended) report_end(*flushed.ended);
        if (!flushed.outage) return std::nullopt;
        const int error_number = flushed.outage->error_number;
        return agent::JournalFault{error_number, std::strerror(error_number)};
    } catch (const std::exception& error) {
        return agent::JournalFault{ENOMEM, error.what()};
    }
}

bool LedgerJournal::retry() noexcept {
    try {
        const ledger::FlushResult flushed = writer_.flush();
        if (flushed.ended) report_end(*flushed.ended);
        return flushed.outage.has_value();
    } catch (const std::exception&) {
        return true;  // out of memory: try again later
    }
}

void LedgerJournal::report(const ledger::HoldResult& result, std::string_view action) noexcept {
    try {
        if (result.ended) report_end(*result.ended);
        using Kind = ledger::HoldResult::Kind;
        if (result.kind == Kind::Invalid) {
            spdlog::error("ledger: cannot record {}: {}", action, result.error);
        }
        if (result.outage_began) {
            spdlog::error(
                "{}; holding ledger entries in memory until it can be written again, and "
                "refusing requested changes meanwhile",
                result.error);
        }
        if (!result.spill_error.empty() && !spill_failure_logged_.exchange(true)) {
            spdlog::error(
                "ledger: cannot keep held entries on disk ({}); they are held in memory only, "
                "and a crash before the ledger is writable again would lose them",
                result.spill_error);
        }
        if (result.dropping_began) {
            spdlog::error(
                "ledger: too many entries held while it cannot be written; further ones are "
                "dropped (counted in the ledger_recovered entry)");
        }
    } catch (...) {
        // Logging failed; the entry itself was handled.
    }
    if (result.outage_began && on_outage_) {
        try {
            on_outage_();
        } catch (...) {
            // The daemon's wake-up failing leaves the retry to the next record or request.
        }
    }
}

void LedgerJournal::replay_spill() noexcept {
    try {
        const ledger::SpillReplay replay = writer_.replay_spill();
        if (!replay.error.empty()) {
            spdlog::error("ledger: entries held by an earlier run: {}", replay.error);
        }
        if (replay.bad_lines > 0) {
            spdlog::warn("ledger: {} lines of the spill file were not entries (torn by a crash?)",
                         replay.bad_lines);
        }
        if (replay.read > 0) {
            spdlog::warn(
                "ledger: {} entries held by an earlier run found ({} of them in the ledger "
                "already){}",
                replay.read, replay.already_written,
                replay.ended ? "; written" : "; the ledger cannot be written yet: still held");
        }
        if (replay.ended) report_end(*replay.ended);
        if (writer_.holding() && on_outage_) on_outage_();
    } catch (...) {
        // Out of memory at start: the spill file stays for the next start.
    }
}

void LedgerJournal::report_end(const ledger::OutageEnd& end) noexcept {
    spill_failure_logged_ = false;
    try {
        spdlog::warn(
            "ledger {}: writable again after {} ms: {} held entries written, {} dropped "
            "(ledger_recovered, seq {})",
            writer_.ledger().path().string(), end.down.count(), end.held, end.dropped,
            end.recovered_seq);
    } catch (...) {
        // Logging failed; the entries are written.
    }
}

}  // namespace opa::mount
