#include "mount/ledger_journal.hpp"

#include <spdlog/spdlog.h>

namespace opa::mount {

void LedgerJournal::record(std::string_view action, const nlohmann::json& details) noexcept {
    try {
        ledger_.append(action, details);
    } catch (const std::exception& error) {
        try {
            spdlog::error("ledger: cannot record {} {}: {}", action, details.dump(), error.what());
        } catch (...) {
            // Logging failed too; nothing else can be done here.
        }
    }
}

}  // namespace opa::mount
