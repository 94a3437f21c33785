// The port tree as a model, without FUSE: rendering of the attribute files, names to nodes,
// by-vmid grouping, inode stability, and what mkdir/rmdir/unlink/write do and answer.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/core.hpp"
#include "fs/inode_table.hpp"
#include "fs/port_tree.hpp"
#include "fs/render.hpp"
#include "ledger/ledger.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::FakeBackend;
using opa::test::FakeJournal;

using namespace opa::agent;
using namespace opa::fs;
using namespace std::chrono_literals;

// Waits until the clock has passed `t`, so that a change made next is observably later.
void wait_clock_past(std::chrono::system_clock::time_point t) {
    ASSERT_TRUE(opa::test::wait_until([&] { return std::chrono::system_clock::now() > t; }, 1s));
}

Port sample_port() {
    Port port;
    port.name = "vi100";
    port.state = PortState::Activated;
    port.origin = Origin::Request;
    port.kind = LinkKind::Veth;
    port.options = {10, 100};
    port.link_present = true;
    port.port_uuid = "11111111-2222-3333-4444-555555555555";
    port.member_uuid = "66666666-7777-8888-9999-000000000000";
    port.created = std::chrono::system_clock::time_point(1'764'095'551'123ms);
    port.since = port.created + 2s;
    return port;
}

TEST(FsRender, AttributeFilesAreSmallTextsEndingInANewline) {
    Port port = sample_port();
    EXPECT_EQ(render_state(port), "activated\n");
    EXPECT_EQ(render_tag(port), "10\n");
    EXPECT_EQ(render_info(port, "ovsbr0"),
              "bridge = ovsbr0\n"
              "interface = vi100\n"
              "kind = veth\n"
              "vmid = 100\n"
              "tag = 10\n"
              "origin = request\n"
              "state = activated\n"
              "link = present\n"
              "port_uuid = 11111111-2222-3333-4444-555555555555\n"
              "member_uuid = 66666666-7777-8888-9999-000000000000\n"
              "since = 2025-11-25T18:32:33.123Z\n"
              "created = 2025-11-25T18:32:31.123Z\n");
    EXPECT_EQ(render_bridge("ovsbr0", "activated"), "ovsbr0 activated\n");
    EXPECT_EQ(render_bridge("ovsbr0", ""), "ovsbr0 unknown\n");
    EXPECT_EQ(render_last_error(""), "");
    EXPECT_EQ(render_last_error("NM said no"), "NM said no\n");
}

TEST(FsRender, UnknownValuesAreEmptyAndUntaggedIsAnEmptyFile) {
    Port port;
    port.name = "vi7";
    EXPECT_EQ(render_tag(port), "");
    EXPECT_EQ(render_state(port), "pending\n");
    const std::string info = render_info(port, "br");
    EXPECT_NE(info.find("vmid = \n"), std::string::npos);
    EXPECT_NE(info.find("tag = \n"), std::string::npos);
    EXPECT_NE(info.find("kind = unknown\n"), std::string::npos);
    EXPECT_NE(info.find("link = absent\n"), std::string::npos);
}

TEST(FsRender, TagWrites) {
    struct Case {
        std::string text;
        std::optional<std::uint16_t> tag;
        bool valid;
    } cases[] = {
        {"10\n", 10, true},         {"10", 10, true},         {" 7 \n", 7, true},
        {"\n", std::nullopt, true}, {"", std::nullopt, true}, {"  \n", std::nullopt, true},
        {"4094\n", 4094, true},     {"5000\n", 5000, true},  // range is the core's to check
        {"abc\n", {}, false},       {"-1\n", {}, false},      {"+1\n", {}, false},
        {"1 2\n", {}, false},       {"0x10\n", {}, false},    {"70000\n", {}, false},
        {"10\n11\n", {}, false},
    };
    for (const Case& c : cases) {
        TagRequest request = parse_tag_write(c.text);
        EXPECT_EQ(request.error.empty(), c.valid) << "'" << c.text << "': " << request.error;
        if (c.valid) {
            EXPECT_EQ(request.tag, c.tag) << c.text;
        }
    }
    EXPECT_NE(parse_tag_write("abc\n").error.find("'abc'"), std::string::npos);
}

