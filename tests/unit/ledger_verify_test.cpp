// Verifier: PASS/FAIL reports, tamper detection at the right line (every byte flip, deleted
// line, swapped pair, truncation), the head file, the v1 format, and the documented hash rule
// checked by an independent Python implementation.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ledger/ledger.hpp"
#include "tests/support/files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using opa::ledger::Format;
using opa::ledger::Ledger;
using opa::ledger::Problem;
using opa::ledger::VerifyReport;

namespace {

using opa::test::append_text;
using opa::test::lines_of;
using opa::test::read_text;
using opa::test::write_text;

// Ledger tests' directories are named for the ledger.
class TempDir : public opa::test::TempDir {
  public:
    TempDir() : opa::test::TempDir("opa-ledger") {}
};

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + '\n';
    return text;
}

// ~30 entries whose details exercise the canonical form: unicode, escapes, nesting, numbers.
constexpr int kGeneratedEntries = 30;

void generate_ledger(const fs::path& path) {
    Ledger ledger(path);
    for (int i = 0; i < kGeneratedEntries; ++i) {
        json details;
        switch (i % 6) {
            case 0:
                details = {{"port", "vi" + std::to_string(100 + i)}, {"bridge", "ovsbr0"}};
                break;
            case 1:
                details = {{"name", "Grüße \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x8c"},
                           {"quote", "a \"b\" \\ c/d"}};
                break;
            case 2:
                details = {{"control", std::string("tab\there\nnew\x01\x1f end")},
                           {"nested", {{"z", {1, -2, 3}}, {"a", {{"deep", true}}}}}};
                break;
            case 3:
                details = {{"negative", -42}, {"big", 18446744073709551615ull}, {"none", nullptr}};
                break;
            case 4:
                details = {{"float", 0.1}, {"exp", 1e100}, {"third", 1.0 / 3}, {"whole", 2.0}};
                break;
            default:
                details = json::object();
                break;
        }
        ledger.append(i % 2 ? "port_changed" : "port_added", details);
    }
}

// Line (1-based) that byte `offset` belongs to; a line's '\n' belongs to that line.
std::uint64_t line_of_offset(const std::string& text, std::size_t offset) {
    std::uint64_t line = 1;
    for (std::size_t i = 0; i < offset; ++i)
        if (text[i] == '\n') ++line;
    return line;
}

void write_byte(int fd, std::size_t offset, char byte) {
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
}

struct ProcessResult {
    int exit_code = -1;
    std::string output;
};

ProcessResult run_command(const std::string& command) {
    ProcessResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    while (std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe))
        result.output.append(buffer, got);
    int status = ::pclose(pipe);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    return result;
}

class LedgerTamper : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = dir_.path() / "ledger.jsonl";
        generate_ledger(path_);
        original_ = read_text(path_);
        lines_ = lines_of(original_);
        ASSERT_EQ(lines_.size(), static_cast<std::size_t>(kGeneratedEntries));
        ASSERT_TRUE(fs::exists(opa::ledger::head_path_for(path_)));
        VerifyReport report = opa::ledger::verify(path_);
        ASSERT_TRUE(report.ok) << opa::ledger::format_report(report);
    }

    TempDir dir_;
    fs::path path_;
    std::string original_;
    std::vector<std::string> lines_;
};

}  // namespace

TEST_F(LedgerTamper, EverySingleByteFlipIsDetectedAtItsLine) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::size_t cases = 0;
    for (std::size_t offset = 0; offset < original_.size(); ++offset) {
        const char original = original_[offset];
        const std::uint64_t expected_line = line_of_offset(original_, offset);
        // Every position gets a low-bit flip plus one of: a case flip (\u001f vs \u001F: same
        // JSON, different bytes), a high-bit flip (invalid UTF-8), a newline that splits or
        // joins lines, or whitespace. Under ASan (about 10x slower) the rotating one only.
        const char rotating[] = {static_cast<char>(original ^ 0x20),
                                 static_cast<char>(original ^ 0x80), '\n', ' ',
                                 static_cast<char>(original ^ 0x01)};
        char rotating_pick = rotating[offset % std::size(rotating)];
        if (rotating_pick == original) rotating_pick = static_cast<char>(original ^ 0x02);
#ifdef __SANITIZE_ADDRESS__
        const char replacements[] = {rotating_pick};
#else
        const char replacements[] = {static_cast<char>(original ^ 0x01), rotating_pick};
#endif
        for (char replacement : replacements) {
            if (replacement == original) continue;
            write_byte(fd, offset, replacement);
            VerifyReport report = opa::ledger::verify(path_);
            write_byte(fd, offset, original);
            ++cases;
            ASSERT_FALSE(report.ok)
                << "flip at byte " << offset << " to 0x" << std::hex
                << (static_cast<unsigned>(replacement) & 0xff) << " went undetected";
            ASSERT_EQ(report.line, expected_line)
                << "flip at byte " << offset << ": " << opa::ledger::format_report(report);
            ASSERT_EQ(report.lines_checked, expected_line - 1);
        }
    }
    ::close(fd);
    EXPECT_GE(cases, original_.size()) << "every byte position must be flipped at least once";
    EXPECT_TRUE(opa::ledger::verify(path_).ok) << "every flip was restored";
}

