// The port tree on a real FUSE mount in a temporary directory, driven from a real shell (mkdir,
// rmdir, rm -r, cat, ls -l, stat, find, echo > tag, tail), as root and as an unprivileged user.
// The core runs over a fake NetworkManager and a real ledger file, so no sandbox is needed; the
// tests need root and /dev/fuse and skip without them.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "agent/core.hpp"
#include "fs/fuse_server.hpp"
#include "ledger/ledger.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/ledger_checks.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::FakeBackend;

using namespace opa::agent;
using namespace std::chrono_literals;
using opa::test::run;
using opa::test::wait_until;

// The daemon's journal: the real hash-chained ledger.
class LedgerJournal : public Journal {
  public:
    explicit LedgerJournal(const std::filesystem::path& path) : ledger(path) {}
    void record(std::string_view action, const nlohmann::json& details) noexcept override {
        try {
            ledger.append(action, details);
        } catch (...) {
        }
    }
    opa::ledger::Ledger ledger;
};

std::string quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool mounted(const std::filesystem::path& where) {
    return read_file("/proc/mounts").find(" " + where.string() + " ") != std::string::npos;
}

class FsMountTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount";
        if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
        char pattern[] = "/tmp/opa-fs-mount-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir = pattern;
        ::chmod(dir.c_str(), 0755);  // the unprivileged user must reach the mountpoint
        mnt = dir / "ports";
        ledger_path = dir / "ledger.jsonl";
        ASSERT_EQ(opa::fs::recover_mountpoint(mnt), opa::fs::MountpointRecovery::Created);
        journal = std::make_unique<LedgerJournal>(ledger_path);
        core = std::make_unique<Core>(backend, *journal, CoreOptions{"ovsbr0", 4});
        start_server();
    }
    void TearDown() override {
        if (!tail_pid.empty()) run("kill " + tail_pid);
        server.reset();
        core.reset();
        journal.reset();
        if (!dir.empty()) {
            EXPECT_FALSE(mounted(mnt)) << "mount left behind";
            if (mounted(mnt)) ::umount2(mnt.c_str(), MNT_DETACH);
            std::filesystem::remove_all(dir);
        }
    }
    void start_server() {
        opa::fs::TreeOptions options;
        options.ledger_path = ledger_path;
        options.bridge_state = [] { return std::string("activated"); };
        options.report = [this](const std::string& sentence) {
            std::lock_guard lock(mutex);
            reports.push_back(sentence);
        };
        opa::fs::MountOptions mount{mnt};
        mount.max_handles_per_user = per_user;
        server = std::make_unique<opa::fs::FuseServer>(*core, options, mount);
    }
    // Runs `script` with sh in the mountpoint, as root or as nobody (uid/gid 65534).
    opa::test::CommandResult sh(const std::string& script, bool as_nobody = false) {
        const std::string command = "cd " + quote(mnt.string()) + " && " + script;
        if (as_nobody) {
            return run("setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " +
                       quote(command));
        }
        return run("sh -c " + quote(command));
    }
    std::string out(const std::string& script, bool as_nobody = false) {
        auto result = sh(script, as_nobody);
        EXPECT_TRUE(result.ok()) << script << ": " << result.output;
        return result.output;
    }
    void link_up(const std::string& name) {
        {
            std::lock_guard lock(backend.mutex);
            backend.links.insert(name);
        }
        core->link_appeared(name, LinkKind::Veth);
        ASSERT_TRUE(core->wait_idle(5s));
    }

    std::filesystem::path dir, mnt, ledger_path;
    FakeBackend backend;
    std::unique_ptr<LedgerJournal> journal;
    std::unique_ptr<Core> core;
    std::unique_ptr<opa::fs::FuseServer> server;
    std::mutex mutex;
    std::vector<std::string> reports;
    std::string tail_pid;
    std::size_t per_user = 16384;
};

