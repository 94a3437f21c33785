#include "netwatch/link_watcher.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "netwatch/error.hpp"
#include "netwatch/rtnl_message.hpp"

namespace opa::netwatch {

namespace {

// Large enough for any rtnetlink datagram the kernel sends (dump replies are at most 32 KiB
// unless a reply needs more, which MSG_TRUNC would tell us).
constexpr std::size_t kReceiveBufferSize = 64 * 1024;

[[noreturn]] void fail(const std::string& what, int nl_error) {
    const int error = errno_from_libnl(nl_error);
    throw NetwatchError("netwatch: " + what + ": " + errno_text(error), error);
}

ClassifyRules rules_from(const WatcherOptions& options) {
    return ClassifyRules{options.include_prefixes, options.own_devices, options.watched_names};
}

}  // namespace

LinkWatcher::LinkWatcher(WatcherOptions options)
    : options_(std::move(options)),
      socket_(make_nl_socket()),
      tracker_(rules_from(options_)),
      debouncer_(options_.debounce, options_.max_delay),
      receive_buffer_(kReceiveBufferSize) {
    if (!socket_) fail("allocating a netlink socket", NLE_NOMEM);
    // Replies and multicast events share this socket; the watcher matches replies itself.
    nl_socket_disable_seq_check(socket_.get());
    nl_socket_disable_auto_ack(socket_.get());
    if (int rc = nl_connect(socket_.get(), NETLINK_ROUTE); rc < 0) {
        fail("connecting to rtnetlink", rc);
    }
    // Subscribe before the dump: an event that races the dump is seen at least once.
    if (int rc = nl_socket_add_membership(socket_.get(), RTNLGRP_LINK); rc < 0) {
        fail("subscribing to RTNLGRP_LINK", rc);
    }
    // SO_RCVBUFFORCE goes past net.core.rmem_max when we may (root, CAP_NET_ADMIN).
    const int size = options_.receive_buffer_bytes;
    if (::setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
        if (int rc = nl_socket_set_buffer_size(socket_.get(), size, 0); rc < 0) {
            fail("setting the receive buffer size", rc);
        }
    }
    if (int rc = nl_socket_set_nonblocking(socket_.get()); rc < 0) {
        fail("making the netlink socket non-blocking", rc);
    }
    start_dump(true);
}

int LinkWatcher::fd() const { return nl_socket_get_fd(socket_.get()); }

void LinkWatcher::start_dump(bool at_setup) {
    ifinfomsg request{};
    request.ifi_family = AF_UNSPEC;
    const int rc =
        nl_send_simple(socket_.get(), RTM_GETLINK, NLM_F_DUMP, &request, sizeof(request));
    if (rc < 0) {
        if (at_setup) fail("requesting the link dump", rc);
        // Try again at the next occasion (the next overflow or finished dump).
        debouncer_.add_note(
            "requesting a link dump failed: " + errno_text(errno_from_libnl(rc)) + ", ignoring",
            Clock::now());
        return;
    }
    tracker_.begin_resync();
    dumping_ = true;
    redump_wanted_ = false;
}

void LinkWatcher::request_resync(std::string why, TimePoint now) {
    debouncer_.add_note(std::move(why), now);
    redump_wanted_ = true;
}

void LinkWatcher::add_events(const std::vector<LinkEvent>& events, TimePoint now) {
    for (const LinkEvent& event : events) {
        const std::string& name = event.link.name;
        const bool prompt = tracker_.rules().watched_names.count(name) > 0 ||
                            (options_.prompt_name && options_.prompt_name(name));
        debouncer_.add(event, now, prompt);
    }
}

void LinkWatcher::process_pending() {
    for (;;) {
        sockaddr_nl sender{};
        iovec io{receive_buffer_.data(), receive_buffer_.size()};
        msghdr message{};
        message.msg_name = &sender;
        message.msg_namelen = sizeof(sender);
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        const ssize_t received = ::recvmsg(fd(), &message, MSG_DONTWAIT);
        const TimePoint now = Clock::now();
        if (received < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            if (error == EAGAIN || error == EWOULDBLOCK) break;
            if (error == ENOBUFS) {
                request_resync(
                    "rtnetlink socket overflowed (ENOBUFS), link events were lost: "
                    "resyncing with a full dump",
                    now);
                continue;
            }
            debouncer_.add_note(
                "reading the rtnetlink socket failed: " + errno_text(error) + ", ignoring", now);
            break;
        }
        if (received == 0) break;
        if ((message.msg_flags & MSG_TRUNC) != 0) {
            request_resync(
                "truncated rtnetlink datagram, messages were lost: resyncing with a "
                "full dump",
                now);
            continue;
        }
        if (sender.nl_pid != 0) {
            debouncer_.add_note("rtnetlink message from port " + std::to_string(sender.nl_pid) +
                                    ", not the kernel, ignoring",
                                now);
            continue;
        }
        auto left = static_cast<unsigned int>(received);
        auto* header = reinterpret_cast<nlmsghdr*>(receive_buffer_.data());
        for (; NLMSG_OK(header, left); header = NLMSG_NEXT(header, left)) {
            handle_message(header, now);
        }
        if (left > 0) {
            debouncer_.add_note(
                std::to_string(left) + " trailing bytes in an rtnetlink datagram, ignoring", now);
        }
    }
    // A dump must finish before the next starts (the kernel answers EBUSY).
    if (redump_wanted_ && !dumping_) start_dump(false);
}

void LinkWatcher::handle_message(const nlmsghdr* header, TimePoint now) {
    RtnlMessage decoded = decode_rtnl_message(header);
    if (auto* link = std::get_if<LinkMessage>(&decoded)) {
        add_events(tracker_.apply(*link), now);
        if (link->dump_interrupted && dumping_) redump_wanted_ = true;
    } else if (auto* done = std::get_if<DumpDone>(&decoded)) {
        if (!dumping_) return;
        dumping_ = false;
        ++dumps_completed_;
        add_events(tracker_.end_resync(), now);
        if (done->interrupted) {
            request_resync("link dump was interrupted by concurrent changes: dumping again", now);
        }
    } else if (auto* failed = std::get_if<RequestFailed>(&decoded)) {
        if (dumping_) {
            dumping_ = false;
            tracker_.cancel_resync();
            debouncer_.add_note("link dump failed: " + errno_text(failed->error) + ", ignoring",
                                now);
        } else {
            debouncer_.add_note(
                "unexpected rtnetlink error " + errno_text(failed->error) + ", ignoring", now);
        }
    } else if (auto* skipped = std::get_if<Skipped>(&decoded)) {
        if (!skipped->note.empty()) debouncer_.add_note(std::move(skipped->note), now);
    }
}

std::optional<std::chrono::milliseconds> LinkWatcher::next_timeout(TimePoint now) const {
    if (dumping_) return std::nullopt;
    return debouncer_.next_timeout(now);
}

std::optional<LinkBatch> LinkWatcher::take_batch(TimePoint now) {
    if (dumping_) return std::nullopt;
    return debouncer_.take_batch(now);
}

std::optional<LinkBatch> LinkWatcher::wait_for_batch(std::chrono::milliseconds timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    for (;;) {
        const TimePoint now = Clock::now();
        if (auto batch = take_batch(now)) return batch;
        if (now >= deadline) return std::nullopt;
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
        if (auto due = next_timeout(now)) wait = std::min(wait, *due);
        pollfd watched{fd(), POLLIN, 0};
        const int ready = ::poll(&watched, 1, static_cast<int>(wait.count()));
        if (ready < 0 && errno != EINTR) {
            const int error = errno;
            throw NetwatchError("netwatch: poll on the rtnetlink socket: " + errno_text(error),
                                error);
        }
        if (ready > 0) process_pending();
    }
}

void LinkWatcher::watch_name(const std::string& name) {
    add_events(tracker_.watch_name(name), Clock::now());
}

void LinkWatcher::unwatch_name(const std::string& name) {
    add_events(tracker_.unwatch_name(name), Clock::now());
}

}  // namespace opa::netwatch
