#include "ifupdown/interfaces_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "agent/unique_fd.hpp"

namespace opa::ifupdown {
namespace {

namespace fs = std::filesystem;

constexpr mode_t kNewFileMode = 0644;
constexpr mode_t kLockFileMode = 0644;

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

// Holds an exclusive flock(2) on the lock file for its lifetime.
class LockGuard {
  public:
    explicit LockGuard(const fs::path& lock_path)
        : fd_(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kLockFileMode)) {
        if (!fd_) fail(lock_path, "opening the lock file", errno);
        while (::flock(fd_.get(), LOCK_EX) != 0) {
            if (errno != EINTR) fail(lock_path, "flock", errno);
        }
    }

  private:
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

UpdateResult InterfacesFile::update(std::string_view tag, std::string_view bridge,
                                    const std::vector<Port>& ports, const ApplyOptions& options) {
    if (auto problem = validate_block_input(tag, bridge, ports)) throw InvalidInputError(*problem);
    const LockGuard lock(lock_path_);
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