long open_descriptors() {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator());
}

// A field of /proc/self/<file> ("rchar: N", "VmRSS: N kB") as a number.
std::uint64_t proc_self_number(const std::string& file, const std::string& field) {
    const std::string text = read_file("/proc/self/" + file);
    const auto at = text.find(field + ":");
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + field.size() + 1));
}

// stat of <port>/ledger after an append reads what was appended, not the ledger again, and the
// index keeps offsets, not the text.
TEST_F(FsMountTest, APortLedgersStatAfterAnAppendReadsOnlyTheAppend) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    opa::test::fill_ledger(ledger_path, 36u << 20, 500);
    const auto ledger_size = std::filesystem::file_size(ledger_path);
    ASSERT_GT(ledger_size, 30u << 20);
    const std::uint64_t rss_before = proc_self_number("status", "VmRSS");
    const std::uint64_t first = std::stoull(out("stat -c %s vi100/ledger"));
    EXPECT_GT(first, 1200u * 500);
    const std::uint64_t rss_after = proc_self_number("status", "VmRSS");
    std::printf("index of a %ju-byte ledger: RSS %+jd kB\n",
                static_cast<std::uintmax_t>(ledger_size),
                static_cast<std::intmax_t>(rss_after) - static_cast<std::intmax_t>(rss_before));
#if !defined(__SANITIZE_ADDRESS__)
    // ASan keeps freed memory in its quarantine (the ledger's read buffers: +48 MB seen), so
    // RSS says nothing there.
    EXPECT_LT(rss_after, rss_before + 16 * 1024) << "kB";  // the ports' texts would be 36 MB
#endif

    journal->record("port_repair", {{"port", "vi100"}});
    const std::uint64_t read_before = proc_self_number("io", "rchar");
    const std::uint64_t second = std::stoull(out("stat -c %s vi100/ledger"));
    const std::uint64_t read_after = proc_self_number("io", "rchar");
    std::printf("stat after one append read %ju bytes\n",
                static_cast<std::uintmax_t>(read_after - read_before));
    EXPECT_GT(second, first);
    EXPECT_LT(read_after - read_before, 256u * 1024);  // the whole ledger: 36 MB
    EXPECT_EQ(std::stoull(out("cat vi100/ledger | wc -c")), second);
    EXPECT_EQ(out("tail -n 1 vi100/ledger").find("\"action\":\"port_repair\""), 1u);
}

// A user holding thousands of opens of the ledger files: the server spends no descriptor on
// them, the user gets EMFILE at its limit (logged once), and root and other users go on.
TEST_F(FsMountTest, AUserHoldingThousandsOfLedgerOpensIsCappedAloneAndCostsNoDescriptors) {
    server.reset();
    per_user = 1000;
    start_server();
    ASSERT_TRUE(core->create_port("vi100", {}));
    link_up("vi100");
    const long descriptors_before = open_descriptors();
    const std::string output = (dir / "holder.out").string();
    const std::string errors = (dir / "holder.err").string();
    // Its own descriptor limit raised first: the kernel counts every open against the opener.
    const std::string holder =
        "n=0; for ((i = 0; i < 3000; i++)); do f=ledger; ((i % 2)) && f=vi100/ledger; "
        "exec {fd}<\"$f\" && n=$((n + 1)); done; echo held $n; exec sleep 600";
    ASSERT_TRUE(sh("prlimit --nofile=4000:4000 setpriv --reuid=65534 --regid=65534 "
                   "--clear-groups bash -c " +
                   quote(holder) + " >" + quote(output) + " 2>" + quote(errors) + " & echo $! >" +
                   quote((dir / "holder.pid").string()))
                    .ok());
    tail_pid = read_file(dir / "holder.pid");  // TearDown kills it if the test stops early
    ASSERT_TRUE(
        wait_until([&] { return read_file(output).find("held") != std::string::npos; }, 60s))
        << read_file(output);
    EXPECT_EQ(read_file(output), "held 1000\n");
    EXPECT_NE(read_file(errors).find("Too many open files"), std::string::npos)
        << read_file(errors);
    EXPECT_EQ(server->open_handles(65534), 1000u);
    EXPECT_LE(open_descriptors(), descriptors_before + 2);

    // Another user and root are not limited by it.
    EXPECT_NE(out("setpriv --reuid=65533 --regid=65533 --clear-groups cat ledger vi100/ledger"),
              "");
    EXPECT_EQ(out("mkdir vi101 && cat vi101/state"), "pending\n");
    EXPECT_NE(out("cat vi100/ledger"), "");
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(std::count_if(reports.begin(), reports.end(),
                                [](const std::string& line) {
                                    return line.find("uid 65534 holds 1000 files open") !=
                                           std::string::npos;
                                }),
                  1)
            << ::testing::PrintToString(reports);
    }

    ASSERT_TRUE(run("kill $(cat " + quote((dir / "holder.pid").string()) + ")").ok());
    EXPECT_TRUE(wait_until([&] { return server->open_handles(65534) == 0; }, 20s))
        << server->open_handles(65534);
}

