// Tests of InterfacesFile in a temp directory: no write when nothing changes, mode and owner
// kept, interfaces.new kept in step, the lock held while writing (and waited for), and failures
// (ENOSPC, EIO, a failed rename) leaving the old file untouched and no temp file behind.
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ifupdown/interfaces_file.hpp"
#include "tests/support/wait.hpp"

namespace opa::ifupdown {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kTag = "ovs-port-agent";
constexpr std::string_view kBridge = "ovsbr0";
const std::vector<Port> kPorts = {{"vi100", 10, {}}, {"vi101", std::nullopt, {{20, 20}}}};
const std::string kAdminText = "auto lo\niface lo inet loopback\n";

class IfupdownWriter : public testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "opa-ifupdown-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        path_ = dir_ / "interfaces";
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    static void write_text(const fs::path& path, const std::string& text) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << text;
    }
    static std::string read_text(const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }
    static struct stat stat_of(const fs::path& path) {
        struct stat status {};
        EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
        return status;
    }
    std::set<std::string> entries() const {
        std::set<std::string> names;
        for (const auto& entry : fs::directory_iterator(dir_)) {
            names.insert(entry.path().filename().string());
        }
        return names;
    }

    fs::path dir_;
    fs::path path_;
};

TEST_F(IfupdownWriter, DefaultLockAndPendingPaths) {
    EXPECT_EQ(InterfacesFile::default_lock_path("/etc/network/interfaces"),
              fs::path("/etc/network/.pve-interfaces.lock"));
    EXPECT_EQ(InterfacesFile::pending_path("/etc/network/interfaces"),
              fs::path("/etc/network/interfaces.new"));
    EXPECT_EQ(InterfacesFile(path_).lock_path(), dir_ / ".pve-interfaces.lock");
}

TEST_F(IfupdownWriter, MissingFileCreatedWithJustTheBlockMode0644) {
    const mode_t old_umask = ::umask(077);
    const UpdateResult result = InterfacesFile(path_).update(kTag, kBridge, kPorts);
    ::umask(old_umask);
    EXPECT_TRUE(result.interfaces_written);
    EXPECT_FALSE(result.pending_present);
    EXPECT_EQ(read_text(path_), render_block(kTag, kBridge, kPorts));
    EXPECT_EQ(stat_of(path_).st_mode & 07777, 0644u);
    EXPECT_EQ(entries(), (std::set<std::string>{"interfaces", ".pve-interfaces.lock"}));
}

TEST_F(IfupdownWriter, UnchangedContentIsNotWritten) {
    write_text(path_, kAdminText);
    InterfacesFile file(path_);
    ASSERT_TRUE(file.update(kTag, kBridge, kPorts).wrote());
    const struct stat before = stat_of(path_);

    const UpdateResult again = file.update(kTag, kBridge, kPorts);
    EXPECT_FALSE(again.wrote());
    const struct stat after = stat_of(path_);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    EXPECT_EQ(file.read(), kAdminText + "\n" + render_block(kTag, kBridge, kPorts));
}

TEST_F(IfupdownWriter, ModeAndOwnerKept) {
    write_text(path_, kAdminText);
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    const bool root = ::geteuid() == 0;
    const uid_t uid = root ? 1234 : ::geteuid();
    const gid_t gid = root ? 5678 : ::getegid();
    if (root) {
        ASSERT_EQ(::chown(path_.c_str(), uid, gid), 0);
    }
    const ino_t old_inode = stat_of(path_).st_ino;

    ASSERT_TRUE(InterfacesFile(path_).update(kTag, kBridge, kPorts).interfaces_written);
    const struct stat after = stat_of(path_);
    EXPECT_NE(after.st_ino, old_inode) << "expected a rename over the file";
    EXPECT_EQ(after.st_mode & 07777, 0600u);
    EXPECT_EQ(after.st_uid, uid);
    EXPECT_EQ(after.st_gid, gid);
    if (!root) GTEST_SKIP() << "owner change checked only as root (cannot chown otherwise)";
}

