// Writes the agent's block into /etc/network/interfaces (and into a pending
// /etc/network/interfaces.new) atomically and durably, under Proxmox's lock file.
//
// One update, under an exclusive flock(2) of the lock file (default
// `<dir of interfaces_path>/.pve-interfaces.lock`, the lock the Proxmox GUI takes while it edits):
//   for the interfaces file, then `<interfaces_path>.new` if it exists:
//     read it; new text = apply_block(old text, ...); if equal, do not write at all;
//     else write a temp file in the same directory, fchown/fchmod it to the old file's owner and
//     mode, fsync it, rename it over the file, fsync the directory.
// A missing interfaces file is created with just the block, mode 0644. A symlinked file is
// written through to its target. `.new` matters because "Apply Configuration" renames it over
// the real file: a block missing there would vanish at the next apply.
// The lock file is created 0600, and narrowed to 0600 when it exists with another mode: any
// user who can open it can flock(2) it and hold up every writer.
// Errors throw InterfacesError (naming the path and the errno text); the old file is then
// untouched and the temp file removed. Exception: when only the final directory fsync fails, the
// new content is already in place but may not survive a crash. Library code: no logging.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ifupdown/block.hpp"

namespace opa::ifupdown {

class InterfacesError : public std::runtime_error {
  public:
    // what(): "<path>: <operation> failed: <strerror(error_number)>".
    InterfacesError(std::filesystem::path path, std::string operation, int error_number);
    const std::filesystem::path& path() const { return path_; }
    const std::string& operation() const { return operation_; }
    int error_number() const { return error_number_; }

  private:
    std::filesystem::path path_;
    std::string operation_;
    int error_number_;
};

// The lock was still held by someone else when the wait given to update() ended.
class LockBusyError : public InterfacesError {
  public:
    LockBusyError(std::filesystem::path lock_path, std::vector<pid_t> holders);
    // Who held it then, from /proc/locks (empty when unknown).
    const std::vector<pid_t>& holders() const { return holders_; }

  private:
    std::vector<pid_t> holders_;
};

// The processes holding a flock(2) or POSIX lock on the file with this inode, from the text of
// /proc/locks (waiters excluded).
std::vector<pid_t> parse_lock_holders(std::string_view proc_locks, ino_t inode);
// The same for the file at `lock_path`, read from /proc/locks now (empty when unknown).
std::vector<pid_t> lock_holders(const std::filesystem::path& lock_path);

// The system calls whose failure matters for durability, behind a seam so tests can make them
// fail (ENOSPC on write, EIO on fsync) without a full disk. Defaults call the real thing.
class FileOps {
  public:
    virtual ~FileOps() = default;
    virtual ssize_t write(int fd, const void* data, std::size_t size);
    virtual int fsync(int fd);
    virtual int rename(const char* from, const char* to);
};

struct UpdateResult {
    bool interfaces_written = false;  // the interfaces file was (re)written or created
    bool pending_present = false;     // <interfaces_path>.new existed
    bool pending_written = false;     // ... and was rewritten
    bool wrote() const { return interfaces_written || pending_written; }
};

class InterfacesFile {
  public:
    // `lock_path` empty: default_lock_path(interfaces_path). `ops` null: the real system calls.
    explicit InterfacesFile(std::filesystem::path interfaces_path,
                            std::filesystem::path lock_path = {},
                            std::shared_ptr<FileOps> ops = nullptr);

    static std::filesystem::path default_lock_path(const std::filesystem::path& interfaces_path);
    static std::filesystem::path pending_path(const std::filesystem::path& interfaces_path);

    const std::filesystem::path& path() const { return interfaces_path_; }
    const std::filesystem::path& lock_path() const { return lock_path_; }

    // Puts one clean block for `ports` into the file and its pending copy (see the top of this
    // file). Throws InvalidInputError (before touching anything) or InterfacesError. Waits
    // while another process holds the lock: without bound, or at most `lock_wait`, after which
    // it throws LockBusyError and has changed nothing.
    UpdateResult update(std::string_view tag, std::string_view bridge,
                        const std::vector<Port>& ports, const ApplyOptions& options = {},
                        std::optional<std::chrono::milliseconds> lock_wait = std::nullopt);

    // The file's text; empty when it does not exist. Throws InterfacesError.
    std::string read() const;

  private:
    std::filesystem::path interfaces_path_;
    std::filesystem::path lock_path_;
    std::shared_ptr<FileOps> ops_;
};

}  // namespace opa::ifupdown
