#include "ledger/reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ledger/canonical_line.hpp"
#include "ledger/posix_file.hpp"

namespace opa::ledger {

namespace fs = std::filesystem;
using nlohmann::json;

Entry parse_line(std::string_view line, std::uint64_t line_number, const fs::path& path) {
    auto where = [&] {
        return "ledger: " + path.string() + ":" + std::to_string(line_number) + ": ";
    };
    if (canonical::nesting_deeper_than(line, canonical::kMaxNesting))
        throw LedgerError(where() + "nested too deeply");
    json object = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded() || !object.is_object())
        throw LedgerError(where() + "not a JSON object");
    auto ts = object.find("ts");
    if (!object.contains("seq") && ts != object.end() && ts->is_number_integer()) {
        Entry entry;  // v1: no seq, ts in unix seconds
        entry.seq = line_number;
        entry.ts = format_utc_timestamp(
            std::chrono::system_clock::time_point(std::chrono::seconds(ts->get<std::int64_t>())));
        auto text = [&](const char* name) {
            auto it = object.find(name);
            return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        entry.action = text("action");
        entry.prev_hash = text("prev_hash");
        entry.hash = text("hash");
        auto details = object.find("details");
        if (details != object.end() && details->is_object()) entry.details = *details;
        return entry;
    }
    try {
        return entry_from_json(object);
    } catch (const LedgerError& error) {
        throw LedgerError(where() + error.what());
    }
}

void for_each_entry_from(
    int fd, const fs::path& ledger_path, std::uint64_t offset, std::uint64_t lines_before,
    const std::function<void(std::uint64_t, std::string_view, const Entry&)>& visit) {
    std::string pending;                // bytes after the last '\n' seen so far
    std::uint64_t pending_at = offset;  // file offset of pending[0]
    std::uint64_t read_at = offset;
    char buffer[64 * 1024];
    std::uint64_t line_number = lines_before;
    for (;;) {
        ssize_t got = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(read_at));
        if (got < 0) {
            if (errno == EINTR) continue;
            posix::throw_errno("cannot read", ledger_path, errno);
        }
        if (got == 0) return;  // an unterminated last line is a writer mid-append: skip it
        read_at += static_cast<std::uint64_t>(got);
        pending.append(buffer, static_cast<std::size_t>(got));
        std::size_t line_start = 0;
        for (std::size_t newline; (newline = pending.find('\n', line_start)) != std::string::npos;
             line_start = newline + 1) {
            ++line_number;
            const std::string_view line =
                std::string_view(pending).substr(line_start, newline - line_start);
            visit(pending_at + line_start, line, parse_line(line, line_number, ledger_path));
        }
        pending.erase(0, line_start);
        pending_at += line_start;
    }
}

void for_each_entry(const fs::path& ledger_path, const std::function<void(const Entry&)>& visit) {
    UniqueFd fd = posix::open_file(ledger_path, O_RDONLY);
    for_each_entry_from(fd.get(), ledger_path, 0, 0,
                        [&](std::uint64_t, std::string_view, const Entry& entry) { visit(entry); });
}

std::vector<Entry> read_all(const fs::path& ledger_path) {
    std::vector<Entry> entries;
    for_each_entry(ledger_path, [&](const Entry& entry) { entries.push_back(entry); });
    return entries;
}

std::vector<Entry> entries_for_port(const fs::path& ledger_path, std::string_view port) {
    std::vector<Entry> entries;
    for_each_entry(ledger_path, [&](const Entry& entry) {
        auto it = entry.details.find("port");
        if (it != entry.details.end() && it->is_string() &&
            it->get_ref<const std::string&>() == port)
            entries.push_back(entry);
    });
    return entries;
}

}  // namespace opa::ledger
