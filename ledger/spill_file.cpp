#include "ledger/spill_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "ledger/posix_file.hpp"

namespace opa::ledger {

std::string spill_line(const NewEntry& entry) {
    nlohmann::json line = {{"action", entry.action}, {"details", entry.details}};
    return canonical_json(line) + "\n";
}

SpillFile::SpillFile(std::filesystem::path path, std::uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

bool SpillFile::append(const NewEntry& entry) {
    const std::string line = spill_line(entry);
    if (bytes_ + line.size() > max_bytes_) return false;
    if (!fd_) {
        posix::create_directories(path_.parent_path());
        fd_ = posix::open_file(path_, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        bytes_ = static_cast<std::uint64_t>(posix::file_size(fd_.get(), path_));
    }
    const off_t before = static_cast<off_t>(bytes_);
    try {
        posix::write_all(fd_.get(), line, path_);
        posix::sync_file(fd_.get(), path_);
    } catch (const LedgerError&) {
        // Nothing half-written stays: a later append must start on a line of its own.
        if (::ftruncate(fd_.get(), before) != 0) fd_.reset();
        throw;
    }
    bytes_ += line.size();
    return true;
}

void SpillFile::replace(const std::deque<NewEntry>& entries) {
    if (entries.empty()) {
        remove();
        return;
    }
    std::string text;
    for (const NewEntry& entry : entries) {
        const std::string line = spill_line(entry);
        if (text.size() + line.size() > max_bytes_) break;
        text += line;
    }
    fd_.reset();
    posix::replace_file_atomically(path_, text);
    bytes_ = text.size();
}

void SpillFile::remove() {
    fd_.reset();
    bytes_ = 0;
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
        posix::throw_errno("unlink", path_, errno);
    }
}

SpillContents SpillFile::read(const std::filesystem::path& path) {
    SpillContents contents;
    std::string text;
    if (!posix::read_file_if_exists(path, text)) return contents;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            ++contents.bad_lines;  // torn by a crash mid-append
            break;
        }
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        const nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
        if (!value.is_object() || !value.contains("action") || !value["action"].is_string() ||
            !value.contains("details") || !value["details"].is_object()) {
            ++contents.bad_lines;
            continue;
        }
        contents.entries.push_back(NewEntry{value["action"].get<std::string>(), value["details"]});
    }
    return contents;
}

}  // namespace opa::ledger
