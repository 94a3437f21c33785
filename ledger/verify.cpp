#include "ledger/verify.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "ledger/canonical_line.hpp"
#include "ledger/entry.hpp"
#include "ledger/ledger.hpp"
#include "ledger/posix_file.hpp"
#include "ledger/sha256.hpp"

namespace opa::ledger {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kReadBufferSize = 1 << 20;

struct HeadRecord {
    std::uint64_t seq = 0;
    std::string hash;
};

class Verifier {
  public:
    explicit Verifier(VerifyReport& report) : report_(report) {}

    void expect_head(HeadRecord head) { head_ = std::move(head); }

    // Checks one complete line (without '\n'); false = the report now holds the failure.
    bool check_line(std::string_view line, std::uint64_t line_number) {
        // The fast path needs a "seq", so a v1 first line always takes the general path, which
        // switches the file to v1.
        if (report_.format == Format::v2) {
            canonical::LineParts parts;
            if (canonical::split_canonical_line(line, parts)) {
                if (!check_chain(line_number, parts.seq, parts.prev_hash)) return false;
                canonical::hash_line(sha_, parts, computed_hash_);
                if (!check_hash(line_number, parts.hash)) return false;
                accept(line_number, parts.seq, parts.hash);
                return true;
            }
        }
        return check_general(line, line_number);
    }

    bool torn_tail(std::uint64_t line_number, std::size_t bytes) {
        return fail(Problem::torn_tail, line_number, "", "",
                    std::to_string(bytes) + " bytes without a trailing newline");
    }

    // After the last line: compare with the head file.
    bool check_head() {
        if (!head_) return true;
        if (head_->seq > report_.last_seq)
            return fail(Problem::truncated, report_.lines_checked + 1,
                        "seq " + std::to_string(head_->seq),
                        "seq " + std::to_string(report_.last_seq), "");
        if (head_->seq > 0 && head_hash_in_ledger_ != head_->hash)
            return fail(Problem::head_mismatch, head_line_, head_->hash, head_hash_in_ledger_, "");
        if (head_->seq < report_.last_seq)
            report_.notes.push_back("head file is " +
                                    std::to_string(report_.last_seq - head_->seq) +
                                    " entries behind the ledger (crash before the head update?)");
        return true;
    }

    bool fail(Problem problem, std::uint64_t line, std::string expected, std::string actual,
              std::string message) {
        report_.ok = false;
        report_.problem = problem;
        report_.line = line;
        report_.expected = std::move(expected);
        report_.actual = std::move(actual);
        report_.message = std::move(message);
        return false;
    }

  private:
    bool check_general(std::string_view line, std::uint64_t line_number) {
        if (canonical::nesting_deeper_than(line, canonical::kMaxNesting))
            return fail(Problem::parse_error, line_number, "", "",
                        "nested deeper than " + std::to_string(canonical::kMaxNesting) + " levels");
        json object;
        try {
            // One parse that throws: on the failure path we need the parser's message anyway.
            object = json::parse(line.begin(), line.end());
        } catch (const json::exception& error) {
            return fail(Problem::parse_error, line_number, "", "", error.what());
        }
        if (!object.is_object())
            return fail(Problem::parse_error, line_number, "", "", "line is not a JSON object");
        if (line_number == 1) {
            auto ts = object.find("ts");
            if (!object.contains("seq") && ts != object.end() && ts->is_number_integer()) {
                report_.format = Format::v1;
                report_.last_hash.clear();  // v1 chains start from "", v2 from 64 zeros
            }
        }
        return report_.format == Format::v1 ? check_v1(object, line_number)
                                            : check_v2(object, line, line_number);
    }

    bool check_v2(json& object, std::string_view line, std::uint64_t line_number) {
        std::string field_problem;
        if (!has_v2_fields(object, field_problem))
            return fail(Problem::missing_field, line_number, "", "", field_problem);
        // The canonical-form rule makes every byte of the line matter, whitespace included.
        std::string canonical = object.dump();
        if (canonical != line) {
            std::size_t offset = 0;
            while (offset < canonical.size() && offset < line.size() &&
                   canonical[offset] == line[offset])
                ++offset;
            return fail(Problem::not_canonical, line_number, "", "",
                        "line differs from its canonical serialization at byte " +
                            std::to_string(offset + 1));
        }
        std::string stored_hash = object["hash"].get<std::string>();
        std::uint64_t seq = object["seq"].get<std::uint64_t>();
        const auto& prev_hash = object["prev_hash"].get_ref<const std::string&>();
        if (!check_chain(line_number, seq, prev_hash)) return false;
        object.erase("hash");
        sha_.update(prev_hash);
        sha_.update(object.dump());
        sha_.finish_hex(computed_hash_);
        if (!check_hash(line_number, stored_hash)) return false;
        accept(line_number, seq, stored_hash);
        return true;
    }

