// The core and what OVSDB shows on the bridge: ports plugged by someone else are External and
// never touched, one of the agent's names taken by someone else is handed over, an attached port
// without a row is repaired, and a guest's Proxmox options are the default.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "agent/core.hpp"
#include "tests/support/fake_backend.hpp"

namespace {

using opa::test::FakeBackend;
using opa::test::FakeJournal;
using namespace opa::agent;
using namespace std::chrono_literals;

BridgePort agents(const std::string& name) { return {name, true, "agent", std::nullopt, {}}; }
BridgePort proxmox(const std::string& name, std::optional<std::uint16_t> tag,
                   std::vector<std::uint16_t> trunks = {}) {
    return {name, false, "external", tag, *opa::vlan::trunks_of(trunks)};
}

class CoreOwnershipTest : public ::testing::Test {
  protected:
    FakeBackend backend;
    FakeJournal journal;
    std::unique_ptr<Core> core = std::make_unique<Core>(backend, journal, CoreOptions{"ovsbr0", 4});
};

TEST_F(CoreOwnershipTest, SomeoneElsesPortIsShownAndNeverTouched) {
    core->link_appeared("veth100i0", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    backend.calls.clear();
    core->remove_port("veth100i0");  // the link-discovered port is removed again
    ASSERT_TRUE(core->wait_idle(5s));
    backend.calls.clear();

    EXPECT_FALSE(core->bridge_observed({proxmox("veth101i0", 10, {20, 30})}));
    auto port = core->port("veth101i0");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->state, PortState::External);
    EXPECT_EQ(to_string(port->state), "external");
    EXPECT_EQ(port->origin, Origin::External);
    EXPECT_EQ(port->options.tag, 10);
    EXPECT_EQ(port->options.trunks.ids(), (std::vector<std::uint16_t>{20, 30}));
    EXPECT_EQ(port->options.vmid, 101u);
    EXPECT_EQ(journal.count("port_external"), 1u);

    // Its link appearing does not make the agent attach it; requests are refused clearly.
    core->link_appeared("veth101i0", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("veth101i0")->state, PortState::External);
    EXPECT_TRUE(core->port("veth101i0")->link_present);
    Status create = core->create_port("veth101i0", {});
    EXPECT_EQ(create.code, Errc::Exists);
    EXPECT_NE(create.message.find("someone else"), std::string::npos) << create.message;
    Status remove = core->remove_port("veth101i0");
    EXPECT_EQ(remove.code, Errc::NotOwned);
    EXPECT_EQ(remove.to_errno(), EPERM);
    EXPECT_EQ(core->set_tag("veth101i0", 5).code, Errc::NotOwned);
    core->link_gone("veth101i0");
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("veth101i0")->state, PortState::External);
    EXPECT_TRUE(backend.calls.empty()) << backend.calls.front();

    // Seen again with the same row: nothing new recorded. The row goes: so does the port.
    core->bridge_observed({proxmox("veth101i0", 10, {20, 30})});
    EXPECT_EQ(journal.count("port_external"), 1u);
    core->bridge_observed({});
    EXPECT_FALSE(core->port("veth101i0"));
    EXPECT_EQ(journal.count("port_external_gone"), 1u);
}

TEST_F(CoreOwnershipTest, AgentsNameTakenBySomeoneElseIsHandedOver) {
    backend.links.insert("veth100i0");
    core->link_appeared("veth100i0", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    core->bridge_observed({agents("veth100i0")});
    ASSERT_EQ(core->port("veth100i0")->state, PortState::Activated);

    // Proxmox's hook: del-port (the row goes), add-port with the guest's tag.
    EXPECT_TRUE(core->bridge_observed({})) << "a missing row is timed, not acted on at once";
    core->bridge_observed({proxmox("veth100i0", 10)});
    ASSERT_TRUE(core->wait_idle(5s));
    auto port = core->port("veth100i0");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->state, PortState::External);
    EXPECT_EQ(port->options.tag, 10);
    EXPECT_EQ(backend.profiles.count("veth100i0"), 0u) << "the agent's profiles are deleted";
    EXPECT_EQ(backend.count("activate veth100i0"), 1u) << "and never re-activated";
    EXPECT_EQ(journal.count("port_handed_over"), 1u);
    EXPECT_EQ(journal.count("port_repair"), 0u);
    EXPECT_EQ(journal.count("port_removed"), 1u);
}

