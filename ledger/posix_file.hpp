#pragma once

// Thin, throwing wrappers over the POSIX calls the ledger needs. Every failure becomes a
// LedgerError that names the path and the errno text. Internal to the ledger library.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "agent/unique_fd.hpp"
#include "ledger/entry.hpp"

namespace opa::ledger::posix {

[[noreturn]] void throw_errno(std::string_view what, const std::filesystem::path& path, int err);

// mkdir -p with mode 0750 for every directory this call creates.
void create_directories(const std::filesystem::path& dir);

// open(2) that retries on EINTR and throws on failure.
UniqueFd open_file(const std::filesystem::path& path, int flags, mode_t mode = 0);

// Like open_file but returns an empty UniqueFd when the file does not exist.
UniqueFd open_if_exists(const std::filesystem::path& path, int flags);

void write_all(int fd, std::string_view bytes, const std::filesystem::path& path);
void pread_exact(int fd, char* buffer, std::size_t size, off_t offset,
                 const std::filesystem::path& path);
void sync_file(int fd, const std::filesystem::path& path);
void sync_directory_of(const std::filesystem::path& path);
off_t file_size(int fd, const std::filesystem::path& path);

// Whole-file read; returns false (and leaves `out` empty) if the file does not exist.
bool read_file_if_exists(const std::filesystem::path& path, std::string& out);

// Replace `path` atomically: write a temporary next to it, fsync, rename over.
void replace_file_atomically(const std::filesystem::path& path, std::string_view contents);

// flock(LOCK_EX) for the lifetime of the guard; also excludes other processes.
class ExclusiveFileLock {
  public:
    ExclusiveFileLock(int fd, const std::filesystem::path& path);
    ~ExclusiveFileLock();
    ExclusiveFileLock(const ExclusiveFileLock&) = delete;
    ExclusiveFileLock& operator=(const ExclusiveFileLock&) = delete;

  private:
    int fd_;
};

}  // namespace opa::ledger::posix
