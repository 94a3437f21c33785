// The core's Journal, written to the hash-chained ledger. An append that fails is logged (the
// ledger's own error says which file and why) and the action goes on: losing an audit line must
// not leave a container without its port.
#pragma once

#include "agent/core.hpp"
#include "ledger/ledger.hpp"

namespace opa::mount {

class LedgerJournal : public agent::Journal {
  public:
    explicit LedgerJournal(ledger::Ledger& ledger) : ledger_(ledger) {}
    void record(std::string_view action, const nlohmann::json& details) noexcept override;

  private:
    ledger::Ledger& ledger_;
};

}  // namespace opa::mount
