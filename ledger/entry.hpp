#pragma once

// One ledger entry and the rules that define its hash. See README "Ledger" for the format.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace opa::ledger {

// The single error type of the ledger layer. Messages name the path and, for system
// calls, the errno text; error_number() is that errno (0 when no system call failed).
class LedgerError : public std::runtime_error {
  public:
    explicit LedgerError(const std::string& message, int error_number = 0)
        : std::runtime_error(message), error_number_(error_number) {}
    [[nodiscard]] int error_number() const noexcept { return error_number_; }

  private:
    int error_number_;
};

// An entry that can never be written, whatever the file's state (details not an object, text
// that is not UTF-8): thrown before the file is touched. Retrying it is pointless.
class InvalidEntryError : public LedgerError {
  public:
    using LedgerError::LedgerError;
};

// prev_hash of the first v2 entry.
inline constexpr std::string_view kGenesisPrevHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct Entry {
    std::uint64_t seq = 0;  // 1-based, gapless
    std::string ts;         // UTC RFC 3339 with milliseconds, "2026-11-25T18:32:31.123Z"
    std::string action;
    nlohmann::json details = nlohmann::json::object();
    std::string prev_hash;  // 64 lowercase hex digits
    std::string hash;       // 64 lowercase hex digits
};

// Canonical JSON: object keys sorted, no whitespace, UTF-8 kept (nlohmann's dump(), equal to
// Python's json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).
// Throws LedgerError for strings that are not valid UTF-8.
std::string canonical_json(const nlohmann::json& value);

// hash = lowercase hex SHA-256 of the ASCII prev_hash followed by the canonical JSON of the
// entry without its "hash" key.
std::string entry_hash(const nlohmann::json& entry_without_hash, std::string_view prev_hash);

// The entry as a JSON object, including "hash".
nlohmann::json to_json(const Entry& entry);

// The exact line (without '\n') the ledger stores for `entry`.
std::string canonical_line(const Entry& entry);

// Parses the six standard fields; throws LedgerError naming the first missing/mistyped one.
Entry entry_from_json(const nlohmann::json& object);

// The original Rust agent's (v1) rule: sha256_hex(prev_hash || ts as 8-byte little-endian ||
// action || canonical_json(details)); its first entry has prev_hash "".
std::string v1_entry_hash(std::string_view prev_hash, std::int64_t unix_seconds,
                          std::string_view action, const nlohmann::json& details);

// "2026-11-25T18:32:31.123Z"
std::string format_utc_timestamp(std::chrono::system_clock::time_point when);

bool is_lowercase_hex_hash(std::string_view text) noexcept;

}  // namespace opa::ledger
