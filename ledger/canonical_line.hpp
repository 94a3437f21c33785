#pragma once

// The byte layout of a canonical v2 line. Keys sort as action < details < hash < prev_hash <
// seq < ts, so every line the writer produces is
//   {"action":A,"details":D,"hash":"H","prev_hash":"P","seq":N,"ts":"T"}
// and the hashed text (the entry without "hash") is that line with `"hash":"H",` cut out.
// Internal to the ledger library.

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/sha256.hpp"

namespace opa::ledger::canonical {

struct LineParts {
    std::string_view before_hash;  // {"action":A,"details":D,
    std::string_view after_hash;   // "prev_hash":"P","seq":N,"ts":"T"}
    std::string_view hash;
    std::string_view prev_hash;
    std::uint64_t seq = 0;
};

// Builds the canonical line (no '\n') for already-canonical action/details JSON texts and
// returns its hash through `hash_out`.
void build_line(Sha256& sha, std::string_view action_json, std::string_view details_json,
                std::string_view prev_hash, std::uint64_t seq, std::string_view ts,
                std::string& line_out, std::string& hash_out);

// Fast path of the verifier, allocation-free. Returns true only if `line` is byte for byte the
// canonical serialization of an entry with exactly the six standard keys (so a true answer is
// always right). False means "not sure": the caller falls back to the general parser, which
// also produces the diagnostic.
bool split_canonical_line(std::string_view line, LineParts& parts) noexcept;

// nlohmann::json parses iteratively but copies and serializes recursively, so a hostile line
// nested a hundred thousand levels deep would overflow the stack. Lines are screened first.
inline constexpr int kMaxNesting = 512;
bool nesting_deeper_than(std::string_view json_text, int limit) noexcept;

// Hash of a line accepted by split_canonical_line.
void hash_line(Sha256& sha, const LineParts& parts, char (&hex_out)[64]);

}  // namespace opa::ledger::canonical
