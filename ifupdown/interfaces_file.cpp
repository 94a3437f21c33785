#include "ifupdown/interfaces_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>
#include <utility>

#include "agent/unique_fd.hpp"

namespace opa::ifupdown {
namespace {

namespace fs = std::filesystem;

constexpr mode_t kNewFileMode = 0644;
// Only root may take the lock: anyone who can open the file can flock(2) it, even read-only.
constexpr mode_t kLockFileMode = 0600;
constexpr auto kLockPollInterval = std::chrono::milliseconds(20);

[[noreturn]] void fail(const fs::path& path, const std::string& operation, int error_number) {
    throw InterfacesError(path, operation, error_number);
}

struct FileContent {
    std::string text;
    struct stat status {};
};

// nullopt when the file does not exist.
std::optional<FileContent> read_file(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        fail(path, "open", errno);
    }
    FileContent content;
    if (::fstat(fd.get(), &content.status) != 0) fail(path, "fstat", errno);
    char buffer[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(path, "read", errno);
        }
        if (n == 0) break;
        content.text.append(buffer, static_cast<std::size_t>(n));
    }
    return content;
}

// The file a path names, following a symlink so that we replace the target, not the link.
fs::path resolve_target(const fs::path& path) {
    std::error_code error;
    if (!fs::is_symlink(fs::symlink_status(path, error))) return path;
    fs::path target = fs::canonical(path, error);
    if (error) fail(path, "resolving the symlink", error.value());
    return target;
}

// The temp file: removed on destruction unless it was renamed into place.
class TempFile {
  public:
    explicit TempFile(const fs::path& target) {
        const fs::path directory = target.has_parent_path() ? target.parent_path() : ".";
        std::string pattern =
            (directory / ("." + target.filename().string() + ".opa-XXXXXX")).string();
        fd_.reset(::mkostemp(pattern.data(), O_CLOEXEC));
        if (!fd_) fail(target, "creating a temporary file in " + directory.string(), errno);
        path_ = pattern;
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        fd_.reset();
        if (!renamed_) ::unlink(path_.c_str());
    }
    int fd() const { return fd_.get(); }
    const fs::path& path() const { return path_; }
    // close(2) can report a delayed write error (NFS); it must be checked.
    int close() { return fd_.close(); }
    void mark_renamed() { renamed_ = true; }

  private:
    UniqueFd fd_;
    fs::path path_;
    bool renamed_ = false;
};

void write_all(FileOps& ops, const TempFile& temp, const fs::path& target, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ops.write(temp.fd(), data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(target, "writing " + temp.path().string(), errno);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Replaces `target` with `text` atomically and durably, with the given mode and (when set) owner.
void write_atomically(FileOps& ops, const fs::path& target, std::string_view text, mode_t mode,
                      const std::optional<std::pair<uid_t, gid_t>>& owner) {
    TempFile temp(target);
    if (owner) {
        struct stat temp_status {};
        if (::fstat(temp.fd(), &temp_status) != 0)
            fail(target, "fstat of " + temp.path().string(), errno);
        // Only when it differs: an unprivileged caller may not chown, even to itself.
        if ((temp_status.st_uid != owner->first || temp_status.st_gid != owner->second) &&
            ::fchown(temp.fd(), owner->first, owner->second) != 0) {
            fail(target, "fchown of " + temp.path().string(), errno);
        }
    }
    // After fchown, which may clear set-id bits.
    if (::fchmod(temp.fd(), mode & 07777) != 0) {
        fail(target, "fchmod of " + temp.path().string(), errno);
    }
    write_all(ops, temp, target, text);
    if (ops.fsync(temp.fd()) != 0) fail(target, "fsync of " + temp.path().string(), errno);
    if (temp.close() != 0) fail(target, "close of " + temp.path().string(), errno);
    if (ops.rename(temp.path().c_str(), target.c_str()) != 0) {
        fail(target, "rename of " + temp.path().string(), errno);
    }
    temp.mark_renamed();
    // The rename is durable only once the directory is on disk.
    const fs::path directory = target.has_parent_path() ? target.parent_path() : ".";
    UniqueFd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory_fd) fail(target, "opening directory " + directory.string(), errno);
    if (ops.fsync(directory_fd.get()) != 0) {
        fail(target, "fsync of directory " + directory.string(), errno);
    }
}

// Holds an exclusive flock(2) on the lock file for its lifetime. Waits for it without bound, or
// at most `wait` and then throws LockBusyError.
class LockGuard {
  public:
    LockGuard(const fs::path& lock_path, std::optional<std::chrono::milliseconds> wait)
        : fd_(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kLockFileMode)) {
        if (!fd_) fail(lock_path, "opening the lock file", errno);
        restrict_mode(lock_path);
        if (!wait) {
            while (::flock(fd_.get(), LOCK_EX) != 0) {
                if (errno != EINTR) fail(lock_path, "flock", errno);
            }
            return;
        }
        // Polled: a blocking flock(2) cannot be given a deadline without a signal.
        const auto deadline = std::chrono::steady_clock::now() + *wait;
        while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EINTR) continue;
            if (errno != EWOULDBLOCK) fail(lock_path, "flock", errno);
            if (std::chrono::steady_clock::now() >= deadline) {
                throw LockBusyError(lock_path, lock_holders(lock_path));
            }
            std::this_thread::sleep_for(kLockPollInterval);
        }
    }

  private:
    // A lock file made by someone else with a laxer mode (Proxmox's own is 0644) is narrowed.
    void restrict_mode(const fs::path& lock_path) {
        struct stat status {};
        if (::fstat(fd_.get(), &status) != 0) fail(lock_path, "fstat of the lock file", errno);
        if ((status.st_mode & 07777) != kLockFileMode && status.st_uid == ::geteuid() &&
            ::fchmod(fd_.get(), kLockFileMode) != 0) {
            fail(lock_path, "fchmod of the lock file", errno);
        }
    }

    UniqueFd fd_;  // closing it releases the lock
};