TEST(FsInodeTable, NumbersAreStableAndDistinct) {
    InodeTable table;
    EXPECT_EQ(table.ino_for({NodeKind::Root, {}, 0, PortFile::State}), kRootIno);
    const NodeKey state{NodeKind::PortFile, "vi100", 0, PortFile::State};
    const NodeKey tag{NodeKind::PortFile, "vi100", 0, PortFile::Tag};
    const Ino state_ino = table.ino_for(state);
    EXPECT_NE(state_ino, table.ino_for(tag));
    EXPECT_EQ(state_ino, table.ino_for(state));
    EXPECT_EQ(table.key_for(state_ino), state);
    EXPECT_FALSE(table.key_for(0));
    EXPECT_FALSE(table.key_for(10'000));
}

class FsTreeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/opa-fs-tree-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir = pattern;
        ledger_path = dir / "ledger.jsonl";
        TreeOptions options;
        options.ledger_path = ledger_path;
        options.bridge_state = [this] {
            std::lock_guard lock(mutex);
            return bridge_state;
        };
        options.report = [this](const std::string& sentence) {
            std::lock_guard lock(mutex);
            reports.push_back(sentence);
        };
        tree = std::make_unique<PortTree>(*core, options);
    }
    void TearDown() override {
        tree.reset();
        core.reset();
        std::filesystem::remove_all(dir);
    }

    Ino lookup_path(const std::string& path) {
        Ino ino = kRootIno;
        std::string rest = path;
        while (!rest.empty()) {
            const auto slash = rest.find('/');
            const std::string name = rest.substr(0, slash);
            rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
            auto attr = tree->lookup(ino, name);
            if (!attr.ok()) return 0;
            ino = attr->ino;
        }
        return ino;
    }
    std::string cat(const std::string& path) {
        const Ino ino = lookup_path(path);
        if (ino == 0) return "<missing>";
        auto file = tree->open(ino, false, 0);
        if (!file.ok()) return "<error " + std::to_string(file.error()) + ">";
        auto data = tree->read(**file, 0, 1 << 20);
        return data.ok() ? *data : "<read error>";
    }
    std::vector<std::string> ls(const std::string& path) {
        auto entries = tree->list(path.empty() ? kRootIno : lookup_path(path));
        std::vector<std::string> names;
        if (!entries.ok()) return names;
        for (const DirEntry& entry : *entries) names.push_back(entry.name);
        return names;
    }
    int write_tag(const std::string& port, std::string_view text, uid_t uid = 0) {
        auto file = tree->open(lookup_path(port + "/tag"), true, 0);
        if (!file.ok()) return file.error();
        auto written = tree->write(**file, text, uid);
        return written.ok() ? 0 : written.error();
    }

    std::filesystem::path dir;
    std::filesystem::path ledger_path;
    FakeBackend backend;
    FakeJournal journal;
    std::unique_ptr<Core> core = std::make_unique<Core>(backend, journal, CoreOptions{"ovsbr0", 2});
    std::unique_ptr<PortTree> tree;
    std::mutex mutex;
    std::string bridge_state = "activated";
    std::vector<std::string> reports;
};

