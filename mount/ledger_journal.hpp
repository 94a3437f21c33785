// The core's Journal, written to the hash-chained ledger through a HoldingWriter: while the
// ledger cannot be written (its disk is full) entries are kept in memory, in order, and written
// as soon as it can be written again, followed by a "ledger_recovered" entry. Losing an audit
// line must not leave a container without its port, so link-driven changes go on; changes
// someone requests are refused meanwhile (unwritable()).
//
// Logs once per outage (when it begins, when entries start to be dropped, when it ends), not
// once per entry.
#pragma once

#include <atomic>
#include <functional>

#include "agent/core.hpp"
#include "ledger/holding_writer.hpp"
#include "ledger/ledger.hpp"

namespace opa::mount {

class LedgerJournal : public agent::Journal {
  public:
    // `on_outage` is called (from whichever thread recorded) when entries begin to be held, so
    // that the daemon's loop schedules retry() until they are written.
    explicit LedgerJournal(ledger::Ledger& ledger, ledger::HoldingOptions options = {},
                           std::function<void()> on_outage = {});
    void record(std::string_view action, const nlohmann::json& details) noexcept override;
    std::optional<agent::JournalFault> unwritable() noexcept override;

    // Tries to write what is held; true while entries are still held.
    bool retry() noexcept;
    // At start, before anything is recorded: writes what an earlier run held in the spill file
    // (HoldingOptions::spill_path) and logs what it found.
    void replay_spill() noexcept;
    [[nodiscard]] bool holding() const noexcept { return writer_.holding(); }
    [[nodiscard]] std::optional<ledger::Outage> outage() const { return writer_.outage(); }

  private:
    void report(const ledger::HoldResult& result, std::string_view action) noexcept;
    void report_end(const ledger::OutageEnd& end) noexcept;

    ledger::HoldingWriter writer_;
    std::function<void()> on_outage_;
    std::atomic<bool> spill_failure_logged_{false};  // once per outage
};

}  // namespace opa::mount
