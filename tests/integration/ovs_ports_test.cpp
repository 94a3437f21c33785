// Ports through the real NetworkManager with OVS in the sandbox: veths and taps attached and
// detached, VLAN tags set and changed on a live port, pending ports, and bad input. OVSDB is
// only read (ovs-vsctl list/get), never written.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>

#include "nm/nm_client.hpp"
#include "nm/ovs_ports.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::run;
using opa::test::trim;
using opa::test::wait_until;
namespace nm = opa::nm;

constexpr const char* kBridge = "opatest0";

bool ovs_has_port(const std::string& port) {
    auto r = run(std::string("ovs-vsctl --timeout=5 list-ports ") + kBridge);
    return r.ok() && ("\n" + r.output).find("\n" + port + "\n") != std::string::npos;
}

std::string ovs_get(const std::string& table, const std::string& row, const std::string& column) {
    return trim(run("ovs-vsctl --timeout=5 get " + table + " " + row + " " + column).output);
}

// The bridge the tests attach to: an ovs-bridge on the userspace datapath with an internal port,
// as setup-bridge makes it.
void ensure_bridge(nm::NmClient& client) {
    nm::OvsPorts ports(client, kBridge);
    if (ports.bridge_profile()) return;
    const nm::WireNames wire = client.wire_names();
    const nm::ProfileCommon bridge{nm::new_uuid(), false};
    const nm::ProfileCommon port{nm::new_uuid(), false, true};
    const nm::ProfileCommon iface{nm::new_uuid(), false};
    const std::string bridge_path =
        client.add_connection(nm::bridge_profile(kBridge, bridge, "netdev"), nm::kAddInMemory);
    client.add_connection(nm::port_profile(kBridge, port, bridge.uuid, {}, std::nullopt, wire),
                          nm::kAddInMemory);
    client.add_connection(nm::internal_interface_profile(kBridge, iface, port.uuid, {}, wire),
                          nm::kAddInMemory);
    // The rules: activate only the bridge; it brings up its port and interface.
    client.activate(bridge_path);
    auto device = client.device_by_interface(kBridge, {nm::kDeviceOvsInterface});
    ASSERT_TRUE(device);
    client.wait_device_state(
        device->path, [](std::uint32_t s) { return s == nm::kStateActivated; },
        nm::Clock::now() + std::chrono::seconds(20));
}

class OvsPortsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        client_ = std::make_unique<nm::NmClient>();
        ensure_bridge(*client_);
    }
    static void TearDownTestSuite() { client_.reset(); }
    void TearDown() override {
        for (const auto& link : links_) run("ip link del " + link);
        nm::OvsPorts ports(*client_, kBridge);
        for (const auto& port : ports.owned_ports()) ports.detach(port.name);
    }
    void add_veth(const std::string& name) {
        ASSERT_TRUE(run("ip link add " + name + " type veth peer name " + name + "p").ok());
        ASSERT_TRUE(run("ip link set " + name + "p up").ok());
        links_.push_back(name);
    }
    void add_tap(const std::string& name) {
        ASSERT_TRUE(run("ip tuntap add dev " + name + " mode tap").ok());
        links_.push_back(name);
    }
    static std::unique_ptr<nm::NmClient> client_;
    std::vector<std::string> links_;
};
std::unique_ptr<nm::NmClient> OvsPortsTest::client_;

TEST_F(OvsPortsTest, VethIsAttachedAndDetached) {
    add_veth("opav1");
    nm::OvsPorts ports(*client_, kBridge);
    const nm::AttachResult result = ports.attach({"opav1", {}, 101, "request"});
    EXPECT_EQ(result.state, nm::AttachState::Activated);
    EXPECT_EQ(result.member_type, "802-3-ethernet");
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opav1"); }));
    EXPECT_EQ(client_->device(result.device).state, nm::kStateActivated);
    // Ownership is recorded in OVSDB through NM's ovs-external-ids.
    const std::string ids = ovs_get("port", "opav1", "external_ids");
    EXPECT_NE(ids.find("owner=ovs-port-agent"), std::string::npos) << ids;
    EXPECT_NE(ids.find("vmid=\"101\""), std::string::npos) << ids;
    EXPECT_NE(ids.find("NM.connection.uuid"), std::string::npos) << ids;
    // Profiles are in memory only, so a reboot leaves none behind.
    auto owned = ports.owned_port("opav1");
    ASSERT_TRUE(owned && owned->port && owned->member);
    EXPECT_TRUE(owned->port->in_memory);
    EXPECT_TRUE(owned->member->in_memory);

    const nm::DetachResult detached = ports.detach("opav1");
    EXPECT_EQ(detached.deleted_uuids.size(), 2u);
    EXPECT_TRUE(wait_until([] { return !ovs_has_port("opav1"); }));
    EXPECT_FALSE(ports.owned_port("opav1"));
    EXPECT_FALSE(client_->connection_path_by_uuid(result.port_uuid));
}