TEST_F(FsTreeTest, RootListsTheFixedFilesAndOneDirectoryPerPort) {
    EXPECT_EQ(ls(""), (std::vector<std::string>{".", "..", "bridge", "by-vmid", "ledger"}));
    ASSERT_TRUE(core->create_port("vi101", {}));
    ASSERT_TRUE(core->create_port("vi100", {}));
    EXPECT_EQ(ls(""), (std::vector<std::string>{".", "..", "bridge", "by-vmid", "ledger", "vi100",
                                                "vi101"}));
    EXPECT_EQ(ls("vi100"), (std::vector<std::string>{".", "..", "info", "last_error", "ledger",
                                                     "state", "tag"}));
    auto root = tree->getattr(kRootIno);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root->type, FileType::Directory);
    EXPECT_EQ(root->nlink, 5u);  // . and .. , by-vmid, two ports
    EXPECT_EQ(cat("bridge"), "ovsbr0 activated\n");
    EXPECT_EQ(cat("vi100/state"), "pending\n");
    EXPECT_EQ(cat("vi100/tag"), "");
    EXPECT_EQ(cat("vi100/last_error"), "");
    EXPECT_NE(cat("vi100/info").find("port_uuid = port-vi100\n"), std::string::npos);
    EXPECT_EQ(lookup_path("vi102"), 0u);
    EXPECT_EQ(lookup_path("vi100/nothing"), 0u);
    EXPECT_EQ(tree->lookup(lookup_path("vi100/state"), "x").error(), ENOTDIR);
}

TEST_F(FsTreeTest, SizesAndModesMatchTheContent) {
    ASSERT_TRUE(core->create_port("vi100", {10, 100}));
    for (const std::string file : {"state", "info", "tag", "last_error", "ledger"}) {
        auto attr = tree->getattr(lookup_path("vi100/" + file));
        ASSERT_TRUE(attr.ok()) << file;
        EXPECT_EQ(attr->size, cat("vi100/" + file).size()) << file;
        EXPECT_EQ(attr->permissions, file == "tag" ? 0644u : 0444u) << file;
    }
    EXPECT_EQ(tree->getattr(lookup_path("vi100"))->permissions, 0755u);
    EXPECT_EQ(tree->getattr(lookup_path("by-vmid"))->permissions, 0555u);
    EXPECT_EQ(tree->getattr(lookup_path("bridge"))->size, cat("bridge").size());
    EXPECT_EQ(tree->getattr(lookup_path("ledger"))->permissions, 0444u);
}

TEST_F(FsTreeTest, ByVmidGroupsPortsOfOneGuestAsRelativeSymlinks) {
    ASSERT_TRUE(core->create_port("vi100", {std::nullopt, 100}));
    ASSERT_TRUE(core->create_port("vi100i1", {std::nullopt, 100}));
    ASSERT_TRUE(core->create_port("vi200", {std::nullopt, 200}));
    ASSERT_TRUE(core->create_port("plain", {}));
    EXPECT_EQ(ls("by-vmid"), (std::vector<std::string>{".", "..", "100", "200"}));
    EXPECT_EQ(ls("by-vmid/100"), (std::vector<std::string>{".", "..", "vi100", "vi100i1"}));
    const Ino link = lookup_path("by-vmid/100/vi100i1");
    ASSERT_NE(link, 0u);
    EXPECT_EQ(tree->getattr(link)->type, FileType::Symlink);
    EXPECT_EQ(*tree->readlink(link), "../../vi100i1");
    EXPECT_EQ(lookup_path("by-vmid/100/vi200"), 0u);
    EXPECT_EQ(lookup_path("by-vmid/0100"), 0u);  // one name per VMID
    EXPECT_EQ(lookup_path("by-vmid/300"), 0u);
    EXPECT_EQ(tree->getattr(lookup_path("by-vmid"))->nlink, 4u);
    ASSERT_TRUE(core->remove_port("vi200"));
    EXPECT_EQ(ls("by-vmid"), (std::vector<std::string>{".", "..", "100"}));
}

