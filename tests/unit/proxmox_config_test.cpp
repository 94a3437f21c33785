#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "agent/proxmox_config.hpp"

namespace opa::proxmox {

// Readable failure messages for EXPECT_EQ on NICs.
void PrintTo(const GuestNicConfig& nic, std::ostream* out) {
    *out << "{net" << nic.index << " bridge='" << nic.bridge << "' tag=";
    if (nic.tag) {
        *out << *nic.tag;
    } else {
        *out << "none";
    }
    *out << " trunks=[";
    for (const auto& [first, last] : nic.trunks) *out << first << "-" << last << ";";
    *out << "] firewall=" << nic.firewall << " name='" << nic.name << "' model='" << nic.model
         << "' mac='" << nic.mac << "'}";
}

namespace {

namespace fs = std::filesystem;
using Trunks = std::vector<std::pair<std::uint16_t, std::uint16_t>>;

GuestNicConfig nic(std::uint32_t index, std::string bridge, std::optional<std::uint16_t> tag = {},
                   Trunks trunks = {}, bool firewall = false, std::string name = {},
                   std::string model = {}, std::string mac = {}) {
    return GuestNicConfig{.index = index,
                          .bridge = std::move(bridge),
                          .tag = tag,
                          .trunks = std::move(trunks),
                          .firewall = firewall,
                          .name = std::move(name),
                          .model = std::move(model),
                          .mac = std::move(mac)};
}

std::string all_problems(const GuestConfig& config) {
    std::string out;
    for (const std::string& problem : config.problems) out += "  " + problem + "\n";
    return out;
}

// --- parse_guest_config, table-driven --------------------------------------------------------

struct ParseCase {
    std::string label;  // the test's name in listings
    std::string text;
    std::vector<GuestNicConfig> nics;
    // Each problem must start with the corresponding entry ("line 3: net0: tag=5000"), one for
    // one and in order.
    std::vector<std::string> problem_prefixes;
};

class ProxmoxConfigParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ProxmoxConfigParseTest, Parses) {
    const ParseCase& c = GetParam();
    const GuestConfig config = parse_guest_config(c.text);
    EXPECT_EQ(config.nics, c.nics) << "text:\n" << c.text;
    ASSERT_EQ(config.problems.size(), c.problem_prefixes.size()) << all_problems(config);
    for (std::size_t i = 0; i < c.problem_prefixes.size(); ++i) {
        EXPECT_TRUE(config.problems[i].starts_with(c.problem_prefixes[i]))
            << "problem " << i << ": '" << config.problems[i] << "', expected it to start with '"
            << c.problem_prefixes[i] << "'";
    }
}

const std::string kLxcMac = "BC:24:11:AA:BB:CC";
const std::string kVmMac = "BC:24:11:00:00:01";

// What `pct create` writes, with a description, raw lxc keys and a snapshot.
const std::string kRealLxcConfig = R"(#web server%0A
#owner%3A ops
arch: amd64
cores: 2
features: nesting=1
hostname: web1
memory: 1024
net0: name=eth0,bridge=ovsbr0,firewall=1,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,tag=10,type=veth
net1: name=eth1,bridge=vmbr1,hwaddr=BC:24:11:AA:BB:CD,ip=192.0.2.5/24,gw=192.0.2.1,type=veth
ostype: debian
parent: before-upgrade
rootfs: local-lvm:vm-100-disk-0,size=8G
swap: 512
unprivileged: 1
lxc.apparmor.profile: unconfined
lxc.cgroup2.devices.allow: a

[before-upgrade]
arch: amd64
hostname: web1
net0: name=eth0,bridge=ovsbr0,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,tag=99,type=veth
net2: name=eth2,bridge=ovsbr0,hwaddr=BC:24:11:AA:BB:CE,ip=dhcp,type=veth
snaptime: 1700000000
)";

// What `qm create` writes, with pending changes and a cloud-init section.
const std::string kRealVmConfig = R"(boot: order=scsi0;ide2;net0
cores: 4
ide2: none,media=cdrom
memory: 4096
meta: creation-qemu=8.1.2,ctime=1700000000
name: db1
net0: virtio=BC:24:11:00:00:01,bridge=ovsbr0,firewall=1,tag=20
net1: e1000=BC:24:11:00:00:02,bridge=ovsbr0,trunks=30;40;50-60,queues=4
numa: 0
ostype: l26
scsi0: local-lvm:vm-101-disk-0,iothread=1,size=32G
scsihw: virtio-scsi-single
smbios1: uuid=3f0e5b5e-2c1e-4a5b-9d0e-0a1b2c3d4e5f
sockets: 1
vmgenid: 8b6e0a1c-1f2e-4d3c-b4a5-968778695a4b

