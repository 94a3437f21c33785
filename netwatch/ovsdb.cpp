#include "netwatch/ovsdb.hpp"

#include <algorithm>
#include <stdexcept>

#include "agent/naming.hpp"

namespace opa::netwatch {

namespace {

constexpr std::string_view kNmUuidKey = "NM.connection.uuid";
constexpr std::string_view kAgentOwnerKey = "owner";
constexpr std::string_view kAgentOwnerValue = "ovs-port-agent";

[[noreturn]] void malformed(const std::string& what) {
    throw std::invalid_argument("malformed OVSDB update: " + what);
}

// An OVSDB <set>: ["set", [atoms...]] or a single atom.
std::vector<nlohmann::json> set_atoms(const nlohmann::json& value) {
    if (value.is_array() && value.size() == 2 && value[0] == "set") {
        if (!value[1].is_array()) malformed("set without an array");
        return {value[1].begin(), value[1].end()};
    }
    return {value};
}

std::string uuid_atom(const nlohmann::json& value) {
    if (!value.is_array() || value.size() != 2 || value[0] != "uuid" || !value[1].is_string()) {
        malformed("expected a uuid, got " + value.dump());
    }
    return value[1].get<std::string>();
}

std::map<std::string, std::string> string_map(const nlohmann::json& value) {
    if (!value.is_array() || value.size() != 2 || value[0] != "map" || !value[1].is_array()) {
        malformed("expected a map, got " + value.dump());
    }
    std::map<std::string, std::string> result;
    for (const auto& pair : value[1]) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
            malformed("map entry " + pair.dump());
        }
        result[pair[0].get<std::string>()] = pair[1].get<std::string>();
    }
    return result;
}

std::uint16_t vlan_atom(const nlohmann::json& value) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() > 4095) {
        malformed("expected a VLAN id, got " + value.dump());
    }
    return static_cast<std::uint16_t>(value.get<std::int64_t>());
}

const nlohmann::json& column(const nlohmann::json& row, const char* name) {
    auto it = row.find(name);
    if (it == row.end()) malformed(std::string("row without column ") + name);
    return *it;
}

}  // namespace

std::string_view to_string(PortOwner owner) {
    switch (owner) {
        case PortOwner::Agent:
            return "agent";
        case PortOwner::NetworkManager:
            return "networkmanager";
        case PortOwner::External:
            return "external";
    }
    return "external";
}

PortOwner classify_port(const std::map<std::string, std::string>& external_ids) {
    if (!external_ids.contains(std::string(kNmUuidKey))) return PortOwner::External;
    auto owner = external_ids.find(std::string(kAgentOwnerKey));
    if (owner != external_ids.end() && owner->second == kAgentOwnerValue) return PortOwner::Agent;
    return PortOwner::NetworkManager;
}

nlohmann::json OvsdbTables::monitor_request(const nlohmann::json& id) {
    nlohmann::json tables = {
        {"Bridge", {{"columns", {"name", "ports"}}}},
        {"Port", {{"columns", {"name", "tag", "trunks", "external_ids", "interfaces"}}}},
        {"Interface", {{"columns", {"name", "external_ids"}}}},
    };
    return {{"method", "monitor"}, {"params", {"Open_vSwitch", nullptr, tables}}, {"id", id}};
}

void OvsdbTables::clear() {
    bridges_.clear();
    ports_.clear();
    interfaces_.clear();
    rejected_.clear();
}

