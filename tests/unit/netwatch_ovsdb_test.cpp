// The pure part of the OVSDB reader: classification, monitor replies and updates, and splitting
// the JSON-RPC stream.
#include <gtest/gtest.h>

#include "netwatch/ovsdb.hpp"

namespace opa::netwatch {
namespace {

using nlohmann::json;

// Explicit arrays: an initializer list of string pairs would become a JSON object.
json uuid(const std::string& id) { return json::array({"uuid", id}); }
json port_set(std::initializer_list<std::string> ids) {
    json result = json::array();
    result.push_back("set");
    result.push_back(json::array());
    for (const auto& id : ids) result[1].push_back(uuid(id));
    return result;
}
json empty_set() {
    json result = json::array();
    result.push_back("set");
    result.push_back(json::array());
    return result;
}
json bridge_row(std::initializer_list<std::string> ports) {
    return {{"new", {{"name", "ovsbr0"}, {"ports", port_set(ports)}}}};
}

json port_row(const std::string& name, json tag, json trunks,
              std::vector<std::pair<std::string, std::string>> ids) {
    json map = json::array();
    map.push_back("map");
    map.push_back(json::array());
    for (const auto& [key, value] : ids) map[1].push_back(json::array({key, value}));
    return {{"name", name}, {"tag", tag}, {"trunks", trunks}, {"external_ids", map}};
}

// A monitor reply as ovsdb-server 3.1 sends it: a bridge with its local port, a port of the
// agent's (NM wrote it), one of NM's that is not the agent's, and one plugged by ovs-vsctl.
json initial_tables() {
    return {
        {"Bridge", {{"b1", bridge_row({"p0", "p1", "p2", "p3"})}}},
        {"Port",
         {{"p0",
           {{"new", port_row("ovsbr0", empty_set(), empty_set(), {{"NM.connection.uuid", "u0"}})}}},
          {"p1",
           {{"new", port_row("veth100i0", 10, empty_set(),
                             {{"NM.connection.uuid", "u1"},
                              {"owner", "ovs-port-agent"},
                              {"port", "veth100i0"}})}}},
          {"p2",
           {{"new", port_row("eth9", empty_set(), empty_set(), {{"NM.connection.uuid", "u2"}})}}},
          {"p3",
           {{"new", port_row("veth101i0", 20, json::array({"set", json::array({30, 20})}), {})}}}}},
    };
}

TEST(OvsdbClassify, NmMarkAndAgentOwnerDecide) {
    EXPECT_EQ(classify_port({}), PortOwner::External);
    EXPECT_EQ(classify_port({{"owner", "ovs-port-agent"}}), PortOwner::External)
        << "without NM's mark nobody can have written it through NetworkManager";
    EXPECT_EQ(classify_port({{"NM.connection.uuid", "u"}}), PortOwner::NetworkManager);
    EXPECT_EQ(classify_port({{"NM.connection.uuid", "u"}, {"owner", "someone"}}),
              PortOwner::NetworkManager);
    EXPECT_EQ(classify_port({{"NM.connection.uuid", "u"}, {"owner", "ovs-port-agent"}}),
              PortOwner::Agent);
}

TEST(OvsdbTables, MonitorReplyGivesTheBridgesPortsWithOwners) {
    OvsdbTables tables;
    tables.apply(initial_tables(), true);
    ASSERT_TRUE(tables.has_bridge("ovsbr0"));
    EXPECT_FALSE(tables.has_bridge("vmbr0"));
    auto ports = tables.ports_on("ovsbr0");
    ASSERT_EQ(ports.size(), 3u) << "the bridge's local port is not listed";
    EXPECT_EQ(ports[0].name, "eth9");
    EXPECT_EQ(ports[0].owner, PortOwner::NetworkManager);
    EXPECT_EQ(ports[1].name, "veth100i0");
    EXPECT_EQ(ports[1].owner, PortOwner::Agent);
    EXPECT_EQ(ports[1].tag, 10);
    EXPECT_EQ(ports[1].nm_connection_uuid, "u1");
    EXPECT_EQ(ports[2].name, "veth101i0");
    EXPECT_EQ(ports[2].owner, PortOwner::External);
    EXPECT_EQ(ports[2].tag, 20);
    EXPECT_EQ(ports[2].trunks, (std::vector<std::uint16_t>{20, 30}));
    EXPECT_EQ(ports[2].nm_connection_uuid, "");
    EXPECT_TRUE(tables.ports_on("vmbr0").empty());
}

TEST(OvsdbTables, UpdatesReplaceAndDeleteRows) {
    OvsdbTables tables;
    tables.apply(initial_tables(), true);
    // Proxmox's hook: del-port veth100i0 (the agent's rows go), add-port with tag 10.
    tables.apply({{"Port", {{"p1", {{"old", {{"name", "veth100i0"}}}}}}},
                  {"Bridge", {{"b1", bridge_row({"p0", "p2", "p3"})}}}},
                 false);
    tables.apply({{"Port", {{"p9", {{"new", port_row("veth100i0", 10, empty_set(), {})}}}}},
                  {"Bridge", {{"b1", bridge_row({"p0", "p2", "p3", "p9"})}}}},
                 false);
    auto ports = tables.ports_on("ovsbr0");
    ASSERT_EQ(ports.size(), 3u);
    EXPECT_EQ(ports[1].name, "veth100i0");
    EXPECT_EQ(ports[1].owner, PortOwner::External);
    EXPECT_EQ(ports[1].tag, 10);
    // The bridge is deleted.
    tables.apply({{"Bridge", {{"b1", json::object()}}}}, false);
    EXPECT_FALSE(tables.has_bridge("ovsbr0"));
    EXPECT_TRUE(tables.ports_on("ovsbr0").empty());
}

TEST(OvsdbTables, MalformedUpdateChangesNothing) {
    OvsdbTables tables;
    tables.apply(initial_tables(), true);
    const auto before = tables.ports_on("ovsbr0");
    json bad = {{"Port",
                 {{"p1", {{"old", json::object()}}},
                  {"p3", {{"new", port_row("veth101i0", "ten", json::array(), {})}}}}}};
    EXPECT_THROW(tables.apply(bad, false), std::invalid_argument);
    EXPECT_THROW(tables.apply(json::array(), false), std::invalid_argument);
    EXPECT_THROW(tables.apply({{"Port", {{"p3", {{"new", {{"name", "x"}}}}}}}}, false),
                 std::invalid_argument);
    EXPECT_EQ(tables.ports_on("ovsbr0"), before);
}

TEST(OvsdbTables, MonitorRequestAsksOnlyForWhatIsRead) {
    json request = OvsdbTables::monitor_request("m1");
    EXPECT_EQ(request["method"], "monitor");
    EXPECT_EQ(request["id"], "m1");
    EXPECT_EQ(request["params"][0], "Open_vSwitch");
    EXPECT_EQ(request["params"][2].size(), 3u);
    EXPECT_TRUE(request["params"][2].contains("Port"));
    EXPECT_TRUE(request["params"][2].contains("Interface"));
}

// What NM needs to take an orphan row over: the NM.connection.uuid of the port and of its
// interface of the same name (another interface of the port is not it).
TEST(OvsdbTables, APortShowsItsSameNamedInterfacesConnection) {
    OvsdbTables tables;
    json port = port_row("veth100i0", empty_set(), empty_set(),
                         {{"NM.connection.uuid", "u1"}, {"owner", "ovs-port-agent"}});
    port["interfaces"] = port_set({"i1", "i2"});
    json named_map = json::array({"map", json::array({json::array({"NM.connection.uuid", "m1"})})});
    json other_map = json::array({"map", json::array({json::array({"NM.connection.uuid", "m2"})})});
    tables.apply({{"Bridge", {{"b1", bridge_row({"p1"})}}},
                  {"Port", {{"p1", {{"new", port}}}}},
                  {"Interface",
                   {{"i1", {{"new", {{"name", "veth100i0"}, {"external_ids", named_map}}}}},
                    {"i2", {{"new", {{"name", "other"}, {"external_ids", other_map}}}}}}}},
                 true);
    auto ports = tables.ports_on("ovsbr0");
    ASSERT_EQ(ports.size(), 1u);
    EXPECT_EQ(ports[0].nm_connection_uuid, "u1");
    EXPECT_EQ(ports[0].interface_connection_uuid, "m1");

    // The interface row goes (NM deleted it first): nothing to take over by it.
    tables.apply({{"Interface", {{"i1", {{"old", json::object()}}}}}}, false);
    EXPECT_EQ(tables.ports_on("ovsbr0")[0].interface_connection_uuid, "");
    // A malformed interface row changes nothing.
    EXPECT_THROW(tables.apply({{"Interface", {{"i3", {{"new", {{"name", 7}}}}}}}}, false),
                 std::invalid_argument);
}

TEST(JsonStreamSplitter, SplitsConcatenatedTextsAcrossReads) {
    JsonStreamSplitter splitter;
    splitter.feed(R"({"id":1,"s":"a}\"{"} [1,)");
    auto first = splitter.next();
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, R"({"id":1,"s":"a}\"{"})");
    EXPECT_FALSE(splitter.next()) << "the array is not finished";
    splitter.feed("[2]]\n{\"x\":");
    auto second = splitter.next();
    ASSERT_TRUE(second);
    EXPECT_EQ(*second, "[1,[2]]");
    EXPECT_FALSE(splitter.next());
    splitter.feed("{}}");
    auto third = splitter.next();
    ASSERT_TRUE(third);
    EXPECT_EQ(*third, R"({"x":{}})");
    EXPECT_EQ(splitter.pending_bytes(), 0u);
}

