#include "ledger/posix_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace opa::ledger::posix {

namespace fs = std::filesystem;

void throw_errno(std::string_view what, const fs::path& path, int err) {
    std::string message = "ledger: ";
    message += what;
    message += ' ';
    message += path.string();
    message += ": ";
    message += std::strerror(err);
    throw LedgerError(message, err);
}

void create_directories(const fs::path& dir) {
    if (dir.empty()) return;
    fs::path prefix;
    for (const auto& component : dir) {
        prefix /= component;
        if (::mkdir(prefix.c_str(), 0750) == 0 || errno == EEXIST) continue;
        // A component we may not create can still exist (e.g. "/" or a read-only parent).
        struct stat st {};
        if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        throw_errno("cannot create directory", prefix, errno);
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) throw_errno("cannot stat directory", dir, errno);
    if (!S_ISDIR(st.st_mode)) throw_errno("not a directory:", dir, ENOTDIR);
}

UniqueFd open_file(const fs::path& path, int flags, mode_t mode) {
    for (;;) {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
        if (fd >= 0) return UniqueFd(fd);
        if (errno != EINTR) throw_errno("cannot open", path, errno);
    }
}

UniqueFd open_if_exists(const fs::path& path, int flags) {
    for (;;) {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC);
        if (fd >= 0) return UniqueFd(fd);
        if (errno == ENOENT) return UniqueFd();
        if (errno != EINTR) throw_errno("cannot open", path, errno);
    }
}

void write_all(int fd, std::string_view bytes, const fs::path& path) {
    while (!bytes.empty()) {
        ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot write", path, errno);
        }
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
}

void pread_exact(int fd, char* buffer, std::size_t size, off_t offset, const fs::path& path) {
    while (size > 0) {
        ssize_t got = ::pread(fd, buffer, size, offset);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read", path, errno);
        }
        if (got == 0) throw_errno("unexpected end of file in", path, EIO);
        buffer += got;
        size -= static_cast<std::size_t>(got);
        offset += got;
    }
}

void sync_file(int fd, const fs::path& path) {
    while (::fsync(fd) != 0) {
        if (errno != EINTR) throw_errno("cannot fsync", path, errno);
    }
}

void sync_directory_of(const fs::path& path) {
    fs::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    UniqueFd dir_fd = open_file(dir, O_RDONLY | O_DIRECTORY);
    sync_file(dir_fd.get(), dir);
}

off_t file_size(int fd, const fs::path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("cannot stat", path, errno);
    return st.st_size;
}

bool read_file_if_exists(const fs::path& path, std::string& out) {
    out.clear();
    UniqueFd fd = open_if_exists(path, O_RDONLY);
    if (!fd) return false;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read", path, errno);
        }
        if (got == 0) return true;
        out.append(buffer, static_cast<std::size_t>(got));
    }
}

void replace_file_atomically(const fs::path& path, std::string_view contents) {
    // Callers hold the ledger lock, so one fixed temporary name cannot be raced by another
    // cooperating writer; O_TRUNC discards what a crashed writer may have left behind.
    fs::path temporary = path;
    temporary += ".tmp";
    try {
        {
            UniqueFd fd = open_file(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0640);
            write_all(fd.get(), contents, temporary);
            sync_file(fd.get(), temporary);
        }
        if (::rename(temporary.c_str(), path.c_str()) != 0)
            throw_errno("cannot rename", temporary, errno);
    } catch (...) {
        // A full disk leaves no empty or partial temporary behind.
        (void)::unlink(temporary.c_str());
        throw;
    }
}

ExclusiveFileLock::ExclusiveFileLock(int fd, const fs::path& path) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) throw_errno("cannot lock", path, errno);
    }
}

ExclusiveFileLock::~ExclusiveFileLock() { ::flock(fd_, LOCK_UN); }

}  // namespace opa::ledger::posix
