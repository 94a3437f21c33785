// setup-bridge against the real NetworkManager with OVS in the sandbox: the uplink's address
// moves to the bridge's internal interface, a second run changes nothing, an empty second bridge
// can be made, and a failure mid-way rolls everything back. OVSDB and links are read only.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nm/bridge_setup.hpp"
#include "nm/nm_client.hpp"
#include "nm/profiles.hpp"
#include "tests/support/wait.hpp"

namespace {

using opa::test::run;
using opa::test::wait_until;
namespace nm = opa::nm;

bool ovs_has_port(const std::string& bridge, const std::string& port) {
    auto r = run("ovs-vsctl --timeout=5 list-ports " + bridge);
    return r.ok() && ("\n" + r.output).find("\n" + port + "\n") != std::string::npos;
}

// The bridge's own internal port, which list-ports and port-to-br leave out: a Port row of that
// name among the bridge's ports.
bool ovs_local_port(const std::string& bridge) {
    const std::string uuid = run("ovs-vsctl --timeout=5 get port " + bridge + " _uuid").output;
    const std::string ports = run("ovs-vsctl --timeout=5 get bridge " + bridge + " ports").output;
    return uuid.size() > 1 && ports.find(uuid.substr(0, uuid.size() - 1)) != std::string::npos;
}

bool link_has_address(const std::string& link, const std::string& cidr) {
    return run("ip -4 -o addr show dev " + link).output.find(cidr) != std::string::npos;
}

std::set<std::string> profile_ids(nm::NmClient& client) {
    std::set<std::string> ids;
    for (const auto& c : client.list_connections()) ids.insert(c.id + " " + c.uuid);
    return ids;
}

// A NIC stand-in: a veth whose own NM profile holds an address, gateway and DNS server. It waits
// only for the address on the link, as a NIC that has just come up: NM may not show its gateway
// yet when setup-bridge reads it (the fresh-clone failure), which setup-bridge must not miss.
void make_nic(nm::NmClient& client, const std::string& name, const std::string& address) {
    ASSERT_TRUE(run("ip link add " + name + " type veth peer name " + name + "p").ok());
    ASSERT_TRUE(run("ip link set " + name + "p up").ok());
    ASSERT_TRUE(wait_until([&] { return client.device_by_interface(name).has_value(); }));
    nm::Settings s;
    s["connection"]["id"] = sdbus::Variant("test-nic-" + name);
    s["connection"]["uuid"] = sdbus::Variant(nm::new_uuid());
    s["connection"]["type"] = sdbus::Variant(std::string("802-3-ethernet"));
    s["connection"]["interface-name"] = sdbus::Variant(name);
    s["connection"]["autoconnect"] = sdbus::Variant(false);
    std::vector<std::map<std::string, sdbus::Variant>> addresses = {
        {{"address", sdbus::Variant(address)}, {"prefix", sdbus::Variant(std::uint32_t{24})}}};
    s["ipv4"]["method"] = sdbus::Variant(std::string("manual"));
    s["ipv4"]["address-data"] = sdbus::Variant(addresses);
    s["ipv4"]["gateway"] =
        sdbus::Variant(std::string(address.substr(0, address.rfind('.')) + ".1"));
    s["ipv4"]["dns-data"] = sdbus::Variant(std::vector<std::string>{"192.0.2.53"});
    s["ipv6"]["method"] = sdbus::Variant(std::string("disabled"));
    const std::string path = client.add_connection(s, nm::kAddInMemory);
    auto device = client.device_by_interface(name);
    client.activate(path, device->path);
    client.wait_device_state(
        device->path, [](std::uint32_t st) { return st == nm::kStateActivated; },
        nm::Clock::now() + std::chrono::seconds(20));
    ASSERT_TRUE(wait_until([&] { return link_has_address(name, address + "/24"); }));
}

// What setup_bridge hands to the ledger, in order.
struct Recorded {
    std::vector<std::pair<std::string, nlohmann::json>> entries;
    nm::SetupRecord sink() {
        return [this](std::string_view action, const nlohmann::json& details) {
            entries.emplace_back(std::string(action), details);
        };
    }
    std::vector<std::string> actions() const {
        std::vector<std::string> list;
        for (const auto& [action, details] : entries) list.push_back(action);
        return list;
    }
};

TEST(BridgeSetup, UplinkAddressMovesToTheBridgeAndSecondRunChangesNothing) {
    nm::NmClient client;
    make_nic(client, "upl0", "192.0.2.10");
    std::vector<std::string> log;
    nm::BridgeSetupOptions options;
    options.bridge = "opabr0";
    options.uplink = "upl0";
    options.datapath_type = "netdev";
    options.empty_bridges = {"opaempty1"};
    const auto sink = [&](const std::string& line) { log.push_back(line); };
    Recorded recorded;
    nm::BridgeSetupReport first = nm::setup_bridge(client, options, sink, recorded.sink());
    EXPECT_TRUE(first.changed);
    EXPECT_NE(first.state_before.find("upl0"), std::string::npos);
    // Counted by scripts/loop-bridge-setup.sh: how often OVS dropped the bridge's routes.
    for (const auto& step : first.steps) {
        if (step.find("reapplied") != std::string::npos)
            std::cout << "setup-bridge: " << step << "\n";
    }

    auto iface = client.device_by_interface("opabr0", {nm::kDeviceOvsInterface});
    ASSERT_TRUE(iface);
    const nm::Ip4Info ip = client.ip4_config(iface->path);
    std::string setup_log;
    for (const auto& line : log) setup_log += line + "\n";
    // Read at once, no waiting: setup_bridge reports done only once all of it is in place.
    ASSERT_EQ(ip.addresses.size(), 1u) << setup_log;
    EXPECT_EQ(ip.addresses[0].address, "192.0.2.10");
    EXPECT_EQ(ip.addresses[0].prefix, 24u);
    EXPECT_EQ(ip.gateway, "192.0.2.1") << setup_log;
    EXPECT_EQ(ip.dns, std::vector<std::string>{"192.0.2.53"}) << setup_log;
    // The kernel's view: the host's default route goes through the bridge.
    EXPECT_NE(run("ip -4 route show default").output.find("via 192.0.2.1 dev opabr0"),
              std::string::npos)
        << run("ip -4 route show").output;
    auto nic = client.device_by_interface("upl0", {nm::kDeviceVeth, nm::kDeviceEthernet});
    ASSERT_TRUE(nic);
    EXPECT_TRUE(client.ip4_config(nic->path).addresses.empty());
    // Read-only checks of the data plane's view.
    EXPECT_TRUE(wait_until([] { return link_has_address("opabr0", "192.0.2.10/24"); }));
    EXPECT_FALSE(link_has_address("upl0", "192.0.2.10"));
    EXPECT_TRUE(wait_until([] { return ovs_has_port("opabr0", "upl0"); }));
    EXPECT_TRUE(ovs_local_port("opabr0"));
    EXPECT_TRUE(wait_until([] { return ovs_local_port("opaempty1"); }));
    EXPECT_EQ(run("ovs-vsctl --timeout=5 get bridge opabr0 datapath_type").output, "netdev\n");
    // Bridge profiles are kept on disk.
    for (const auto& c : client.list_connections()) {
        if (c.id == nm::profile_id(nm::ProfileRole::Bridge, "opabr0")) {
            EXPECT_FALSE(c.in_memory);
        }
    }

    // The ledger's entries: started, each profile with the UUID NM holds, both bridges
    // activated, done with the address moved and the checkpoint destroyed.
    const auto profiles_before = profile_ids(client);
    const std::vector<std::string> created(8, "bridge_profile_created");  // 5 + 3
    std::vector<std::string> expected = {"bridge_setup_started"};
    expected.insert(expected.end(), created.begin(), created.end());
    expected.insert(expected.end(), {"bridge_activated", "bridge_activated", "bridge_setup_done"});
    ASSERT_EQ(recorded.actions(), expected);
    for (const auto& [action, details] : recorded.entries) {
        if (action != "bridge_profile_created") continue;
        const std::string id_uuid =
            details.at("profile").get<std::string>() + " " + details.at("uuid").get<std::string>();
        EXPECT_TRUE(profiles_before.count(id_uuid)) << id_uuid << " is not a profile NM holds";
    }
    const nlohmann::json& done = recorded.entries.back().second;
    EXPECT_EQ(done.at("address_moved").at("from"), "upl0");
    EXPECT_EQ(done.at("address_moved").at("to"), "opabr0");
    EXPECT_EQ(done.at("address_moved").at("addresses"), nlohmann::json::array({"192.0.2.10/24"}));
    EXPECT_EQ(done.at("address_moved").at("gateway"), "192.0.2.1");
    EXPECT_EQ(done.at("address_moved").at("dns"), nlohmann::json::array({"192.0.2.53"}));
    EXPECT_EQ(done.at("checkpoint_outcome"), "destroyed");

    log.clear();
    Recorded again;
    nm::BridgeSetupReport second = nm::setup_bridge(client, options, sink, again.sink());
    EXPECT_EQ(again.actions(),
              (std::vector<std::string>{"bridge_setup_started", "bridge_setup_unchanged"}));
    EXPECT_FALSE(second.changed);
    EXPECT_EQ(profile_ids(client), profiles_before);
    ASSERT_FALSE(second.steps.empty());
    EXPECT_NE(second.steps[0].find("nothing to do"), std::string::npos);
}

TEST(BridgeSetup, FailureMidwayRollsEverythingBack) {
    nm::NmClient client;
    make_nic(client, "upl1", "198.51.100.10");
    const auto profiles_before = profile_ids(client);
    nm::BridgeSetupOptions options;
    options.bridge = "opabr1";
    options.uplink = "upl1";
    options.datapath_type = "netdev";
    options.before_activation = [] { throw nm::NmError("injected failure"); };
    Recorded recorded;
    try {
        nm::setup_bridge(
            client, options, [](const std::string&) {}, recorded.sink());
        FAIL() << "setup_bridge did not fail";
    } catch (const nm::NmError& error) {
        EXPECT_NE(std::string(error.what()).find("injected failure"), std::string::npos);
        EXPECT_NE(std::string(error.what()).find("rolled back"), std::string::npos);
    }
    // The new profiles are gone, the NIC keeps its address, OVSDB has no such bridge.
    EXPECT_TRUE(wait_until([&] { return profile_ids(client) == profiles_before; }));
    EXPECT_TRUE(link_has_address("upl1", "198.51.100.10/24"));
    EXPECT_EQ(run("ovs-vsctl --timeout=5 br-exists opabr1").status, 2);
    // The ledger says what was made and that it was rolled back.
    ASSERT_FALSE(recorded.entries.empty());
    EXPECT_EQ(recorded.entries.front().first, "bridge_setup_started");
    EXPECT_EQ(recorded.entries.back().first, "bridge_setup_rolled_back");
    EXPECT_NE(
        recorded.entries.back().second.at("error").get<std::string>().find("injected failure"),
        std::string::npos);
    EXPECT_EQ(recorded.entries.back().second.at("rollback"), "done");
}

// OVS sometimes sets the bridge's internal link down and up just after NM configured it; the
// kernel then drops the link's routes (the default route, the subnet's) and NM does not add them
// back. setup-bridge notices the missing gateway, reapplies the profile and reports done only
// with the routes back. The flap is made here with `ip link`, once NM has set the default route.
TEST(BridgeSetup, RoutesDroppedAfterActivationAreRestored) {
    nm::NmClient client;
    make_nic(client, "upl4", "100.64.4.10");
    nm::BridgeSetupOptions options;
    options.bridge = "opabr4";
    options.uplink = "upl4";
    options.datapath_type = "netdev";
    options.after_activation = [] {
        const auto has_default = [] {
            return run("ip -4 route show default dev opabr4").output.find("via 100.64.4.1") !=
                   std::string::npos;
        };
        ASSERT_TRUE(wait_until(has_default));
        ASSERT_TRUE(run("ip link set opabr4 down").ok());
        ASSERT_TRUE(run("ip link set opabr4 up").ok());
        ASSERT_FALSE(has_default()) << "the kernel kept the route of a link set down";
    };
    std::vector<std::string> log;
    const nm::BridgeSetupReport report =
        nm::setup_bridge(client, options, [&](const std::string& line) { log.push_back(line); });
    std::string setup_log;
    for (const auto& line : log) setup_log += line + "\n";
    EXPECT_TRUE(std::any_of(report.steps.begin(), report.steps.end(), [](const std::string& s) {
        return s.find("reapplied opabr4") != std::string::npos;
    })) << setup_log;
    auto iface = client.device_by_interface("opabr4", {nm::kDeviceOvsInterface});
    ASSERT_TRUE(iface);
    EXPECT_EQ(client.ip4_config(iface->path).gateway, "100.64.4.1") << setup_log;
    const std::string routes = run("ip -4 route show dev opabr4").output;
    EXPECT_NE(routes.find("default via 100.64.4.1"), std::string::npos) << routes;
    EXPECT_NE(routes.find("100.64.4.0/24"), std::string::npos) << routes;
}

// A bridge that never shows the gateway the NIC had is not reported done: the verification
// waits to its deadline, rolls back and names what was missing. The gateway is taken out of the
// bridge's interface profile just before activation, as if NM had dropped it.
TEST(BridgeSetup, AGatewayThatNeverArrivesRollsBackAndIsNamed) {
    nm::NmClient client;
    make_nic(client, "upl3", "203.0.113.10");
    const auto profiles_before = profile_ids(client);
    nm::BridgeSetupOptions options;
    options.bridge = "opabr3";
    options.uplink = "upl3";
    options.datapath_type = "netdev";
    options.timeout = std::chrono::seconds(10);  // long enough to activate, even under ASan
    options.before_activation = [&] {
        for (const auto& c : client.list_connections()) {
            if (c.id != nm::profile_id(nm::ProfileRole::Interface, "opabr3")) continue;
            nm::Settings s = client.get_settings(c.path);
            ASSERT_EQ(s["ipv4"]["gateway"].get<std::string>(), "203.0.113.1");
            s["ipv4"].erase("gateway");
            s["ipv4"].erase("addresses");  // the deprecated form may carry a gateway too
            client.update_connection(c.path, s, c.in_memory);
        }
    };
    std::vector<std::string> log;
    try {
        nm::setup_bridge(client, options, [&](const std::string& line) { log.push_back(line); });
        FAIL() << "setup_bridge reported done without the gateway";
    } catch (const nm::NmError& error) {
        const std::string what = error.what();
        EXPECT_NE(what.find("rolled back"), std::string::npos) << what;
        EXPECT_NE(what.find("missing: opabr3: gateway 203.0.113.1"), std::string::npos) << what;
        // Only the gateway was missing: the address and DNS had arrived.
        EXPECT_EQ(what.find("address 203.0.113.10"), std::string::npos) << what;
        EXPECT_EQ(what.find("DNS"), std::string::npos) << what;
    }
    EXPECT_TRUE(wait_until([&] { return profile_ids(client) == profiles_before; }));
    EXPECT_TRUE(wait_until([] { return link_has_address("upl3", "203.0.113.10/24"); }));
    EXPECT_TRUE(
        wait_until([] { return run("ovs-vsctl --timeout=5 br-exists opabr3").status == 2; }));
}

// A ledger that cannot take the first entry stops the setup before anything changes.
TEST(BridgeSetup, ALedgerThatCannotBeWrittenStopsItBeforeAnythingChanges) {
    nm::NmClient client;
    const auto profiles_before = profile_ids(client);
    nm::BridgeSetupOptions options;
    options.bridge = "opabr2";
    options.datapath_type = "netdev";
    const auto refusing = [](std::string_view, const nlohmann::json&) {
        throw std::runtime_error("ledger full");
    };
    EXPECT_THROW(nm::setup_bridge(
                     client, options, [](const std::string&) {}, refusing),
                 std::runtime_error);
    EXPECT_EQ(profile_ids(client), profiles_before);
    EXPECT_EQ(run("ovs-vsctl --timeout=5 br-exists opabr2").status, 2);
}

// A bridge someone made with ovs-vsctl (simulated here; the product never writes OVSDB) is
// refused at once, with advice, and nothing is changed.
TEST(BridgeSetup, BridgeMadeOutsideNetworkManagerIsRefusedWithAdvice) {
    nm::NmClient client;
    ASSERT_TRUE(
        run("ovs-vsctl --timeout=5 add-br extbr0 -- set bridge extbr0 datapath_type=netdev").ok());
    ASSERT_TRUE(wait_until([&] {
        auto d = client.device_by_interface("extbr0", {nm::kDeviceOvsBridge});
        return d && d->real;
    }));
    const auto profiles_before = profile_ids(client);
    nm::BridgeSetupOptions options;
    options.bridge = "extbr0";
    options.datapath_type = "netdev";
    const auto started = std::chrono::steady_clock::now();
    try {
        nm::setup_bridge(client, options, [](const std::string&) {});
        FAIL() << "setup_bridge took a bridge NetworkManager does not manage";
    } catch (const nm::NmError& error) {
        EXPECT_NE(std::string(error.what()).find("does not manage it"), std::string::npos)
            << error.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_EQ(profile_ids(client), profiles_before);
    EXPECT_EQ(run("ovs-vsctl --timeout=5 br-exists extbr0").status, 0);
    run("ovs-vsctl --timeout=5 del-br extbr0");  // test clean-up of the simulated admin bridge
}

}  // namespace
