// Renaming a link moves its port (issue 22), and "activated" means NM says so and OVSDB has the
// row: the core against the fake NetworkManager, in every order of the rename, the link events
// and the activation.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "agent/core.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::FakeBackend;
using opa::test::FakeJournal;
using opa::test::wait_until;

using namespace opa::agent;
using namespace std::chrono_literals;

class CoreRenameTest : public ::testing::Test {
  protected:
    CoreOptions options() {
        CoreOptions o{"ovsbr0", 4};
        // The kernel's links are the fake's.
        o.link_exists = [this](const std::string& name) {
            std::lock_guard lock(backend.mutex);
            return backend.links.count(name) > 0;
        };
        o.retry_first = 0ms;
        return o;
    }
    void link(const std::string& name) {
        {
            std::lock_guard lock(backend.mutex);
            backend.links.insert(name);
        }
        core->link_appeared(name, LinkKind::Veth);
    }
    // The ledger's entries of `action` for `port`.
    std::size_t recorded(const std::string& action, const std::string& port) {
        std::lock_guard lock(journal.mutex);
        std::size_t n = 0;
        for (const auto& [a, details] : journal.entries) {
            if (a == action && details.value("port", "") == port) ++n;
        }
        return n;
    }
    // The move is complete: nothing of the old name, the new one attached after the old one's
    // profiles were removed, and both in the ledger.
    void expect_moved(const std::string& from, const std::string& to) {
        ASSERT_TRUE(core->wait_idle(5s));
        EXPECT_FALSE(core->port(from)) << from << " is still in the registry";
        EXPECT_EQ(backend.profiles.count(from), 0u) << from << "'s profiles are left";
        ASSERT_TRUE(core->port(to));
        EXPECT_EQ(core->port(to)->state, PortState::Activated);
        ASSERT_EQ(backend.profiles.count(to), 1u);
        EXPECT_TRUE(backend.profiles[to].activated) << to << " was never activated in NM";
        EXPECT_GE(recorded("port_attached", to), 1u);
        EXPECT_EQ(recorded("port_created", from), recorded("port_removed", from));
        const auto removed = backend.position("remove " + from);
        if (removed != std::string::npos) {
            EXPECT_LT(removed, backend.position("activate " + to))
                << to << " was activated before " << from << "'s profiles were removed";
        }
    }

    FakeBackend backend;
    FakeJournal journal;
    std::unique_ptr<Core> core = std::make_unique<Core>(backend, journal, options());
};

TEST_F(CoreRenameTest, AnAttachedLinksPortMovesToItsNewName) {
    link("veth931i0");
    ASSERT_TRUE(core->wait_idle(5s));
    ASSERT_EQ(core->port("veth931i0")->state, PortState::Activated);

    backend.rename_link("veth931i0", "vi931");
    ASSERT_TRUE(core->move_port("veth931i0", "vi931", PortOptions{std::nullopt, 931, {}}));
    expect_moved("veth931i0", "vi931");
    EXPECT_EQ(core->port("vi931")->origin, Origin::Request);
    EXPECT_EQ(core->port("vi931")->options.vmid, 931u);
    std::lock_guard lock(journal.mutex);
    for (const auto& [action, details] : journal.entries) {
        if (action == "port_removed") {
            EXPECT_EQ(details.value("renamed_to", ""), "vi931");
        }
    }
}

TEST_F(CoreRenameTest, ARenameWhileTheOldNameIsBeingAttachedWaitsForIt) {
    backend.gate_closed = true;
    link("veth932i0");
    ASSERT_TRUE(backend.wait_in_activate(1, 5s));  // NM is activating the old name

    backend.rename_link("veth932i0", "vi932");
    std::thread opener([&] {
        // NM finishes the old activation while the call waits for the old port's removal.
        EXPECT_TRUE(wait_until(
            [&] {
                auto old = core->port("veth932i0");
                return old && old->state == PortState::Deactivating;
            },
            5s));
        backend.open_gate();
    });
    ASSERT_TRUE(core->move_port("veth932i0", "vi932", PortOptions{std::nullopt, 932, {}}));
    opener.join();
    expect_moved("veth932i0", "vi932");
}