TEST_F(FsMountTest, MountIsNamedAndShowsTheFixedFiles) {
    const std::string mounts = read_file("/proc/mounts");
    const std::string line = "ovs-port-agent " + mnt.string() + " fuse.ovs-ports ";
    const auto at = mounts.find(line);
    ASSERT_NE(at, std::string::npos) << mounts;
    const std::string options = mounts.substr(at, mounts.find('\n', at) - at);
    EXPECT_NE(options.find("default_permissions"), std::string::npos) << options;
    EXPECT_NE(options.find("allow_other"), std::string::npos) << options;
    EXPECT_EQ(out("ls"), "bridge\nby-vmid\nledger\n");
    EXPECT_EQ(out("cat bridge"), "ovsbr0 activated\n");
    EXPECT_EQ(out("stat -c '%A %U %G' . bridge ledger by-vmid"),
              "drwxr-xr-x root root\n-r--r--r-- root root\n-r--r--r-- root root\n"
              "dr-xr-xr-x root root\n");
    EXPECT_NE(out("stat -f -c %T ."), "");
    EXPECT_NE(out("df -P .").find(mnt.string()), std::string::npos);
}

TEST_F(FsMountTest, MkdirCreatesAPortThatCatShowsAndItsLinkActivates) {
    EXPECT_EQ(out("mkdir vi100 && ls"), "bridge\nby-vmid\nledger\nvi100\n");
    auto port = core->port("vi100");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->origin, Origin::Request);
    EXPECT_EQ(out("ls vi100"), "info\nlast_error\nledger\nstate\ntag\n");
    EXPECT_EQ(out("cat vi100/state"), "pending\n");
    EXPECT_EQ(out("cat vi100/last_error vi100/tag"), "");
    const std::string info = out("cat vi100/info");
    EXPECT_NE(info.find("bridge = ovsbr0\ninterface = vi100\n"), std::string::npos) << info;
    EXPECT_NE(info.find("origin = request\n"), std::string::npos) << info;
    EXPECT_NE(info.find("port_uuid = port-vi100\n"), std::string::npos) << info;

    link_up("vi100");
    EXPECT_EQ(out("cat vi100/state"), "activated\n");
    EXPECT_NE(out("cat vi100/info").find("kind = veth\n"), std::string::npos);
    const std::string listing = out("ls -l vi100");
    EXPECT_NE(listing.find("-rw-r--r-- 1 root root"), std::string::npos) << listing;
    EXPECT_NE(listing.find(" tag\n"), std::string::npos) << listing;
}