// Rows anyone with root may write: a Port named with '/', '\\' or longer than an interface name
// never reaches the core (a '/' in the tree breaks every readdir); it is listed as rejected,
// and a later rename to a good name brings the row in.
TEST(OvsdbTables, PortRowsWithNamesNoInterfaceCanHaveAreLeftOut) {
    OvsdbTables tables;
    json updates = initial_tables();
    updates["Bridge"]["b1"] = bridge_row({"p0", "p1", "p2", "p3", "x1", "x2", "x3"});
    updates["Port"]["x1"] = {{"new", port_row("a/b", empty_set(), empty_set(), {})}};
    updates["Port"]["x2"] = {
        {"new", port_row(std::string(300, 'x'), empty_set(), empty_set(), {})}};
    updates["Port"]["x3"] = {{"new", port_row("a\\b", empty_set(), empty_set(), {})}};
    tables.apply(updates, true);
    std::vector<std::string> names;
    for (const OvsdbPort& port : tables.ports_on("ovsbr0")) names.push_back(port.name);
    EXPECT_EQ(names, (std::vector<std::string>{"eth9", "veth100i0", "veth101i0"}));
    ASSERT_EQ(tables.rejected().size(), 3u);
    EXPECT_EQ(tables.rejected().at("x1").name, "a/b");
    EXPECT_EQ(tables.rejected().at("x1").reason, "contains '/'");
    EXPECT_EQ(tables.rejected().at("x2").reason, "is longer than 15 bytes");

    // Renamed to a good name, then deleted: no longer rejected.
    tables.apply(
        {{"Port", {{"x1", {{"new", port_row("veth102i0", empty_set(), empty_set(), {})}}}}}},
        false);
    tables.apply({{"Port", {{"x2", json::object()}}}}, false);
    EXPECT_EQ(tables.ports_on("ovsbr0").size(), 4u);
    ASSERT_EQ(tables.rejected().size(), 1u);
    EXPECT_TRUE(tables.rejected().count("x3"));
    // A good row renamed to a bad name leaves.
    tables.apply({{"Port", {{"p1", {{"new", port_row("../x", 10, empty_set(), {})}}}}}}, false);
    EXPECT_EQ(tables.ports_on("ovsbr0").size(), 3u);
    EXPECT_EQ(tables.rejected().size(), 2u);
}

TEST(JsonStreamSplitter, BareScalarsComeOutAloneForTheParserToReject) {
    JsonStreamSplitter splitter;
    splitter.feed("x{}");
    auto junk = splitter.next();
    ASSERT_TRUE(junk);
    EXPECT_EQ(*junk, "x");
    auto object = splitter.next();
    ASSERT_TRUE(object);
    EXPECT_EQ(*object, "{}");
}

}  // namespace
}  // namespace opa::netwatch
