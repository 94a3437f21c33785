// Proxmox VE guest configs: the `netN:` lines of /etc/pve/lxc/{VMID}.conf (containers) and
// /etc/pve/qemu-server/{VMID}.conf (VMs), so the agent can learn a guest NIC's bridge, VLAN tag,
// trunks and firewall flag from the same source Proxmox itself uses.
//
// Only the current config is read: Proxmox writes it first, then one section per snapshot
// (`[snapname]`) and possibly `[PENDING]` / `[special:cloudinit]`; those describe other states
// of the guest and are ignored. `#` lines are the guest's description.
//
// Parsing is pure and never throws; a malformed `netN:` line is skipped and described in
// `GuestConfig::problems` for the caller to log. Library code: no logging.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/naming.hpp"
#include "vlan/vlan.hpp"

namespace opa::proxmox {

// Where pmxcfs mounts the cluster configuration on a Proxmox host.
inline constexpr std::string_view kDefaultPveRoot = "/etc/pve";

// Proxmox's tag= and trunks= take 1..4094 (vlan/vlan.hpp's trunk rule).
inline constexpr std::uint16_t kMinVlanId = vlan::kMinTrunk;
inline constexpr std::uint16_t kMaxVlanId = vlan::kMaxId;

// One `netN:` line. Keys Proxmox knows but the agent has no use for (ip=, gw=, rate=, mtu=, ...)
// are accepted and dropped, and so are keys this parser does not know at all, so that a config
// written by a newer Proxmox still yields its NICs.
struct GuestNicConfig {
    std::uint32_t index = 0;  // N of netN, 0..naming::kMaxNicIndex
    std::string bridge;       // bridge=; empty when absent (a VM NIC without bridge is user-mode)
    std::optional<std::uint16_t> tag;  // tag=, kMinVlanId..kMaxVlanId
    // trunks=, as inclusive ranges; a single id N is {N, N}. Order as written.
    std::vector<std::pair<std::uint16_t, std::uint16_t>> trunks;
    bool firewall = false;  // firewall=1: OVS gets fwln{VMID}o{N} instead of the NIC itself
    std::string name;       // LXC name=: the NIC's name inside the container, e.g. eth0
    std::string model;      // VM: the model of the `model=MAC` pair (or of model=), e.g. virtio
    std::string mac;        // LXC hwaddr=, VM model=MAC or macaddr=; as written
    bool operator==(const GuestNicConfig&) const = default;
};

struct GuestConfig {
    std::vector<GuestNicConfig> nics;   // sorted by index, one per index
    std::vector<std::string> problems;  // "line 7: net0: tag=5000: ...", one per skipped line
};

// Parses the text of a guest config. Never throws.
//
// A `netN:` line is a comma-separated list of key=value pairs. It is skipped, with a problem
// naming its line number, when N is not 0..31 (or has leading zeros), it has no pairs, a pair
// has no '=', an empty key or an empty value, a setting is given twice (`virtio=MAC` sets the
// model and the MAC; hwaddr and macaddr are one setting), or a known key has an invalid value:
// tag outside 1..4094, trunks not `id[;id...]` with ids or `a-b` ranges (a <= b) in 1..4094,
// firewall not a Proxmox boolean (1/0, on/off, yes/no, true/false), a MAC that is not six hex
// pairs. When netN appears twice, the later line wins, as in Proxmox's own parser, and the
// earlier one is reported.
GuestConfig parse_guest_config(std::string_view text);

// Reads and parses a guest's config under `pve_root` (kDefaultPveRoot on a host):
// lxc/{vmid}.conf for kContainer, qemu-server/{vmid}.conf for kVm, and for kFirewallLink (which
// can belong to either) lxc/ first, then qemu-server/. nullopt when
// the file is missing, not a regular file, or cannot be read: a guest without a config is not an
// error to the agent (it may have been destroyed, or the host is not a Proxmox node).
std::optional<GuestConfig> read_guest_config(const std::filesystem::path& pve_root,
                                             naming::GuestKind kind, std::uint32_t vmid);

// The line of NIC `index` (netN) in a parsed config; nullopt when it has none.
std::optional<GuestNicConfig> nic_at(const GuestConfig& config, std::uint32_t index);

// The config of the NIC a Proxmox interface name stands for: veth100i1 -> net1 of container 100,
// tap101i0 -> net0 of VM 101, fwln100o0 -> net0 of guest 100. nullopt when `ifname` is not a
// guest NIC name, the guest has no readable config, or the config has no (valid) line for it.
std::optional<GuestNicConfig> nic_for_ifname(const std::filesystem::path& pve_root,
                                             std::string_view ifname);

}  // namespace opa::proxmox