    static bool has_v2_fields(const json& object, std::string& problem) {
        struct Field {
            const char* name;
            bool (json::*has_type)() const noexcept;
            const char* type_name;
        };
        static constexpr std::array<Field, 6> kFields{{
            {"seq", &json::is_number_unsigned, "an unsigned integer"},
            {"ts", &json::is_string, "a string"},
            {"action", &json::is_string, "a string"},
            {"details", &json::is_object, "an object"},
            {"prev_hash", &json::is_string, "a string"},
            {"hash", &json::is_string, "a string"},
        }};
        for (const Field& field : kFields) {
            auto it = object.find(field.name);
            if (it == object.end()) {
                problem = std::string("\"") + field.name + "\"";
                return false;
            }
            if (!((*it).*field.has_type)()) {
                problem = std::string("\"") + field.name + "\" is not " + field.type_name;
                return false;
            }
        }
        return true;
    }

    bool check_v1(const json& object, std::uint64_t line_number) {
        auto ts = object.find("ts");
        auto action = object.find("action");
        auto details = object.find("details");
        auto prev_hash = object.find("prev_hash");
        auto hash = object.find("hash");
        if (ts == object.end() || !ts->is_number_integer())
            return fail(Problem::missing_field, line_number, "", "", "\"ts\" (integer)");
        if (action == object.end() || !action->is_string())
            return fail(Problem::missing_field, line_number, "", "", "\"action\" (string)");
        if (details == object.end() || !details->is_object())
            return fail(Problem::missing_field, line_number, "", "", "\"details\" (object)");
        if (prev_hash == object.end() || !prev_hash->is_string())
            return fail(Problem::missing_field, line_number, "", "", "\"prev_hash\" (string)");
        if (hash == object.end() || !hash->is_string())
            return fail(Problem::missing_field, line_number, "", "", "\"hash\" (string)");
        const auto& stored_hash = hash->get_ref<const std::string&>();
        const auto& prev = prev_hash->get_ref<const std::string&>();
        if (prev != report_.last_hash)
            return fail(Problem::chain_break, line_number, report_.last_hash, prev, "");
        std::string computed = v1_entry_hash(prev, ts->get<std::int64_t>(),
                                             action->get_ref<const std::string&>(), *details);
        if (computed != stored_hash)
            return fail(Problem::hash_mismatch, line_number, computed, stored_hash, "");
        report_.lines_checked = line_number;
        report_.last_seq = line_number;
        report_.last_hash = stored_hash;
        return true;
    }

    bool check_chain(std::uint64_t line_number, std::uint64_t seq, std::string_view prev_hash) {
        if (prev_hash != report_.last_hash)
            return fail(Problem::chain_break, line_number, report_.last_hash,
                        std::string(prev_hash), "");
        if (seq != report_.last_seq + 1)
            return fail(Problem::seq_gap, line_number, std::to_string(report_.last_seq + 1),
                        std::to_string(seq), "");
        return true;
    }

    bool check_hash(std::uint64_t line_number, std::string_view stored_hash) {
        std::string_view computed(computed_hash_, sizeof computed_hash_);
        if (computed != stored_hash)
            return fail(Problem::hash_mismatch, line_number, std::string(computed),
                        std::string(stored_hash), "");
        return true;
    }

    void accept(std::uint64_t line_number, std::uint64_t seq, std::string_view hash) {
        report_.lines_checked = line_number;
        report_.last_seq = seq;
        report_.last_hash.assign(hash);
        if (head_ && seq == head_->seq) {
            head_hash_in_ledger_.assign(hash);
            head_line_ = line_number;
        }
    }

    VerifyReport& report_;
    Sha256 sha_;
    char computed_hash_[64] = {};
    std::optional<HeadRecord> head_;
    std::string head_hash_in_ledger_;
    std::uint64_t head_line_ = 0;
};

// Reads "<ledger>.head". A missing file is only a note; an unreadable one sets `problem`.
std::optional<HeadRecord> load_head(const fs::path& ledger_path, std::vector<std::string>& notes,
                                    std::string& problem) {
    fs::path head_path = head_path_for(ledger_path);
    std::string text;
    try {
        if (!posix::read_file_if_exists(head_path, text)) {
            notes.push_back("no head file " + head_path.string() +
                            "; truncation at the end cannot be detected");
            return std::nullopt;
        }
    } catch (const LedgerError& error) {
        problem = error.what();
        return std::nullopt;
    }
    json head = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (head.is_discarded() || !head.is_object() || !head.contains("seq") ||
        !head["seq"].is_number_unsigned() || !head.contains("hash") || !head["hash"].is_string() ||
        !is_lowercase_hex_hash(head["hash"].get_ref<const std::string&>())) {
        problem = head_path.string() + " is not {\"hash\":<64 hex>,\"seq\":<n>}";
        return std::nullopt;
    }
    return HeadRecord{head["seq"].get<std::uint64_t>(), head["hash"].get<std::string>()};
}

}  // namespace