TEST_F(LedgerTamper, EveryDeletedLineIsDetectedAtItsLine) {
    for (std::size_t deleted = 0; deleted < lines_.size(); ++deleted) {
        auto lines = lines_;
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(deleted));
        write_text(path_, join_lines(lines));
        VerifyReport report = opa::ledger::verify(path_);
        ASSERT_FALSE(report.ok) << "deleting line " << deleted + 1 << " went undetected";
        EXPECT_EQ(report.line, deleted + 1) << opa::ledger::format_report(report);
        if (deleted + 1 == lines_.size()) {
            EXPECT_EQ(report.problem, Problem::truncated);
        }
    }
}

TEST_F(LedgerTamper, EverySwappedAdjacentPairIsDetectedAtTheFirstLine) {
    for (std::size_t first = 0; first + 1 < lines_.size(); ++first) {
        auto lines = lines_;
        std::swap(lines[first], lines[first + 1]);
        write_text(path_, join_lines(lines));
        VerifyReport report = opa::ledger::verify(path_);
        ASSERT_FALSE(report.ok) << "swapping lines " << first + 1 << " and " << first + 2;
        EXPECT_EQ(report.line, first + 1) << opa::ledger::format_report(report);
    }
}

TEST_F(LedgerTamper, TruncationAtEveryLineBoundaryIsDetectedAgainstTheHead) {
    for (std::size_t kept = 0; kept < lines_.size(); ++kept) {
        write_text(path_, join_lines({lines_.begin(),
                                      lines_.begin() + static_cast<std::ptrdiff_t>(kept)}));
        VerifyReport report = opa::ledger::verify(path_);
        ASSERT_FALSE(report.ok) << "truncation to " << kept << " lines went undetected";
        EXPECT_EQ(report.problem, Problem::truncated);
        EXPECT_EQ(report.line, kept + 1);
        EXPECT_EQ(report.lines_checked, kept);
        EXPECT_EQ(opa::ledger::format_report(report).substr(0, report.path.string().size() + 40),
                  ("FAIL: " + path_.string() + ":" + std::to_string(kept + 1) +
                   ": truncated: ledger ends at seq " + std::to_string(kept) + " but head says 30")
                      .substr(0, report.path.string().size() + 40));
    }
}

TEST_F(LedgerTamper, TruncationInsideALineIsATornTail) {
    write_text(path_, original_.substr(0, original_.size() - 10));
    VerifyReport report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::torn_tail);
    EXPECT_EQ(report.line, static_cast<std::uint64_t>(kGeneratedEntries));
}

TEST_F(LedgerTamper, HeadHashDisagreeingWithTheLedgerIsReported) {
    const fs::path head = opa::ledger::head_path_for(path_);
    json head_record = json::parse(read_text(head));
    head_record["hash"] = std::string(64, 'a');
    write_text(head, head_record.dump() + "\n");
    VerifyReport report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::head_mismatch);
    EXPECT_EQ(report.line, static_cast<std::uint64_t>(kGeneratedEntries));

    write_text(head, "not json\n");
    report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::head_invalid);
}

TEST_F(LedgerTamper, HeadBehindTheLedgerIsANoteNotAFailure) {
    // A crash between the ledger's fsync and the head update leaves the head behind.
    json line10 = json::parse(lines_[9]);
    write_text(opa::ledger::head_path_for(path_),
               json{{"seq", 10}, {"hash", line10["hash"]}}.dump() + "\n");
    VerifyReport report = opa::ledger::verify(path_);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes[0].find("20 entries behind"), std::string::npos) << report.notes[0];
}