TEST_F(FsMountTest, SizesEqualWhatCatReads) {
    ASSERT_TRUE(core->create_port("vi100", {10, 100}));
    ASSERT_TRUE(core->create_port("vi101", {std::nullopt, 101}));
    link_up("vi100");
    const std::string script =
        "for f in $(find . -type f); do s=$(stat -c %s $f); n=$(cat $f | wc -c); "
        "echo \"$f $s $n\"; done";
    const std::string table = out(script);
    std::istringstream lines(table);
    std::string file;
    std::uint64_t size = 0, read = 0;
    int files = 0;
    while (lines >> file >> size >> read) {
        EXPECT_EQ(size, read) << file;
        ++files;
    }
    EXPECT_EQ(files, 2 + 2 * 5) << table;  // bridge, ledger, and five files per port
    EXPECT_GT(std::filesystem::file_size(ledger_path), 0u);
}

TEST_F(FsMountTest, FindListsTheWholeTreeAndByVmidLinksResolve) {
    ASSERT_TRUE(core->create_port("vi100", {std::nullopt, 100}));
    ASSERT_TRUE(core->create_port("vi100i1", {std::nullopt, 100}));
    ASSERT_TRUE(core->create_port("vi200", {std::nullopt, 200}));
    const std::string tree = out("find . | sort");
    EXPECT_NE(tree.find("./by-vmid/100/vi100\n./by-vmid/100/vi100i1\n./by-vmid/200\n"),
              std::string::npos)
        << tree;
    EXPECT_NE(tree.find("./vi100i1/tag\n"), std::string::npos) << tree;
    EXPECT_EQ(out("readlink by-vmid/100/vi100i1"), "../../vi100i1\n");
    EXPECT_EQ(out("stat -c %F by-vmid/100/vi100"), "symbolic link\n");
    EXPECT_EQ(out("cat by-vmid/200/vi200/state"), "pending\n");
    EXPECT_EQ(out("cd by-vmid/100/vi100 && pwd -P"), mnt.string() + "/vi100\n");
    EXPECT_EQ(out("find -L by-vmid -name state | sort"),
              "by-vmid/100/vi100/state\nby-vmid/100/vi100i1/state\nby-vmid/200/vi200/state\n");
    EXPECT_FALSE(sh("mkdir by-vmid/300").ok());
    EXPECT_FALSE(sh("rm by-vmid/100/vi100").ok());
    EXPECT_TRUE(core->port("vi100"));
}

TEST_F(FsMountTest, RmdirAndRmRRemoveThePortAndRmOfAFileIsHarmless) {
    out("mkdir vi100 vi101 vi102");
    EXPECT_EQ(core->ports().size(), 3u);
    out("rmdir vi100");
    EXPECT_FALSE(core->port("vi100"));
    out("rm -r vi101");
    EXPECT_FALSE(core->port("vi101"));
    out("rm vi102/state");
    EXPECT_TRUE(core->port("vi102"));
    EXPECT_EQ(out("cat vi102/state"), "pending\n");
    out("rm -rf vi102");
    EXPECT_FALSE(core->port("vi102"));
    EXPECT_EQ(out("ls"), "bridge\nby-vmid\nledger\n");

    auto missing = sh("rmdir vi109");
    EXPECT_NE(missing.output.find("No such file or directory"), std::string::npos)
        << missing.output;
    auto fixed = sh("rm ledger; rmdir by-vmid");
    EXPECT_NE(fixed.output.find("Operation not permitted"), std::string::npos) << fixed.output;
    EXPECT_TRUE(std::filesystem::exists(mnt / "ledger"));
    EXPECT_NE(sh("mkdir vi100 && mkdir vi100/x").output.find("Operation not permitted"),
              std::string::npos);
    EXPECT_FALSE(sh("mv vi100 vi101").ok());
    EXPECT_FALSE(sh("touch newfile").ok());
    EXPECT_FALSE(std::filesystem::exists(mnt / "newfile"));
}

