#include "mount/ovsdb_feed.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace opa::mount {

OvsdbFeed::OvsdbFeed(std::filesystem::path socket, std::string bridge, agent::Core& core,
                     agent::Journal& journal)
    : monitor_(std::move(socket)), bridge_(std::move(bridge)), core_(core), journal_(journal) {
    try_connect(Clock::now());
}

void OvsdbFeed::try_connect(Clock::time_point now) {
    reconnect_at_.reset();
    if (monitor_.connect()) {
        spdlog::info("watching OVSDB at {} (read-only)", monitor_.socket().string());
        if (ever_connected_) journal_.record("ovsdb_reconnected", {{"bridge", bridge_}});
        ever_connected_ = true;
        failure_logged_ = false;
        return;
    }
    if (!failure_logged_) {
        // Without OVSDB the agent still works through NM; it cannot tell others' ports apart.
        spdlog::warn("{}; retrying every {} s", monitor_.last_error(), kReconnect.count() / 1000);
        failure_logged_ = true;
    }
    reconnect_at_ = now + kReconnect;
}

void OvsdbFeed::lost(Clock::time_point now) {
    spdlog::warn("OVSDB monitor: {}", monitor_.last_error());
    journal_.record("ovsdb_disconnected", {{"bridge", bridge_}, {"error", monitor_.last_error()}});
    failure_logged_ = true;
    deliver_at_.reset();
    reconnect_at_ = now + kReconnect;
}

void OvsdbFeed::on_readable(Clock::time_point now) {
    const bool changed = monitor_.process_pending();
    if (!monitor_.connected()) {
        lost(now);
        return;
    }
    if (changed) log_rejected();
    if (changed && monitor_.synced() && !deliver_at_) deliver_at_ = now + kSettle;
}

void OvsdbFeed::log_rejected() {
    const auto& rejected = monitor_.tables().rejected();
    for (const auto& [uuid, row] : rejected) {
        auto it = logged_rejected_.find(uuid);
        if (it != logged_rejected_.end() && it->second == row) continue;
        const std::string name =
            nlohmann::json(row.name).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
        spdlog::warn("OVSDB Port row {} is named {}, which {}; ignoring", uuid, name, row.reason);
    }
    logged_rejected_ = rejected;
}

std::optional<std::chrono::milliseconds> OvsdbFeed::next_timeout(Clock::time_point now) const {
    std::optional<Clock::time_point> due;
    for (const auto& at : {deliver_at_, reconnect_at_}) {
        if (at && (!due || *at < *due)) due = at;
    }
    if (!due) return std::nullopt;
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::ceil<std::chrono::milliseconds>(*due - now));
}

void OvsdbFeed::on_timer(Clock::time_point now) {
    if (reconnect_at_ && now >= *reconnect_at_) try_connect(now);
    if (!deliver_at_ || now < *deliver_at_) return;
    deliver_at_.reset();
    if (!monitor_.synced()) return;
    std::vector<agent::BridgePort> ports;
    for (const netwatch::OvsdbPort& row : monitor_.tables().ports_on(bridge_)) {
        vlan::Trunks trunks;  // OVSDB's 0 and 4095 are no trunk VLANs: left out
        for (std::uint16_t id : row.trunks) trunks.add(id);
        ports.push_back({row.name, row.owner == netwatch::PortOwner::Agent,
                         std::string(netwatch::to_string(row.owner)), row.tag, trunks,
                         row.nm_connection_uuid, row.interface_connection_uuid});
    }
    if (core_.bridge_observed(ports)) deliver_at_ = now + core_.row_grace();
}

}  // namespace opa::mount