TEST_F(LedgerTamper, WhitespaceAndKeyOrderVariantsAreNotCanonical) {
    auto lines = lines_;
    lines[4].insert(lines[4].find(':') + 1, " ");  // same JSON meaning, one extra space
    write_text(path_, join_lines(lines));
    VerifyReport report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::not_canonical);
    EXPECT_EQ(report.line, 5u);

    lines = lines_;
    nlohmann::ordered_json reordered;
    json parsed = json::parse(lines[6]);
    for (const char* key : {"seq", "ts", "action", "details", "prev_hash", "hash"})
        reordered[key] = parsed[key];
    lines[6] = reordered.dump();
    write_text(path_, join_lines(lines));
    report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::not_canonical);
    EXPECT_EQ(report.line, 7u);
}

TEST_F(LedgerTamper, ReportNamesExpectedAndActualHash) {
    auto lines = lines_;
    json third = json::parse(lines[2]);
    const std::string real_hash = third["hash"];
    const std::string forged_hash = std::string(63, 'b') + (real_hash.back() == 'c' ? "d" : "c");
    lines[2].replace(lines[2].find(real_hash), real_hash.size(), forged_hash);
    write_text(path_, join_lines(lines));
    VerifyReport report = opa::ledger::verify(path_);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::hash_mismatch);
    EXPECT_EQ(report.expected, real_hash);
    EXPECT_EQ(report.actual, forged_hash);
    const std::string first_line =
        opa::ledger::format_report(report).substr(0, opa::ledger::format_report(report).find('\n'));
    EXPECT_EQ(first_line, "FAIL: " + path_.string() + ":3: hash mismatch: expected " + real_hash +
                              ", got " + forged_hash);
}

TEST(LedgerVerify, PassReportCountsEntriesAndNotesAMissingHead) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    generate_ledger(path);
    VerifyReport report = opa::ledger::verify(path);
    ASSERT_TRUE(report.ok);
    EXPECT_EQ(opa::ledger::format_report(report),
              "PASS: " + path.string() + " (" + std::to_string(kGeneratedEntries) + " entries)");

    fs::remove(opa::ledger::head_path_for(path));
    report = opa::ledger::verify(path);
    ASSERT_TRUE(report.ok) << "a missing head file is not a failure";
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(opa::ledger::format_report(report).find("\nnote: no head file"), std::string::npos);
}

TEST(LedgerVerify, EmptyLedgerPassesAndMissingLedgerFails) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    write_text(path, "");
    EXPECT_TRUE(opa::ledger::verify(path).ok);

    VerifyReport missing = opa::ledger::verify(dir.path() / "absent.jsonl");
    EXPECT_FALSE(missing.ok);
    EXPECT_EQ(missing.problem, Problem::io_error);
    EXPECT_NE(missing.message.find("No such file"), std::string::npos) << missing.message;
}

TEST(LedgerVerify, HostileLinesGiveErrorsNotCrashes) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    generate_ledger(path);
    const std::string good = read_text(path);
    const std::string hostile[] = {
        std::string(100000, '[') + std::string(100000, ']'),
        "{\"details\":" + std::string(100000, '[') + std::string(100000, ']') + "}",
        std::string("\0\0\0", 3),
        "{}",
        "[1,2,3]",
        R"({"seq":"1","ts":"x","action":"a","details":{},"prev_hash":"","hash":""})",
        R"({"action":"a","details":[],"hash":"","prev_hash":"","seq":31,"ts":"x"})",
        "\xff\xfe\xfd",
        // Every field present: a parser that recursed while re-serializing would overflow.
        R"({"action":"a","details":{"x":)" + std::string(200000, '[') + std::string(200000, ']') +
            R"(},"hash":"","prev_hash":"","seq":31,"ts":"x"})",
    };
    for (const std::string& line : hostile) {
        write_text(path, good + line + "\n");
        VerifyReport report = opa::ledger::verify(path);
        EXPECT_FALSE(report.ok);
        EXPECT_EQ(report.line, static_cast<std::uint64_t>(kGeneratedEntries + 1))
            << opa::ledger::format_report(report);
        EXPECT_FALSE(opa::ledger::format_report(report).empty());
    }
}

TEST(LedgerVerify, LongLinesSpanningReadBuffersVerify) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    {
        Ledger ledger(path);
        for (int i = 0; i < 5; ++i) ledger.append("big", {{"blob", std::string(700000, 'x')}});
    }
    VerifyReport report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, 5u);
    Ledger reopened(path);  // the tail scan must find a line longer than its first window
    EXPECT_EQ(reopened.head().seq, 5u);
}

