// What Open vSwitch's database says is plugged into a bridge, and who plugged it. NetworkManager
// marks every row it writes with external_ids NM.connection.uuid, and the agent's profiles add
// owner=ovs-port-agent through NM's ovs-external-ids; a port without NM's mark was plugged by
// someone else (Proxmox's ovs-vsctl hook, an administrator). NM 1.42 cannot take such a port
// over: it always inserts rows of its own, which OVSDB's unique name index rejects.
//
// The agent only reads OVSDB (its JSON-RPC socket, `monitor`); configuration goes through NM.
// This file is the pure part: the monitored rows, updates applied to them, the classification,
// and splitting the byte stream into JSON texts. OvsdbMonitor (ovsdb_monitor.hpp) owns the
// socket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace opa::netwatch {

enum class PortOwner { Agent, NetworkManager, External };
std::string_view to_string(PortOwner owner);

// One row of the Port table on a bridge, as the agent needs it.
struct OvsdbPort {
    std::string name;
    std::optional<std::uint16_t> tag;
    std::vector<std::uint16_t> trunks;
    std::map<std::string, std::string> external_ids;
    PortOwner owner = PortOwner::External;
    std::string nm_connection_uuid;  // "" when NetworkManager did not write the row
    // NM.connection.uuid of the port's interface of the same name ("" when none): with the
    // port's, what NM needs to take the rows over (and so remove them) through profiles.
    std::string interface_connection_uuid;
    bool operator==(const OvsdbPort&) const = default;
};

// NM.connection.uuid -> NetworkManager; with owner=ovs-port-agent too -> Agent; else External.
PortOwner classify_port(const std::map<std::string, std::string>& external_ids);

// The Bridge and Port tables as a `monitor` reported them (rows by UUID).
class OvsdbTables {
  public:
    // The JSON-RPC `monitor` request (method, params) for the columns used here; `id` is the
    // caller's request id.
    static nlohmann::json monitor_request(const nlohmann::json& id);

    // Applies a <table-updates> object: the result of `monitor` (replace = true: the rows are the
    // whole table) or the second parameter of an `update` notification. Throws
    // std::invalid_argument on a malformed update (the caller reconnects).
    void apply(const nlohmann::json& table_updates, bool replace);
    void clear();

    // The ports of `bridge` (without the bridge's own local port), sorted by name. Empty when the
    // bridge does not exist.
    std::vector<OvsdbPort> ports_on(std::string_view bridge) const;
    bool has_bridge(std::string_view bridge) const;

    // Port rows left out because their name is not an interface name (agent/naming.hpp: a '/'
    // or 300 bytes would break every readdir of the tree): row UUID -> the name and why.
    struct RejectedRow {
        std::string name;
        std::string reason;
        bool operator==(const RejectedRow&) const = default;
    };
    const std::map<std::string, RejectedRow>& rejected() const { return rejected_; }

  private:
    struct BridgeRow {
        std::string name;
        std::vector<std::string> ports;  // Port UUIDs
    };
    struct PortRow {
        OvsdbPort port;
        std::vector<std::string> interfaces;  // Interface UUIDs
    };
    struct InterfaceRow {
        std::string name;
        std::string nm_connection_uuid;
    };
    std::map<std::string, BridgeRow> bridges_;
    std::map<std::string, PortRow> ports_;
    std::map<std::string, InterfaceRow> interfaces_;
    std::map<std::string, RejectedRow> rejected_;
};

// Splits a JSON-RPC byte stream (concatenated JSON texts, no framing) into whole texts.
class JsonStreamSplitter {
  public:
    void feed(std::string_view bytes);
    // The next complete top-level JSON text, or nullopt until more bytes arrive.
    std::optional<std::string> next();
    // Bytes held for an unfinished text (a bound against a peer that never finishes one).
    std::size_t pending_bytes() const { return buffer_.size(); }

  private:
    std::string buffer_;
    std::size_t scanned_ = 0;  // bytes of buffer_ already scanned
    int depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    std::size_t start_ = 0;  // where the current text begins
};

}  // namespace opa::netwatch
