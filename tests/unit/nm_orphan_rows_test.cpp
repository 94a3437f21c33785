// The pure part of removing an orphan row through NM: the take-over profiles, the veth's peer
// name and which rows can be taken over at all.
#include <gtest/gtest.h>

#include "nm/orphan_rows.hpp"

namespace opa::nm {
namespace {

const OrphanRow kRow{"veth950i0", "8d7c6a0e-0e8a-5f8b-9c61-2b1f0d2f8a11",
                     "3F2A1B0C-9D8E-5A7B-8C6D-5E4F3A2B1C0D"};

std::string text(const Settings& s, const std::string& section, const std::string& key) {
    return s.at(section).at(key).get<std::string>();
}

TEST(NmOrphanRows, TakeoverProfilesCarryTheRowsUuidsAndAreNeverTheAgentsPorts) {
    for (const char* version : {"1.42.4", "1.52.1"}) {
        const WireNames wire = wire_names_for(version);
        const TakeoverProfiles p = takeover_profiles(kRow, "bridge-uuid", wire);
        EXPECT_EQ(text(p.port, "connection", "uuid"), kRow.port_connection);
        EXPECT_EQ(text(p.port, "connection", "type"), "ovs-port");
        EXPECT_EQ(text(p.port, "connection", "interface-name"), "veth950i0");
        EXPECT_EQ(text(p.port, "connection", wire.controller), "bridge-uuid");
        EXPECT_EQ(text(p.port, "connection", wire.port_type), "ovs-bridge");
        EXPECT_EQ(text(p.member, "connection", "uuid"), kRow.interface_connection);
        EXPECT_EQ(text(p.member, "connection", "type"), "veth");
        EXPECT_EQ(text(p.member, "connection", "interface-name"), "veth950i0");
        EXPECT_EQ(text(p.member, "connection", wire.controller), kRow.port_connection);
        EXPECT_EQ(text(p.member, "connection", wire.port_type), "ovs-port");
        EXPECT_EQ(text(p.member, "veth", "peer"), "opa3f2a1b0c9d8e");
        EXPECT_FALSE(p.member.at("connection").at("autoconnect").get<bool>());
        // Never read back as one of the agent's ports (reconcile would adopt it).
        for (const Settings* s : {&p.port, &p.member}) {
            const std::string id = text(*s, "connection", "id");
            EXPECT_TRUE(id.starts_with(kTakeoverIdPrefix)) << id;
            EXPECT_FALSE(parse_profile_id(id)) << id;
        }
    }
}

TEST(NmOrphanRows, ThePeerIsAValidNameOfItsOwn) {
    EXPECT_EQ(takeover_peer_name("3f2a1b0c-9d8e-5a7b-8c6d-5e4f3a2b1c0d"), "opa3f2a1b0c9d8e");
    EXPECT_EQ(takeover_peer_name("3f2a1b0c-9d8e-5a7b-8c6d-5e4f3a2b1c0d").size(), 15u);
    EXPECT_EQ(takeover_peer_name(""), "opa");
}

TEST(NmOrphanRows, OnlyRowsWithBothUuidsAndAnInterfaceNameCanBeTakenOver) {
    EXPECT_EQ(takeover_problem(kRow), "");
    OrphanRow row = kRow;
    row.interface_connection.clear();
    EXPECT_NE(takeover_problem(row), "");
    row = kRow;
    row.port_connection = "not-a-uuid";
    EXPECT_NE(takeover_problem(row), "");
    row = kRow;
    row.port_connection[8] = 'x';
    EXPECT_NE(takeover_problem(row), "");
    row = kRow;
    row.name = "sixteen-bytes-xx";
    EXPECT_NE(takeover_problem(row), "");
    row.name.clear();
    EXPECT_NE(takeover_problem(row), "");
}

}  // namespace
}  // namespace opa::nm
