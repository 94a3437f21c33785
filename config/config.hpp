// The agent's configuration file (/etc/ovs-port-agent/config.toml): defaults, loading and
// validation. Every problem in a file is reported, each as `file:line:column: message`.
// No logging and no exceptions cross this API; callers decide how to report errors.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opa::config {

inline constexpr std::string_view kDefaultPath = "/etc/ovs-port-agent/config.toml";

// Defaults live in the member initializers; a default-constructed Config is what an absent
// file means. Adding a key: a member here plus one row in the key table in config.cpp
// (and a documented line in config.toml.example; a test checks every key is documented).
struct Config {
    std::string bridge_name = "ovsbr0";
    std::filesystem::path interfaces_path = "/etc/network/interfaces";
    std::vector<std::string> include_prefixes = {"veth-", "tap", "veth"};
    std::chrono::milliseconds debounce_ms{500};
    std::string managed_block_tag = "ovs-port-agent";
    std::string naming_template = "veth-{container}-eth{index}";
    bool enable_rename = false;
    std::optional<std::string> container_name_cmd;
    std::filesystem::path ledger_path = "/var/lib/ovs-port-agent/ledger.jsonl";
    // Where entries held while the ledger cannot be written are kept until they are: on
    // another filesystem than the ledger, so a full disk there does not fill it too.
    std::filesystem::path ledger_spill_path = "/run/ovs-port-agent/ledger-held.jsonl";
    std::filesystem::path mountpoint = "/run/ovs-ports";
    std::optional<std::string> uplink;
    std::filesystem::path setup_log_path = "/var/log/nm-ovs-setup.log";
    // The bridge's OVS datapath: "system" (kernel module) or "netdev" (userspace, where the
    // kernel has no openvswitch module, as in the test sandbox).
    std::string datapath_type = "system";
    // Where Proxmox keeps guest configs (lxc/VMID.conf, qemu-server/VMID.conf): a guest NIC's
    // bridge and VLAN tag are read from there.
    std::filesystem::path pve_root = "/etc/pve";

    bool operator==(const Config&) const = default;

    // Every key in table order, as TOML that parse() reads back to an equal Config; unset
    // optional keys appear as comments. For `ovs-port-agent config show`.
    std::string to_toml() const;
};

struct Error {
    std::string file;
    std::size_t line = 0;    // 1-based; 0 when the error has no position (e.g. open failed)
    std::size_t column = 0;  // 1-based; 0 when line is 0
    std::string message;

    // "file:line:column: message", or "file: message" without a position.
    std::string to_string() const;
    bool operator==(const Error&) const = default;
};

struct LoadResult {
    std::optional<Config> config;  // set exactly when errors is empty
    std::vector<Error> errors;     // sorted by position
    bool used_defaults = false;    // the file did not exist; config holds the defaults

    bool ok() const { return errors.empty(); }
};

// Reads and validates `path`. A missing file (ENOENT) gives the defaults with used_defaults
// set; any other failure to read it (EACCES, EISDIR, ...) is an error.
LoadResult load(const std::filesystem::path& path = std::filesystem::path(kDefaultPath));

// Validates TOML text; `source_name` is used as the file name in errors.
LoadResult parse(std::string_view text, std::string_view source_name);

// The names of all known keys, in table order.
std::vector<std::string_view> known_keys();

}  // namespace opa::config
