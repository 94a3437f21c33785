// Turns the link watcher's batches into requests to the core, on the event loop, without ever
// waiting there: a guest NIC's decision waits for its Proxmox config, read off the loop
// (GuestConfigReader; pmxcfs can stall), and an enable_rename move, which waits for NM to remove
// the old port, runs on a worker of its own. Other links go to the core at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/core.hpp"
#include "agent/guest_config_reader.hpp"
#include "config/config.hpp"
#include "mount/serial_worker.hpp"
#include "netwatch/link_watcher.hpp"

namespace opa::mount {

class LinkHandler {
  public:
    using Clock = std::chrono::steady_clock;
    // A guest config not read after this long is reported (log and ledger), once per link; the
    // decision still waits for it.
    static constexpr std::chrono::milliseconds kSlowRead{2000};

    // `watcher` is the loop's (replaced on reload), used under `watcher_mutex`; `wake` asks the
    // loop to call configs_read() (from a reader thread).
    LinkHandler(agent::Core& core, agent::Journal& journal,
                std::unique_ptr<netwatch::LinkWatcher>& watcher,
                std::recursive_mutex& watcher_mutex, proxmox::GuestConfigReader& reader,
                std::function<void()> wake);
    // Reads answered after this are dropped.
    ~LinkHandler();
    LinkHandler(const LinkHandler&) = delete;
    LinkHandler& operator=(const LinkHandler&) = delete;

    // The loop's thread only, like the rest but the worker's jobs.
    void handle(const netwatch::LinkBatch& batch, const config::Config& config);
    // Continues the decisions whose guest config has been read.
    void configs_read(const config::Config& config);
    // When on_timer wants to run next: the earliest unreported slow read.
    std::optional<Clock::time_point> next_timeout() const;
    void on_timer(Clock::time_point now, const config::Config& config);
    // Guest links whose decision waits for their config (tests, status).
    std::size_t decisions_waiting() const { return waiting_.size(); }
    // Waits for the rename worker (tests, shutdown).
    bool wait_idle(std::chrono::milliseconds timeout) { return renames_.wait_idle(timeout); }

  private:
    struct Waiting {
        agent::LinkKind kind;
        std::uint64_t token;
        Clock::time_point since;
        bool reported = false;
    };
    struct Read {
        std::string name;
        std::uint64_t token;
        std::optional<proxmox::GuestConfig> config;
    };

    // A link (re)appeared; `read` is its guest's config once read (nullptr: not read yet).
    void appeared(const std::string& name, agent::LinkKind kind, const config::Config& config,
                  const std::optional<proxmox::GuestConfig>* read);
    // The link is the agent's to attach: renamed first when enable_rename says so.
    void attach(const std::string& name, agent::LinkKind kind, const config::Config& config,
                std::optional<agent::PortOptions> options);
    // On the worker: moves the port with the rename, or attaches the link as it is.
    void rename_and_move(const std::string& name, const std::string& target, agent::LinkKind kind,
                         std::optional<agent::PortOptions> options);
    bool renamed_by_agent(const std::string& name);

    agent::Core& core_;
    agent::Journal& journal_;
    std::unique_ptr<netwatch::LinkWatcher>& watcher_;
    std::recursive_mutex& watcher_mutex_;
    proxmox::GuestConfigReader& reader_;
    // Answered reads, for configs_read(); shared with the reader's callbacks, which may come
    // after this handler is gone (the reader outlives it).
    struct Inbox {
        std::mutex mutex;
        bool closed = false;
        std::vector<Read> reads;
        std::function<void()> wake;
    };
    std::shared_ptr<Inbox> inbox_;

    std::map<std::string, Waiting> waiting_;  // the loop's thread
    std::uint64_t next_token_ = 1;
    std::mutex renamed_mutex_;
    std::set<std::string> agent_renamed_;  // names enable_rename gave: never renamed again
    SerialWorker renames_;                 // last: its jobs use the members above
};

}  // namespace opa::mount
