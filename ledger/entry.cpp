#include "ledger/entry.hpp"

#include <cstdio>
#include <ctime>

#include "ledger/sha256.hpp"

namespace opa::ledger {

using nlohmann::json;

std::string canonical_json(const json& value) {
    try {
        // std::map keeps keys sorted by bytes, which for UTF-8 is code point order, the
        // order Python's sort_keys uses.
        return value.dump();
    } catch (const json::exception& error) {
        throw LedgerError(std::string("ledger: value cannot be serialized: ") + error.what());
    }
}

std::string entry_hash(const json& entry_without_hash, std::string_view prev_hash) {
    Sha256 sha;
    sha.update(prev_hash);
    sha.update(canonical_json(entry_without_hash));
    return sha.finish_hex();
}

json to_json(const Entry& entry) {
    return json{{"seq", entry.seq},
                {"ts", entry.ts},
                {"action", entry.action},
                {"details", entry.details},
                {"prev_hash", entry.prev_hash},
                {"hash", entry.hash}};
}

std::string canonical_line(const Entry& entry) { return canonical_json(to_json(entry)); }

namespace {

const json& required_field(const json& object, const char* name) {
    auto it = object.find(name);
    if (it == object.end()) throw LedgerError(std::string("missing field \"") + name + '"');
    return *it;
}

std::string required_string(const json& object, const char* name) {
    const json& value = required_field(object, name);
    if (!value.is_string())
        throw LedgerError(std::string("field \"") + name + "\" is not a string");
    return value.get<std::string>();
}

}  // namespace

Entry entry_from_json(const json& object) {
    if (!object.is_object()) throw LedgerError("entry is not a JSON object");
    Entry entry;
    const json& seq = required_field(object, "seq");
    if (!seq.is_number_unsigned()) throw LedgerError("field \"seq\" is not an unsigned integer");
    entry.seq = seq.get<std::uint64_t>();
    entry.ts = required_string(object, "ts");
    entry.action = required_string(object, "action");
    const json& details = required_field(object, "details");
    if (!details.is_object()) throw LedgerError("field \"details\" is not an object");
    entry.details = details;
    entry.prev_hash = required_string(object, "prev_hash");
    entry.hash = required_string(object, "hash");
    return entry;
}

std::string v1_entry_hash(std::string_view prev_hash, std::int64_t unix_seconds,
                          std::string_view action, const json& details) {
    auto ts = static_cast<std::uint64_t>(unix_seconds);
    char ts_little_endian[8];
    for (int i = 0; i < 8; ++i) ts_little_endian[i] = static_cast<char>((ts >> (8 * i)) & 0xff);
    Sha256 sha;
    sha.update(prev_hash);
    sha.update(std::string_view(ts_little_endian, sizeof ts_little_endian));
    sha.update(action);
    sha.update(canonical_json(details));
    return sha.finish_hex();
}

std::string format_utc_timestamp(std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    auto since_epoch_ms = duration_cast<milliseconds>(when.time_since_epoch()).count();
    auto seconds = static_cast<std::time_t>(since_epoch_ms / 1000);
    auto milliseconds_part = static_cast<int>(since_epoch_ms % 1000);
    if (milliseconds_part < 0) {  // before 1970: floor, not truncate
        milliseconds_part += 1000;
        --seconds;
    }
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[96];  // room for any int the compiler imagines in %04d
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  milliseconds_part);
    return text;
}

bool is_lowercase_hex_hash(std::string_view text) noexcept {
    if (text.size() != 64) return false;
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace opa::ledger
