// Decoding one rtnetlink message into what the watcher acts on. Pure apart from libnl's
// attribute parser (no socket), so unit tests feed it hand-built and malformed messages.
#pragma once

#include <linux/netlink.h>

#include <string>
#include <variant>

#include "netwatch/link.hpp"

namespace opa::netwatch {

// RTM_NEWLINK / RTM_DELLINK for a link (family AF_UNSPEC).
struct LinkMessage {
    bool deleted = false;
    bool from_dump = false;         // NLM_F_MULTI: part of a dump reply
    bool dump_interrupted = false;  // NLM_F_DUMP_INTR: the dump may be inconsistent, redo it
    LinkSnapshot link;
};

// NLMSG_DONE: the end of a dump.
struct DumpDone {
    bool interrupted = false;
};

// NLMSG_ERROR carrying a non-zero error (a failed request of ours); error is a positive errno.
struct RequestFailed {
    int error = 0;
};

// Nothing to act on. `note` is empty for messages that are expected and irrelevant (AF_BRIDGE
// port messages, NOOP, acks), and says "..., ignoring" for malformed or unexpected ones.
struct Skipped {
    std::string note;
};

using RtnlMessage = std::variant<LinkMessage, DumpDone, RequestFailed, Skipped>;

// `header` must point at header->nlmsg_len readable bytes (the receive loop checks that with
// NLMSG_OK before calling).
RtnlMessage decode_rtnl_message(const nlmsghdr* header);

}  // namespace opa::netwatch