TEST_F(CoreRenameTest, TheOldNamesLateLinkEventMakesNoPort) {
    // Renamed before the agent read the link's first event (it was debounced).
    {
        std::lock_guard lock(backend.mutex);
        backend.links.insert("vi933");
    }
    ASSERT_TRUE(core->move_port("veth-133-eth0", "vi933", PortOptions{std::nullopt, 933, {}}));
    core->link_appeared("veth-133-eth0", LinkKind::Veth);  // the stale event
    core->link_appeared("vi933", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_FALSE(core->port("veth-133-eth0"));
    EXPECT_EQ(backend.count("prepare veth-133-eth0"), 0u);
    EXPECT_EQ(core->port("vi933")->state, PortState::Activated);
    EXPECT_EQ(recorded("port_attached", "vi933"), 1u);
}

TEST_F(CoreRenameTest, ThePortTheNewNamesLinkBroughtFirstIsTakenOverByTheCall) {
    link("veth934i0");
    ASSERT_TRUE(core->wait_idle(5s));
    backend.rename_link("veth934i0", "vi934");
    // The renamed link's event reached the core before the call did.
    core->link_appeared("vi934", LinkKind::Veth);
    ASSERT_TRUE(core->move_port("veth934i0", "vi934", PortOptions{std::nullopt, 934, {}}));
    expect_moved("veth934i0", "vi934");
    EXPECT_EQ(core->port("vi934")->origin, Origin::Request);
}

TEST_F(CoreRenameTest, EnableRenameKeepsTheOldPortsOriginAndOptions) {
    {
        std::lock_guard lock(backend.mutex);
        backend.links.insert("veth936i0");
    }
    core->link_appeared("veth936i0", LinkKind::Veth, PortOptions{12, 936, {}});
    ASSERT_TRUE(core->wait_idle(5s));
    backend.rename_link("veth936i0", "veth-936-eth0");
    ASSERT_TRUE(core->move_port("veth936i0", "veth-936-eth0"));
    core->link_gone("veth936i0");  // the rename's events, in either order
    core->link_appeared("veth-936-eth0", LinkKind::Veth);
    expect_moved("veth936i0", "veth-936-eth0");
    EXPECT_EQ(core->port("veth-936-eth0")->origin, Origin::Link);
    EXPECT_EQ(core->port("veth-936-eth0")->options.tag, 12);
}

TEST_F(CoreRenameTest, TheOldNamesGoneEventBeforeTheCallStillMovesThePort) {
    link("veth937i0");
    ASSERT_TRUE(core->wait_idle(5s));
    backend.rename_link("veth937i0", "vi937");
    core->link_gone("veth937i0");
    ASSERT_TRUE(core->move_port("veth937i0", "vi937", PortOptions{std::nullopt, 937, {}}));
    expect_moved("veth937i0", "vi937");
}

TEST_F(CoreRenameTest, RenamingALinkWithoutAPortMakesTheRequestedOne) {
    {
        std::lock_guard lock(backend.mutex);
        backend.links.insert("vi938");
    }
    ASSERT_TRUE(core->move_port("veth938i0", "vi938", PortOptions{std::nullopt, 938, {}}));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("vi938")->state, PortState::Activated);
    EXPECT_EQ(backend.count("remove veth938i0"), 0u);
    // enable_rename of a link the agent had no port for: its new name's event makes the port.
    EXPECT_TRUE(core->move_port("veth939i0", "veth-939-eth0"));
    EXPECT_FALSE(core->port("veth-939-eth0"));
}

TEST_F(CoreRenameTest, AMoveToAnExternalOrRequestedNameIsRefusedAndChangesNothing) {
    link("veth940i0");
    ASSERT_TRUE(core->create_port("vi940", {std::nullopt, 940}));
    ASSERT_TRUE(core->wait_idle(5s));
    const Status refused =
        core->move_port("veth940i0", "vi940", PortOptions{std::nullopt, 940, {}});
    EXPECT_EQ(refused.code, Errc::Exists);
    ASSERT_TRUE(core->port("veth940i0"));
    EXPECT_EQ(core->port("veth940i0")->state, PortState::Activated);
}

TEST_F(CoreRenameTest, ReconcileRemovesProfilesOfAPortTheAgentLetGoOf) {
    link("veth960i0");
    ASSERT_TRUE(core->wait_idle(5s));
    backend.fail_remove.insert("veth960i0");
    {
        std::lock_guard lock(backend.mutex);
        backend.links.erase("veth960i0");
    }
    core->link_gone("veth960i0");
    ASSERT_TRUE(core->wait_idle(5s));
    ASSERT_EQ(backend.profiles.count("veth960i0"), 1u);  // NM refused: the profiles are left
    EXPECT_EQ(core->port("veth960i0")->state, PortState::Failed);

    backend.fail_remove.clear();
    ASSERT_TRUE(core->reconcile("test"));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.profiles.count("veth960i0"), 0u);
    EXPECT_FALSE(core->port("veth960i0"));
    EXPECT_EQ(recorded("port_gc", "veth960i0"), 1u);
    EXPECT_EQ(recorded("port_removed", "veth960i0"), 1u);
}