TEST_F(FsMountTest, EchoToTagChangesTheLivePortAndBadValuesLandInLastError) {
    out("mkdir vi100");
    link_up("vi100");
    out("echo 10 > vi100/tag");
    EXPECT_EQ(core->port("vi100")->options.tag, 10);
    EXPECT_EQ(backend.profiles["vi100"].options.tag, 10);
    EXPECT_EQ(out("cat vi100/tag"), "10\n");
    EXPECT_NE(out("cat vi100/info").find("tag = 10\n"), std::string::npos);

    // dash's builtin echo says "I/O error" for every failed write; coreutils' echo names errno.
    auto bad = sh("/bin/echo abc > vi100/tag");
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.output.find("Invalid argument"), std::string::npos) << bad.output;
    EXPECT_NE(out("cat vi100/last_error").find("invalid VLAN tag 'abc'"), std::string::npos);
    auto range = sh("/bin/echo 4095 > vi100/tag");
    EXPECT_NE(range.output.find("Invalid argument"), std::string::npos) << range.output;
    EXPECT_NE(out("cat vi100/last_error").find("4095"), std::string::npos);
    EXPECT_EQ(core->port("vi100")->options.tag, 10);
    {
        std::lock_guard lock(mutex);
        EXPECT_FALSE(reports.empty());
    }

    out("echo > vi100/tag");
    EXPECT_EQ(core->port("vi100")->options.tag, std::nullopt);
    EXPECT_EQ(out("cat vi100/tag vi100/last_error"), "");
    out("printf 7 > vi100/tag");
    EXPECT_EQ(core->port("vi100")->options.tag, 7);
    EXPECT_FALSE(sh("echo activated > vi100/state").ok());
    EXPECT_FALSE(sh("chmod 666 vi100/tag").ok());
}

TEST_F(FsMountTest, BadNamesAreRefusedAndNothingIsCreated) {
    struct Case {
        std::string name;
        std::string message;
    } cases[] = {
        {"..", "File exists"},       {"sixteen_bytes_xx", "File name too long"},
        {"a b", "Invalid argument"}, {"v\xc3\xa9", "Invalid argument"},
        {"a:1", "Invalid argument"}, {"ledger", "File exists"},
    };
    for (const Case& c : cases) {
        auto result = sh("mkdir " + quote(c.name));
        EXPECT_FALSE(result.ok()) << c.name;
        EXPECT_NE(result.output.find(c.message), std::string::npos)
            << c.name << ": " << result.output;
    }
    EXPECT_TRUE(core->ports().empty());
    EXPECT_EQ(out("ls"), "bridge\nby-vmid\nledger\n");
    EXPECT_EQ(out("mkdir fifteen_bytes_x && ls -d fifteen_bytes_x"), "fifteen_bytes_x\n");
}

TEST_F(FsMountTest, EveryoneReadsOnlyRootChanges) {
    ASSERT_TRUE(core->create_port("vi100", {10, 100}));
    EXPECT_EQ(out("cat vi100/state", true), "pending\n");
    EXPECT_EQ(out("cat vi100/tag", true), "10\n");
    EXPECT_NE(out("ls -l . vi100 by-vmid/100", true).find("vi100"), std::string::npos);
    EXPECT_NE(out("tail -n 1 ledger", true).find("port_created"), std::string::npos);
    EXPECT_NE(out("find . -name state", true), "");
    EXPECT_EQ(out("id -u", true), "65534\n");

    for (const std::string& script :
         {std::string("mkdir vi200"), std::string("rmdir vi100"), std::string("rm -r vi100"),
          std::string("echo 5 > vi100/tag"), std::string("rm vi100/state"),
          std::string("truncate -s 0 vi100/tag")}) {
        auto result = sh(script, true);
        EXPECT_FALSE(result.ok()) << script;
        EXPECT_NE(result.output.find("Permission denied"), std::string::npos)
            << script << ": " << result.output;
    }
    EXPECT_EQ(core->ports().size(), 1u);
    EXPECT_EQ(core->port("vi100")->options.tag, 10);
}

