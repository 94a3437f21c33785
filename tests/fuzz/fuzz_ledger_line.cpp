// Fuzz target: the ledger verifier's allocation-free fast path (canonical::split_canonical_line)
// against the general path (nlohmann::json). Properties, from canonical_line.hpp: "a true answer
// is always right" -- a line the fast path accepts parses, dumps back to the same bytes, has the
// six standard fields, and its fast-path hash equals entry_hash(); and the nesting screen never
// crashes on any input.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "ledger/canonical_line.hpp"
#include "ledger/entry.hpp"
#include "ledger/sha256.hpp"

namespace ledger = opa::ledger;
namespace canonical = opa::ledger::canonical;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const bool deep = canonical::nesting_deeper_than(line, canonical::kMaxNesting);
    canonical::LineParts parts;
    if (!canonical::split_canonical_line(line, parts)) return 0;
    FUZZ_CHECK(!deep);

    nlohmann::json object = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    FUZZ_CHECK(!object.is_discarded() && object.is_object());
    FUZZ_CHECK(object.size() == 6);
    FUZZ_CHECK(object.dump() == line);
    const ledger::Entry entry = ledger::entry_from_json(object);
    FUZZ_CHECK(entry.seq == parts.seq);
    FUZZ_CHECK(entry.hash == parts.hash && entry.prev_hash == parts.prev_hash);
    FUZZ_CHECK(ledger::canonical_line(entry) == line);

    ledger::Sha256 sha;
    char fast_hash[64];
    canonical::hash_line(sha, parts, fast_hash);
    object.erase("hash");
    FUZZ_CHECK(ledger::entry_hash(object, parts.prev_hash) == std::string_view(fast_hash, 64));
    return 0;
}