TEST_F(CoreOwnershipTest, ReconcileHandsOverProfilesWhoseNameSomeoneElseHas) {
    core->bridge_observed({proxmox("veth100i0", 10)});
    // Profiles of an earlier run for the same name.
    backend.profiles["veth100i0"] = {};
    core->reconcile("start-up");
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(core->port("veth100i0")->state, PortState::External);
    EXPECT_EQ(backend.profiles.count("veth100i0"), 0u);
    EXPECT_EQ(journal.count("port_handed_over"), 1u);
}

TEST_F(CoreOwnershipTest, AttachedPortWithoutARowIsReactivatedAfterTheGrace) {
    backend.links.insert("vi100");
    ASSERT_TRUE(core->create_port("vi100", {}));
    core->link_appeared("vi100", LinkKind::Veth);
    ASSERT_TRUE(core->wait_idle(5s));
    ASSERT_EQ(core->port("vi100")->state, PortState::Activated);
    ASSERT_EQ(backend.count("activate vi100"), 1u);

    // The row is there: nothing to time.
    EXPECT_FALSE(core->bridge_observed({agents("vi100")}));
    // It goes (NM restarted, or `ovs-vsctl del-port`) and stays gone past the grace.
    EXPECT_TRUE(core->bridge_observed({}));
    EXPECT_TRUE(core->bridge_observed({})) << "still within the grace";
    std::this_thread::sleep_for(core->row_grace() + 50ms);  // the grace is the unit under test
    core->bridge_observed({});
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.count("activate vi100"), 2u);
    EXPECT_EQ(journal.count("port_repair"), 1u);
    EXPECT_EQ(core->port("vi100")->state, PortState::Activated);

    // A row that comes back within the grace is no repair.
    EXPECT_TRUE(core->bridge_observed({}));
    EXPECT_FALSE(core->bridge_observed({agents("vi100")}));
    std::this_thread::sleep_for(core->row_grace() + 50ms);
    EXPECT_FALSE(core->bridge_observed({agents("vi100")}));
    EXPECT_EQ(journal.count("port_repair"), 1u);
}

TEST(CoreRepair, APortWhoseLinkIsGoneIsNotRepaired) {
    // A burst of link deletions: NM drops the rows at once, the link events come after the
    // burst. The kernel says the link is gone, so the missing row is no repair.
    FakeBackend backend;
    FakeJournal journal;
    std::set<std::string> kernel_links = {"vi100", "vi101"};
    CoreOptions options{"ovsbr0", 4};
    options.link_exists = [&](const std::string& name) { return kernel_links.count(name) > 0; };
    Core core(backend, journal, options);
    for (const std::string name : {"vi100", "vi101"}) {
        backend.links.insert(name);
        ASSERT_TRUE(core.create_port(name, {}));
        core.link_appeared(name, LinkKind::Veth);
    }
    ASSERT_TRUE(core.wait_idle(5s));
    ASSERT_EQ(core.port("vi100")->state, PortState::Activated);
    kernel_links.erase("vi100");  // deleted; vi101 lost its row for another reason
    EXPECT_TRUE(core.bridge_observed({}));
    std::this_thread::sleep_for(core.row_grace() + 50ms);  // the grace is the unit under test
    core.bridge_observed({});
    ASSERT_TRUE(core.wait_idle(5s));
    EXPECT_EQ(backend.count("activate vi100"), 1u);
    EXPECT_EQ(backend.count("activate vi101"), 2u);
    EXPECT_EQ(journal.count("port_repair"), 1u);
    EXPECT_EQ(core.port("vi100")->state, PortState::Activated) << "until its Gone event";
}

TEST_F(CoreOwnershipTest, AfterNmReturnsOnlyThePortsNmDoesNotRestoreAreReplugged) {
    backend.not_restored_by_nm = {"veth300i0"};
    for (const char* name : {"veth300i0", "ct0p0"}) {
        backend.links.insert(name);
        ASSERT_TRUE(core->create_port(name, {}));
        core->link_appeared(name, LinkKind::Veth);
    }
    ASSERT_TRUE(core->wait_idle(5s));
    ASSERT_EQ(backend.count("activate veth300i0"), 1u);
    ASSERT_EQ(backend.count("activate ct0p0"), 1u);
    EXPECT_EQ(core->nm_returned(), 1u);
    ASSERT_TRUE(core->wait_idle(5s));
    EXPECT_EQ(backend.count("replug veth300i0"), 1u);
    EXPECT_EQ(backend.count("activate veth300i0"), 1u) << "only the first attach";
    EXPECT_EQ(backend.count("activate ct0p0"), 1u) << "NM re-adds this one itself";
    EXPECT_EQ(backend.count("replug ct0p0"), 0u);
    EXPECT_EQ(core->port("veth300i0")->state, PortState::Activated);
    EXPECT_EQ(journal.count("port_attached"), 3u) << "the re-plug is an attach of its own";
}