TEST_F(FsMountTest, MtimesMoveWhenContentChanges) {
    out("mkdir vi100");
    const std::string root_before = out("stat -c %y .");
    const std::string state_before = out("stat -c %y vi100/state");
    const std::string tag_before = out("stat -c %y vi100/tag");
    // stat -c %y has nanoseconds; wait for the clock to pass them so "later" is visible.
    const auto now = std::chrono::system_clock::now();
    ASSERT_TRUE(wait_until([&] { return std::chrono::system_clock::now() > now; }, 1s));
    out("echo 12 > vi100/tag");
    EXPECT_GT(out("stat -c %y vi100/tag"), tag_before);
    EXPECT_GT(out("stat -c %y vi100/state"), state_before);
    EXPECT_EQ(out("stat -c %y ."), root_before);  // the set of ports is the same
    out("mkdir vi101");
    EXPECT_GT(out("stat -c %y ."), root_before);
}

// The kernel keeps names and directory attributes for a second; changes made through another
// door (D-Bus, link events) drop them, so the tree never shows what is gone or a stale size.
TEST_F(FsMountTest, ChangesThroughOtherDoorsShowAtOnceDespiteTheKernelsCache) {
    ASSERT_TRUE(core->create_port("vi100", {std::nullopt, 100}));
    ASSERT_TRUE(core->create_port("vi101", {}));
    // Everything looked up and its attributes cached.
    out("ls -l . vi100 by-vmid by-vmid/100 >/dev/null && cat vi100/state && stat . vi100 "
        ">/dev/null");
    EXPECT_EQ(out("stat -c %h ."), "5\n");
    EXPECT_EQ(out("cat vi100/state"), "pending\n");

    link_up("vi100");
    EXPECT_EQ(out("cat vi100/state"), "activated\n");
    EXPECT_EQ(out("stat -c %s vi100/state"), "10\n");

    ASSERT_TRUE(core->remove_port("vi100"));
    EXPECT_FALSE(sh("stat vi100").ok());
    EXPECT_FALSE(sh("cat vi100/state").ok());
    EXPECT_FALSE(sh("test -e by-vmid/100/vi100").ok());
    EXPECT_EQ(out("ls"), "bridge\nby-vmid\nledger\nvi101\n");
    EXPECT_EQ(out("ls by-vmid"), "");
    EXPECT_EQ(out("stat -c %h ."), "4\n");
    // Made again at once, through the tree: the kernel asks rather than trusting its cache.
    EXPECT_EQ(out("mkdir vi100 && stat -c %F vi100"), "directory\n");
    EXPECT_TRUE(core->port("vi100"));
    EXPECT_EQ(out("stat -c %h ."), "5\n");
}

TEST_F(FsMountTest, LedgerIsTheFileAndTailFollowsIt) {
    out("mkdir vi100 vi101");
    const std::string file = read_file(ledger_path);
    EXPECT_EQ(out("cat ledger"), file);
    EXPECT_EQ(out("stat -c %s ledger"), std::to_string(file.size()) + "\n");
    const std::string last_line = file.substr(file.rfind('\n', file.size() - 2) + 1);
    EXPECT_EQ(out("tail -n 1 ledger"), last_line);
    EXPECT_EQ(out("wc -l < vi100/ledger"), "1\n");
    EXPECT_NE(out("cat vi100/ledger").find("\"port\":\"vi100\""), std::string::npos);

    // tail -f polls the size (FUSE sends no inotify events) and reads what was appended.
    const auto followed = dir / "followed";
    const std::string pid =
        out("(timeout 60 tail -s 0.1 -f ledger > " + quote(followed.string()) + " 2>&1 & echo $!)");
    tail_pid = pid.substr(0, pid.find('\n'));
    ASSERT_TRUE(
        wait_until([&] { return read_file(followed).find("vi101") != std::string::npos; }, 10s));
    out("rmdir vi101");
    EXPECT_TRUE(wait_until(
        [&] { return read_file(followed).find("port_removed") != std::string::npos; }, 10s))
        << read_file(followed);
    run("kill " + tail_pid);
    tail_pid.clear();
}