TEST_F(IfupdownWriter, PendingInterfacesNewKeptInStep) {
    const fs::path pending = InterfacesFile::pending_path(path_);
    write_text(path_, kAdminText);
    const std::string pending_admin = kAdminText + "\nauto vmbr1\niface vmbr1 inet manual\n";
    write_text(pending, pending_admin);
    ASSERT_EQ(::chmod(pending.c_str(), 0640), 0);

    InterfacesFile file(path_);
    const UpdateResult result = file.update(kTag, kBridge, kPorts);
    EXPECT_TRUE(result.interfaces_written);
    EXPECT_TRUE(result.pending_present);
    EXPECT_TRUE(result.pending_written);
    EXPECT_EQ(read_text(pending), pending_admin + "\n" + render_block(kTag, kBridge, kPorts));
    EXPECT_EQ(stat_of(pending).st_mode & 07777, 0640u);

    // A GUI edit of the pending file that dropped our BEGIN line is repaired there too.
    std::string edited = read_text(pending);
    edited.erase(edited.find("# BEGIN ovs-port-agent\n"), 23);
    write_text(pending, edited);
    const UpdateResult repair = file.update(kTag, kBridge, kPorts);
    EXPECT_FALSE(repair.interfaces_written);
    EXPECT_TRUE(repair.pending_written);
    EXPECT_EQ(read_text(pending), pending_admin + "\n" + render_block(kTag, kBridge, kPorts));
}

TEST_F(IfupdownWriter, AbsentPendingFileNotCreated) {
    InterfacesFile(path_).update(kTag, kBridge, kPorts);
    EXPECT_FALSE(fs::exists(InterfacesFile::pending_path(path_)));
}

TEST_F(IfupdownWriter, SymlinkWrittenThroughToItsTarget) {
    const fs::path target = dir_ / "real-interfaces";
    write_text(target, kAdminText);
    fs::create_symlink(target.filename(), path_);
    ASSERT_TRUE(InterfacesFile(path_).update(kTag, kBridge, kPorts).wrote());
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(path_)));
    EXPECT_EQ(read_text(target), kAdminText + "\n" + render_block(kTag, kBridge, kPorts));
}

TEST_F(IfupdownWriter, InvalidInputRejectedBeforeTouchingAnything) {
    EXPECT_THROW(InterfacesFile(path_).update(kTag, kBridge, {{"bad name", 1, {}}}),
                 InvalidInputError);
    EXPECT_THROW(InterfacesFile(path_).update(kTag, kBridge, {{"vi1", 5000, {}}}),
                 InvalidInputError);
    EXPECT_TRUE(entries().empty()) << "neither the file nor the lock file may be created";
}

// True when /proc/locks shows a process blocked on a lock of `path`'s inode ("->" lines).
bool someone_waits_for_lock(const fs::path& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) return false;
    std::ifstream locks("/proc/locks");
    const std::string inode = ":" + std::to_string(status.st_ino) + " ";
    for (std::string line; std::getline(locks, line);) {
        if (line.find("->") != std::string::npos && line.find(inode) != std::string::npos) {
            return true;
        }
    }
    return false;
}

TEST_F(IfupdownWriter, WaitsWhileAnotherProcessHoldsTheLock) {
    if (!fs::exists("/proc/locks")) GTEST_SKIP() << "/proc/locks is not available";
    write_text(path_, kAdminText);
    InterfacesFile file(path_);
    // Our own open file description stands for the Proxmox GUI holding the lock.
    const int held = ::open(file.lock_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);

    auto update =
        std::async(std::launch::async, [&] { return file.update(kTag, kBridge, kPorts); });
    ASSERT_TRUE(opa::test::wait_until([&] { return someone_waits_for_lock(file.lock_path()); }, 5s))
        << "the writer never blocked on the lock";
    EXPECT_EQ(read_text(path_), kAdminText) << "wrote without the lock";
    EXPECT_EQ(update.wait_for(0s), std::future_status::timeout);

    ::close(held);  // releases the lock
    ASSERT_EQ(update.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(update.get().interfaces_written);
    EXPECT_EQ(read_text(path_), kAdminText + "\n" + render_block(kTag, kBridge, kPorts));
}

TEST_F(IfupdownWriter, ABoundedWaitForAHeldLockEndsInLockBusyNamingTheHolderAndChangesNothing) {
    write_text(path_, kAdminText);
    InterfacesFile file(path_);
    // As Proxmox makes it (0644): then anyone could open it read-only and hold a lock on it.
    const int held = ::open(file.lock_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_SH), 0);

    try {
        file.update(kTag, kBridge, kPorts, {}, 100ms);
        FAIL() << "the update did not give up";
    } catch (const LockBusyError& busy) {
        EXPECT_EQ(busy.error_number(), EWOULDBLOCK);
        EXPECT_NE(std::string(busy.what()).find(".pve-interfaces.lock"), std::string::npos)
            << busy.what();
        if (fs::exists("/proc/locks")) {
            EXPECT_EQ(busy.holders(), std::vector<pid_t>{::getpid()});
        }
    }
    EXPECT_EQ(read_text(path_), kAdminText);
    EXPECT_EQ(entries(), (std::set<std::string>{"interfaces", ".pve-interfaces.lock"}))
        << "no temp file left behind";
    ::close(held);
    EXPECT_TRUE(file.update(kTag, kBridge, kPorts, {}, 100ms).interfaces_written);
}