// The original Rust agent's format.
namespace {
const char kV1Hash1[] = "9a94be936f49e12a9b22d6a2747a1cf7d26b2c087f245f282b7a93472ba5890b";
// Computed independently with Python's hashlib/struct/json for the chain below.
const char kV1Hash2[] = "69feff720ee9e6188050a6a0b30417c6e8ee38043e31f832889f778a6f39d5ac";
const char kV1Hash3[] = "d66f6a853aef4ae449f18398148ca4a370d84ff660d70c21d32d37a19753cd2f";

std::vector<std::string> v1_chain_lines() {
    // Key order as the Rust struct serialized it, not sorted.
    return {
        std::string(
            R"({"ts":1700000000,"action":"rename","details":{"bridge":"ovsbr0","new":"vi100","old":"veth100i0"},"prev_hash":"","hash":")") +
            kV1Hash1 + "\"}",
        std::string(
            R"({"ts":1700000060,"action":"add_port","details":{"bridge":"ovsbr0","port":"vi100"},"prev_hash":")") +
            kV1Hash1 + R"(","hash":")" + kV1Hash2 + "\"}",
        std::string(
            R"({"ts":1700000120,"action":"remove_port","details":{"port":"vi100","reason":"container stopped"},"prev_hash":")") +
            kV1Hash2 + R"(","hash":")" + kV1Hash3 + "\"}",
    };
}
}  // namespace

TEST(LedgerV1, TestVectorHashesExactly) {
    json details{{"bridge", "ovsbr0"}, {"new", "vi100"}, {"old", "veth100i0"}};
    EXPECT_EQ(opa::ledger::v1_entry_hash("", 1700000000, "rename", details), kV1Hash1);
}

TEST(LedgerV1, MultiEntryChainVerifies) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    write_text(path, join_lines(v1_chain_lines()));
    VerifyReport report = opa::ledger::verify(path);
    ASSERT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.format, Format::v1);
    EXPECT_EQ(report.lines_checked, 3u);
    EXPECT_EQ(
        opa::ledger::format_report(report).substr(0, opa::ledger::format_report(report).find('\n')),
        "PASS: " + path.string() + " (3 entries, v1 format)");

    auto entries = opa::ledger::read_all(path);
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].ts, "2023-11-14T22:13:20.000Z");
    EXPECT_EQ(entries[2].seq, 3u);
    EXPECT_EQ(opa::ledger::entries_for_port(path, "vi100").size(), 2u);
}

TEST(LedgerV1, TamperedV1ChainFailsAtTheRightLine) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    auto lines = v1_chain_lines();
    lines[1].replace(lines[1].find("vi100"), 5, "vi101");
    write_text(path, join_lines(lines));
    VerifyReport report = opa::ledger::verify(path);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::hash_mismatch);
    EXPECT_EQ(report.line, 2u);
    EXPECT_EQ(report.actual, kV1Hash2);

    lines = v1_chain_lines();
    lines.erase(lines.begin() + 1);
    write_text(path, join_lines(lines));
    report = opa::ledger::verify(path);
    ASSERT_FALSE(report.ok);
    EXPECT_EQ(report.problem, Problem::chain_break);
    EXPECT_EQ(report.line, 2u);
    EXPECT_EQ(report.expected, kV1Hash1);
    EXPECT_EQ(report.actual, kV1Hash2);
}

// The README's rule, implemented in Python (ledger/verify_ledger.py, quoted in the README),
// must accept what we write and reject a tampered copy.
TEST(LedgerDocumentedRule, IndependentPythonVerifierAcceptsOurLedger) {
    const fs::path python = "/usr/bin/python3";
    if (!fs::exists(python)) GTEST_SKIP() << "no " << python;
    const fs::path script = fs::path(OPA_SOURCE_ROOT) / "ledger" / "verify_ledger.py";
    ASSERT_TRUE(fs::exists(script)) << script;

    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    generate_ledger(path);
    ProcessResult result =
        run_command(python.string() + " " + script.string() + " " + path.string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output.rfind("OK: " + std::to_string(kGeneratedEntries) + " entries", 0), 0u)
        << result.output;

    std::string text = read_text(path);
    text[text.find("vi1")] = 'V';
    write_text(path, text);
    result = run_command(python.string() + " " + script.string() + " " + path.string());
    EXPECT_NE(result.exit_code, 0) << "the Python verifier must catch tampering: " << result.output;
}
