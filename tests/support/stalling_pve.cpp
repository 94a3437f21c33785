// stalling_pve BACKING MOUNTPOINT: a stand-in for pmxcfs (/etc/pve) that can stall. It shows the
// files of BACKING read-only at MOUNTPOINT; while BACKING/.stall-NAME exists, every look-up, open
// and read of a file named NAME (e.g. 100.conf) waits without answering, as pmxcfs does when the
// cluster loses quorum (the caller sits in uninterruptible sleep: not even SIGKILL ends it).
// Removing the flag answers them. Says "waiting: PATH" on stderr for each request it holds. Runs
// in the foreground until unmounted.
#include <fuse3/fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string backing;

std::string real_path(const char* path) { return backing + path; }

// Waits while the file's stall flag exists. Polls: the flag is the test's switch, and a stalled
// request must hold only its own thread (fuse's multi-threaded loop serves the others).
void wait_while_stalled(const char* path) {
    const char* slash = std::strrchr(path, '/');
    const std::string flag = backing + "/.stall-" + (slash ? slash + 1 : path);
    if (::access(flag.c_str(), F_OK) != 0) return;
    // The test waits for this line to know a request is held.
    std::fprintf(stderr, "waiting: %s\n", path);
    std::fflush(stderr);
    while (::access(flag.c_str(), F_OK) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::fprintf(stderr, "answered: %s\n", path);
    std::fflush(stderr);
}

int pve_getattr(const char* path, struct stat* st, fuse_file_info*) {
    wait_while_stalled(path);
    return ::lstat(real_path(path).c_str(), st) == 0 ? 0 : -errno;
}

int pve_readdir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t, fuse_file_info*,
                fuse_readdir_flags) {
    DIR* dir = ::opendir(real_path(path).c_str());
    if (!dir) return -errno;
    while (const dirent* entry = ::readdir(dir)) {
        if (std::strncmp(entry->d_name, ".stall-", 7) == 0) continue;
        fill(buffer, entry->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    }
    ::closedir(dir);
    return 0;
}

int pve_open(const char* path, fuse_file_info* info) {
    wait_while_stalled(path);
    if ((info->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
    const int fd = ::open(real_path(path).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    info->fh = static_cast<std::uint64_t>(fd);
    info->direct_io = 1;  // every read comes here, as pmxcfs's do
    return 0;
}

int pve_read(const char* path, char* buffer, size_t size, off_t offset, fuse_file_info* info) {
    wait_while_stalled(path);
    const ssize_t got = ::pread(static_cast<int>(info->fh), buffer, size, offset);
    return got < 0 ? -errno : static_cast<int>(got);
}

int pve_release(const char*, fuse_file_info* info) {
    ::close(static_cast<int>(info->fh));
    return 0;
}

void* pve_init(fuse_conn_info* connection, fuse_config* config) {
    // Look-ups in one directory in parallel: otherwise the kernel queues every look-up in lxc/
    // behind the held one, and a stall of one guest's file would stall all of them.
    if (connection->capable & FUSE_CAP_PARALLEL_DIROPS) {
        connection->want |= FUSE_CAP_PARALLEL_DIROPS;
    }
    // No caching of look-ups or attributes: a stalled file stalls every time.
    config->entry_timeout = 0;
    config->attr_timeout = 0;
    config->negative_timeout = 0;
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: stalling_pve BACKING MOUNTPOINT\n");
        return 2;
    }
    backing = argv[1];
    fuse_operations operations{};
    operations.getattr = pve_getattr;
    operations.readdir = pve_readdir;
    operations.open = pve_open;
    operations.read = pve_read;
    operations.release = pve_release;
    operations.init = pve_init;
    // Foreground, multi-threaded, readable by everyone (the agent runs in another namespace).
    char program[] = "stalling_pve";
    char foreground[] = "-f";
    char options[] = "-oallow_other,ro,fsname=stalling_pve";
    char* fuse_argv[] = {program, foreground, options, argv[2], nullptr};
    return fuse_main(4, fuse_argv, &operations, nullptr);
}