[PENDING]
net0: virtio=BC:24:11:00:00:01,bridge=vmbr9,tag=21

[special:cloudinit]
ipconfig0: ip=dhcp
)";

INSTANTIATE_TEST_SUITE_P(
    Proxmox, ProxmoxConfigParseTest,
    ::testing::Values(
        // --- good lines ---
        ParseCase{"lxc_line",
                  "net0: name=eth0,bridge=ovsbr0,firewall=1,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,"
                  "tag=10,type=veth\n",
                  {nic(0, "ovsbr0", 10, {}, true, "eth0", "", kLxcMac)},
                  {}},
        ParseCase{
            "vm_line",
            "net1: virtio=BC:24:11:00:00:01,bridge=ovsbr0,tag=20,trunks=30;40;50-60\n",
            {nic(1, "ovsbr0", 20, {{30, 30}, {40, 40}, {50, 60}}, false, "", "virtio", kVmMac)},
            {}},
        ParseCase{"vm_model_and_macaddr_keys",
                  "net0: model=e1000,macaddr=BC:24:11:00:00:01,bridge=vmbr0\n",
                  {nic(0, "vmbr0", {}, {}, false, "", "e1000", kVmMac)},
                  {}},
        ParseCase{"vm_model_not_in_our_list_but_with_a_mac",
                  "net0: future-nic=BC:24:11:00:00:01,bridge=vmbr0\n",
                  {nic(0, "vmbr0", {}, {}, false, "", "future-nic", kVmMac)},
                  {}},
        ParseCase{"vm_known_model_pair_anywhere",
                  "net0: bridge=vmbr0,tag=3,virtio=BC:24:11:00:00:01\n",
                  {nic(0, "vmbr0", 3, {}, false, "", "virtio", kVmMac)},
                  {}},
        ParseCase{"unknown_key_with_a_mac_is_a_model_only_first",
                  "net0: bridge=vmbr0,future-nic=BC:24:11:00:00:01\n"
                  "net1: hwaddr=BC:24:11:AA:BB:CC,name=eth1,bridge=b\n",
                  {nic(0, "vmbr0"), nic(1, "b", {}, {}, false, "eth1", "", kLxcMac)},
                  {}},
        ParseCase{"vm_without_bridge_is_kept_with_empty_bridge",
                  "net0: virtio=BC:24:11:00:00:01\n",
                  {nic(0, "", {}, {}, false, "", "virtio", kVmMac)},
                  {}},
        ParseCase{"lowercase_mac_kept_as_written",
                  "net0: name=eth0,bridge=b,hwaddr=bc:24:11:aa:bb:cc\n",
                  {nic(0, "b", {}, {}, false, "eth0", "", "bc:24:11:aa:bb:cc")},
                  {}},
        ParseCase{"real_lxc_config_current_section_only",
                  kRealLxcConfig,
                  {nic(0, "ovsbr0", 10, {}, true, "eth0", "", kLxcMac),
                   nic(1, "vmbr1", {}, {}, false, "eth1", "", "BC:24:11:AA:BB:CD")},
                  {}},
        ParseCase{"real_vm_config_current_section_only",
                  kRealVmConfig,
                  {nic(0, "ovsbr0", 20, {}, true, "", "virtio", kVmMac),
                   nic(1, "ovsbr0", {}, {{30, 30}, {40, 40}, {50, 60}}, false, "", "e1000",
                       "BC:24:11:00:00:02")},
                  {}},
        ParseCase{"snapshot_section_ends_the_current_config",
                  "net0: bridge=ovsbr0,tag=10\n[snap1]\nnet0: bridge=ovsbr0,tag=99\n"
                  "net1: bridge=ovsbr0\nnet2: tag=5000\n",
                  {nic(0, "ovsbr0", 10)},
                  {}},
        ParseCase{"comments_ignored",
                  "#net0: bridge=commented\n# net1: tag=5000\n  #net2: garbage\n"
                  "#[not a section]\nnet3: bridge=ovsbr0\n",
                  {nic(3, "ovsbr0")},
                  {}},
        ParseCase{"multiple_nics_sorted_by_index",
                  "net2: bridge=c\nnet0: bridge=a\nnet31: bridge=z\nnet1: bridge=b\n",
                  {nic(0, "a"), nic(1, "b"), nic(2, "c"), nic(31, "z")},
                  {}},
        ParseCase{"not_net_keys_ignored",
                  "network: x\nnetfoo: y\nnet: z\nnameserver: 192.0.2.53\nnet0bad: 1\n"
                  "ipconfig0: ip=dhcp\n",
                  {},
                  {}},
        ParseCase{"firewall_booleans",
                  "net0: bridge=a,firewall=0\nnet1: bridge=a,firewall=yes\n"
                  "net2: bridge=a,firewall=ON\nnet3: bridge=a,firewall=false\n",
                  {nic(0, "a", {}, {}, false), nic(1, "a", {}, {}, true), nic(2, "a", {}, {}, true),
                   nic(3, "a", {}, {}, false)},
                  {}},
        ParseCase{"tag_and_trunk_bounds",
                  "net0: bridge=a,tag=1,trunks=1\nnet1: bridge=a,tag=4094,trunks=1-4094\n"
                  "net2: bridge=a,tag=010\n",
                  {nic(0, "a", 1, {{1, 1}}), nic(1, "a", 4094, {{1, 4094}}), nic(2, "a", 10)},
                  {}},
        ParseCase{"crlf_spaces_empty_items_and_no_final_newline",
                  "net0:   bridge=a , tag=7,,\r\nnet1: bridge=b",
                  {nic(0, "a", 7), nic(1, "b")},
                  {}},
        ParseCase{"empty_text", "", {}, {}},
        ParseCase{"unknown_well_formed_keys_ignored",
                  "net0: bridge=a,host-managed=1,some-future-key=x,rate=10,mtu=1500,link_down=1\n",
                  {nic(0, "a")},
                  {}},
        // --- malformed lines: skipped, reported with their line number, good lines kept ---
        ParseCase{"tag_out_of_range",
                  "net0: bridge=a\nnet1: bridge=a,tag=5000\nnet2: bridge=a,tag=0\n",
                  {nic(0, "a")},
                  {"line 2: net1: tag=5000: not a VLAN id", "line 3: net2: tag=0: not a VLAN id"}},
        ParseCase{"tag_not_a_number",
                  "net0: bridge=a,tag=abc\nnet1: bridge=a,tag=-1\nnet2: bridge=a,tag=1x\n"
                  "net3: bridge=a\n",
                  {nic(3, "a")},
                  {"line 1: net0: tag=abc", "line 2: net1: tag=-1", "line 3: net2: tag=1x"}},
        ParseCase{"index_out_of_range",
                  "net99: bridge=a\nnet0: bridge=a\nnet32: bridge=a\nnet01: bridge=a\n"
                  "net12345678901: bridge=a\n",
                  {nic(0, "a")},
                  {"line 1: net99: NIC index out of range 0..31",
                   "line 3: net32: NIC index out of range", "line 4: net01: NIC index has leading",
                   "line 5: net12345678901: NIC index out of range"}},
        ParseCase{"garbage_without_pairs",
                  "net0: garbage\nnet1: bridge=ovsbr0\nnet2: bridge=a,garbage\nnet3:\n"
                  "net4: =x\nnet5: bridge=\n",
                  {nic(1, "ovsbr0")},
                  {"line 1: net0: 'garbage' is not a key=value pair",
                   "line 3: net2: 'garbage' is not a key=value pair", "line 4: net3: no settings",
                   "line 5: net4: '=x' has no key", "line 6: net5: 'bridge=' has no value"}},
        ParseCase{"bad_trunks",
                  "net0: bridge=a,trunks=10;;20\nnet1: bridge=a,trunks=20-10\n"
                  "net2: bridge=a,trunks=5000\nnet3: bridge=a,trunks=a\nnet4: bridge=a,trunks=10;\n"
                  "net5: bridge=a,trunks=1-2-3\nnet6: bridge=a,trunks=10;20\n",
                  {nic(6, "a", {}, {{10, 10}, {20, 20}})},
                  {"line 1: net0: trunks=10;;20: '' is not a VLAN id",
                   "line 2: net1: trunks=20-10: range '20-10' ends before it starts",
                   "line 3: net2: trunks=5000", "line 4: net3: trunks=a",
                   "line 5: net4: trunks=10;", "line 6: net5: trunks=1-2-3"}},
        ParseCase{"bad_firewall_and_macs",
                  "net0: bridge=a,firewall=2\nnet1: name=eth0,bridge=a,hwaddr=ZZ:24:11:AA:BB:CC\n"
                  "net2: virtio=not-a-mac,bridge=a\nnet3: bridge=a,macaddr=BC:24:11:AA:BB\n"
                  "net4: bridge=a,firewall=1\n",
                  {nic(4, "a", {}, {}, true)},
                  {"line 1: net0: firewall=2: not a boolean",
                   "line 2: net1: hwaddr=ZZ:24:11:AA:BB:CC: not a MAC address",
                   "line 3: net2: virtio=not-a-mac: not a MAC address",
                   "line 4: net3: macaddr=BC:24:11:AA:BB: not a MAC address"}},
        ParseCase{"key_given_twice",
                  "net0: bridge=a,tag=10,tag=20\nnet1: virtio=BC:24:11:00:00:01,"
                  "macaddr=BC:24:11:00:00:01,bridge=a\nnet2: bridge=a,bridge=b\n"
                  "net3: name=eth0,bridge=a\nnet4: bridge=a,hwaddr=BC:24:11:AA:BB:CC,"
                  "macaddr=BC:24:11:AA:BB:CC\n",
                  {nic(3, "a", {}, {}, false, "eth0")},
                  {"line 1: net0: 'tag' given twice", "line 2: net1: 'macaddr' given twice",
                   "line 3: net2: 'bridge' given twice", "line 5: net4: 'macaddr' given twice"}},
        ParseCase{"same_index_twice_later_line_wins",
                  "net0: bridge=first\nmemory: 512\nnet0: bridge=second,tag=5\n",
                  {nic(0, "second", 5)},
                  {"line 1: net0: replaced by line 3"}},
        ParseCase{"malformed_line_in_snapshot_not_reported",
                  "net0: bridge=a\n[snap]\nnet0: tag=5000\nnet99: x\n",
                  {nic(0, "a")},
                  {}}),
    [](const ::testing::TestParamInfo<ParseCase>& info) { return info.param.label; });

