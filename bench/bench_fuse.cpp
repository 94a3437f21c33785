// bench_fuse: the port tree (FUSE) with many ports, as a shell and a program see it.
//
//   bench_fuse [--dir=/tmp] [--ports=1000] [--ls-runs=20] [--cold-runs=5] [--cat-runs=10000]
//              [--stat-rounds=5]
//
// The real FuseServer and PortTree over a real agent::Core and a real Ledger (in a temporary
// directory), with a fake NetworkManager behind the core: --ports ports are created through
// core.create_port and activated by core.link_appeared, as a link event would. Then:
//   - `ls -l MOUNT >/dev/null`, spawned, median and p95 of --ls-runs; the same on a plain
//     directory with as many subdirectories on the disk, for the cost of spawning ls itself;
//   - open/read/close of <port>/state in this process, cycling over the ports: median and p95;
//   - stat() of every port directory and port file, --stat-rounds times: calls per second.
// The kernel keeps the tree's names and directory attributes for 1 s (fs/fuse_server.cpp), so
// `ls -l` runs back to back find most of them cached; --cold-runs more runs each wait 1.1 s
// first, so the cache has expired and every entry is a LOOKUP again. Files' attributes are
// never cached: each stat of a file is a request to the server.
// Needs root and /dev/fuse. The mount is removed by FuseServer's destructor; if the program is
// interrupted (SIGINT, SIGTERM, SIGHUP) a handler detaches it, and main checks /proc/mounts at
// the end and detaches anything left, so no mount outlives the run.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "agent/core.hpp"
#include "bench/bench_report.hpp"
#include "fs/fuse_server.hpp"
#include "ledger/ledger.hpp"

extern char** environ;

namespace {

using namespace opa::bench;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using opa::agent::Backend;
using opa::agent::LinkKind;
using opa::agent::Origin;
using opa::agent::PortOptions;

constexpr std::string_view kBench = "bench_fuse";

// NetworkManager as the core needs it, answering at once (the idea of tests/unit/core_test.cpp's
// FakeBackend, without its failure switches and gates): what is measured is the tree, not NM.
class InstantBackend : public Backend {
  public:
    Profiles prepare(const std::string& name, const PortOptions& options, Origin origin) override {
        std::lock_guard lock(mutex_);
        Profiles profiles;
        profiles.port_uuid = "port-" + name;
        profiles.member_uuid = "member-" + name;
        profiles.link_present = links_.count(name) > 0;
        auto [it, created] = profiles_.try_emplace(name, Stored{options, origin, false});
        profiles.created = created;
        profiles.activated = it->second.activated;
        return profiles;
    }
    Profiles activate(const std::string& name) override {
        std::lock_guard lock(mutex_);
        auto it = profiles_.find(name);
        if (it == profiles_.end()) throw opa::agent::BackendError("no profiles for " + name);
        it->second.activated = true;
        Profiles profiles;
        profiles.port_uuid = "port-" + name;
        profiles.member_uuid = "member-" + name;
        profiles.link_present = true;
        profiles.activated = true;
        profiles.kind = LinkKind::Veth;
        return profiles;
    }
    nlohmann::json remove(const std::string& name) override {
        std::lock_guard lock(mutex_);
        profiles_.erase(name);
        return {{"deleted", name}};
    }
    void set_options(const std::string& name, const PortOptions& options) override {
        std::lock_guard lock(mutex_);
        profiles_[name].options = options;
    }
    std::vector<Owned> owned() override {
        std::lock_guard lock(mutex_);
        std::vector<Owned> result;
        for (const auto& [name, stored] : profiles_) {
            Owned owned;
            owned.name = name;
            owned.port_uuid = "port-" + name;
            owned.member_uuid = "member-" + name;
            owned.options = stored.options;
            owned.origin = stored.origin;
            owned.link_present = links_.count(name) > 0;
            owned.activated = stored.activated && owned.link_present;
            result.push_back(std::move(owned));
        }
        return result;
    }
    void add_link(const std::string& name) {
        std::lock_guard lock(mutex_);
        links_.insert(name);
    }

  private:
    struct Stored {
        PortOptions options;
        Origin origin = Origin::Request;
        bool activated = false;
    };
    std::mutex mutex_;
    std::map<std::string, Stored> profiles_;
    std::set<std::string> links_;
};

// The daemon's journal: every core action goes to the real ledger (with its fsync).
class LedgerJournal : public opa::agent::Journal {
  public:
    explicit LedgerJournal(const fs::path& path) : ledger_(path) {}
    void record(std::string_view action, const nlohmann::json& details) noexcept override {
        try {
            ledger_.append(action, details);
        } catch (...) {
            failures_ = true;  // reported after the setup; a benchmark must not half-measure
        }
    }
    bool failed() const { return failures_; }