TEST_F(FsTreeTest, InodesAreStablePerPortAndFileAcrossRemoveAndCreate) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    const Ino dir_ino = lookup_path("vi100");
    const Ino state_ino = lookup_path("vi100/state");
    const Ino tag_ino = lookup_path("vi100/tag");
    std::set<Ino> distinct{
        kRootIno, dir_ino, state_ino, tag_ino, lookup_path("ledger"), lookup_path("vi100/ledger")};
    EXPECT_EQ(distinct.size(), 6u);
    ASSERT_TRUE(core->remove_port("vi100"));
    EXPECT_EQ(tree->getattr(state_ino).error(), ENOENT);
    ASSERT_TRUE(core->create_port("vi100", {}));
    EXPECT_EQ(lookup_path("vi100"), dir_ino);
    EXPECT_EQ(lookup_path("vi100/state"), state_ino);
    EXPECT_EQ(tree->getattr(state_ino)->ino, state_ino);
}

// The kernel caches names and directory attributes for a while: each change names what to drop.
TEST_F(FsTreeTest, ChangesNameTheCachedNodesToDrop) {
    std::vector<Invalidation> drops;
    tree->set_invalidation_hook([&](const Invalidation& drop) { drops.push_back(drop); });
    auto dropped_inode = [&](Ino ino) {
        for (const Invalidation& d : drops) {
            if (std::count(d.inodes.begin(), d.inodes.end(), ino)) return true;
        }
        return false;
    };
    auto dropped_entry = [&](Ino parent, const std::string& name) {
        for (const Invalidation& d : drops) {
            for (const auto& e : d.entries) {
                if (e.first == parent && e.second == name) return true;
            }
        }
        return false;
    };
    ASSERT_TRUE(core->create_port("vi100", {std::nullopt, 100}));
    EXPECT_TRUE(dropped_inode(kRootIno));  // nlink and mtime of the root
    EXPECT_EQ(tree->getattr(kRootIno)->nlink, 4u);
    const Ino dir = lookup_path("vi100");
    const Ino by_vmid = lookup_path("by-vmid");
    const Ino vmid_dir = lookup_path("by-vmid/100");
    ASSERT_NE(lookup_path("by-vmid/100/vi100"), 0u);

    drops.clear();
    ASSERT_TRUE(core->set_tag("vi100", 7));
    EXPECT_TRUE(dropped_inode(dir));        // its mtime
    EXPECT_FALSE(dropped_inode(kRootIno));  // the set of ports is the same
    EXPECT_FALSE(dropped_entry(kRootIno, "vi100"));

    drops.clear();
    ASSERT_TRUE(core->remove_port("vi100"));
    EXPECT_TRUE(dropped_inode(kRootIno));
    EXPECT_TRUE(dropped_inode(dir));
    EXPECT_TRUE(dropped_inode(by_vmid));
    EXPECT_TRUE(dropped_inode(vmid_dir));
    EXPECT_TRUE(dropped_entry(kRootIno, "vi100"));
    EXPECT_TRUE(dropped_entry(vmid_dir, "vi100"));
    EXPECT_TRUE(dropped_entry(by_vmid, "100"));
    EXPECT_EQ(tree->getattr(kRootIno)->nlink, 3u);

    tree->set_invalidation_hook({});
    drops.clear();
    ASSERT_TRUE(core->create_port("vi101", {}));
    EXPECT_TRUE(drops.empty());
}

TEST_F(FsTreeTest, MkdirValidatesTheNameAndCreatesARequestedPort) {
    EXPECT_EQ(tree->make_port(kRootIno, "a b", 0).error(), EINVAL);
    EXPECT_EQ(tree->make_port(kRootIno, "v\xc3\xa9", 0).error(), EINVAL);
    EXPECT_EQ(tree->make_port(kRootIno, "..", 0).error(), EINVAL);
    EXPECT_EQ(tree->make_port(kRootIno, "sixteen_bytes_xx", 0).error(), ENAMETOOLONG);
    EXPECT_EQ(tree->make_port(kRootIno, "ledger", 0).error(), EEXIST);
    EXPECT_EQ(tree->make_port(kRootIno, "vi100", 65534).error(), EACCES);
    EXPECT_TRUE(core->ports().empty());

    auto made = tree->make_port(kRootIno, "vi100", 0);
    ASSERT_TRUE(made.ok());
    EXPECT_EQ(made->type, FileType::Directory);
    EXPECT_EQ(made->ino, lookup_path("vi100"));
    auto port = core->port("vi100");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->origin, Origin::Request);

    EXPECT_EQ(tree->make_port(kRootIno, "vi100", 0).error(), EEXIST);
    EXPECT_EQ(tree->make_port(lookup_path("vi100"), "x", 0).error(), EPERM);
    EXPECT_EQ(tree->make_port(lookup_path("by-vmid"), "100", 0).error(), EPERM);
    std::lock_guard lock(mutex);
    EXPECT_FALSE(reports.empty());
    EXPECT_NE(reports.front().find("mkdir a b"), std::string::npos) << reports.front();
}