VerifyReport verify(const fs::path& ledger_path) {
    VerifyReport report;
    report.path = ledger_path;
    report.last_hash = std::string(kGenesisPrevHash);
    Verifier verifier(report);

    UniqueFd fd;
    try {
        fd = posix::open_file(ledger_path, O_RDONLY);
    } catch (const LedgerError& error) {
        verifier.fail(Problem::io_error, 0, "", "", error.what());
        return report;
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

    // A head problem is reported only if every line is fine.
    std::string head_problem;
    std::optional<HeadRecord> head = load_head(ledger_path, report.notes, head_problem);
    if (head) verifier.expect_head(*head);

    // Not value-initialised: zeroing 1 MiB per call would cost more than verifying a small file.
    auto buffer = std::make_unique_for_overwrite<char[]>(kReadBufferSize);
    std::string carry;  // a line split across two reads
    std::uint64_t line_number = 0;
    for (;;) {
        ssize_t got = ::read(fd.get(), buffer.get(), kReadBufferSize);
        if (got < 0) {
            if (errno == EINTR) continue;
            verifier.fail(Problem::io_error, line_number + 1, "", "",
                          "read error: " + std::string(std::strerror(errno)));
            return report;
        }
        if (got == 0) break;
        std::string_view chunk(buffer.get(), static_cast<std::size_t>(got));
        while (!chunk.empty()) {
            const void* newline = std::memchr(chunk.data(), '\n', chunk.size());
            if (newline == nullptr) {
                carry.append(chunk);
                break;
            }
            auto length =
                static_cast<std::size_t>(static_cast<const char*>(newline) - chunk.data());
            std::string_view line = chunk.substr(0, length);
            if (!carry.empty()) {
                carry.append(line);
                line = carry;
            }
            ++line_number;
            if (!verifier.check_line(line, line_number)) return report;
            carry.clear();
            chunk.remove_prefix(length + 1);
        }
    }
    if (!carry.empty()) {
        verifier.torn_tail(line_number + 1, carry.size());
        return report;
    }
    if (report.format == Format::v1) {
        report.notes.push_back(
            "v1 format (original agent): no seq, no head file, and lines "
            "are not required to be canonical");
    } else {
        if (!head_problem.empty()) {
            verifier.fail(Problem::head_invalid, 0, "", "", head_problem);
            return report;
        }
        if (!verifier.check_head()) return report;
    }
    report.ok = true;
    return report;
}

std::string_view problem_name(Problem problem) noexcept {
    switch (problem) {
        case Problem::none:
            return "no problem";
        case Problem::io_error:
            return "I/O error";
        case Problem::parse_error:
            return "JSON parse error";
        case Problem::missing_field:
            return "missing field";
        case Problem::not_canonical:
            return "not canonical";
        case Problem::seq_gap:
            return "seq gap";
        case Problem::chain_break:
            return "prev_hash chain break";
        case Problem::hash_mismatch:
            return "hash mismatch";
        case Problem::torn_tail:
            return "torn tail";
        case Problem::truncated:
            return "truncated";
        case Problem::head_mismatch:
            return "head mismatch";
        case Problem::head_invalid:
            return "invalid head file";
    }
    return "unknown problem";
}

std::string format_report(const VerifyReport& report) {
    std::string text;
    if (report.ok) {
        text = "PASS: " + report.path.string() + " (" + std::to_string(report.lines_checked) +
               (report.lines_checked == 1 ? " entry" : " entries") +
               (report.format == Format::v1 ? ", v1 format)" : ")");
    } else {
        text = "FAIL: " + report.path.string();
        if (report.line > 0) text += ":" + std::to_string(report.line);
        text += ": ";
        text += problem_name(report.problem);
        switch (report.problem) {
            case Problem::hash_mismatch:
            case Problem::chain_break:
            case Problem::seq_gap:
                text += ": expected " + report.expected + ", got " + report.actual;
                break;
            case Problem::truncated:
                text += ": ledger ends at " + report.actual + " but head says " + report.expected;
                break;
            case Problem::head_mismatch:
                text += ": head file says " + report.expected + ", entry has " + report.actual;
                break;
            default:
                if (!report.message.empty()) text += ": " + report.message;
                break;
        }
        text += "\nnote: " + std::to_string(report.lines_checked) +
                (report.lines_checked == 1 ? " entry" : " entries") + " valid before the failure";
    }
    for (const std::string& note : report.notes) text += "\nnote: " + note;
    return text;
}

}  // namespace opa::ledger
