// Fuzz target: ledger::verify over arbitrary bytes as a ledger file (written to a private
// temporary directory; verify reads a path, and no head file exists).
// Properties: verify never throws and never crashes; a file it passes in the v2 format is, line
// by line, the canonical serialization of its entries with a correct seq and hash chain
// (checked here with the general JSON path, independent of the verifier's fast path), and the
// reader reads every entry back; changing any one byte of a passed v2 file makes it fail.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>

#include "fuzz_check.hpp"
#include "ledger/entry.hpp"
#include "ledger/reader.hpp"
#include "ledger/verify.hpp"

namespace ledger = opa::ledger;

namespace {

// A private directory for the process's one ledger file, removed at exit (libFuzzer exits
// normally at -max_total_time; after a crash it stays, like the crash input).
class ScratchDir {
  public:
    ScratchDir() {
        char dir[] = "/tmp/opa-fuzz-ledger.XXXXXX";
        if (::mkdtemp(dir) == nullptr) std::abort();
        dir_ = dir;
        file_ = dir_ / "ledger.jsonl";
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& file() const { return file_; }

  private:
    std::filesystem::path dir_;
    std::filesystem::path file_;
};

const std::filesystem::path& ledger_path() {
    static const ScratchDir scratch;
    return scratch.file();
}

void write_file(std::string_view bytes) {
    const int fd = ::open(ledger_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

// Re-checks a passed v2 file without the verifier's fast path.
void check_passed_v2(std::string_view text, const ledger::VerifyReport& report) {
    std::string prev_hash(ledger::kGenesisPrevHash);
    std::uint64_t seq = 0;
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        FUZZ_CHECK(newline != std::string_view::npos);
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        nlohmann::json object = nlohmann::json::parse(line);
        const ledger::Entry entry = ledger::entry_from_json(object);
        FUZZ_CHECK(ledger::canonical_line(entry) == line);
        FUZZ_CHECK(entry.seq == ++seq);
        FUZZ_CHECK(entry.prev_hash == prev_hash);
        object.erase("hash");
        FUZZ_CHECK(ledger::entry_hash(object, prev_hash) == entry.hash);
        prev_hash = entry.hash;
    }
    FUZZ_CHECK(report.lines_checked == seq && report.last_seq == seq);
    FUZZ_CHECK(report.last_hash == prev_hash);
    FUZZ_CHECK(ledger::read_all(ledger_path()).size() == seq);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    write_file(text);
    const ledger::VerifyReport report = ledger::verify(ledger_path());
    FUZZ_CHECK(!ledger::format_report(report).empty());
    if (!report.ok) {
        FUZZ_CHECK(report.problem != ledger::Problem::none);
        return 0;
    }
    FUZZ_CHECK(report.problem == ledger::Problem::none);
    if (report.format != ledger::Format::v2 || text.empty()) return 0;
    check_passed_v2(text, report);

    // Any single changed byte is corruption. Which byte and how: from the content itself, so
    // the check is deterministic for the input.
    std::uint64_t mix = 1469598103934665603ULL;
    for (const unsigned char byte : text) mix = (mix ^ byte) * 1099511628211ULL;
    std::string changed = text;
    changed[mix % changed.size()] ^= static_cast<char>(1u << ((mix >> 32) % 8));
    write_file(changed);
    FUZZ_CHECK(!ledger::verify(ledger_path()).ok);
    return 0;
}
