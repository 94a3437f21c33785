#include "fs/ledger_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "ledger/canonical_line.hpp"
#include "ledger/reader.hpp"

namespace opa::fs {
namespace {

// pread of exactly `size` bytes at `offset`; false on an error or a short file.
bool pread_all(int fd, char* buffer, std::size_t size, std::uint64_t offset) {
    std::size_t got = 0;
    while (got < size) {
        const ssize_t n = ::pread(fd, buffer + got, size - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::shared_ptr<LedgerIndex> LedgerIndex::open(const std::filesystem::path& path, int& error) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
        error = errno;
        return nullptr;
    }
    error = 0;
    std::shared_ptr<LedgerIndex> index(new LedgerIndex(path, std::move(fd), st.st_dev, st.st_ino));
    index->catch_up();
    return index;
}

LedgerIndex::LedgerIndex(std::filesystem::path path, UniqueFd fd, dev_t dev, ino_t ino)
    : path_(std::move(path)), fd_(std::move(fd)), dev_(dev), ino_(ino) {}

bool LedgerIndex::catch_up() {
    struct stat st {};
    std::lock_guard lock(mutex_);
    if (::fstat(fd_.get(), &st) != 0) return true;  // nothing new can be read either
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < indexed_end_) return false;
    if (size == scanned_size_) return true;
    scanned_size_ = size;
    std::uint64_t end = indexed_end_;
    std::uint64_t lines = lines_before_;
    try {
        ledger::for_each_entry_from(
            fd_.get(), path_, indexed_end_, lines_before_,
            [&](std::uint64_t offset, std::string_view line, const ledger::Entry& entry) {
                end = offset + line.size() + 1;
                ++lines;
                auto port = entry.details.find("port");
                if (port == entry.details.end() || !port->is_string()) return;
                ledger::canonical::LineParts parts;
                const bool verbatim = ledger::canonical::split_canonical_line(line, parts);
                const std::size_t text_length =
                    verbatim ? line.size() + 1 : ledger::canonical_line(entry).size() + 1;
                if (line.size() >= std::numeric_limits<std::uint32_t>::max() ||
                    text_length >= std::numeric_limits<std::uint32_t>::max()) {
                    throw ledger::LedgerError("ledger: " + path_.string() + ":" +
                                              std::to_string(lines) + ": line too long");
                }
                const auto& name = port->get_ref<const std::string&>();
                auto it = ports_.find(name);
                if (it == ports_.end()) it = ports_.emplace(name, PortLines{}).first;
                PortLines& text = it->second;
                text.lines.push_back({offset, text.size, verbatim ? 0 : lines,
                                      static_cast<std::uint32_t>(line.size()),
                                      static_cast<std::uint32_t>(text_length)});
                text.size += text_length;
                ++lines_indexed_;
            });
        error_.clear();
    } catch (const std::exception& e) {
        error_ = e.what();
    }
    // What was read up to the end of the last whole line (a bad line is read again next time).
    bytes_scanned_ += size - indexed_end_;
    indexed_end_ = end;
    lines_before_ = lines;
    return true;
}

LedgerIndex::PortText LedgerIndex::port_text(const std::string& port) const {
    std::lock_guard lock(mutex_);
    auto it = ports_.find(port);
    if (it == ports_.end() || !error_.empty()) return {};
    return {it->second.lines.size(), it->second.size};
}

int LedgerIndex::read_port(const std::string& port, std::size_t lines, std::uint64_t offset,
                           std::size_t size, std::string& out) const {
    out.clear();
    std::vector<LineRef> wanted;
    {
        std::lock_guard lock(mutex_);
        if (!error_.empty()) return EIO;
        auto it = ports_.find(port);
        if (it == ports_.end()) return 0;
        const std::vector<LineRef>& all = it->second.lines;
        const auto last = all.begin() + static_cast<std::ptrdiff_t>(std::min(lines, all.size()));
        // The first line that ends after `offset`.
        auto first =
            std::upper_bound(all.begin(), last, offset, [](std::uint64_t at, const LineRef& line) {
                return at < line.text_offset + line.text_length;
            });
        for (auto line = first; line != last && line->text_offset < offset + size; ++line) {
            wanted.push_back(*line);
        }
    }
    std::string raw;
    for (const LineRef& line : wanted) {
        raw.resize(std::size_t{line.raw_length} + 1);
        if (!pread_all(fd_.get(), raw.data(), raw.size(), line.file_offset) || raw.back() != '\n') {
            return EIO;
        }
        std::string text;
        if (line.render_as_line == 0) {
            text = std::move(raw);
        } else {
            try {
                raw.pop_back();
                text = ledger::canonical_line(ledger::parse_line(raw, line.render_as_line, path_)) +
                       "\n";
            } catch (const std::exception&) {
                return EIO;
            }
        }
        if (text.size() != line.text_length) return EIO;
        const std::uint64_t from = offset > line.text_offset ? offset - line.text_offset : 0;
        const std::uint64_t until =
            std::min<std::uint64_t>(line.text_length, offset + size - line.text_offset);
        out.append(text, static_cast<std::size_t>(from), static_cast<std::size_t>(until - from));
    }
    return 0;
}

std::string LedgerIndex::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

std::uint64_t LedgerIndex::bytes_scanned() const {
    std::lock_guard lock(mutex_);
    return bytes_scanned_;
}

std::uint64_t LedgerIndex::lines_indexed() const {
    std::lock_guard lock(mutex_);
    return lines_indexed_;
}

std::shared_ptr<LedgerIndex> LedgerSource::current(int& error) {
    std::lock_guard lock(mutex_);
    struct stat st {};
    if (path_.empty() || ::stat(path_.c_str(), &st) != 0) {
        error = path_.empty() ? ENOENT : errno;
        index_.reset();
        return nullptr;
    }
    error = 0;
    if (index_ && index_->dev() == st.st_dev && index_->ino() == st.st_ino && index_->catch_up()) {
        return index_;
    }
    // New, replaced or rewritten: handles open on the old one keep it (and its descriptor).
    index_ = LedgerIndex::open(path_, error);
    return index_;
}

}  // namespace opa::fs
