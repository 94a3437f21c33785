// The host's IPv4 as setup-bridge moves it: what the NIC holds (NM's Ip4Config and the profile
// it applied) and which parts of it the bridge shows yet. Pure; the waiting is the caller's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nm/nm_client.hpp"
#include "nm/profiles.hpp"

namespace opa::nm {

// "192.0.2.10/24 gw 192.0.2.1 dns 192.0.2.53" ("none" without addresses), for logs and errors.
std::string format_ip4(const Ip4Info& ip);

// The static parts of an applied profile's ipv4 setting: its addresses, its gateway (none with
// never-default) and its DNS servers (dns-data, or the older `dns` in network byte order).
Ip4Info configured_ip4(const Settings& applied);

// The parts of `wanted` that `shown` lacks, in words ("gateway 192.0.2.1"); empty when every
// address (with its prefix), the gateway and every DNS server of `wanted` are shown. No gateway
// wanted means none is checked.
std::vector<std::string> missing_ip4(const Ip4Info& shown, const Ip4Info& wanted);

// Whether NM has finished publishing a NIC's IPv4: it shows everything its applied profile
// configures, and a gateway or DNS server only together with an address (NM shows the parts one
// by one: on 1.42 the addresses come before the default route that makes the gateway).
bool ip4_settled(const Ip4Info& shown, const Ip4Info& configured);

// What is moved to the bridge: what NM shows, with what the profile configures and NM does not
// show yet, so that a read in the middle of NM's publishing loses nothing.
Ip4Info ip4_to_move(const Ip4Info& shown, const Ip4Info& configured);

// What setup-bridge's verification (the seed's rule 8) still waits for once the devices are
// ACTIVATED: each part of `moved` that the bridge's interface does not show ("opabr0: gateway
// 192.0.2.1"), and each moved address the NIC still shows ("upl0 still holds 192.0.2.10/24").
// Checked together, so that done means all of them at one moment.
std::vector<std::string> move_gaps(const std::string& bridge, const Ip4Info& bridge_shown,
                                   const Ip4Info& moved, const std::string& nic,
                                   const Ip4Info& nic_shown);

// The bridge shows every moved address but not the moved gateway: NM configured it and its routes
// went again. OVS can set the bridge's internal link down and up just after NM configured it (the
// netdev datapath opening its tap); the kernel then drops every route through the link, keeps the
// address, and NM does not add the routes back by itself. A Reapply does.
bool routes_lost(const Ip4Info& bridge_shown, const Ip4Info& moved);

// NmClient::wait_for's contract: re-run the check on each change NM signals until it holds;
// throw NmError at the deadline.
using WaitFor = std::function<void(const std::function<bool()>& check, const std::string& what)>;

// Waits until `gaps()` is empty; at the deadline throws NmError naming the gaps still open.
void wait_without_gaps(const std::function<std::vector<std::string>()>& gaps,
                       const WaitFor& wait_for, const std::string& what);

}  // namespace opa::nm