  private:
    opa::ledger::Ledger ledger_;
    std::atomic<bool> failures_{false};
};

// The mountpoint, for the signal handler (which may only make async-signal-safe calls).
char g_mountpoint[4096] = "";

extern "C" void detach_and_exit(int signal_number) {
    if (g_mountpoint[0] != '\0') ::umount2(g_mountpoint, MNT_DETACH);
    ::_exit(128 + signal_number);
}

bool mounted(const fs::path& where) {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    const std::string needle = " " + where.string() + " ";
    while (std::getline(mounts, line))
        if (line.find(needle) != std::string::npos) return true;
    return false;
}

// Runs `ls -l dir` with its output to /dev/null and returns the wall time of the whole run
// (spawn, ls, exit). Throws if ls fails.
double time_ls(const fs::path& dir) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const std::string dir_text = dir.string();
    char ls[] = "ls";
    char long_format[] = "-l";
    std::vector<char> dir_arg(dir_text.begin(), dir_text.end());
    dir_arg.push_back('\0');
    char* argv[] = {ls, long_format, dir_arg.data(), nullptr};
    pid_t pid = 0;
    auto start = Clock::now();
    int error = ::posix_spawnp(&pid, "ls", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::system_error(error, std::generic_category(), "spawn ls");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    double elapsed = seconds_since(start);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("ls -l " + dir_text + " failed");
    return elapsed;
}

std::string milliseconds(double seconds) { return fixed(seconds * 1000, 2) + " ms"; }
std::string microseconds(double seconds) { return fixed(seconds * 1e6, 1) + " us"; }

std::vector<std::string> port_names(int count) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.push_back("vi" + std::to_string(1000 + i));
    return names;
}

void populate(opa::agent::Core& core, InstantBackend& backend, const LedgerJournal& journal,
              const std::vector<std::string>& names) {
    auto start = Clock::now();
    for (const std::string& name : names) {
        auto status = core.create_port(name, {});
        if (!status) throw std::runtime_error("create_port " + name + ": " + status.message);
    }
    for (const std::string& name : names) {
        backend.add_link(name);
        core.link_appeared(name, LinkKind::Veth);
    }
    if (!core.wait_idle(300s)) throw std::runtime_error("the core did not settle in 300 s");
    std::size_t activated = 0;
    for (const auto& port : core.ports())
        if (port.state == opa::agent::PortState::Activated) ++activated;
    if (activated != names.size() || journal.failed())
        throw std::runtime_error("setup: " + std::to_string(activated) + " of " +
                                 std::to_string(names.size()) + " ports activated" +
                                 (journal.failed() ? ", ledger appends failed" : ""));
    note(std::to_string(names.size()) + " ports created and activated (fake NM, real ledger) in " +
         fixed(seconds_since(start), 1) + " s");
}

void bench_ls(const fs::path& mountpoint, const fs::path& plain_dir, int port_count, int runs,
              int cold_runs) {
    std::vector<double> tree_times;
    std::vector<double> plain_times;
    time_ls(mountpoint);  // the first run pays for loading ls and its libraries
    for (int run = 0; run < runs; ++run) {
        tree_times.push_back(time_ls(mountpoint));
        plain_times.push_back(time_ls(plain_dir));
    }
    const std::string count = std::to_string(port_count);
    report(kBench,
           "`ls -l` of the tree's root, " + count + " ports, spawned, " + std::to_string(runs) +
               " runs",
           "median " + milliseconds(median(tree_times)) + ", p95 " +
               milliseconds(quantile(tree_times, 0.95)),
           "<= 20 ms", verdict(median(tree_times) <= 0.020));
    if (cold_runs > 0) {
        std::vector<double> cold_times;
        for (int run = 0; run < cold_runs; ++run) {
            std::this_thread::sleep_for(1100ms);  // past the kernel's 1 s entry/attr timeouts
            cold_times.push_back(time_ls(mountpoint));
        }
        report(kBench,
               "`ls -l` of the tree's root, " + count + " ports, kernel cache expired (1.1 s " +
                   "wait before each), " + std::to_string(cold_runs) + " runs",
               "median " + milliseconds(median(cold_times)) + ", p95 " +
                   milliseconds(quantile(cold_times, 0.95)),
               "<= 20 ms", verdict(median(cold_times) <= 0.020));
    }
    report(kBench, "`ls -l` of a plain ext4 directory with " + count + " subdirectories (floor)",
           "median " + milliseconds(median(plain_times)) + ", p95 " +
               milliseconds(quantile(plain_times, 0.95)),
           "-", Verdict::Info);
}

