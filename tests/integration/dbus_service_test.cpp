// dev.ovs.PortAgent1 on a private dbus-daemon of type "system" that loads the project's own
// policy file: the service over a core with a fake NetworkManager, called by real clients
// (gdbus, busctl, the CLI's AgentClient), as root and as an unprivileged user. Needs no
// sandbox: the bus is a child process of the test, the host's system bus is never touched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include "bus/sdbus_compat.hpp"

#include "agent/core.hpp"
#include "dbus/client.hpp"
#include "dbus/errors.hpp"
#include "dbus/service.hpp"
#include "ledger/ledger.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/ledger_checks.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::FakeBackend;
using opa::test::FakeJournal;

using namespace opa::agent;
using namespace std::chrono_literals;
using opa::test::run;
using opa::test::wait_until;
namespace fs = std::filesystem;

const std::string kSeedPing =
    "gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method "
    "dev.ovs.PortAgent1.ping";
const std::string kSeedListPorts =
    "gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method "
    "dev.ovs.PortAgent1.list_ports";
const std::string kSeedCreate =
    "gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method "
    "dev.ovs.PortAgent1.create_container_interface 'veth-123-eth0' 'container-123' 100";
const std::string kSeedRemove =
    "gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 --method "
    "dev.ovs.PortAgent1.remove_container_interface 'vi100'";

// A dbus-daemon of type "system" on a socket in a private, world-reachable directory, whose
// policy is Debian's default plus our policy file, copied into its includedir.
class PrivateSystemBus {
  public:
    // `extra_policy`: another file for the includedir, loaded after ours.
    explicit PrivateSystemBus(const std::string& extra_policy = {}) {
        char pattern[] = "/tmp/opa-dbus-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        // The unprivileged client must reach the socket.
        fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
        fs::create_directory(dir_ / "system.d");
        fs::copy_file(fs::path(OPA_SOURCE_ROOT) / "dbus" / "dev.ovs.PortAgent1.conf",
                      dir_ / "system.d" / "dev.ovs.PortAgent1.conf");
        if (!extra_policy.empty())
            std::ofstream(dir_ / "system.d" / "zz-extra.conf") << extra_policy;
        socket_ = dir_ / "system_bus_socket";
        std::ofstream(dir_ / "bus.conf") << config();
        start();
    }

    ~PrivateSystemBus() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    std::string address() const { return "unix:path=" + socket_.string(); }
    const fs::path& dir() const { return dir_; }