TEST_F(OvsPortsTest, TapIsAttachedWithATunProfile) {
    add_tap("tap120i0");
    nm::OvsPorts ports(*client_, kBridge);
    const nm::AttachResult result = ports.attach({"tap120i0", {}, 120, "request"});
    EXPECT_EQ(result.state, nm::AttachState::Activated);
    EXPECT_EQ(result.member_type, "tun");
    EXPECT_TRUE(wait_until([] { return ovs_has_port("tap120i0"); }));
    ports.detach("tap120i0");
    EXPECT_TRUE(wait_until([] { return !ovs_has_port("tap120i0"); }));
}

TEST_F(OvsPortsTest, VlanTagIsSetAndChangedOnALivePort) {
    add_veth("opav2");
    nm::OvsPorts ports(*client_, kBridge);
    nm::VlanOptions vlan;
    vlan.tag = 10;
    ports.attach({"opav2", vlan, std::nullopt, "request"});
    EXPECT_TRUE(wait_until([] { return ovs_get("port", "opav2", "tag") == "10"; }))
        << ovs_get("port", "opav2", "tag");
    vlan.tag = 20;
    ports.set_vlan("opav2", vlan);
    EXPECT_TRUE(wait_until([] { return ovs_get("port", "opav2", "tag") == "20"; }))
        << ovs_get("port", "opav2", "tag");
    EXPECT_TRUE(ovs_has_port("opav2"));
}

TEST_F(OvsPortsTest, PortIsPendingUntilItsLinkAppears) {
    nm::OvsPorts ports(*client_, kBridge);
    const nm::AttachResult pending = ports.attach({"opav3", {}, std::nullopt, "request"});
    EXPECT_EQ(pending.state, nm::AttachState::Pending);
    EXPECT_TRUE(pending.created);
    EXPECT_FALSE(ovs_has_port("opav3"));
    add_veth("opav3");
    ASSERT_TRUE(wait_until([&] { return client_->device_by_interface("opav3").has_value(); }));
    const nm::AttachResult attached = ports.attach({"opav3", {}, std::nullopt, "request"});
    EXPECT_EQ(attached.state, nm::AttachState::Activated);
    EXPECT_FALSE(attached.created);
    EXPECT_EQ(attached.port_uuid, pending.port_uuid);
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opav3"); }));
}

TEST_F(OvsPortsTest, BadTagIsRejectedBeforeAnyChange) {
    add_veth("opav4");
    nm::OvsPorts ports(*client_, kBridge);
    nm::VlanOptions vlan;
    vlan.tag = 4095;
    const size_t before = client_->list_connection_paths().size();
    EXPECT_THROW(ports.attach({"opav4", vlan, std::nullopt, "request"}), nm::NmError);
    EXPECT_EQ(client_->list_connection_paths().size(), before);
    EXPECT_FALSE(ovs_has_port("opav4"));
}

TEST_F(OvsPortsTest, MissingBridgeSaysHowToCreateIt) {
    nm::OvsPorts ports(*client_, "nosuchbr");
    try {
        ports.attach({"opav5", {}, std::nullopt, "request"});
        FAIL() << "attach to a missing bridge succeeded";
    } catch (const nm::NmError& error) {
        EXPECT_NE(std::string(error.what()).find("setup-bridge"), std::string::npos)
            << error.what();
    }
}

TEST_F(OvsPortsTest, DetachOfAnUnknownPortFails) {
    nm::OvsPorts ports(*client_, kBridge);
    EXPECT_THROW(ports.detach("opanone"), nm::NmError);
}

}  // namespace

