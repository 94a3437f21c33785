// Writes the interfaces block on a thread of its own, so that Proxmox's lock held by someone else
// (any user could take it while the file was 0644) or a slow disk never stalls the daemon's loop,
// which handles link events and feeds systemd's watchdog. The latest ports win; while the lock
// is held the write is tried again and again, and a write that failed is tried again later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "agent/core.hpp"
#include "config/config.hpp"
#include "mount/block_sync.hpp"

namespace opa::mount {

class BlockWriter {
  public:
    struct Timing {
        std::chrono::milliseconds lock_wait{1000};  // one try for the lock, then look for news
        std::chrono::milliseconds retry{5000};      // after a failed write (a full disk)
    };

    BlockWriter(const config::Config& config, agent::Journal& journal, Timing timing);
    BlockWriter(const config::Config& config, agent::Journal& journal)
        : BlockWriter(config, journal, Timing{}) {}
    // Writes what was submitted last and not yet written (one try for the lock), then stops.
    ~BlockWriter();
    BlockWriter(const BlockWriter&) = delete;
    BlockWriter& operator=(const BlockWriter&) = delete;

    // The block should list `ports`. Returns at once.
    void submit(std::vector<agent::Port> ports);

    // The interfaces file's directory watch, for the loop's thread only (see BlockSync).
    int watch_fd() const { return sync_.watch_fd(); }
    bool drain_watch() { return sync_.drain_watch(); }

    // Blocks written so far, and whether the last try found the lock held.
    std::uint64_t writes() const;
    bool waiting_for_lock() const;

  private:
    void run(std::stop_token stop);
    // One write of `ports`; when the next try is due (nullopt: when news comes).
    std::optional<std::chrono::steady_clock::time_point> write(
        const std::vector<agent::Port>& ports);

    BlockSync sync_;  // used by the writer thread only, but for the watch
    agent::Journal& journal_;
    std::string lock_path_;
    Timing timing_;
    mutable std::mutex mutex_;
    std::condition_variable_any news_;
    std::optional<std::vector<agent::Port>> wanted_;
    std::uint64_t writes_ = 0;
    std::optional<std::chrono::steady_clock::time_point> busy_since_;
    std::jthread thread_;  // last: stops and joins before the members above go
};

}  // namespace opa::mount