  private:
    std::string config() const {
        return R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" +
               socket_.string() + R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>)" +
               (dir_ / "system.d").string() + R"(</includedir>
</busconfig>
)";
    }

    // The daemon prints its address once it listens: reading it is the readiness event.
    void start() {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
        const std::string config_arg = "--config-file=" + (dir_ / "bus.conf").string();
        const std::string print_arg = "--print-address=" + std::to_string(pipe_fds[1]);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(pipe_fds[0]);
            // Its complaints (rejected calls are expected here) go to a file, not the test log.
            const int log = ::open((dir_ / "bus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (log >= 0) ::dup2(log, STDERR_FILENO);
            ::execl("/usr/bin/dbus-daemon", "dbus-daemon", config_arg.c_str(), "--nofork",
                    "--nopidfile", print_arg.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(pipe_fds[1]);
        std::string printed;
        char c = 0;
        while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') printed.push_back(c);
        ::close(pipe_fds[0]);
        if (printed.empty()) throw std::runtime_error("dbus-daemon did not start");
    }

    fs::path dir_;
    fs::path socket_;
    pid_t pid_ = -1;
};

// What gdbus and busctl are called as.
std::string as_nobody(const std::string& command) {
    return "setpriv --reuid=65534 --regid=65534 --clear-groups " + command;
}

class DbusService : public ::testing::Test {
  protected:
    // `extra_policy` lets a test load a permissive policy beside ours.
    void start(const std::string& extra_policy = {}) {
        if (!fs::exists("/usr/bin/dbus-daemon")) GTEST_SKIP() << "dbus-daemon is not installed";
        bus = std::make_unique<PrivateSystemBus>(extra_policy);
        // gdbus --system, busctl --system and sd-bus's system connection all honour it.
        ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus->address().c_str(), 1);

        ledger_path = bus->dir() / "ledger.jsonl";
        {
            opa::ledger::Ledger ledger(ledger_path);
            ledger.append("agent_started", {{"bridge", "ovsbr0"}});
            ledger.append("port_created", {{"port", "vi100"}});
        }

        core = std::make_unique<Core>(backend, journal, CoreOptions{"ovsbr0", 4});
        // As in the daemon: the connection's event loop already runs when the service comes.
        connection = sdbus::createSystemBusConnection();
        connection->enterEventLoopAsync();
        opa::dbus::ServiceOptions options;
        options.version = "9.8.7";
        options.ledger_path = ledger_path;
        options.rename_link = [this](const std::string& old_name, const std::string& new_name) {
            std::lock_guard lock(hooks_mutex);
            if (old_name == "veth-refuse") throw std::runtime_error("no link named veth-refuse");
            renames.emplace_back(old_name, new_name);
        };
        options.rename_refusal = [](const std::string& name) -> std::optional<std::string> {
            if (name == "eth-uplink") return "is the bridge's uplink";
            return std::nullopt;
        };
        options.reload_config = [this] {
            if (reload_fails) throw std::runtime_error("config.toml:3:1: unknown key 'bridg'");
            ++reloads;
        };
        service = std::make_unique<opa::dbus::Service>(*connection, *core, std::move(options));
        service->request_name();
    }

    void SetUp() override { start(); }

    void TearDown() override {
        service.reset();
        if (connection) connection->leaveEventLoop();
        connection.reset();
        core.reset();
        bus.reset();
        ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
    }

    static std::string gdbus_call(const std::string& method, const std::string& args = {}) {
        return "gdbus call --system --dest dev.ovs.PortAgent1 --object-path /dev/ovs/PortAgent1 "
               "--method dev.ovs.PortAgent1." +
               method + (args.empty() ? "" : " " + args);
    }
    std::string busctl(const std::string& args) const {
        return "busctl --address=" + bus->address() + " " + args;
    }
    std::string busctl_call(const std::string& method, const std::string& args = {}) const {
        return busctl("call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 dev.ovs.PortAgent1 " + method +
                      (args.empty() ? "" : " " + args));
    }

    std::vector<std::string> port_names() const {
        std::vector<std::string> names;
        for (const Port& port : core->ports()) names.push_back(port.name);
        return names;
    }

    // Expects the command to fail with the D-Bus error `error_name`; returns gdbus's output.
    static std::string expect_error(const std::string& command, const std::string& error_name) {
        const auto result = run(command);
        EXPECT_FALSE(result.ok()) << command << "\n" << result.output;
        EXPECT_NE(result.output.find("GDBus.Error:" + error_name + ":"), std::string::npos)
            << command << "\n"
            << result.output;
        return result.output;
    }

    FakeBackend backend;
    FakeJournal journal;
    std::unique_ptr<PrivateSystemBus> bus;
    fs::path ledger_path;
    std::unique_ptr<Core> core;
    std::unique_ptr<sdbus::IConnection> connection;
    std::unique_ptr<opa::dbus::Service> service;

    std::mutex hooks_mutex;
    std::vector<std::pair<std::string, std::string>> renames;
    std::atomic<int> reloads{0};
    std::atomic<bool> reload_fails{false};
};

TEST_F(DbusService, SeedReadmeLinesWorkVerbatim) {
    auto ping = run(kSeedPing);
    ASSERT_TRUE(ping.ok()) << ping.output;
    EXPECT_EQ(ping.output, "('pong',)\n");

    auto list = run(kSeedListPorts);
    ASSERT_TRUE(list.ok()) << list.output;
    EXPECT_EQ(list.output, "(@as [],)\n");

    auto create = run(kSeedCreate);
    ASSERT_TRUE(create.ok()) << create.output;
    EXPECT_EQ(create.output, "('vi100',)\n");
    EXPECT_EQ(port_names(), std::vector<std::string>{"vi100"});
    ASSERT_TRUE(core->port("vi100"));
    EXPECT_EQ(core->port("vi100")->options.vmid, 100u);
    EXPECT_EQ(core->port("vi100")->origin, Origin::Request);
    {
        std::lock_guard lock(hooks_mutex);
        ASSERT_EQ(renames.size(), 1u);
        EXPECT_EQ(renames[0], std::make_pair(std::string("veth-123-eth0"), std::string("vi100")));
    }

    list = run(kSeedListPorts);
    EXPECT_EQ(list.output, "(['vi100'],)\n");

    auto remove = run(kSeedRemove);
    ASSERT_TRUE(remove.ok()) << remove.output;
    EXPECT_EQ(remove.output, "('vi100',)\n");
    EXPECT_TRUE(port_names().empty());
}

TEST_F(DbusService, EveryMethodAndPropertyThroughBusctl) {
    auto result = run(busctl_call("Ping"));
    EXPECT_EQ(result.output, "s \"pong\"\n");

    result = run(busctl_call("CreateContainerInterface", "ssu veth100i1 ct-100 100"));
    ASSERT_TRUE(result.ok()) << result.output;
    EXPECT_EQ(result.output, "s \"vi100i1\"\n");
    result = run(busctl_call("CreateContainerInterface", "ssu tap100i0 ct-100 100"));
    EXPECT_EQ(result.output, "s \"vi100\"\n");
    // Already the port's name: nothing to rename.
    result = run(busctl_call("CreateContainerInterface", "ssu vi4242 ct 4242"));
    EXPECT_EQ(result.output, "s \"vi4242\"\n");
    {
        std::lock_guard lock(hooks_mutex);
        EXPECT_EQ(renames.size(), 2u);
    }

    result = run(busctl_call("ListPorts"));
    EXPECT_EQ(result.output, "as 3 \"vi100\" \"vi100i1\" \"vi4242\"\n");

    result =
        run(busctl("--json=short call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 "
                   "dev.ovs.PortAgent1 GetPort s vi100i1"));
    ASSERT_TRUE(result.ok()) << result.output;
    const auto reply = nlohmann::json::parse(result.output);
    const auto& dict = reply["data"][0];
    EXPECT_EQ(dict["name"]["data"], "vi100i1");
    EXPECT_EQ(dict["vmid"]["type"], "u");
    EXPECT_EQ(dict["vmid"]["data"], 100);
    EXPECT_EQ(dict["origin"]["data"], "request");
    EXPECT_EQ(dict["port_uuid"]["data"], "port-vi100i1");
    EXPECT_EQ(dict["since"]["type"], "x");
    EXPECT_GT(dict["since"]["data"].get<std::int64_t>(), 1'600'000'000);
    EXPECT_FALSE(dict.contains("tag"));
    for (const char* key : {"state", "kind", "link_present", "member_uuid", "last_error", "created",
                            "changed", "generation"}) {
        EXPECT_TRUE(dict.contains(key)) << key;
    }

    result = run(busctl_call("VerifyLedger"));
    ASSERT_TRUE(result.ok()) << result.output;
    EXPECT_NE(result.output.find("bs true \"PASS: " + ledger_path.string() + " (2 entries)"),
              std::string::npos)
        << result.output;

    EXPECT_EQ(run(busctl("get-property dev.ovs.PortAgent1 /dev/ovs/PortAgent1 "
                         "dev.ovs.PortAgent1 Bridge PortCount Version"))
                  .output,
              "s \"ovsbr0\"\nu 3\ns \"9.8.7\"\n");

    result = run(busctl_call("ReloadConfig"));
    EXPECT_TRUE(result.ok()) << result.output;
    EXPECT_EQ(reloads.load(), 1);

    result = run(busctl_call("RemoveContainerInterface", "s vi100i1"));
    EXPECT_EQ(result.output, "s \"vi100i1\"\n");
    result = run(busctl_call("remove_container_interface", "s vi4242"));
    EXPECT_EQ(result.output, "s \"vi4242\"\n");
    EXPECT_EQ(port_names(), std::vector<std::string>{"vi100"});
}

TEST_F(DbusService, BadArgumentsAreNamedErrorsAndChangeNothing) {
    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    ASSERT_TRUE(core->wait_idle(5s));
    const std::size_t calls_before = backend.call_count();
    const auto ports_before = port_names();

    expect_error(gdbus_call("CreateContainerInterface", "'' ct 100"),
                 "dev.ovs.PortAgent1.Error.InvalidName");
    const std::string too_long =
        expect_error(gdbus_call("CreateContainerInterface", "veth-12345678901 ct 100"),
                     "dev.ovs.PortAgent1.Error.InvalidName");
    EXPECT_NE(too_long.find("at most 15 bytes"), std::string::npos) << too_long;
    const std::string vmid_zero =
        expect_error(gdbus_call("CreateContainerInterface", "veth-1-eth0 ct 0"),
                     "dev.ovs.PortAgent1.Error.InvalidArgs");
    EXPECT_NE(vmid_zero.find("VMID 0 is out of range"), std::string::npos) << vmid_zero;
    expect_error(gdbus_call("CreateContainerInterface", "veth-1-eth0 ct 1000000000"),
                 "dev.ovs.PortAgent1.Error.InvalidArgs");
    expect_error(gdbus_call("create_container_interface", "veth101i0 ct 100"),
                 "dev.ovs.PortAgent1.Error.InvalidArgs");
    expect_error(gdbus_call("CreateContainerInterface", "tap100i0 ct 100"),
                 "dev.ovs.PortAgent1.Error.Exists");
    // A link that is no guest's (the uplink) is never renamed: refused before anything.
    std::size_t renames_before = 0;
    {
        std::lock_guard lock(hooks_mutex);
        renames_before = renames.size();
    }
    const std::string uplink =
        expect_error(gdbus_call("CreateContainerInterface", "eth-uplink ct 300"),
                     "dev.ovs.PortAgent1.Error.InvalidArgs");
    EXPECT_NE(uplink.find("eth-uplink is the bridge's uplink"), std::string::npos) << uplink;
    {
        std::lock_guard lock(hooks_mutex);
        EXPECT_EQ(renames.size(), renames_before);
    }
    // A failing rename hook refuses the request before the core hears of it.
    expect_error(gdbus_call("CreateContainerInterface", "veth-refuse ct 200"),
                 "dev.ovs.PortAgent1.Error.Failed");

    expect_error(gdbus_call("RemoveContainerInterface", "''"),
                 "dev.ovs.PortAgent1.Error.InvalidName");
    expect_error(gdbus_call("RemoveContainerInterface", "abcdefghijklmnop"),
                 "dev.ovs.PortAgent1.Error.InvalidName");
    const std::string unknown = expect_error(gdbus_call("RemoveContainerInterface", "vi999"),
                                             "dev.ovs.PortAgent1.Error.NotFound");
    EXPECT_NE(unknown.find("no port named vi999"), std::string::npos) << unknown;
    expect_error(gdbus_call("GetPort", "vi999"), "dev.ovs.PortAgent1.Error.NotFound");
    expect_error(gdbus_call("GetPort", "''"), "dev.ovs.PortAgent1.Error.InvalidName");

    reload_fails = true;
    const std::string reload =
        expect_error(gdbus_call("ReloadConfig"), "dev.ovs.PortAgent1.Error.Failed");
    EXPECT_NE(reload.find("unknown key 'bridg'"), std::string::npos) << reload;

    EXPECT_EQ(port_names(), ports_before);
    EXPECT_EQ(backend.call_count(), calls_before);
}

// While the ledger cannot be written, every change is refused with LedgerUnwritable and changes
// nothing, the reload included; questions that need no ledger still get their usual answers.
TEST_F(DbusService, ChangesAreRefusedWhileTheLedgerCannotRecordThem) {
    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    ASSERT_TRUE(core->wait_idle(5s));
    const auto ports_before = port_names();
    journal.set_fault(JournalFault{ENOSPC, "No space left on device"});
    for (const std::string& command :
         {gdbus_call("CreateContainerInterface", "veth200i0 ct 200"),
          gdbus_call("RemoveContainerInterface", "vi100"), gdbus_call("ReloadConfig")}) {
        const std::string output =
            expect_error(command, "dev.ovs.PortAgent1.Error.LedgerUnwritable");
        EXPECT_NE(output.find("No space left on device"), std::string::npos) << output;
    }
    EXPECT_EQ(reloads.load(), 0);
    EXPECT_EQ(port_names(), ports_before);
    expect_error(gdbus_call("RemoveContainerInterface", "vi999"),
                 "dev.ovs.PortAgent1.Error.NotFound");
    EXPECT_TRUE(run(gdbus_call("Ping")).ok());

    journal.set_fault(std::nullopt);
    EXPECT_TRUE(run(gdbus_call("ReloadConfig")).ok());
    EXPECT_EQ(reloads.load(), 1);
}

TEST_F(DbusService, UnprivilegedCallerMayReadButNotChange) {
    if (::geteuid() != 0) GTEST_SKIP() << "setpriv needs root";
    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    const auto ports_before = port_names();

    for (const std::string& command :
         {kSeedPing, kSeedListPorts, gdbus_call("Ping"), gdbus_call("ListPorts"),
          gdbus_call("GetPort", "vi100"), gdbus_call("VerifyLedger"),
          std::string("gdbus introspect --system --dest dev.ovs.PortAgent1 --object-path "
                      "/dev/ovs/PortAgent1"),
          std::string("gdbus call --system --dest dev.ovs.PortAgent1 --object-path "
                      "/dev/ovs/PortAgent1 --method org.freedesktop.DBus.Properties.Get "
                      "dev.ovs.PortAgent1 PortCount"),
          std::string("gdbus call --system --dest dev.ovs.PortAgent1 --object-path "
                      "/dev/ovs/PortAgent1 --method org.freedesktop.DBus.Properties.GetAll "
                      "dev.ovs.PortAgent1")}) {
        const auto result = run(as_nobody(command));
        EXPECT_TRUE(result.ok()) << command << "\n" << result.output;
    }
    EXPECT_TRUE(run(as_nobody(busctl_call("Ping"))).ok());

    for (const std::string& command :
         {kSeedCreate, kSeedRemove, gdbus_call("CreateContainerInterface", "veth200i0 ct 200"),
          gdbus_call("RemoveContainerInterface", "vi100"), gdbus_call("ReloadConfig")}) {
        expect_error(as_nobody(command), "org.freedesktop.DBus.Error.AccessDenied");
    }
    EXPECT_EQ(port_names(), ports_before);
    EXPECT_EQ(reloads.load(), 0);
}

// A bus policy that lets everyone send everything to the service: only its own check is left.
constexpr const char* kEveryoneMaySend =
    R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <allow send_destination="dev.ovs.PortAgent1"/>
  </policy>
</busconfig>
)";

// With a policy that lets everyone send everything, the service's own uid check still refuses.
TEST_F(DbusService, ServiceRefusesNonRootEvenWhenThePolicyAllows) {
    if (::geteuid() != 0) GTEST_SKIP() << "setpriv needs root";
    TearDown();
    start(kEveryoneMaySend);
    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    const auto ports_before = port_names();

    for (const std::string& command :
         {kSeedCreate, kSeedRemove, gdbus_call("CreateContainerInterface", "veth200i0 ct 200"),
          gdbus_call("RemoveContainerInterface", "vi100"), gdbus_call("ReloadConfig")}) {
        const std::string output =
            expect_error(as_nobody(command), "dev.ovs.PortAgent1.Error.AccessDenied");
        EXPECT_NE(output.find("uid 65534"), std::string::npos) << output;
    }
    EXPECT_EQ(port_names(), ports_before);
    EXPECT_EQ(reloads.load(), 0);
    EXPECT_TRUE(run(as_nobody(gdbus_call("Ping"))).ok());
}

// The uid checked is the effective one the bus took from the caller's socket, not the real uid
// sd-bus would read from /proc/<pid>: a process with real uid 0 and effective uid 65534 is
// nobody to the bus, and so to the agent (with the old check it was root).
TEST_F(DbusService, TheUidCheckedIsTheEffectiveOneTheBusVouchesFor) {
    if (::geteuid() != 0) GTEST_SKIP() << "setpriv needs root";
    TearDown();
    start(kEveryoneMaySend);
    // busctl, not gdbus: GLib ignores DBUS_SYSTEM_BUS_ADDRESS when real and effective uid differ.
    const std::string real_root_effective_nobody =
        "setpriv --euid=65534 --egid=65534 --clear-groups ";
    ASSERT_TRUE(run(real_root_effective_nobody + busctl_call("Ping")).ok());
    for (const std::string& call : {busctl_call("CreateContainerInterface", "ssu veth200i0 ct 200"),
                                    busctl_call("ReloadConfig")}) {
        const auto result = run(real_root_effective_nobody + call);
        EXPECT_FALSE(result.ok()) << call << "\n" << result.output;
        EXPECT_NE(result.output.find("uid 65534"), std::string::npos) << result.output;
    }
    EXPECT_TRUE(port_names().empty());
    EXPECT_EQ(reloads.load(), 0);

    // Root as the bus knows it is still allowed.
    const auto created = run(busctl_call("CreateContainerInterface", "ssu veth200i0 ct 200"));
    EXPECT_EQ(created.output, "s \"vi200\"\n");
    EXPECT_EQ(port_names(), std::vector<std::string>{"vi200"});
}

// VerifyLedger is open to everyone and reads the whole ledger: 50 calls from nobody at once on
// a ~100 MB ledger must not delay root's CreateContainerInterface (the hookscript gives up after
// 10 s). The bus thread never verifies; the 50 share one or two verifications.
TEST_F(DbusService, VerifyLedgerCallsFromOthersDoNotDelayRoot) {
    if (::geteuid() != 0) GTEST_SKIP() << "setpriv needs root";
    opa::test::fill_ledger(ledger_path, 100u << 20, 600);
    const fs::path answers = bus->dir() / "verify";
    fs::create_directory(answers);
    // The 50 callers start together (one shell); root's calls begin right after.
    const std::string caller =
        as_nobody(busctl("--timeout=300 call dev.ovs.PortAgent1 /dev/ovs/PortAgent1 "
                         "dev.ovs.PortAgent1 VerifyLedger"));
    const auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(
        run("for i in $(seq 0 49); do " + caller + " >" + answers.string() + "/$i 2>&1 & done")
            .ok());
    auto answered = [&] {
        int count = 0;
        for (int i = 0; i < 50; ++i) {
            std::ifstream in(answers / std::to_string(i));
            std::string text((std::istreambuf_iterator<char>(in)), {});
            if (text.find("bs true \"PASS: ") != std::string::npos) ++count;
        }
        return count;
    };
    // Root creates and removes a port, again and again, until all 50 are answered. Timed in
    // this process (the CLI's client), so the figure is the service's, not busctl's start-up.
    opa::dbus::AgentClient root;
    std::int64_t slowest_ms = 0;
    int root_calls = 0, while_none_answered = 0;
    auto timed = [&](const std::function<std::string()>& call, const std::string& expected) {
        const auto before = std::chrono::steady_clock::now();
        EXPECT_EQ(call(), expected);
        slowest_ms = std::max<std::int64_t>(slowest_ms,
                                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - before)
                                                .count());
        ++root_calls;
    };
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    while (answered() < 50 && std::chrono::steady_clock::now() < deadline) {
        const bool none_yet = answered() == 0;
        timed([&] { return root.create_container_interface("veth300i0", "ct", 300); }, "vi300");
        timed([&] { return root.remove_container_interface("vi300"); }, "vi300");
        if (none_yet) while_none_answered += 2;
    }
    const auto all_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
    EXPECT_EQ(answered(), 50);
    std::printf(
        "ledger %ju bytes; all 50 VerifyLedger calls answered after %jd ms; root made %d "
        "calls meanwhile (%d before the first answer), the slowest answered in %jd ms\n",
        static_cast<std::uintmax_t>(fs::file_size(ledger_path)), static_cast<std::intmax_t>(all_ms),
        root_calls, while_none_answered, static_cast<std::intmax_t>(slowest_ms));
    // Root's calls overlapped the verifications (else this proves nothing) and stayed fast.
    EXPECT_GT(while_none_answered, 0);
    EXPECT_LT(slowest_ms, 1000);
}