// Arbitrary bytes never throw, and whatever comes out is within the documented ranges.
TEST(ProxmoxConfigParse, ArbitraryTextNeverThrowsAndStaysInRange) {
    std::mt19937 random(20240601);
    const std::string alphabet = "net0123456789:=,;-[]#\n\r \tabgirdtkvoBCx";
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        const int length = static_cast<int>(random() % 120);
        for (int i = 0; i < length; ++i) text += alphabet[random() % alphabet.size()];
        if (round % 2 == 0) text = "net" + std::to_string(random() % 40) + ": " + text;
        GuestConfig config;
        ASSERT_NO_THROW(config = parse_guest_config(text)) << text;
        std::uint32_t previous_index = 0;
        for (std::size_t i = 0; i < config.nics.size(); ++i) {
            const GuestNicConfig& nic = config.nics[i];
            EXPECT_LE(nic.index, naming::kMaxNicIndex) << text;
            if (i > 0) {
                EXPECT_GT(nic.index, previous_index) << text;
            }
            previous_index = nic.index;
            if (nic.tag) {
                EXPECT_GE(*nic.tag, kMinVlanId);
                EXPECT_LE(*nic.tag, kMaxVlanId);
            }
            for (const auto& [first, last] : nic.trunks) {
                EXPECT_GE(first, kMinVlanId);
                EXPECT_LE(first, last);
                EXPECT_LE(last, kMaxVlanId);
            }
        }
        for (const std::string& problem : config.problems) {
            EXPECT_TRUE(problem.starts_with("line ")) << problem;
        }
    }
}