TEST_F(FsTreeTest, MkdirBackendFailureIsEioAndReported) {
    backend.fail_prepare.insert("vi100");
    EXPECT_EQ(tree->make_port(kRootIno, "vi100", 0).error(), EIO);
    EXPECT_FALSE(core->port("vi100"));
    std::lock_guard lock(mutex);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0], "mkdir vi100: prepare of vi100 refused");
}

// The ledger's disk is full: mkdir, rmdir and tag writes fail with the ledger's errno and
// change nothing.
TEST_F(FsTreeTest, ChangesFailWithTheLedgersErrnoWhileItCannotBeWritten) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    journal.set_fault(opa::agent::JournalFault{ENOSPC, "No space left on device"});
    EXPECT_EQ(tree->make_port(kRootIno, "vi101", 0).error(), ENOSPC);
    EXPECT_EQ(tree->remove_port(kRootIno, "vi100", 0), ENOSPC);
    EXPECT_EQ(write_tag("vi100", "10\n"), ENOSPC);
    EXPECT_FALSE(core->port("vi101"));
    ASSERT_TRUE(core->port("vi100"));
    EXPECT_EQ(core->port("vi100")->options.tag, std::nullopt);
    EXPECT_EQ(lookup_path("vi101"), 0u);
    {
        std::lock_guard lock(mutex);
        ASSERT_FALSE(reports.empty());
        EXPECT_EQ(reports.front(),
                  "mkdir vi101: the ledger cannot be written (No space left on device): refusing "
                  "a change that could not be audited");
    }
    journal.set_fault(std::nullopt);
    EXPECT_TRUE(tree->make_port(kRootIno, "vi101", 0).ok());
}

TEST_F(FsTreeTest, RmdirRemovesThePortAndUnlinkOfItsFilesIsAHarmlessNoOp) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    const Ino dir_ino = lookup_path("vi100");
    EXPECT_EQ(tree->unlink(dir_ino, "state", 0), 0);
    EXPECT_NE(lookup_path("vi100/state"), 0u);  // still there
    EXPECT_EQ(tree->unlink(dir_ino, "nothing", 0), ENOENT);
    EXPECT_EQ(tree->unlink(dir_ino, "state", 65534), EACCES);
    EXPECT_EQ(tree->unlink(kRootIno, "ledger", 0), EPERM);
    EXPECT_EQ(tree->unlink(lookup_path("by-vmid"), "100", 0), EPERM);
    EXPECT_TRUE(core->port("vi100"));

    EXPECT_EQ(tree->remove_port(kRootIno, "by-vmid", 0), EPERM);
    EXPECT_EQ(tree->remove_port(kRootIno, "vi100", 65534), EACCES);
    EXPECT_EQ(tree->remove_port(kRootIno, "vi100", 0), 0);
    EXPECT_FALSE(core->port("vi100"));
    EXPECT_EQ(tree->remove_port(kRootIno, "vi100", 0), ENOENT);
}