// Members of the interface as "kind name in-signature out-signature".
std::set<std::string> members_in_xml(const std::string& xml) {
    std::set<std::string> members;
    const std::regex tag(R"re(<(/?)(method|signal|property|arg)\b([^>]*?)(/?)>)re");
    const std::regex attribute(R"re((\w+)="([^"]*)")re");
    std::string kind, name, in, out;
    auto flush = [&] {
        if (kind == "method") members.insert("method " + name + " " + in + " " + out);
        if (kind == "signal") members.insert("signal " + name + " " + in);
        kind.clear();
    };
    for (std::sregex_iterator it(xml.begin(), xml.end(), tag), end; it != end; ++it) {
        const std::string closing = (*it)[1], element = (*it)[2], attrs = (*it)[3];
        const bool empty = (*it)[4] == "/";
        std::map<std::string, std::string> values;
        for (std::sregex_iterator a(attrs.begin(), attrs.end(), attribute); a != end; ++a) {
            values[(*a)[1]] = (*a)[2];
        }
        if (!closing.empty()) {
            if (element == "method" || element == "signal") flush();
        } else if (element == "arg") {
            (values["direction"] == "out" ? out : in) += values["type"];
        } else if (element == "property") {
            members.insert("property " + values["name"] + " " + values["type"]);
        } else {
            kind = element;
            name = values["name"];
            in.clear();
            out.clear();
            if (empty) flush();
        }
    }
    return members;
}

std::set<std::string> members_in_busctl(const std::string& output) {
    std::set<std::string> members;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] != '.') continue;
        std::istringstream fields(line);
        std::string name, kind, signature, result;
        fields >> name >> kind >> signature >> result;
        name.erase(0, 1);
        if (signature == "-") signature.clear();
        if (result == "-") result.clear();
        if (kind == "method") members.insert("method " + name + " " + signature + " " + result);
        if (kind == "signal") members.insert("signal " + name + " " + signature);
        if (kind == "property") members.insert("property " + name + " " + signature);
    }
    return members;
}