void bench_cat(const fs::path& mountpoint, const std::vector<std::string>& names, int runs) {
    std::vector<double> times;
    times.reserve(static_cast<std::size_t>(runs));
    char buffer[256];
    for (int run = 0; run < runs; ++run) {
        const fs::path path =
            mountpoint / names[static_cast<std::size_t>(run) % names.size()] / "state";
        auto start = Clock::now();
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "open " + path.string());
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        ::close(fd);
        times.push_back(seconds_since(start));
        if (got != 10 || std::memcmp(buffer, "activated\n", 10) != 0)
            throw std::runtime_error(path.string() + ": not \"activated\\n\"");
    }
    report(kBench, "open+read+close of <port>/state, " + grouped(runs) + " runs over all ports",
           "median " + microseconds(median(times)) + ", p95 " + microseconds(quantile(times, 0.95)),
           "-", Verdict::Info);
}

void bench_stat(const fs::path& mountpoint, const std::vector<std::string>& names, int rounds) {
    std::vector<std::string> paths;
    for (const std::string& name : names) {
        paths.push_back((mountpoint / name).string());
        for (const char* file : {"state", "info", "tag", "last_error", "ledger"})
            paths.push_back((mountpoint / name / file).string());
    }
    struct stat info {};
    auto start = Clock::now();
    for (int round = 0; round < rounds; ++round) {
        for (const std::string& path : paths) {
            if (::stat(path.c_str(), &info) != 0)
                throw std::system_error(errno, std::generic_category(), "stat " + path);
        }
    }
    const double elapsed = seconds_since(start);
    const double calls = static_cast<double>(paths.size()) * rounds;
    report(kBench,
           "stat() of every port dir and file (" + grouped(static_cast<double>(paths.size())) +
               " paths) x " + std::to_string(rounds),
           grouped(calls / elapsed) + " stat/s (" + microseconds(elapsed / calls) + " each)", "-",
           Verdict::Info);
}

}  // namespace

int main(int argc, char** argv) {
    fs::path mountpoint;
    int exit_code = 0;
    try {
        Args args(argc, argv);
        const fs::path parent = args.get("dir", "/tmp");
        const int port_count = static_cast<int>(args.number("ports", 1000));
        const int ls_runs = static_cast<int>(args.number("ls-runs", 20));
        const int cold_runs = static_cast<int>(args.number("cold-runs", 5));
        const int cat_runs = static_cast<int>(args.number("cat-runs", 10000));
        const int stat_rounds = static_cast<int>(args.number("stat-rounds", 5));
        args.finish();
        if (::geteuid() != 0) throw std::runtime_error("needs root (to mount)");
        if (::access("/dev/fuse", R_OK | W_OK) != 0) throw std::runtime_error("no /dev/fuse");

        print_machine();
        TempDir dir(parent, "opa-bench-fuse-");
        ::chmod(dir.path().c_str(), 0755);
        mountpoint = dir.path() / "ports";
        const fs::path plain_dir = dir.path() / "plain";
        fs::create_directory(plain_dir);
        const auto names = port_names(port_count);
        for (const std::string& name : names) fs::create_directory(plain_dir / name);

        std::snprintf(g_mountpoint, sizeof g_mountpoint, "%s", mountpoint.c_str());
        for (int signal_number : {SIGINT, SIGTERM, SIGHUP})
            std::signal(signal_number, detach_and_exit);

        opa::fs::recover_mountpoint(mountpoint);
        InstantBackend backend;
        LedgerJournal journal(dir.path() / "ledger.jsonl");
        opa::agent::Core core(backend, journal, opa::agent::CoreOptions{"ovsbr0", 8, {}});
        {
            opa::fs::TreeOptions tree_options;
            tree_options.ledger_path = dir.path() / "ledger.jsonl";
            tree_options.bridge_state = [] { return std::string("ovsbr0 activated"); };
            tree_options.report = [](const std::string& sentence) { note("tree: " + sentence); };
            opa::fs::FuseServer server(core, tree_options, opa::fs::MountOptions{mountpoint});
            populate(core, backend, journal, names);
            bench_ls(mountpoint, plain_dir, port_count, ls_runs, cold_runs);
            bench_cat(mountpoint, names, cat_runs);
            bench_stat(mountpoint, names, stat_rounds);
        }  // FuseServer's destructor unmounts, before the core goes away
        if (mounted(mountpoint)) throw std::runtime_error("the mount is still there after stop()");
        g_mountpoint[0] = '\0';
    } catch (const std::exception& error) {
        std::cerr << "bench_fuse: " << error.what() << '\n';
        exit_code = 1;
    }
    if (!mountpoint.empty() && mounted(mountpoint)) {
        ::umount2(mountpoint.c_str(), MNT_DETACH);
        std::cerr << "bench_fuse: detached a mount left at " << mountpoint << '\n';
        exit_code = 1;
    }
    return exit_code;
}
