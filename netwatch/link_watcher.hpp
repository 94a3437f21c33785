// The rtnetlink adapter: one NETLINK_ROUTE socket subscribed to RTNLGRP_LINK, a full link dump
// at start (subscribed first, so nothing falls between the dump and the events; the tracker
// dedupes the overlap) and again after the socket overflowed (ENOBUFS). No polling: the daemon
// polls fd() in its own loop, calls process_pending() when it is readable and take_batch() when
// next_timeout() has passed. wait_for_batch() runs that loop alone, for tests and tools.
//
// The socket is read with recvmsg() directly and each message decoded with libnl's attribute
// parser, so no libnl callback (and no exception through one) is involved.
//
// Not thread-safe: one loop (the daemon's, or wait_for_batch) owns a watcher. Daemon loop:
//   poll({watcher.fd(), POLLIN}, watcher.next_timeout(now) or forever);
//   if readable: watcher.process_pending();
//   if (auto batch = watcher.take_batch(now)): log batch->notes, apply batch->events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netwatch/debouncer.hpp"
#include "netwatch/link_tracker.hpp"
#include "netwatch/nl_handles.hpp"

struct nlmsghdr;

namespace opa::netwatch {

struct WatcherOptions {
    std::vector<std::string> include_prefixes;         // config include_prefixes
    std::set<std::string, std::less<>> own_devices;    // bridge name + its internal interfaces
    std::set<std::string, std::less<>> watched_names;  // included regardless of prefix
    std::chrono::milliseconds debounce{500};           // config debounce_ms (quiet period)
    std::chrono::milliseconds max_delay{5000};         // bound on a batch's latency
    // Names meant to be attached (the daemon: guest NIC names). A new link with such a name, or
    // with a watched name, is reported at once instead of after `debounce` (see Debouncer).
    std::function<bool(std::string_view)> prompt_name;
    // SO_RCVBUF(FORCE): room for a burst of events before the kernel reports ENOBUFS.
    int receive_buffer_bytes = 4 * 1024 * 1024;
};

class LinkWatcher {
  public:
    using Clock = Debouncer::Clock;
    using TimePoint = Debouncer::TimePoint;

    // Opens and subscribes the socket and sends the first dump request. Throws NetwatchError.
    explicit LinkWatcher(WatcherOptions options);
    LinkWatcher(const LinkWatcher&) = delete;
    LinkWatcher& operator=(const LinkWatcher&) = delete;

    int fd() const;
    // Reads and handles every message already queued, never blocking.
    void process_pending();
    // Poll timeout for the daemon's loop: nullopt while nothing is pending or a dump is still
    // running (its replies arrive on fd()), zero when a batch is due.
    std::optional<std::chrono::milliseconds> next_timeout(TimePoint now) const;
    // The debounced batch once due (never in the middle of a dump, so a resync is reported
    // whole); nullopt otherwise.
    std::optional<LinkBatch> take_batch(TimePoint now);

    // Standalone loop: poll fd() and the debounce deadline until a batch is due or `timeout`
    // passes (then nullopt).
    std::optional<LinkBatch> wait_for_batch(std::chrono::milliseconds timeout);

    // Treat `name` as included regardless of prefix (a link the agent renamed to a template
    // name), or stop doing so. Already known links are reclassified; the effect shows up in the
    // next batch.
    void watch_name(const std::string& name);
    void unwatch_name(const std::string& name);

    bool dumping() const { return dumping_; }
    std::uint64_t dumps_completed() const { return dumps_completed_; }
    std::vector<LinkSnapshot> included_links() const { return tracker_.included_links(); }

  private:
    void start_dump(bool at_setup);
    void handle_message(const nlmsghdr* header, TimePoint now);
    void add_events(const std::vector<LinkEvent>& events, TimePoint now);
    void request_resync(std::string why, TimePoint now);

    WatcherOptions options_;
    NlSockPtr socket_;
    LinkTracker tracker_;
    Debouncer debouncer_;
    std::vector<char> receive_buffer_;
    bool dumping_ = false;
    bool redump_wanted_ = false;
    std::uint64_t dumps_completed_ = 0;
};

}  // namespace opa::netwatch