// --- read_guest_config and nic_for_ifname, on a temporary /etc/pve ----------------------------

class ProxmoxConfigReadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "opa-pve-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
        fs::create_directories(root_ / "lxc");
        fs::create_directories(root_ / "qemu-server");
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(root_, ignored);
    }
    void write(const fs::path& relative, const std::string& text) {
        std::ofstream out(root_ / relative);
        out << text;
        ASSERT_TRUE(out.good());
    }
    fs::path root_;
};

constexpr auto kCt = naming::GuestKind::kContainer;
constexpr auto kVm = naming::GuestKind::kVm;
constexpr auto kFw = naming::GuestKind::kFirewallLink;

TEST_F(ProxmoxConfigReadTest, ReadsContainerAndVmConfigsFromTheirDirectories) {
    write("lxc/100.conf", kRealLxcConfig);
    write("qemu-server/101.conf", kRealVmConfig);

    const auto container = read_guest_config(root_, kCt, 100);
    ASSERT_TRUE(container.has_value());
    EXPECT_EQ(container->nics.size(), 2u);
    EXPECT_TRUE(container->problems.empty()) << all_problems(*container);
    EXPECT_EQ(container->nics.at(0), nic(0, "ovsbr0", 10, {}, true, "eth0", "", kLxcMac));

    const auto vm = read_guest_config(root_, kVm, 101);
    ASSERT_TRUE(vm.has_value());
    ASSERT_EQ(vm->nics.size(), 2u);
    EXPECT_EQ(vm->nics.at(0), nic(0, "ovsbr0", 20, {}, true, "", "virtio", kVmMac));

    // A kind looks only in its own directory.
    EXPECT_FALSE(read_guest_config(root_, kVm, 100).has_value());
    EXPECT_FALSE(read_guest_config(root_, kCt, 101).has_value());
}