namespace {

// A checkpoint of the agent's left behind (as by a crash) is swept; someone else's is not.
TEST_F(OvsPortsTest, OrphanAgentCheckpointsAreSweptOthersAreKept) {
    add_veth("opav6");
    add_veth("opav7");
    ASSERT_TRUE(wait_until([&] { return client_->device_by_interface("opav7").has_value(); }));
    auto ours_device = client_->device_by_interface("opav6");
    auto theirs_device = client_->device_by_interface("opav7");
    ASSERT_TRUE(ours_device && theirs_device);
    const std::string ours = client_->checkpoint_create(
        {ours_device->path}, nm::kPortCheckpointTimeout, nm::kCheckpointAllowOverlapping);
    const std::string theirs =
        client_->checkpoint_create({theirs_device->path}, 60, nm::kCheckpointAllowOverlapping);
    const std::vector<std::string> swept = client_->sweep_agent_checkpoints();
    EXPECT_EQ(swept, std::vector<std::string>{ours});
    const auto left = client_->checkpoints();
    EXPECT_EQ(std::count(left.begin(), left.end(), ours), 0);
    EXPECT_EQ(std::count(left.begin(), left.end(), theirs), 1);
    client_->checkpoint_destroy(theirs);
}

}  // namespace

namespace {

// NetworkManager deletes the OVS rows it owns when it starts and re-adds only autoconnect
// profiles: the agent's in-memory profiles are made so that NM brings the ports back by itself.
TEST_F(OvsPortsTest, PortsComeBackAfterNetworkManagerRestarts) {
    nm::OvsPorts ports(*client_, kBridge);
    const std::vector<std::string> names = {"opar1", "opar2", "opar3"};
    for (const auto& name : names) {
        add_veth(name);
        ASSERT_TRUE(wait_until([&] { return client_->device_by_interface(name).has_value(); }));
        ASSERT_EQ(ports.attach({name, {}, std::nullopt, "request"}).state,
                  nm::AttachState::Activated);
    }
    const char* sandbox_sh = OPA_SOURCE_ROOT "/scripts/sandbox.sh";
    ASSERT_TRUE(run(std::string(sandbox_sh) + " restart-nm").ok());
    ASSERT_TRUE(wait_until([&] { return client_->nm_running(); }));
    for (const auto& name : names) {
        EXPECT_TRUE(wait_until([&] { return ovs_has_port(name); }, std::chrono::seconds(10)))
            << name << " not back in OVSDB";
        EXPECT_TRUE(wait_until(
            [&] {
                auto d = client_->device_by_interface(name, {nm::kDeviceVeth});
                return d && d->state == nm::kStateActivated;
            },
            std::chrono::seconds(10)))
            << name << " not ACTIVATED again";
    }
}

}  // namespace

namespace {

// A port's profiles get UUIDs derived from their ids, so the agent finds them without listing
// every profile NetworkManager holds.
TEST_F(OvsPortsTest, ProfilesHaveUuidsDerivedFromTheirNames) {
    nm::OvsPorts ports(*client_, kBridge);
    const nm::AttachResult pending = ports.attach({"opav8", {}, std::nullopt, "request"});
    EXPECT_EQ(pending.port_uuid, nm::profile_uuid(nm::ProfileRole::Port, "opav8"));
    EXPECT_EQ(pending.member_uuid, nm::profile_uuid(nm::ProfileRole::Member, "opav8"));
    auto owned = nm::OvsPorts(*client_, kBridge).owned_port("opav8");
    ASSERT_TRUE(owned && owned->port && owned->member);
    EXPECT_EQ(owned->port->path, pending.port_profile);
    EXPECT_EQ(owned->member->path, pending.member_profile);
}

// Profiles made by older versions have random UUIDs: they are still found, activated and
// deleted.
TEST_F(OvsPortsTest, ProfilesOfTheOldRandomUuidSchemeAreStillTheAgents) {
    const nm::WireNames wire = client_->wire_names();
    const nm::Ownership owner{"opav9", 109, "request"};
    const nm::ProfileCommon port{nm::new_uuid(), true};
    const nm::ProfileCommon member{nm::new_uuid(), true};
    nm::OvsPorts ports(*client_, kBridge);
    const auto bridge = ports.bridge_profile();
    ASSERT_TRUE(bridge);
    const std::uint32_t flags = nm::kAddInMemory | nm::kAddBlockAutoconnect;
    client_->add_connection(nm::port_profile("opav9", port, bridge->uuid, {}, owner, wire), flags);
    client_->add_connection(nm::ethernet_member_profile("opav9", member, port.uuid, owner, wire),
                            flags);

    nm::OvsPorts fresh(*client_, kBridge);
    auto owned = fresh.owned_port("opav9");
    ASSERT_TRUE(owned && owned->port && owned->member);
    EXPECT_EQ(owned->port->uuid, port.uuid);
    EXPECT_EQ(owned->member->uuid, member.uuid);
    add_veth("opav9");
    ASSERT_TRUE(wait_until([&] { return client_->device_by_interface("opav9").has_value(); }));
    const nm::AttachResult attached = fresh.attach({"opav9", {}, 109, "request"});
    EXPECT_EQ(attached.state, nm::AttachState::Activated);
    EXPECT_FALSE(attached.created);
    EXPECT_EQ(attached.port_uuid, port.uuid);
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opav9"); }));

    const nm::DetachResult detached = fresh.detach("opav9");
    EXPECT_EQ(detached.deleted_uuids, (std::vector<std::string>{member.uuid, port.uuid}));
    EXPECT_FALSE(client_->connection_path_by_uuid(port.uuid));
    EXPECT_FALSE(fresh.owned_port("opav9"));
    EXPECT_TRUE(wait_until([] { return !ovs_has_port("opav9"); }));
}

// With the agent's index of older profiles built (as after its first reconcile), a new port's
// profiles are added without looking for them first; attaching it again finds them (NM refuses
// the UUID) and adds nothing.
TEST_F(OvsPortsTest, NewPortsProfilesAreAddedAtOnceAndExistingOnesFound) {
    nm::OvsPorts ports(*client_, kBridge);
    ports.owned_ports();
    add_veth("opav10");
    ASSERT_TRUE(wait_until([&] { return client_->device_by_interface("opav10").has_value(); }));
    const nm::AttachResult first = ports.attach({"opav10", {}, 110, "request"});
    EXPECT_EQ(first.state, nm::AttachState::Activated);
    EXPECT_TRUE(first.created);
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opav10"); }));
    const nm::AttachResult again = ports.attach({"opav10", {}, 110, "request"});
    EXPECT_EQ(again.state, nm::AttachState::Activated);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.port_uuid, first.port_uuid);
    EXPECT_EQ(again.member_uuid, first.member_uuid);
    std::size_t profiles = 0;
    for (const nm::ConnectionInfo& info : client_->list_connections()) {
        if (info.interface_name == "opav10") ++profiles;
    }
    EXPECT_EQ(profiles, 2u);
}