TEST_F(FsTreeTest, TagWritesChangeThePortAndRefusalsLandInLastError) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    EXPECT_EQ(write_tag("vi100", "10\n"), 0);
    EXPECT_EQ(core->port("vi100")->options.tag, 10);
    EXPECT_EQ(cat("vi100/tag"), "10\n");

    EXPECT_EQ(write_tag("vi100", "abc\n"), EINVAL);
    EXPECT_NE(cat("vi100/last_error").find("invalid VLAN tag 'abc'"), std::string::npos);
    EXPECT_EQ(write_tag("vi100", "5000\n"), EINVAL);
    EXPECT_NE(cat("vi100/last_error").find("out of range"), std::string::npos)
        << cat("vi100/last_error");
    EXPECT_EQ(core->port("vi100")->options.tag, 10);
    EXPECT_EQ(write_tag("vi100", "10\n", 65534), EACCES);

    backend.fail_set_options = true;
    EXPECT_EQ(write_tag("vi100", "11\n"), EIO);
    EXPECT_EQ(cat("vi100/last_error"), "NM refused the tag\n");
    backend.fail_set_options = false;

    EXPECT_EQ(write_tag("vi100", "\n"), 0);  // untagged
    EXPECT_EQ(core->port("vi100")->options.tag, std::nullopt);
    EXPECT_EQ(cat("vi100/tag"), "");
    EXPECT_EQ(cat("vi100/last_error"), "");  // a success clears it

    EXPECT_EQ(tree->open(lookup_path("vi100/state"), true, 0).error(), EACCES);
    EXPECT_EQ(tree->open(lookup_path("vi100/tag"), true, 65534).error(), EACCES);
    EXPECT_EQ(tree->truncate(lookup_path("vi100/tag"), 0, 0).ok(), true);
    EXPECT_EQ(tree->truncate(lookup_path("vi100/state"), 0, 0).error(), EACCES);
}

TEST_F(FsTreeTest, AnOpenFileKeepsTheTextItOpenedWith) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    auto file = tree->open(lookup_path("vi100/state"), false, 0);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(core->remove_port("vi101").code == Errc::NotFound);
    backend.links.insert("vi100");
    core->link_appeared("vi100", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(cat("vi100/state"), "activated\n");
    EXPECT_EQ(*tree->read(**file, 0, 100), "pending\n");
    EXPECT_EQ(*tree->read(**file, 3, 100), "ding\n");
    EXPECT_EQ(*tree->read(**file, 100, 100), "");
    EXPECT_EQ(tree->getattr(lookup_path("vi100/state"), file->get())->size, 8u);
}

TEST_F(FsTreeTest, MtimesMoveWhenContentChanges) {
    const auto root_before = tree->getattr(kRootIno)->mtime;
    wait_clock_past(root_before);
    ASSERT_TRUE(core->create_port("vi100", {}));
    const auto root_after = tree->getattr(kRootIno)->mtime;
    EXPECT_GT(root_after, root_before);
    const auto state_before = tree->getattr(lookup_path("vi100/state"))->mtime;
    wait_clock_past(state_before);
    ASSERT_TRUE(core->set_tag("vi100", 5));
    EXPECT_GT(tree->getattr(lookup_path("vi100/state"))->mtime, state_before);
    EXPECT_EQ(tree->getattr(kRootIno)->mtime, root_after);  // the set of ports did not change

    const auto bridge_before = tree->getattr(lookup_path("bridge"))->mtime;
    wait_clock_past(bridge_before);
    {
        std::lock_guard lock(mutex);
        bridge_state = "activating";
    }
    EXPECT_EQ(cat("bridge"), "ovsbr0 activating\n");
    EXPECT_GT(tree->getattr(lookup_path("bridge"))->mtime, bridge_before);
}