TEST_F(ProxmoxConfigReadTest, FirewallLinkTriesContainersThenVms) {
    write("lxc/100.conf", "net0: bridge=from-lxc\n");
    write("qemu-server/101.conf", "net0: virtio=BC:24:11:00:00:01,bridge=from-qemu\n");
    const auto container = read_guest_config(root_, kFw, 100);
    ASSERT_TRUE(container.has_value());
    EXPECT_EQ(container->nics.at(0).bridge, "from-lxc");
    const auto vm = read_guest_config(root_, kFw, 101);
    ASSERT_TRUE(vm.has_value());
    EXPECT_EQ(vm->nics.at(0).bridge, "from-qemu");
    EXPECT_FALSE(read_guest_config(root_, kFw, 102).has_value());
}

TEST_F(ProxmoxConfigReadTest, MissingFileOrRootIsNullopt) {
    EXPECT_FALSE(read_guest_config(root_, kCt, 100).has_value());
    EXPECT_FALSE(read_guest_config(root_ / "does-not-exist", kVm, 100).has_value());
    EXPECT_FALSE(read_guest_config(root_ / "does-not-exist", kFw, 100).has_value());
}

TEST_F(ProxmoxConfigReadTest, DirectoryInPlaceOfFileIsNullopt) {
    fs::create_directories(root_ / "lxc" / "100.conf");
    fs::create_directories(root_ / "qemu-server" / "100.conf");
    EXPECT_FALSE(read_guest_config(root_, kCt, 100).has_value());
    EXPECT_FALSE(read_guest_config(root_, kFw, 100).has_value());
}

TEST_F(ProxmoxConfigReadTest, FifoInPlaceOfFileIsNulloptWithoutBlocking) {
    ASSERT_EQ(::mkfifo((root_ / "lxc" / "100.conf").c_str(), 0644), 0);
    EXPECT_FALSE(read_guest_config(root_, kCt, 100).has_value());
}