TEST_F(IfupdownWriter, TheLockFileIsCreated0600AndALaxerOneIsNarrowed) {
    InterfacesFile file(path_);
    file.update(kTag, kBridge, kPorts);
    EXPECT_EQ(stat_of(file.lock_path()).st_mode & 07777, 0600u);

    ASSERT_EQ(::chmod(file.lock_path().c_str(), 0644), 0);
    file.update(kTag, kBridge, {}, {}, 100ms);
    EXPECT_EQ(stat_of(file.lock_path()).st_mode & 07777, 0600u);
}

TEST(LockHolders, AreReadFromProcLocksForTheInodeWithoutWaiters) {
    const std::string text =
        "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF\n"
        "1: -> FLOCK  ADVISORY  WRITE 999 fd:01:5678 0 EOF\n"
        "2: FLOCK  ADVISORY  READ  2345 00:2a:5678 0 EOF\n"
        "3: POSIX  ADVISORY  WRITE 3456 fd:01:56789 0 EOF\n"
        "4: FLOCK  ADVISORY  WRITE x fd:01:5678 0 EOF\n"
        "5: OFDLCK ADVISORY  READ  -1 fd:01:5678 0 EOF\n"
        "garbage\n";
    EXPECT_EQ(parse_lock_holders(text, 5678), (std::vector<pid_t>{1234, 2345}));
    EXPECT_TRUE(parse_lock_holders(text, 1).empty());
    EXPECT_TRUE(parse_lock_holders("", 5678).empty());
}

// At the moment of the write, a forked child tries the lock with LOCK_NB.
class LockProbingOps : public FileOps {
  public:
    explicit LockProbingOps(fs::path lock_path) : lock_path_(std::move(lock_path)) {}
    ssize_t write(int fd, const void* data, std::size_t size) override {
        if (child_status_ < 0) {
            const pid_t child = ::fork();
            if (child == 0) {
                const int probe = ::open(lock_path_.c_str(), O_RDWR | O_CLOEXEC);
                if (probe < 0) ::_exit(3);
                if (::flock(probe, LOCK_EX | LOCK_NB) == 0) ::_exit(1);
                ::_exit(errno == EWOULDBLOCK ? 0 : 2);
            }
            int status = 0;
            if (child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status)) {
                child_status_ = WEXITSTATUS(status);
            }
        }
        return FileOps::write(fd, data, size);
    }
    int child_status() const { return child_status_; }

  private:
    fs::path lock_path_;
    int child_status_ = -1;
};

TEST_F(IfupdownWriter, LockIsHeldWhileWriting) {
    const fs::path lock_path = dir_ / "custom.lock";
    auto ops = std::make_shared<LockProbingOps>(lock_path);
    InterfacesFile file(path_, lock_path, ops);
    EXPECT_EQ(file.lock_path(), lock_path);
    ASSERT_TRUE(file.update(kTag, kBridge, kPorts).wrote());
    EXPECT_EQ(ops->child_status(), 0) << "1: lock was free, 2/3: probe failed";
    // And it is released afterwards.
    const int probe = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(probe, 0);
    EXPECT_EQ(::flock(probe, LOCK_EX | LOCK_NB), 0);
    ::close(probe);
}

// Fails one system call with an errno, as a full disk or a dying disk would.
class FailingOps : public FileOps {
  public:
    enum class Call { kWrite, kFsync, kRename };
    FailingOps(Call call, int error_number) : call_(call), error_number_(error_number) {}
    ssize_t write(int fd, const void* data, std::size_t size) override {
        if (call_ == Call::kWrite) return fail();
        return FileOps::write(fd, data, size);
    }
    int fsync(int fd) override {
        if (call_ == Call::kFsync) return static_cast<int>(fail());
        return FileOps::fsync(fd);
    }
    int rename(const char* from, const char* to) override {
        if (call_ == Call::kRename) return static_cast<int>(fail());
        return FileOps::rename(from, to);
    }

  private:
    ssize_t fail() const {
        errno = error_number_;
        return -1;
    }
    Call call_;
    int error_number_;
};

struct FailureCase {
    std::string name;
    FailingOps::Call call;
    int error_number;
    std::string operation_part;
};

void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.name; }

class IfupdownWriterFailure : public IfupdownWriter,
                              public testing::WithParamInterface<FailureCase> {};