// Right after its restart NM shows the member of a port it does not restore as ACTIVATED (it
// resumes it from its state file, then drops it with the port's OVSDB rows). A reconcile that
// lists NM before the re-plug runs must not take that claim and skip the re-plug.
TEST(CoreReplug, AReconcileBeforeTheReplugDoesNotTakeNmsClaimOfAnAttach) {
    FakeBackend backend;
    FakeJournal journal;
    Core core(backend, journal, CoreOptions{"ovsbr0", 1});  // one worker, held below
    backend.not_restored_by_nm = {"veth300i0"};
    backend.links = {"veth300i0", "veth301i0"};
    core.link_appeared("veth300i0", LinkKind::Veth);
    ASSERT_TRUE(core.wait_idle(5s));
    ASSERT_EQ(core.port("veth300i0")->state, PortState::Activated);
    {
        std::lock_guard lock(backend.mutex);
        backend.prepare_gate_closed = true;
    }
    core.link_appeared("veth301i0", LinkKind::Veth);  // the only worker waits inside NM
    ASSERT_EQ(core.nm_returned(), 1u);                // queued behind it
    // The fake's listing still says veth300i0 is attached: NM's claim after its restart.
    ASSERT_TRUE(core.reconcile("networkmanager restarted"));
    {
        std::lock_guard lock(backend.mutex);
        backend.prepare_gate_closed = false;
        backend.changed.notify_all();
    }
    ASSERT_TRUE(core.wait_idle(5s));
    EXPECT_EQ(backend.count("replug veth300i0"), 1u);
    EXPECT_EQ(core.port("veth300i0")->state, PortState::Activated);
    EXPECT_EQ(core.port("veth301i0")->state, PortState::Activated);
}

// A stalled /etc/pve: a request that needs the guest's options is refused with "try again" and
// nothing changes; a request with its own tag does not need them; a link event is never refused.
TEST(CoreDefaults, UnavailableDefaultsRefuseARequestAndChangeNothing) {
    FakeBackend backend;
    FakeJournal journal;
    CoreOptions options{"ovsbr0", 2};
    options.default_options = [](const std::string&) -> DefaultOptions {
        return {std::nullopt, "guest 150's config did not answer within 2000 ms"};
    };
    Core core(backend, journal, options);
    const Status refused = core.create_port("veth150i0", {});
    EXPECT_EQ(refused.code, Errc::Unavailable);
    EXPECT_EQ(refused.to_errno(), EAGAIN);
    EXPECT_NE(refused.message.find("did not answer within 2000 ms"), std::string::npos);
    EXPECT_FALSE(core.port("veth150i0"));
    EXPECT_TRUE(backend.calls.empty());
    EXPECT_TRUE(journal.entries.empty());
    ASSERT_TRUE(core.create_port("veth150i0", {7, std::nullopt, {}}));
    EXPECT_EQ(core.port("veth150i0")->options.tag, 7);
    core.link_appeared("veth151i0", LinkKind::Veth);
    ASSERT_TRUE(core.port("veth151i0"));
    EXPECT_FALSE(core.port("veth151i0")->options.tag);
}

TEST(CoreDefaults, GuestOptionsApplyWhenTheRequestHasNone) {
    FakeBackend backend;
    FakeJournal journal;
    CoreOptions options{"ovsbr0", 2};
    options.default_options = [](const std::string& name) -> DefaultOptions {
        if (name != "veth150i0") return {};
        return {PortOptions{10, std::nullopt, *opa::vlan::trunks_of({20, 21, 30})}, ""};
    };
    Core core(backend, journal, options);
    ASSERT_TRUE(core.create_port("veth150i0", {}));
    EXPECT_EQ(core.port("veth150i0")->options.tag, 10);
    EXPECT_EQ(core.port("veth150i0")->options.trunks.ids(),
              (std::vector<std::uint16_t>{20, 21, 30}));
    // A request's own tag wins.
    ASSERT_TRUE(core.remove_port("veth150i0"));
    ASSERT_TRUE(core.create_port("veth150i0", {5, std::nullopt, {}}));
    EXPECT_EQ(core.port("veth150i0")->options.tag, 5);
    EXPECT_TRUE(core.port("veth150i0")->options.trunks.empty());
    // Out-of-range trunks cannot be asked for: the set holds 1..4094 only (vlan_test).
    EXPECT_FALSE(opa::vlan::trunks_of({0}));
    EXPECT_FALSE(opa::vlan::trunks_of({4095}));
}

}  // namespace
