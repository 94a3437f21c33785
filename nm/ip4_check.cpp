#include "nm/ip4_check.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

namespace opa::nm {
namespace {

bool has_address(const Ip4Info& ip, const Ipv4Address& wanted) {
    return std::any_of(ip.addresses.begin(), ip.addresses.end(), [&](const Ipv4Address& a) {
        return a.address == wanted.address && a.prefix == wanted.prefix;
    });
}

bool has_dns(const Ip4Info& ip, const std::string& server) {
    return std::find(ip.dns.begin(), ip.dns.end(), server) != ip.dns.end();
}

template <typename T>
std::optional<T> value_of(const SettingValues& values, const std::string& key) {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    try {
        return it->second.get<T>();
    } catch (const sdbus::Error&) {
        return std::nullopt;  // another type than NM documents: treated as absent
    }
}

}  // namespace

std::string format_ip4(const Ip4Info& ip) {
    std::string text;
    for (const Ipv4Address& a : ip.addresses) {
        text += (text.empty() ? "" : ",") + a.address + "/" + std::to_string(a.prefix);
    }
    if (text.empty()) text = "none";
    if (!ip.gateway.empty()) text += " gw " + ip.gateway;
    for (const std::string& d : ip.dns) text += " dns " + d;
    return text;
}

Ip4Info configured_ip4(const Settings& applied) {
    Ip4Info ip;
    auto section = applied.find("ipv4");
    if (section == applied.end()) return ip;
    const SettingValues& ipv4 = section->second;
    using AddressData = std::vector<std::map<std::string, sdbus::Variant>>;
    if (const auto data = value_of<AddressData>(ipv4, "address-data")) {
        for (const auto& entry : *data) {
            auto address = entry.find("address");
            auto prefix = entry.find("prefix");
            if (address == entry.end() || prefix == entry.end()) continue;
            try {
                ip.addresses.push_back(
                    {address->second.get<std::string>(), prefix->second.get<std::uint32_t>()});
            } catch (const sdbus::Error&) {
                // An entry of other types is not an address NM applied.
            }
        }
    }
    const auto never_default = value_of<bool>(ipv4, "never-default");
    if (const auto gateway = value_of<std::string>(ipv4, "gateway")) {
        if (!never_default.value_or(false)) ip.gateway = *gateway;
    }
    if (const auto dns = value_of<std::vector<std::string>>(ipv4, "dns-data")) {
        ip.dns = *dns;
    } else if (const auto packed = value_of<std::vector<std::uint32_t>>(ipv4, "dns")) {
        for (std::uint32_t raw : *packed) {
            in_addr address{};
            address.s_addr = raw;  // NM sends it in network byte order
            char text[INET_ADDRSTRLEN] = {};
            if (inet_ntop(AF_INET, &address, text, sizeof text)) ip.dns.emplace_back(text);
        }
    }
    return ip;
}

std::vector<std::string> missing_ip4(const Ip4Info& shown, const Ip4Info& wanted) {
    std::vector<std::string> missing;
    for (const Ipv4Address& a : wanted.addresses) {
        if (!has_address(shown, a)) {
            missing.push_back("address " + a.address + "/" + std::to_string(a.prefix));
        }
    }
    if (!wanted.gateway.empty() && shown.gateway != wanted.gateway) {
        missing.push_back("gateway " + wanted.gateway);
    }
    for (const std::string& d : wanted.dns) {
        if (!has_dns(shown, d)) missing.push_back("DNS " + d);
    }
    return missing;
}

bool ip4_settled(const Ip4Info& shown, const Ip4Info& configured) {
    const bool parts_without_address =
        shown.addresses.empty() && (!shown.gateway.empty() || !shown.dns.empty());
    return !parts_without_address && missing_ip4(shown, configured).empty();
}

Ip4Info ip4_to_move(const Ip4Info& shown, const Ip4Info& configured) {
    Ip4Info moved = shown;
    for (const Ipv4Address& a : configured.addresses) {
        if (!has_address(moved, a)) moved.addresses.push_back(a);
    }
    if (moved.gateway.empty()) moved.gateway = configured.gateway;
    for (const std::string& d : configured.dns) {
        if (!has_dns(moved, d)) moved.dns.push_back(d);
    }
    return moved;
}

std::vector<std::string> move_gaps(const std::string& bridge, const Ip4Info& bridge_shown,
                                   const Ip4Info& moved, const std::string& nic,
                                   const Ip4Info& nic_shown) {
    std::vector<std::string> gaps;
    for (std::string& part : missing_ip4(bridge_shown, moved)) gaps.push_back(bridge + ": " + part);
    for (const Ipv4Address& a : moved.addresses) {
        if (!nic.empty() && has_address(nic_shown, a)) {
            gaps.push_back(nic + " still holds " + a.address + "/" + std::to_string(a.prefix));
        }
    }
    return gaps;
}

bool routes_lost(const Ip4Info& bridge_shown, const Ip4Info& moved) {
    if (moved.gateway.empty() || bridge_shown.gateway == moved.gateway) return false;
    return std::all_of(moved.addresses.begin(), moved.addresses.end(),
                       [&](const Ipv4Address& a) { return has_address(bridge_shown, a); });
}

void wait_without_gaps(const std::function<std::vector<std::string>()>& gaps,
                       const WaitFor& wait_for, const std::string& what) {
    std::vector<std::string> open;
    try {
        wait_for(
            [&] {
                open = gaps();
                return open.empty();
            },
            what);
    } catch (const NmError& error) {
        if (open.empty()) throw;  // the wait failed for another reason than a gap
        std::string list;
        for (const std::string& gap : open) list += (list.empty() ? "" : ", ") + gap;
        throw NmError(std::string(error.what()) + "; missing: " + list);
    }
}

}  // namespace opa::nm