TEST_F(FsTreeTest, LedgerFilesServeTheFileAndEachPortsLines) {
    EXPECT_EQ(cat("ledger"), "");  // no ledger yet
    {
        opa::ledger::Ledger ledger(ledger_path);
        ledger.append("port_created", {{"port", "vi100"}});
        ledger.append("port_created", {{"port", "vi101"}});
        ledger.append("port_attached", {{"port", "vi100"}});
        ledger.append("reconcile", {{"reason", "start"}});
    }
    ASSERT_TRUE(core->create_port("vi100", {}));
    std::string whole = cat("ledger");
    EXPECT_EQ(std::count(whole.begin(), whole.end(), '\n'), 4);
    EXPECT_EQ(tree->getattr(lookup_path("ledger"))->size, whole.size());
    const std::string mine = cat("vi100/ledger");
    EXPECT_EQ(std::count(mine.begin(), mine.end(), '\n'), 2);
    EXPECT_NE(mine.find("\"action\":\"port_created\""), std::string::npos);
    EXPECT_NE(mine.find("\"action\":\"port_attached\""), std::string::npos);
    EXPECT_EQ(mine.find("vi101"), std::string::npos);
    EXPECT_NE(whole.find(mine.substr(0, mine.find('\n'))), std::string::npos);  // same lines
    EXPECT_EQ(tree->getattr(lookup_path("vi100/ledger"))->size, mine.size());
}

// A handle reads the port's lines as they were at open; stat without a handle sees an append
// at once; handles hold no descriptor of their own (all share the index's one).
TEST_F(FsTreeTest, PortLedgerHandlesAreSnapshotsSharingOneDescriptor) {
    opa::ledger::Ledger ledger(ledger_path);
    ledger.append("port_created", {{"port", "vi100"}});
    ASSERT_TRUE(core->create_port("vi100", {}));
    const Ino ino = lookup_path("vi100/ledger");
    auto first = tree->open(ino, false, 0);
    ASSERT_TRUE(first.ok());
    const std::string at_open = *tree->read(**first, 0, 1 << 20);
    EXPECT_EQ(std::count(at_open.begin(), at_open.end(), '\n'), 1);
    auto fd_count = [] {
        return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                             std::filesystem::directory_iterator());
    };
    const auto fds_before = fd_count();
    std::vector<std::unique_ptr<OpenFile>> held;
    for (int i = 0; i < 200; ++i) {
        auto file = tree->open(i % 2 ? ino : lookup_path("ledger"), false, 65534);
        ASSERT_TRUE(file.ok());
        held.push_back(std::move(*file));
    }
    EXPECT_EQ(fd_count(), fds_before);

    ledger.append("port_attached", {{"port", "vi100"}});
    EXPECT_EQ(*tree->read(**first, 0, 1 << 20), at_open);
    EXPECT_EQ(tree->getattr(ino, first->get())->size, at_open.size());
    const std::string now = cat("vi100/ledger");
    EXPECT_EQ(std::count(now.begin(), now.end(), '\n'), 2);
    EXPECT_EQ(tree->getattr(ino)->size, now.size());
    EXPECT_EQ(now.substr(0, at_open.size()), at_open);
    // The root ledger's handles read the file as it is now.
    EXPECT_EQ(tree->read(*held[0], 0, 1 << 20)->size(), std::filesystem::file_size(ledger_path));
}

TEST_F(FsTreeTest, AccessFollowsTheModes) {
    ASSERT_TRUE(core->create_port("vi100", {}));
    EXPECT_EQ(tree->access(lookup_path("vi100/state"), R_OK, 65534), 0);
    EXPECT_EQ(tree->access(lookup_path("vi100/state"), W_OK, 65534), EACCES);
    EXPECT_EQ(tree->access(lookup_path("vi100/tag"), W_OK, 0), 0);
    EXPECT_EQ(tree->access(lookup_path("vi100/state"), W_OK, 0), EACCES);
    EXPECT_EQ(tree->access(kRootIno, W_OK | X_OK, 0), 0);
    EXPECT_EQ(tree->access(kRootIno, W_OK, 65534), EACCES);
    EXPECT_EQ(tree->access(9999, F_OK, 0), ENOENT);
}

}  // namespace
