// The port tree over the real NetworkManager with OVS in the sandbox: `mkdir vi100` and the veth
// appearing give an OVS port on a bridge of our own, `echo 10 > tag` tags the live port, and
// `rmdir vi100` removes it from NM and OVSDB. OVSDB is only read (ovs-vsctl list/get). The link
// event is simulated (core.link_appeared), as netwatch would deliver it.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "agent/core.hpp"
#include "agent/nm_backend.hpp"
#include "fs/fuse_server.hpp"
#include "ledger/ledger.hpp"
#include "nm/nm_client.hpp"
#include "nm/ovs_ports.hpp"
#include "nm/profiles.hpp"
#include "tests/support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using opa::test::run;
using opa::test::trim;
using opa::test::wait_until;
namespace nm = opa::nm;
namespace agent = opa::agent;

constexpr const char* kBridge = "opafs0";

bool ovs_has_port(const std::string& port) {
    auto r = run(std::string("ovs-vsctl --timeout=5 list-ports ") + kBridge);
    return r.ok() && ("\n" + r.output).find("\n" + port + "\n") != std::string::npos;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class LedgerJournal : public agent::Journal {
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

class FsSandbox : public ::testing::Test {
  protected:
    // The bridge: an ovs-bridge on the userspace datapath with an internal port, in memory.
    static void SetUpTestSuite() {
        if (!std::getenv("DBUS_SYSTEM_BUS_ADDRESS") || ::geteuid() != 0 ||
            ::access("/dev/fuse", R_OK | W_OK) != 0) {
            return;
        }
        client_ = std::make_unique<nm::NmClient>();
        nm::OvsPorts ports(*client_, kBridge);
        if (ports.bridge_profile()) return;
        const nm::WireNames wire = client_->wire_names();
        const nm::ProfileCommon bridge{nm::new_uuid(), false};
        const nm::ProfileCommon port{nm::new_uuid(), false, true};
        const nm::ProfileCommon iface{nm::new_uuid(), false};
        const std::string bridge_path = client_->add_connection(
            nm::bridge_profile(kBridge, bridge, "netdev"), nm::kAddInMemory);
        profile_uuids_.push_back(bridge.uuid);
        client_->add_connection(
            nm::port_profile(kBridge, port, bridge.uuid, {}, std::nullopt, wire), nm::kAddInMemory);
        profile_uuids_.push_back(port.uuid);
        client_->add_connection(nm::internal_interface_profile(kBridge, iface, port.uuid, {}, wire),
                                nm::kAddInMemory);
        profile_uuids_.push_back(iface.uuid);
        client_->activate(bridge_path);
        auto device = client_->device_by_interface(kBridge, {nm::kDeviceOvsInterface});
        if (device) {
            client_->wait_device_state(
                device->path, [](std::uint32_t s) { return s == nm::kStateActivated; },
                nm::Clock::now() + std::chrono::seconds(20));
        }
    }
    static void TearDownTestSuite() {
        if (client_) {
            for (const std::string& uuid : profile_uuids_) {
                if (auto path = client_->connection_path_by_uuid(uuid)) {
                    client_->delete_connection(*path);
                }
            }
        }
        profile_uuids_.clear();
        client_.reset();
    }

    void SetUp() override {
        if (!std::getenv("DBUS_SYSTEM_BUS_ADDRESS")) {
            GTEST_SKIP() << "run through scripts/sandbox.sh exec (ctest -R sandbox.fs)";
        }
        if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "needs root and /dev/fuse";
        }
        ASSERT_TRUE(client_);
        char pattern[] = "/tmp/opa-fs-sandbox-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        mnt_ = dir_ / "ports";
        opa::fs::recover_mountpoint(mnt_);
        journal_ = std::make_unique<LedgerJournal>(dir_ / "ledger.jsonl");
        backend_ = std::make_unique<agent::NmBackend>(*client_, kBridge);
        core_ = std::make_unique<agent::Core>(*backend_, *journal_, agent::CoreOptions{kBridge, 4});
        opa::fs::TreeOptions options;
        options.ledger_path = dir_ / "ledger.jsonl";
        options.bridge_state = [] { return std::string("activated"); };
        server_ =
            std::make_unique<opa::fs::FuseServer>(*core_, options, opa::fs::MountOptions{mnt_});
    }
    void TearDown() override {
        server_.reset();
        core_.reset();
        for (const std::string& link : links_) run("ip link del " + link);
        if (client_) {
            nm::OvsPorts ports(*client_, kBridge);
            for (const std::string& name : names_) {
                if (ports.owned_port(name)) ports.detach(name);
            }
        }
        backend_.reset();
        journal_.reset();
        if (!dir_.empty()) {
            EXPECT_EQ(read_file("/proc/mounts").find(mnt_.string()), std::string::npos);
            std::filesystem::remove_all(dir_);
        }
    }
    opa::test::CommandResult sh(const std::string& script) {
        return run("cd '" + mnt_.string() + "' && " + script);
    }
    std::string cat(const std::string& file) { return sh("cat " + file).output; }

    static std::unique_ptr<nm::NmClient> client_;
    static std::vector<std::string> profile_uuids_;
    std::filesystem::path dir_, mnt_;
    std::unique_ptr<LedgerJournal> journal_;
    std::unique_ptr<agent::NmBackend> backend_;
    std::unique_ptr<agent::Core> core_;
    std::unique_ptr<opa::fs::FuseServer> server_;
    std::vector<std::string> links_, names_;
};
std::unique_ptr<nm::NmClient> FsSandbox::client_;
std::vector<std::string> FsSandbox::profile_uuids_;

TEST_F(FsSandbox, MkdirAndALinkGiveAnOvsPortAndRmdirRemovesIt) {
    names_.push_back("vi100");
    auto made = sh("mkdir vi100");
    ASSERT_TRUE(made.ok()) << made.output;
    EXPECT_EQ(cat("vi100/state"), "pending\n");
    const std::string info = cat("vi100/info");
    EXPECT_NE(info.find("bridge = opafs0\n"), std::string::npos) << info;
    EXPECT_EQ(info.find("port_uuid = \n"), std::string::npos) << info;  // NM holds the profile

    ASSERT_TRUE(run("ip link add vi100 type veth peer name vi100p").ok());
    links_.push_back("vi100");
    ASSERT_TRUE(run("ip link set vi100p up").ok());
    core_->link_appeared("vi100", agent::LinkKind::Veth);
    EXPECT_TRUE(wait_until([&] { return cat("vi100/state") == "activated\n"; }, 30s))
        << cat("vi100/state") << cat("vi100/last_error");
    EXPECT_TRUE(wait_until([] { return ovs_has_port("vi100"); }, 10s));
    EXPECT_EQ(cat("vi100/last_error"), "");

    auto tagged = sh("echo 10 > vi100/tag");
    EXPECT_TRUE(tagged.ok()) << tagged.output << cat("vi100/last_error");
    EXPECT_EQ(cat("vi100/tag"), "10\n");
    EXPECT_TRUE(wait_until(
        [] { return trim(run("ovs-vsctl --timeout=5 get port vi100 tag").output) == "10"; }, 20s))
        << run("ovs-vsctl --timeout=5 get port vi100 tag").output;

    const std::string ledger = cat("vi100/ledger");
    EXPECT_NE(ledger.find("\"port_created\""), std::string::npos) << ledger;
    EXPECT_NE(ledger.find("\"port_attached\""), std::string::npos) << ledger;

    auto removed = sh("rmdir vi100");
    ASSERT_TRUE(removed.ok()) << removed.output;
    EXPECT_FALSE(core_->port("vi100"));
    EXPECT_FALSE(nm::OvsPorts(*client_, kBridge).owned_port("vi100"));
    EXPECT_TRUE(wait_until([] { return !ovs_has_port("vi100"); }, 20s));
    EXPECT_EQ(sh("ls").output, "bridge\nby-vmid\nledger\n");
}

TEST_F(FsSandbox, RmRRemovesAPendingPortFromNetworkManager) {
    names_.push_back("vi101");
    ASSERT_TRUE(sh("mkdir vi101").ok());
    EXPECT_TRUE(nm::OvsPorts(*client_, kBridge).owned_port("vi101"));
    auto removed = sh("rm -r vi101");
    ASSERT_TRUE(removed.ok()) << removed.output;
    EXPECT_FALSE(nm::OvsPorts(*client_, kBridge).owned_port("vi101"));
    EXPECT_FALSE(core_->port("vi101"));
}

}  // namespace