TEST_F(CoreRenameTest, ReconcileRecordsTheAgentsRowsWithoutPortOrProfiles) {
    link("veth962i0");
    ASSERT_TRUE(core->wait_idle(5s));
    // OVSDB still shows a row of the agent's for a name it has nothing for (an old rename's).
    core->bridge_observed({{"veth962i0", true, "agent", std::nullopt, {}},
                           {"veth961i0", true, "agent", std::nullopt, {}},
                           {"tap100i0", false, "external", std::nullopt, {}}});
    const std::size_t calls = backend.call_count();
    ASSERT_TRUE(core->reconcile("test"));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(recorded("port_orphan_row", "veth961i0"), 1u);
    EXPECT_EQ(recorded("port_orphan_row", "veth962i0"), 0u);
    EXPECT_EQ(recorded("port_orphan_row", "tap100i0"), 0u);
    EXPECT_EQ(backend.call_count(), calls) << "reconcile touched NM for rows it cannot remove";
    EXPECT_FALSE(core->port("veth961i0"));
}

class CoreRowTest : public CoreRenameTest {
  protected:
    CoreOptions confirming() {
        CoreOptions o = options();
        o.confirm_rows = true;
        o.row_grace = 0ms;
        return o;
    }
    void SetUp() override { core = std::make_unique<Core>(backend, journal, confirming()); }
};

TEST_F(CoreRowTest, APortIsActivatedOnlyWhileOvsdbHasItsRow) {
    core->bridge_observed({});
    link("veth950i0");
    ASSERT_TRUE(core->wait_idle(5s));
    // NM says attached; OVSDB has not shown the row yet.
    EXPECT_EQ(core->port("veth950i0")->state, PortState::Activating);
    EXPECT_NE(core->port("veth950i0")->last_error.find("OVSDB"), std::string::npos);

    core->bridge_observed(backend.rows());
    EXPECT_EQ(core->port("veth950i0")->state, PortState::Activated);
    EXPECT_TRUE(core->port("veth950i0")->last_error.empty());

    // The row vanished: not activated any more, and the port is repaired (re-activated).
    backend.fail_activate.insert("veth950i0");
    core->bridge_observed({});
    EXPECT_NE(core->port("veth950i0")->state, PortState::Activated);
    core->bridge_observed({});  // the gap outlasted row_grace
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("veth950i0")->state, PortState::Failed);
    EXPECT_FALSE(core->port("veth950i0")->last_error.empty());
}

TEST_F(CoreRowTest, TheRenamedPortIsNotShownActivatedOnTheOldMembersClaim) {
    core->bridge_observed({});
    link("veth951i0");
    ASSERT_TRUE(core->wait_idle(5s));
    core->bridge_observed(backend.rows());
    ASSERT_EQ(core->port("veth951i0")->state, PortState::Activated);

    backend.rename_link("veth951i0", "vi951");
    backend.gate_closed = true;  // the new name's activation is held "inside NM"
    ASSERT_TRUE(core->move_port("veth951i0", "vi951", PortOptions{std::nullopt, 951, {}}));
    ASSERT_TRUE(backend.wait_in_activate(1, 5s));
    EXPECT_NE(core->port("vi951")->state, PortState::Activated);
    backend.open_gate();
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("vi951")->state, PortState::Activating);  // no row yet
    core->bridge_observed(backend.rows());
    EXPECT_EQ(core->port("vi951")->state, PortState::Activated);
    EXPECT_FALSE(core->port("veth951i0"));
}