TEST_F(FsMountTest, StopReturnsWhileAFileIsHeldOpen) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    const int held = ::open((mnt / "vi100" / "state").c_str(), O_RDONLY);
    ASSERT_GE(held, 0);
    EXPECT_EQ(server->open_handles(), 1u);
    const auto started = std::chrono::steady_clock::now();
    server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_FALSE(mounted(mnt));
    EXPECT_EQ(server->open_handles(), 0u);
    char buffer[16];
    EXPECT_LT(::read(held, buffer, sizeof buffer), 1);  // the connection is gone
    ::close(held);
    server->stop();  // idempotent
}

TEST_F(FsMountTest, RecoverMountpointRefusesALiveMountAndClearsAStaleOne) {
    EXPECT_THROW(opa::fs::recover_mountpoint(mnt), opa::fs::FsError);
    server.reset();
    EXPECT_EQ(opa::fs::recover_mountpoint(mnt), opa::fs::MountpointRecovery::Ready);

    // What a killed daemon leaves: a FUSE mount whose /dev/fuse descriptor is closed.
    const int fuse_fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fuse_fd, 0);
    const std::string data =
        "fd=" + std::to_string(fuse_fd) + ",rootmode=40000,user_id=0,group_id=0,allow_other";
    ASSERT_EQ(::mount("ovs-port-agent", mnt.c_str(), "fuse.ovs-ports", MS_NOSUID | MS_NODEV,
                      data.c_str()),
              0)
        << std::strerror(errno);
    ::close(fuse_fd);
    struct stat st {};
    ASSERT_NE(::stat(mnt.c_str(), &st), 0);
    EXPECT_EQ(errno, ENOTCONN);
    EXPECT_EQ(opa::fs::recover_mountpoint(mnt), opa::fs::MountpointRecovery::StaleUnmounted);
    EXPECT_FALSE(mounted(mnt));

    start_server();  // and a new agent mounts there as usual
    EXPECT_EQ(out("cat bridge"), "ovsbr0 activated\n");
}

// A killed daemon's mount while the kernel still holds the root's attributes (a stat answers
// from the cache without asking the dead server) is still recognised as stale.
TEST_F(FsMountTest, AKilledServersMountIsStaleWhileTheKernelCachesItsRoot) {
    struct stat st {};
    ASSERT_EQ(::stat(mnt.c_str(), &st), 0);
    // The connection is aborted through fusectl, as the kernel does when the daemon dies.
    const char* fusectl = "/sys/fs/fuse/connections";
    const bool mounted_fusectl =
        !mounted(fusectl) && ::mount("fusectl", fusectl, "fusectl", 0, nullptr) == 0;
    const std::string abort_path =
        std::string(fusectl) + "/" + std::to_string(minor(st.st_dev)) + "/abort";
    const bool can_abort = ::access(abort_path.c_str(), W_OK) == 0;
    if (can_abort) {
        std::ofstream abort(abort_path);
        abort << "1\n";
    }
    if (mounted_fusectl) ::umount2(fusectl, MNT_DETACH);
    if (!can_abort) GTEST_SKIP() << "cannot write " << abort_path;
    ASSERT_EQ(::stat(mnt.c_str(), &st), 0) << "the root's attributes were not cached";
    EXPECT_EQ(opa::fs::recover_mountpoint(mnt), opa::fs::MountpointRecovery::StaleUnmounted);
    EXPECT_FALSE(mounted(mnt));
    server.reset();
    start_server();
    EXPECT_EQ(out("cat bridge"), "ovsbr0 activated\n");
}

}  // namespace
