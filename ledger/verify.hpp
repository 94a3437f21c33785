#pragma once

// Offline verification of a ledger file, reported in the manner of `journalctl --verify`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace opa::ledger {

enum class Problem {
    none,
    io_error,       // the file could not be read
    parse_error,    // line is not JSON / not an object
    missing_field,  // a required field is absent or has the wrong type
    not_canonical,  // line is not byte-identical to its canonical serialization
    seq_gap,        // seq is not previous + 1
    chain_break,    // prev_hash is not the previous line's hash
    hash_mismatch,  // stored hash is not the hash of the entry
    torn_tail,      // last line has no trailing newline
    truncated,      // ledger ends before the seq recorded in the head file
    head_mismatch,  // the entry at the head's seq has a different hash
    head_invalid,   // the head file exists but cannot be understood
};

enum class Format { v2, v1 };

struct VerifyReport {
    std::filesystem::path path;
    bool ok = false;
    Format format = Format::v2;       // detected from the first line; v1 = the original agent's
    std::uint64_t lines_checked = 0;  // lines, from the top, that passed every check
    std::uint64_t last_seq = 0;       // of the last checked line (v1: its line number)
    std::string last_hash;

    // The first problem; only meaningful when !ok.
    Problem problem = Problem::none;
    std::uint64_t line = 0;  // 1-based; 0 when the problem is not about one line
    std::string expected;
    std::string actual;
    std::string message;  // parser message, field name, ...

    std::vector<std::string> notes;  // not failures: e.g. "no head file"
};

// Never throws for problems with the file itself; they are the report.
VerifyReport verify(const std::filesystem::path& ledger_path);

// "PASS: /path (N entries)" or "FAIL: /path:LINE: hash mismatch: expected X, got Y", followed
// by one "note: ..." line per note. No trailing newline.
std::string format_report(const VerifyReport& report);

std::string_view problem_name(Problem problem) noexcept;

}  // namespace opa::ledger