// An agent's row without a port or profiles (left by a crash in the middle of a rename) is
// removed through the backend once it has stayed so for orphan_grace; not before, not twice.
class CoreOrphanTest : public CoreRenameTest {
  protected:
    void SetUp() override {
        CoreOptions o = options();
        o.orphan_grace = 50ms;
        core = std::make_unique<Core>(backend, journal, o);
    }
    static BridgePort row(const std::string& name, bool agents = true) {
        BridgePort port{name, agents, agents ? "agent" : "external", std::nullopt, {}};
        port.port_connection = "pc-" + name;
        port.interface_connection = "ic-" + name;
        return port;
    }
    // Observes `rows` until the backend was asked to remove `name` `times` times in all (what the
    // OVSDB feed does: it delivers again while bridge_observed says a recheck is due).
    bool observe_until_removed(const std::vector<BridgePort>& rows, const std::string& name,
                               std::size_t times = 1) {
        const std::string call = "remove_orphan_row " + name + " pc-" + name + " ic-" + name;
        return wait_until([&] {
            core->bridge_observed(rows);
            return backend.count(call) >= times;
        });
    }
};

TEST_F(CoreOrphanTest, AnOrphanRowIsRemovedAfterItsGraceOncePerAppearance) {
    const std::vector<BridgePort> rows = {row("veth961i0")};
    EXPECT_TRUE(core->bridge_observed(rows)) << "no recheck asked for within the grace";
    EXPECT_EQ(backend.count("remove_orphan_row veth961i0 pc-veth961i0 ic-veth961i0"), 0u);
    ASSERT_TRUE(observe_until_removed(rows, "veth961i0"));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(recorded("port_orphan_row_removed", "veth961i0"), 1u);
    EXPECT_FALSE(core->port("veth961i0"));

    // Still shown (the fake's OVSDB keeps it): not asked again.
    EXPECT_FALSE(core->bridge_observed(rows));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.count("remove_orphan_row veth961i0 pc-veth961i0 ic-veth961i0"), 1u);

    // Gone and back: a new appearance, removed again after its grace.
    core->bridge_observed({});
    ASSERT_TRUE(observe_until_removed(rows, "veth961i0", 2));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.count("remove_orphan_row veth961i0 pc-veth961i0 ic-veth961i0"), 2u);
}

TEST_F(CoreOrphanTest, RowsWithAPortALinkOrAnotherOwnerAreNoOrphans) {
    link("veth962i0");  // the agent's port, attached
    {
        std::lock_guard lock(backend.mutex);
        backend.links.insert("veth963i0");  // a link of the row's name, not the agent's port
    }
    const std::vector<BridgePort> rows = {row("veth962i0"), row("veth963i0"),
                                          row("tap100i0", false), row("veth961i0")};
    ASSERT_TRUE(observe_until_removed(rows, "veth961i0"));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.count("remove_orphan_row veth962i0 pc-veth962i0 ic-veth962i0"), 0u);
    EXPECT_EQ(backend.count("remove_orphan_row veth963i0 pc-veth963i0 ic-veth963i0"), 0u);
    EXPECT_EQ(backend.count("remove_orphan_row tap100i0 pc-tap100i0 ic-tap100i0"), 0u);
    EXPECT_EQ(recorded("port_orphan_row_removed", "veth961i0"), 1u);
    EXPECT_EQ(recorded("port_orphan_row", "veth963i0"), 1u) << "the row a link keeps is not told";
    EXPECT_EQ(recorded("port_orphan_row", "veth962i0"), 0u);
    EXPECT_EQ(core->port("veth962i0")->state, PortState::Activated);
}

TEST_F(CoreOrphanTest, AFailedRemovalIsRecordedWithNMsReasonAndTheCoreGoesOn) {
    backend.fail_orphan_removal = true;
    ASSERT_TRUE(observe_until_removed({row("veth961i0")}, "veth961i0"));
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(recorded("port_orphan_row_removed", "veth961i0"), 0u);
    ASSERT_EQ(recorded("port_orphan_row", "veth961i0"), 1u);
    {
        std::lock_guard lock(journal.mutex);
        EXPECT_NE(journal.entries.back().second.value("reason", "").find("take the rows over"),
                  std::string::npos)
            << journal.entries.back().second.dump();
    }
    link("veth964i0");
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("veth964i0")->state, PortState::Activated);
}

TEST(CoreOrphanGrace, ZeroLeavesOrphansAlone) {
    FakeBackend backend;
    FakeJournal journal;
    CoreOptions options{"ovsbr0", 2};
    options.orphan_grace = 0ms;
    Core core(backend, journal, options);
    BridgePort orphan{"veth961i0", true, "agent", std::nullopt, {}};
    orphan.port_connection = "pc";
    orphan.interface_connection = "ic";
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(core.bridge_observed({orphan}));
    ASSERT_TRUE(core.wait_idle(5s));
    EXPECT_EQ(backend.count("remove_orphan_row veth961i0 pc ic"), 0u);
}

}  // namespace
