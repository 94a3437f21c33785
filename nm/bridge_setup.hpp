// `ovs-port-agent setup-bridge`: the seed's rules 3-12 for the agent's bridge, through
// NetworkManager only. The bridge has no IP; an internal port + ovs-interface carries the host's
// IP (read from the uplink NIC's Ip4Config over D-Bus); the NIC is enslaved through a port of its
// own, without IP. All profiles are created first, then only the bridge is activated; the result
// is verified; a checkpoint around everything rolls back on any failure.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nm/nm_client.hpp"

namespace opa::nm {

struct BridgeSetupOptions {
    std::string bridge;
    std::optional<std::string> uplink;
    std::string datapath_type = "system";
    // Further bridges made empty (the seed's --with-ovsbr1): bridge + internal interface, no IP.
    std::vector<std::string> empty_bridges;
    std::chrono::seconds timeout{30};
    // Called after the profiles exist and before activation; a test injects a failure here
    // to prove the rollback.
    std::function<void()> before_activation;
    // Called once the devices are ACTIVATED, before their IPv4 is verified; a test sets the
    // bridge's link down and up here, as OVS sometimes does, to prove its routes come back.
    std::function<void()> after_activation;
};

struct BridgeSetupReport {
    bool changed = false;
    std::vector<std::string> steps;          // what was done, in words
    std::vector<std::string> unmanaged_ovs;  // OVS devices NM does not manage
    std::string state_before;
    std::string state_after;
};

// Line sink for progress (the CLI writes it to the setup log and the terminal).
using SetupLog = std::function<void(const std::string& line)>;
// Sink for the steps as entries of the action ledger (the CLI appends them): bridge_setup_started,
// bridge_profile_created (one per profile, with its UUID), bridge_activated,
// bridge_setup_unchanged, bridge_setup_done (the address moved, the checkpoint destroyed) or
// bridge_setup_rolled_back. It may throw: before anything changed, that stops the setup.
using SetupRecord = std::function<void(std::string_view action, const nlohmann::json& details)>;

// Throws NmError (after rolling back) when any step fails.
BridgeSetupReport setup_bridge(NmClient& nm, const BridgeSetupOptions& options, const SetupLog& log,
                               const SetupRecord& record = {});

// NetworkManager's view of devices and profiles, read over D-Bus, as text for the setup log.
std::string describe_network_state(NmClient& nm);

}  // namespace opa::nm
