// Removing an OVSDB port row of the agent's that no profile is behind any more (left by a crash
// between a link's rename and its old profiles' removal, or by an older version). The agent
// changes OVS only through NetworkManager, and NM deletes rows only by the name of an interface
// it detaches from a port. So NM is made to take the rows over and then let them go: a port and
// a veth member profile carrying the rows' own connection UUIDs (NM then adopts the rows instead
// of adding rows of its own, which OVSDB's unique names would refuse), a veth of the row's name
// that NM makes for the member, and then both profiles are deleted. Seen to work on NM 1.42 and
// 1.52 (sandbox.orphan_rows).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "nm/nm_client.hpp"
#include "nm/ovs_ports.hpp"
#include "nm/profiles.hpp"

namespace opa::nm {

// The ids of take-over profiles start with this: never read as the agent's ports (they do not
// start with kIdPrefix), and any left by a crash are deleted by the next take-over of the name.
inline constexpr std::string_view kTakeoverIdPrefix = "ovs-port-agent-takeover:";

// An orphan row: the port's name and the NM.connection.uuid values NM wrote into its Port and
// Interface rows.
struct OrphanRow {
    std::string name;
    std::string port_connection;
    std::string interface_connection;
};

struct TakeoverProfiles {
    Settings port;
    Settings member;
};
// The two profiles (in memory, never autoconnecting) that take `row` over on `bridge_uuid`.
TakeoverProfiles takeover_profiles(const OrphanRow& row, const std::string& bridge_uuid,
                                   const WireNames& wire);
// The veth's other end: a name no guest or port has, fixed for the row ("opa" and 12 hex
// digits of its interface's connection UUID).
std::string takeover_peer_name(std::string_view interface_connection);
// Empty when `row` can be taken over, else why not (no UUIDs, not UUIDs, a bad name).
std::string takeover_problem(const OrphanRow& row);

// Takes `row` over and deletes it, as described above; returns once NM deleted the profiles.
// Throws NmError, with every profile it added deleted again, when the row cannot be taken over:
// the agent still has profiles for the name, a link of that name exists, the bridge has no
// profile, or NM did not attach the veth by `deadline`.
void remove_orphan_row(NmClient& nm, OvsPorts& ports, const OrphanRow& row,
                       std::chrono::milliseconds timeout);

}  // namespace opa::nm
