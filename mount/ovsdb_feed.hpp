// Feeds what OVSDB shows on the bridge to the core (Core::bridge_observed), from the read-only
// OVSDB monitor, inside the daemon's poll loop: updates are coalesced for a moment (Proxmox's
// hook is two commands, del-port then add-port), a lost connection (ovsdb-server restarted) is
// retried every second, and the core's re-check of a missing row is timed here.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "agent/core.hpp"
#include "netwatch/ovsdb_monitor.hpp"

namespace opa::mount {

class OvsdbFeed {
  public:
    using Clock = std::chrono::steady_clock;

    OvsdbFeed(std::filesystem::path socket, std::string bridge, agent::Core& core,
              agent::Journal& journal);

    int fd() const { return monitor_.fd(); }  // -1 while disconnected (poll skips it)
    // Milliseconds until on_timer() has something to do; nullopt: nothing timed.
    std::optional<std::chrono::milliseconds> next_timeout(Clock::time_point now) const;
    void on_readable(Clock::time_point now);
    void on_timer(Clock::time_point now);

    static constexpr std::chrono::milliseconds kSettle{20};
    static constexpr std::chrono::milliseconds kReconnect{1000};

  private:
    void try_connect(Clock::time_point now);
    void lost(Clock::time_point now);
    // Logs each Port row left out for its name once (the tables say which).
    void log_rejected();

    netwatch::OvsdbMonitor monitor_;
    std::string bridge_;
    agent::Core& core_;
    agent::Journal& journal_;
    std::optional<Clock::time_point> deliver_at_;
    std::optional<Clock::time_point> reconnect_at_;
    bool ever_connected_ = false;
    bool failure_logged_ = false;
    std::map<std::string, netwatch::OvsdbTables::RejectedRow> logged_rejected_;
};

}  // namespace opa::mount