TEST_P(IfupdownWriterFailure, OriginalUntouchedAndTempRemoved) {
    const FailureCase& c = GetParam();
    const std::string original = kAdminText + "\n# BEGIN ovs-port-agent\n# END ovs-port-agent\n";
    write_text(path_, original);
    const ino_t inode = stat_of(path_).st_ino;
    InterfacesFile file(path_, {}, std::make_shared<FailingOps>(c.call, c.error_number));
    try {
        file.update(kTag, kBridge, kPorts);
        FAIL() << "no InterfacesError";
    } catch (const InterfacesError& error) {
        EXPECT_EQ(error.path(), path_);
        EXPECT_EQ(error.error_number(), c.error_number);
        const std::string message = error.what();
        EXPECT_NE(message.find(path_.string()), std::string::npos) << message;
        EXPECT_NE(message.find(std::strerror(c.error_number)), std::string::npos) << message;
        EXPECT_NE(message.find(c.operation_part), std::string::npos) << message;
    }
    EXPECT_EQ(read_text(path_), original);
    EXPECT_EQ(stat_of(path_).st_ino, inode);
    EXPECT_EQ(entries(), (std::set<std::string>{"interfaces", ".pve-interfaces.lock"}));
}

INSTANTIATE_TEST_SUITE_P(
    Ifupdown, IfupdownWriterFailure,
    testing::Values(FailureCase{"DiskFullOnWrite", FailingOps::Call::kWrite, ENOSPC, "writing"},
                    FailureCase{"IoErrorOnFsync", FailingOps::Call::kFsync, EIO, "fsync"},
                    FailureCase{"RenameFails", FailingOps::Call::kRename, EXDEV, "rename"}),
    [](const testing::TestParamInfo<FailureCase>& info) { return info.param.name; });

TEST_F(IfupdownWriter, UnreadableDirectoryGivesInterfacesError) {
    const fs::path missing_dir = dir_ / "no-such-dir" / "interfaces";
    try {
        InterfacesFile(missing_dir).update(kTag, kBridge, kPorts);
        FAIL() << "no InterfacesError";
    } catch (const InterfacesError& error) {
        EXPECT_EQ(error.error_number(), ENOENT);
        EXPECT_NE(std::string(error.what()).find("no-such-dir"), std::string::npos);
    }
}

// A real full disk: in a forked child with a private mount namespace (nothing reaches the
// host's mounts, and the tmpfs goes away with the child), a 16 KiB tmpfs over the temp dir is
// filled up, then the writer must fail with ENOSPC and leave the old file as it was.
enum DiskFullExit : int {
    kDiskFullOk = 0,
    kNoNamespace = 10,  // setup not possible here: skip
    kNoMount = 11,
    kFillFailed = 20,
    kNoError = 21,
    kWrongError = 22,
    kFileChanged = 23,
    kTempLeftBehind = 24,
};

int disk_full_child(const fs::path& dir) {
    if (::unshare(CLONE_NEWNS) != 0) return kNoNamespace;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kNoNamespace;
    if (::mount("opa-test", dir.c_str(), "tmpfs", 0, "size=16k,mode=0755") != 0) return kNoMount;
    const fs::path path = dir / "interfaces";
    const std::string original = kAdminText;
    {
        std::ofstream(path, std::ios::binary) << original;
        std::ofstream(dir / ".pve-interfaces.lock");
    }
    // Fill every remaining block.
    const int filler = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (filler < 0) return kFillFailed;
    const std::string chunk(512, 'x');
    while (::write(filler, chunk.data(), chunk.size()) > 0) {
    }
    const int fill_errno = errno;
    ::close(filler);
    if (fill_errno != ENOSPC) return kFillFailed;

    int result = kNoError;
    try {
        InterfacesFile(path).update(kTag, kBridge, kPorts);
    } catch (const InterfacesError& error) {
        result = error.error_number() == ENOSPC ? kDiskFullOk : kWrongError;
    } catch (...) {
        result = kWrongError;
    }
    std::ifstream in(path, std::ios::binary);
    const std::string now((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (result == kDiskFullOk && now != original) result = kFileChanged;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (result == kDiskFullOk && name != "interfaces" && name != "filler" &&
            name != ".pve-interfaces.lock") {
            result = kTempLeftBehind;
        }
    }
    return result;
}

TEST_F(IfupdownWriter, RealDiskFullOnTmpfsLeavesOriginal) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace and tmpfs";
    const fs::path mount_point = dir_ / "tiny";
    fs::create_directory(mount_point);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(disk_full_child(mount_point));
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
    const int code = WEXITSTATUS(status);
    if (code == kNoNamespace || code == kNoMount) {
        GTEST_SKIP() << "cannot create a private mount namespace with a tmpfs here (" << code
                     << ")";
    }
    EXPECT_EQ(code, kDiskFullOk);
    // The tmpfs lived only in the child's namespace: here the directory is still empty.
    EXPECT_TRUE(fs::is_empty(mount_point));
}

}  // namespace
}  // namespace opa::ifupdown
