#include "dbus/port_dict.hpp"

#include <chrono>

namespace opa::dbus {
namespace {

std::int64_t unix_seconds(std::chrono::system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

template <typename T>
void read(const PortDict& dict, const char* key, T& out) {
    if (auto it = dict.find(key); it != dict.end()) out = it->second.get<T>();
}

template <typename T>
void read(const PortDict& dict, const char* key, std::optional<T>& out) {
    if (auto it = dict.find(key); it != dict.end()) out = it->second.get<T>();
}

}  // namespace

PortDict port_to_dict(const agent::Port& port) {
    PortDict dict;
    dict["name"] = sdbus::Variant(port.name);
    dict["state"] = sdbus::Variant(std::string(agent::to_string(port.state)));
    dict["kind"] = sdbus::Variant(std::string(agent::to_string(port.kind)));
    dict["origin"] = sdbus::Variant(std::string(agent::to_string(port.origin)));
    dict["link_present"] = sdbus::Variant(port.link_present);
    dict["port_uuid"] = sdbus::Variant(port.port_uuid);
    dict["member_uuid"] = sdbus::Variant(port.member_uuid);
    dict["last_error"] = sdbus::Variant(port.last_error);
    dict["since"] = sdbus::Variant(unix_seconds(port.since));
    dict["created"] = sdbus::Variant(unix_seconds(port.created));
    dict["changed"] = sdbus::Variant(unix_seconds(port.changed));
    dict["generation"] = sdbus::Variant(port.generation);
    if (port.options.vmid) dict["vmid"] = sdbus::Variant(*port.options.vmid);
    if (port.options.tag) dict["tag"] = sdbus::Variant(*port.options.tag);
    return dict;
}

PortInfo port_from_dict(const PortDict& dict) {
    PortInfo info;
    read(dict, "name", info.name);
    read(dict, "state", info.state);
    read(dict, "kind", info.kind);
    read(dict, "origin", info.origin);
    read(dict, "link_present", info.link_present);
    read(dict, "port_uuid", info.port_uuid);
    read(dict, "member_uuid", info.member_uuid);
    read(dict, "last_error", info.last_error);
    read(dict, "since", info.since);
    read(dict, "created", info.created);
    read(dict, "changed", info.changed);
    read(dict, "generation", info.generation);
    read(dict, "vmid", info.vmid);
    read(dict, "tag", info.tag);
    return info;
}

}  // namespace opa::dbus