TEST_F(DbusService, IntrospectionMatchesTheXmlInTheTree) {
    std::ifstream file(fs::path(OPA_SOURCE_ROOT) / "dbus" / "dev.ovs.PortAgent1.xml");
    const std::string xml((std::istreambuf_iterator<char>(file)), {});
    const auto expected = members_in_xml(xml);
    ASSERT_EQ(expected.size(), 11u + 3u + 3u);

    const auto result =
        run(busctl("introspect dev.ovs.PortAgent1 /dev/ovs/PortAgent1 "
                   "dev.ovs.PortAgent1"));
    ASSERT_TRUE(result.ok()) << result.output;
    EXPECT_EQ(members_in_busctl(result.output), expected) << result.output;
}

TEST_F(DbusService, SignalsFollowTheCore) {
    auto listener_connection = sdbus::createSystemBusConnection();
    std::mutex mutex;
    std::vector<std::string> received;
    auto record = [&](std::string event) {
        std::lock_guard lock(mutex);
        received.push_back(std::move(event));
    };
    auto proxy = opa::bus::make_signal_proxy(
        *listener_connection, opa::dbus::kBusName, opa::dbus::kObjectPath, [&](sdbus::IProxy& p) {
            p.uponSignal("PortAdded")
                .onInterface(opa::dbus::kInterface)
                .call([&](const std::string& name) { record("added " + name); });
            p.uponSignal("PortRemoved")
                .onInterface(opa::dbus::kInterface)
                .call([&](const std::string& name) { record("removed " + name); });
            p.uponSignal("PortStateChanged")
                .onInterface(opa::dbus::kInterface)
                .call([&](const std::string& name, const std::string& state) {
                    record("state " + name + " " + state);
                });
        });  // the match rules are in place when this returns
    listener_connection->enterEventLoopAsync();

    // Waits until `event` arrived; signals come in the order the registry changed.
    auto seen = [&](const std::string& event) {
        return wait_until([&] {
            std::lock_guard lock(mutex);
            return std::find(received.begin(), received.end(), event) != received.end();
        });
    };
    auto received_now = [&] {
        std::lock_guard lock(mutex);
        return received;
    };

    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    EXPECT_TRUE(seen("added vi100"));
    core->link_appeared("vi100", LinkKind::Veth);
    EXPECT_TRUE(seen("state vi100 activated"));
    ASSERT_TRUE(run(gdbus_call("RemoveContainerInterface", "vi100")).ok());
    EXPECT_TRUE(seen("removed vi100"));

    // The intermediate "activating" is reported only when the listener ran before the worker
    // had finished activating; every other step is always there, in order.
    std::vector<std::string> events = received_now();
    std::erase(events, "state vi100 activating");
    EXPECT_EQ(events, (std::vector<std::string>{"added vi100", "state vi100 activated",
                                                "state vi100 deactivating", "removed vi100"}));

    listener_connection->leaveEventLoop();
}