// Whether read_guest_config(root, kCt, 100) finds a config, asked as an unprivileged user when
// the tests run as root (as in CI), since root reads a mode 000 file anyway. nullopt when the
// child could not drop its privileges.
std::optional<bool> reads_container_100_unprivileged(const fs::path& root) {
    if (::geteuid() != 0) return read_guest_config(root, kCt, 100).has_value();
    const pid_t child = ::fork();
    if (child == 0) {
        constexpr uid_t kNobody = 65534;
        if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
        ::_exit(read_guest_config(root, kCt, 100).has_value() ? 1 : 0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) return std::nullopt;
    return WEXITSTATUS(status) == 1;
}

TEST_F(ProxmoxConfigReadTest, UnreadableFileIsNullopt) {
    write("lxc/100.conf", "net0: bridge=a\n");
    const auto traversable = fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec;
    fs::permissions(root_, traversable);
    fs::permissions(root_ / "lxc", traversable);
    // Readable first, so that the second answer is about the permissions and nothing else.
    fs::permissions(root_ / "lxc" / "100.conf", fs::perms::owner_read | fs::perms::others_read);
    EXPECT_EQ(reads_container_100_unprivileged(root_), true);
    fs::permissions(root_ / "lxc" / "100.conf", fs::perms::none);
    EXPECT_EQ(reads_container_100_unprivileged(root_), false);
}

TEST_F(ProxmoxConfigReadTest, EmptyFileHasNoNics) {
    write("lxc/100.conf", "");
    const auto config = read_guest_config(root_, kCt, 100);
    ASSERT_TRUE(config.has_value());
    EXPECT_TRUE(config->nics.empty());
    EXPECT_TRUE(config->problems.empty());
}

TEST_F(ProxmoxConfigReadTest, MalformedLinesInAFileAreReportedNotFatal) {
    write("lxc/100.conf", "hostname: x\nnet0: bridge=a,tag=5000\nnet1: bridge=b\n");
    const auto config = read_guest_config(root_, kCt, 100);
    ASSERT_TRUE(config.has_value());
    EXPECT_EQ(config->nics, std::vector{nic(1, "b")});
    ASSERT_EQ(config->problems.size(), 1u);
    EXPECT_TRUE(config->problems[0].starts_with("line 2: net0: tag=5000")) << config->problems[0];
}

struct IfnameCase {
    std::string ifname;
    std::optional<std::string> bridge;  // nullopt: no NIC config expected
};

class ProxmoxNicForIfnameTest : public ProxmoxConfigReadTest,
                                public ::testing::WithParamInterface<IfnameCase> {};

TEST_P(ProxmoxNicForIfnameTest, FindsTheNicTheNameStandsFor) {
    write("lxc/100.conf",
          "net0: name=eth0,bridge=ct-zero,firewall=1,hwaddr=BC:24:11:AA:BB:CC,type=veth\n"
          "net1: name=eth1,bridge=ct-one,tag=10,type=veth\n"
          "net3: name=eth3,bridge=ct-three,tag=5000\n"
          "[snap]\nnet2: name=eth2,bridge=ct-snapshot\n");
    write("qemu-server/101.conf", "net0: virtio=BC:24:11:00:00:01,bridge=vm-zero,tag=20\n");
    const IfnameCase& c = GetParam();
    const auto found = nic_for_ifname(root_, c.ifname);
    if (!c.bridge) {
        EXPECT_FALSE(found.has_value()) << c.ifname << " -> " << ::testing::PrintToString(*found);
        return;
    }
    ASSERT_TRUE(found.has_value()) << c.ifname;
    EXPECT_EQ(found->bridge, *c.bridge) << c.ifname;
}

INSTANTIATE_TEST_SUITE_P(
    Proxmox, ProxmoxNicForIfnameTest,
    ::testing::Values(IfnameCase{"veth100i0", "ct-zero"}, IfnameCase{"veth100i1", "ct-one"},
                      IfnameCase{"tap101i0", "vm-zero"}, IfnameCase{"fwln100o0", "ct-zero"},
                      IfnameCase{"fwln101o0", "vm-zero"},
                      IfnameCase{"veth100i2", std::nullopt},   // only in a snapshot
                      IfnameCase{"veth100i3", std::nullopt},   // malformed line
                      IfnameCase{"veth100i5", std::nullopt},   // no such NIC
                      IfnameCase{"tap100i0", std::nullopt},    // 100 is a container
                      IfnameCase{"veth101i0", std::nullopt},   // 101 is a VM
                      IfnameCase{"veth102i0", std::nullopt},   // no such guest
                      IfnameCase{"veth100i0p", std::nullopt},  // hotplug peer
                      IfnameCase{"fwbr100i0", std::nullopt},   // firewall bridge
                      IfnameCase{"vi100", std::nullopt}, IfnameCase{"eth0", std::nullopt},
                      IfnameCase{"", std::nullopt}),
    [](const ::testing::TestParamInfo<IfnameCase>& info) {
        return info.param.ifname.empty() ? std::string("empty") : info.param.ifname;
    });

TEST_F(ProxmoxConfigReadTest, NicForIfnameReturnsTheWholeNic) {
    write("lxc/100.conf",
          "net1: name=eth1,bridge=ovsbr0,firewall=1,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,tag=10,"
          "trunks=20;30-40,type=veth\n");
    EXPECT_EQ(nic_for_ifname(root_, "veth100i1"),
              nic(1, "ovsbr0", 10, {{20, 20}, {30, 40}}, true, "eth1", "", kLxcMac));
}

}  // namespace
}  // namespace opa::proxmox
