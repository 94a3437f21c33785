// A "full disk" for tests without root or a mount: RLIMIT_FSIZE makes the process's writes past
// a size fail (with SIGXFSZ ignored, write() returns EFBIG, as a full disk's returns ENOSPC).
// The limit is the whole process's and applies to every regular file it writes (also test output
// redirected to a file, not to a pipe): keep the limited stretch short, lift() it (or let the
// object go) before writing elsewhere.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>

namespace opa::test {

class FileSizeLimit {
  public:
    FileSizeLimit() {
        ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &saved_);
    }
    ~FileSizeLimit() { lift(); }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    // Writes past `bytes` fail from now on.
    void limit(std::uintmax_t bytes) {
        rlimit limited = saved_;
        limited.rlim_cur = static_cast<rlim_t>(bytes);
        ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
    }
    void lift() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

  private:
    rlimit saved_{};
};

}  // namespace opa::test