// A handler that waits for a port's worker (remove while the worker activates) while that
// worker reports the port's new state: the signal must not need the connection the handler
// holds.
TEST_F(DbusService, HandlerWaitingForAWorkerDoesNotBlockItsSignals) {
    ASSERT_TRUE(run(gdbus_call("CreateContainerInterface", "veth100i0 ct 100")).ok());
    {
        std::lock_guard lock(backend.mutex);
        backend.gate_closed = true;
    }
    core->link_appeared("vi100", LinkKind::Veth);
    ASSERT_TRUE(backend.wait_in_activate(1, 5s));

    auto removal = std::async(std::launch::async,
                              [&] { return run(gdbus_call("RemoveContainerInterface", "vi100")); });
    // The handler is in the core, waiting for the worker's port lock (or about to).
    EXPECT_TRUE(wait_until([&] { return core->port("vi100")->state == PortState::Deactivating; }));
    backend.open_gate();

    ASSERT_EQ(removal.wait_for(20s), std::future_status::ready) << "RemoveContainerInterface hangs";
    const auto result = removal.get();
    EXPECT_TRUE(result.ok()) << result.output;
    EXPECT_TRUE(port_names().empty());
    EXPECT_EQ(run(gdbus_call("Ping")).output, "('pong',)\n");
}