// Applies the block to one file; true when it wrote.
bool update_one(FileOps& ops, const fs::path& path, bool create_if_missing, std::string_view tag,
                std::string_view bridge, const std::vector<Port>& ports,
                const ApplyOptions& options) {
    const fs::path target = resolve_target(path);
    const std::optional<FileContent> old_content = read_file(target);
    if (!old_content && !create_if_missing) return false;
    const std::string old_text = old_content ? old_content->text : std::string();
    const std::string new_text = apply_block(old_text, tag, bridge, ports, options);
    if (old_content && new_text == old_text) return false;
    if (old_content) {
        write_atomically(ops, target, new_text, old_content->status.st_mode,
                         std::make_pair(old_content->status.st_uid, old_content->status.st_gid));
    } else {
        write_atomically(ops, target, new_text, kNewFileMode, std::nullopt);
    }
    return true;
}

}  // namespace

InterfacesError::InterfacesError(std::filesystem::path path, std::string operation,
                                 int error_number)
    : std::runtime_error(path.string() + ": " + operation +
                         " failed: " + std::strerror(error_number)),
      path_(std::move(path)),
      operation_(std::move(operation)),
      error_number_(error_number) {}

ssize_t FileOps::write(int fd, const void* data, std::size_t size) {
    return ::write(fd, data, size);
}
int FileOps::fsync(int fd) { return ::fsync(fd); }
int FileOps::rename(const char* from, const char* to) { return ::rename(from, to); }

InterfacesFile::InterfacesFile(std::filesystem::path interfaces_path,
                               std::filesystem::path lock_path, std::shared_ptr<FileOps> ops)
    : interfaces_path_(std::move(interfaces_path)),
      lock_path_(lock_path.empty() ? default_lock_path(interfaces_path_) : std::move(lock_path)),
      ops_(ops ? std::move(ops) : std::make_shared<FileOps>()) {}

std::filesystem::path InterfacesFile::default_lock_path(
    const std::filesystem::path& interfaces_path) {
    const fs::path directory =
        interfaces_path.has_parent_path() ? interfaces_path.parent_path() : ".";
    return directory / ".pve-interfaces.lock";
}

std::filesystem::path InterfacesFile::pending_path(const std::filesystem::path& interfaces_path) {
    fs::path pending = interfaces_path;
    pending += ".new";
    return pending;
}

LockBusyError::LockBusyError(std::filesystem::path lock_path, std::vector<pid_t> holders)
    : InterfacesError(std::move(lock_path), "taking the lock", EWOULDBLOCK),
      holders_(std::move(holders)) {}

std::vector<pid_t> parse_lock_holders(std::string_view proc_locks, ino_t inode) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line has "->" after the
    // number and is not a holder.
    std::vector<pid_t> holders;
    const std::string wanted = ":" + std::to_string(inode);
    while (!proc_locks.empty()) {
        const std::size_t end = proc_locks.find('\n');
        std::string_view line = proc_locks.substr(0, end);
        proc_locks.remove_prefix(end == std::string_view::npos ? proc_locks.size() : end + 1);
        if (line.find("->") != std::string_view::npos) continue;
        std::vector<std::string_view> fields;
        while (!line.empty()) {
            const std::size_t start = line.find_first_not_of(' ');
            if (start == std::string_view::npos) break;
            line.remove_prefix(start);
            const std::size_t stop = line.find(' ');
            fields.push_back(line.substr(0, stop));
            line.remove_prefix(stop == std::string_view::npos ? line.size() : stop);
        }
        // number, type, advisory, mode, pid, dev:inode, start, end
        if (fields.size() < 6) continue;
        const std::string_view device_inode = fields[5];
        const std::size_t colon = device_inode.rfind(':');
        if (colon == std::string_view::npos || device_inode.substr(colon) != wanted) continue;
        pid_t pid = 0;
        const std::string_view pid_text = fields[4];
        const auto [ptr, error] =
            std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
        if (error == std::errc() && ptr == pid_text.data() + pid_text.size() && pid > 0) {
            holders.push_back(pid);
        }
    }
    return holders;
}

std::vector<pid_t> lock_holders(const std::filesystem::path& lock_path) {
    struct stat status {};
    if (::stat(lock_path.c_str(), &status) != 0) return {};
    std::ifstream locks("/proc/locks");
    const std::string text((std::istreambuf_iterator<char>(locks)),
                           std::istreambuf_iterator<char>());
    return parse_lock_holders(text, status.st_ino);
}

UpdateResult InterfacesFile::update(std::string_view tag, std::string_view bridge,
                                    const std::vector<Port>& ports, const ApplyOptions& options,
                                    std::optional<std::chrono::milliseconds> lock_wait) {
    if (auto problem = validate_block_input(tag, bridge, ports)) throw InvalidInputError(*problem);
    const LockGuard lock(lock_path_, lock_wait);
    UpdateResult result;
    result.interfaces_written =
        update_one(*ops_, interfaces_path_, true, tag, bridge, ports, options);
    // Checked under the lock: the GUI creates interfaces.new while holding it.
    const fs::path pending = pending_path(interfaces_path_);
    std::error_code error;
    result.pending_present = fs::exists(fs::symlink_status(pending, error));
    if (result.pending_present) {
        result.pending_written = update_one(*ops_, pending, false, tag, bridge, ports, options);
    }
    return result;
}

std::string InterfacesFile::read() const {
    const std::optional<FileContent> content = read_file(interfaces_path_);
    return content ? content->text : std::string();
}

}  // namespace opa::ifupdown
