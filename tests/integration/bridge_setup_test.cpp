// setup-bridge against the real NetworkManager with OVS in the sandbox: the uplink's address
// moves to the bridge's internal interface, a second run changes nothing, an empty second bridge
// can be made, and a failure mid-way rolls everything back. OVSDB and links are read only.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

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

// A NIC stand-in: a veth whose own NM profile holds an address, gateway and DNS server.
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
    nm::BridgeSetupReport first = nm::setup_bridge(client, options, sink);
    EXPECT_TRUE(first.changed);
    EXPECT_NE(first.state_before.find("upl0"), std::string::npos);

    auto iface = client.device_by_interface("opabr0", {nm::kDeviceOvsInterface});
    ASSERT_TRUE(iface);
    const nm::Ip4Info ip = client.ip4_config(iface->path);
    std::string setup_log;
    for (const auto& line : log) setup_log += line + "\n";
    ASSERT_EQ(ip.addresses.size(), 1u) << setup_log;
    EXPECT_EQ(ip.addresses[0].address, "192.0.2.10");
    EXPECT_EQ(ip.addresses[0].prefix, 24u);
    EXPECT_EQ(ip.gateway, "192.0.2.1");
    EXPECT_EQ(ip.dns, std::vector<std::string>{"192.0.2.53"});
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

    const auto profiles_before = profile_ids(client);
    log.clear();
    nm::BridgeSetupReport second = nm::setup_bridge(client, options, sink);
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
    try {
        nm::setup_bridge(client, options, [](const std::string&) {});
        FAIL() << "setup_bridge did not fail";
    } catch (const nm::NmError& error) {
        EXPECT_NE(std::string(error.what()).find("injected failure"), std::string::npos);
        EXPECT_NE(std::string(error.what()).find("rolled back"), std::string::npos);
    }
    // The new profiles are gone, the NIC keeps its address, OVSDB has no such bridge.
    EXPECT_TRUE(wait_until([&] { return profile_ids(client) == profiles_before; }));
    EXPECT_TRUE(link_has_address("upl1", "198.51.100.10/24"));
    EXPECT_EQ(run("ovs-vsctl --timeout=5 br-exists opabr1").status, 2);
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