TEST_F(DbusService, ClientLibraryForTheCli) {
    opa::dbus::AgentClient client;  // the system bus, as the CLI connects

    EXPECT_EQ(client.ping(), "pong");
    EXPECT_EQ(client.create_container_interface("veth-123-eth0", "container-123", 100), "vi100");
    EXPECT_EQ(client.create_container_interface("tap100i2", "", 100), "vi100i2");
    EXPECT_EQ(client.list_ports(), (std::vector<std::string>{"vi100", "vi100i2"}));

    const opa::dbus::PortInfo port = client.get_port("vi100i2");
    EXPECT_EQ(port.name, "vi100i2");
    EXPECT_EQ(port.vmid, 100u);
    EXPECT_EQ(port.tag, std::nullopt);
    EXPECT_EQ(port.origin, "request");
    EXPECT_EQ(port.port_uuid, "port-vi100i2");
    EXPECT_GT(port.since, 1'600'000'000);

    const opa::dbus::LedgerCheck check = client.verify_ledger();
    EXPECT_TRUE(check.ok);
    EXPECT_EQ(check.report.rfind("PASS: ", 0), 0u) << check.report;

    EXPECT_EQ(client.remove_container_interface("vi100"), "vi100");
    try {
        client.remove_container_interface("vi100");
        ADD_FAILURE() << "removing a removed port succeeded";
    } catch (const opa::dbus::AgentError& error) {
        EXPECT_EQ(error.kind(), opa::dbus::ErrorKind::NotFound);
        EXPECT_STREQ(error.what(),
                     "no port named vi100; ListPorts shows the ports the agent knows.");
    }

    // Without the agent on the bus, the CLI says so.
    service.reset();
    try {
        client.ping();
        ADD_FAILURE() << "ping succeeded without the agent";
    } catch (const opa::dbus::AgentError& error) {
        EXPECT_EQ(error.kind(), std::nullopt);
        EXPECT_NE(std::string(error.what()).find("the agent is not running"), std::string::npos)
            << error.what();
    }
}

}  // namespace