// A device removed while someone waits for its state ends the wait at once, not at the
// deadline (a link deleted during its activation).
TEST_F(OvsPortsTest, WaitingForADeviceThatIsRemovedEndsAtOnce) {
    add_veth("opav11");
    std::optional<nm::DeviceInfo> device;
    ASSERT_TRUE(wait_until([&] {
        device = client_->device_by_interface("opav11");
        return device.has_value();
    }));
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    std::thread waiter([&] {
        try {
            client_->wait_device_state(
                device->path, [](std::uint32_t s) { return s == nm::kStateActivated; },
                nm::Clock::now() + std::chrono::seconds(30));
        } catch (const nm::NmError& e) {
            error = e.what();
        }
    });
    ASSERT_TRUE(run("ip link del opav11").ok());
    links_.clear();
    waiter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << error;
    // "was removed" when it went while waiting; reading it fails when it went before.
    EXPECT_FALSE(error.empty()) << "the wait ended without an error";
}

}  // namespace

namespace {

// After NM restarts, it shows for a moment the member it resumed from before as ACTIVATED and
// then drops it with the port's rows: replug() activates whatever NM shows, where activate()
// takes NM's word that the port is attached already.
TEST_F(OvsPortsTest, ReplugActivatesAMemberNmShowsAttachedWhereActivateTakesItsWord) {
    add_veth("opav12");
    ASSERT_TRUE(wait_until([&] { return client_->device_by_interface("opav12").has_value(); }));
    nm::OvsPorts ports(*client_, kBridge);
    const nm::AttachResult first = ports.attach({"opav12", {}, std::nullopt, "request"});
    ASSERT_EQ(first.state, nm::AttachState::Activated);
    ASSERT_TRUE(wait_until([] { return ovs_has_port("opav12"); }));

    const nm::AttachResult again = ports.activate("opav12");
    EXPECT_TRUE(again.was_active);
    EXPECT_EQ(again.active_connection, first.active_connection);

    const nm::AttachResult replugged = ports.replug("opav12");
    EXPECT_FALSE(replugged.was_active);
    EXPECT_EQ(replugged.state, nm::AttachState::Activated);
    EXPECT_NE(replugged.active_connection, first.active_connection) << "not activated anew";
    EXPECT_EQ(client_->device(replugged.device).state, nm::kStateActivated);
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opav12"); }));
    const std::string ids = ovs_get("port", "opav12", "external_ids");
    EXPECT_NE(ids.find("owner=ovs-port-agent"), std::string::npos) << ids;
}

}  // namespace