void OvsdbTables::apply(const nlohmann::json& table_updates, bool replace) {
    if (!table_updates.is_object()) malformed("table updates are not an object");
    // Parse everything first, so a malformed update changes nothing.
    std::map<std::string, std::optional<BridgeRow>> bridges;
    std::map<std::string, std::optional<PortRow>> ports;
    std::map<std::string, std::optional<InterfaceRow>> interfaces;
    std::map<std::string, std::optional<RejectedRow>> rejected;
    for (const auto& [table, rows] : table_updates.items()) {
        if (!rows.is_object()) malformed("rows of " + table + " are not an object");
        for (const auto& [uuid, change] : rows.items()) {
            if (!change.is_object()) malformed("row update is not an object");
            auto new_row = change.find("new");
            const bool deleted = new_row == change.end();
            if (table == "Bridge") {
                if (deleted) {
                    bridges[uuid] = std::nullopt;
                    continue;
                }
                BridgeRow row;
                if (!column(*new_row, "name").is_string()) malformed("bridge name");
                row.name = column(*new_row, "name").get<std::string>();
                for (const auto& atom : set_atoms(column(*new_row, "ports"))) {
                    row.ports.push_back(uuid_atom(atom));
                }
                bridges[uuid] = std::move(row);
            } else if (table == "Port") {
                rejected[uuid] = std::nullopt;
                if (deleted) {
                    ports[uuid] = std::nullopt;
                    continue;
                }
                PortRow row;
                OvsdbPort& port = row.port;
                if (!column(*new_row, "name").is_string()) malformed("port name");
                port.name = column(*new_row, "name").get<std::string>();
                // Written by anyone with root: a name no interface can have stays out.
                if (auto error = naming::ifname_error(port.name)) {
                    ports[uuid] = std::nullopt;
                    rejected[uuid] = RejectedRow{port.name, std::string(naming::describe(*error))};
                    continue;
                }
                auto tag = set_atoms(column(*new_row, "tag"));
                if (tag.size() == 1) port.tag = vlan_atom(tag[0]);
                for (const auto& atom : set_atoms(column(*new_row, "trunks"))) {
                    port.trunks.push_back(vlan_atom(atom));
                }
                std::sort(port.trunks.begin(), port.trunks.end());
                port.external_ids = string_map(column(*new_row, "external_ids"));
                port.owner = classify_port(port.external_ids);
                if (auto it = port.external_ids.find(std::string(kNmUuidKey));
                    it != port.external_ids.end()) {
                    port.nm_connection_uuid = it->second;
                }
                // Asked for since the agent removes orphan rows; a server may still leave it out.
                if (auto it = new_row->find("interfaces"); it != new_row->end()) {
                    for (const auto& atom : set_atoms(*it))
                        row.interfaces.push_back(uuid_atom(atom));
                }
                ports[uuid] = std::move(row);
            } else if (table == "Interface") {
                if (deleted) {
                    interfaces[uuid] = std::nullopt;
                    continue;
                }
                InterfaceRow row;
                if (!column(*new_row, "name").is_string()) malformed("interface name");
                row.name = column(*new_row, "name").get<std::string>();
                auto ids = string_map(column(*new_row, "external_ids"));
                if (auto it = ids.find(std::string(kNmUuidKey)); it != ids.end()) {
                    row.nm_connection_uuid = it->second;
                }
                interfaces[uuid] = std::move(row);
            }
            // Other tables were not asked for; ignore them.
        }
    }
    if (replace) clear();
    for (auto& [uuid, row] : bridges) {
        if (row) {
            bridges_[uuid] = std::move(*row);
        } else {
            bridges_.erase(uuid);
        }
    }
    for (auto& [uuid, row] : ports) {
        if (row) {
            ports_[uuid] = std::move(*row);
        } else {
            ports_.erase(uuid);
        }
    }
    for (auto& [uuid, row] : interfaces) {
        if (row) {
            interfaces_[uuid] = std::move(*row);
        } else {
            interfaces_.erase(uuid);
        }
    }
    for (auto& [uuid, row] : rejected) {
        if (row) {
            rejected_[uuid] = std::move(*row);
        } else {
            rejected_.erase(uuid);
        }
    }
}

bool OvsdbTables::has_bridge(std::string_view bridge) const {
    return std::any_of(bridges_.begin(), bridges_.end(),
                       [&](const auto& entry) { return entry.second.name == bridge; });
}

std::vector<OvsdbPort> OvsdbTables::ports_on(std::string_view bridge) const {
    std::vector<OvsdbPort> result;
    for (const auto& [uuid, row] : bridges_) {
        if (row.name != bridge) continue;
        for (const std::string& port_uuid : row.ports) {
            auto port = ports_.find(port_uuid);
            // The bridge's local port carries the bridge's name; it is not a container port.
            if (port == ports_.end() || port->second.port.name == bridge) continue;
            OvsdbPort shown = port->second.port;
            for (const std::string& interface_uuid : port->second.interfaces) {
                auto interface = interfaces_.find(interface_uuid);
                if (interface != interfaces_.end() && interface->second.name == shown.name) {
                    shown.interface_connection_uuid = interface->second.nm_connection_uuid;
                }
            }
            result.push_back(std::move(shown));
        }
    }
    std::sort(result.begin(), result.end(),
              [](const OvsdbPort& a, const OvsdbPort& b) { return a.name < b.name; });
    return result;
}

void JsonStreamSplitter::feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<std::string> JsonStreamSplitter::next() {
    for (; scanned_ < buffer_.size(); ++scanned_) {
        const char c = buffer_[scanned_];
        if (in_string_) {
            if (escaped_) {
                escaped_ = false;
            } else if (c == '\\') {
                escaped_ = true;
            } else if (c == '"') {
                in_string_ = false;
            }
            continue;
        }
        if (depth_ == 0) {
            // Between texts only whitespace is expected; anything else starts a text.
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
            if (c != '{' && c != '[') {
                // A bare scalar at top level is not a JSON-RPC message: hand the byte over
                // alone, so the caller's parser reports it.
                std::string text(1, c);
                buffer_.erase(0, scanned_ + 1);
                scanned_ = 0;
                return text;
            }
            start_ = scanned_;
        }
        if (c == '"') {
            in_string_ = true;
        } else if (c == '{' || c == '[') {
            ++depth_;
        } else if (c == '}' || c == ']') {
            --depth_;
            if (depth_ <= 0) {
                depth_ = 0;
                std::string text = buffer_.substr(start_, scanned_ + 1 - start_);
                buffer_.erase(0, scanned_ + 1);
                scanned_ = 0;
                start_ = 0;
                return text;
            }
        }
    }
    return std::nullopt;
}

}  // namespace opa::netwatch
