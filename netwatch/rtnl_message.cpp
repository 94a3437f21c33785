#include "netwatch/rtnl_message.hpp"

#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace opa::netwatch {

namespace {

std::string message_label(const nlmsghdr* header) {
    return "netlink message type " + std::to_string(header->nlmsg_type) + " (seq " +
           std::to_string(header->nlmsg_seq) + ")";
}

// A string attribute the kernel NUL-terminates; anything else is malformed.
bool read_string(const nlattr* attribute, std::size_t max_length, std::string& out) {
    const int length = nla_len(attribute);
    if (length <= 0) return false;
    const auto* data = static_cast<const char*>(nla_data(attribute));
    const std::size_t text_length = ::strnlen(data, static_cast<std::size_t>(length));
    if (text_length == static_cast<std::size_t>(length) || text_length == 0 ||
        text_length > max_length) {
        return false;
    }
    out.assign(data, text_length);
    return true;
}

// IFLA_LINKINFO: the kind, and for "tun" the mode when the kernel reports it (>= 4.15).
bool read_link_info(nlattr* link_info, LinkSnapshot& link, std::string& problem) {
    std::array<nlattr*, IFLA_INFO_MAX + 1> info{};
    if (nla_parse_nested(info.data(), IFLA_INFO_MAX, link_info, nullptr) < 0) {
        problem = "malformed IFLA_LINKINFO";
        return false;
    }
    if (info[IFLA_INFO_KIND] == nullptr) return true;  // no kind: Other
    if (!read_string(info[IFLA_INFO_KIND], 64, link.kind_name)) {
        problem = "malformed IFLA_INFO_KIND";
        return false;
    }
    if (link.kind_name == "veth") {
        link.kind = LinkKind::Veth;
    } else if (link.kind_name == "tun") {
        link.kind = LinkKind::Tap;  // tap-capable unless the kernel says tun mode
        if (info[IFLA_INFO_DATA] != nullptr) {
            std::array<nlattr*, IFLA_TUN_MAX + 1> tun{};
            if (nla_parse_nested(tun.data(), IFLA_TUN_MAX, info[IFLA_INFO_DATA], nullptr) < 0) {
                problem = "malformed tun IFLA_INFO_DATA";
                return false;
            }
            if (tun[IFLA_TUN_TYPE] != nullptr) {
                if (nla_len(tun[IFLA_TUN_TYPE]) < 1) {
                    problem = "malformed IFLA_TUN_TYPE";
                    return false;
                }
                if (nla_get_u8(tun[IFLA_TUN_TYPE]) == IFF_TUN) link.kind = LinkKind::Tun;
            }
        }
    }
    return true;
}

RtnlMessage decode_link(const nlmsghdr* header) {
    auto* mutable_header = const_cast<nlmsghdr*>(header);  // libnl's parser only reads
    if (header->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
        return Skipped{message_label(header) + " too short for a link message, ignoring"};
    }
    const auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(header));
    // With RTNLGRP_LINK the kernel also sends AF_BRIDGE messages about Linux bridge ports
    // (an RTM_DELLINK there means "left the bridge", not "deleted"): not about links as such.
    if (info->ifi_family != AF_UNSPEC) return Skipped{};

    LinkMessage message;
    message.deleted = header->nlmsg_type == RTM_DELLINK;
    message.from_dump = (header->nlmsg_flags & NLM_F_MULTI) != 0;
    message.dump_interrupted = (header->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
    message.link.ifindex = info->ifi_index;
    message.link.flags = info->ifi_flags;

    std::array<nlattr*, IFLA_MAX + 1> attributes{};
    if (nlmsg_parse(mutable_header, sizeof(ifinfomsg), attributes.data(), IFLA_MAX, nullptr) < 0) {
        return Skipped{message_label(header) + " for ifindex " + std::to_string(info->ifi_index) +
                       ": malformed attributes, ignoring"};
    }
    const auto malformed = [&](const std::string& what) {
        return Skipped{message_label(header) + " for ifindex " + std::to_string(info->ifi_index) +
                       ": " + what + ", ignoring"};
    };
    if (info->ifi_index <= 0) return malformed("no interface index");
    if (attributes[IFLA_IFNAME] == nullptr) return malformed("no IFLA_IFNAME");
    if (!read_string(attributes[IFLA_IFNAME], IFNAMSIZ - 1, message.link.name)) {
        return malformed("malformed IFLA_IFNAME");
    }
    if (attributes[IFLA_OPERSTATE] != nullptr) {
        if (nla_len(attributes[IFLA_OPERSTATE]) < 1) return malformed("malformed IFLA_OPERSTATE");
        message.link.operstate = nla_get_u8(attributes[IFLA_OPERSTATE]);
    }
    if (attributes[IFLA_MASTER] != nullptr) {
        if (nla_len(attributes[IFLA_MASTER]) < 4) return malformed("malformed IFLA_MASTER");
        message.link.controller_ifindex = static_cast<int>(nla_get_u32(attributes[IFLA_MASTER]));
    }
    if (attributes[IFLA_LINKINFO] != nullptr) {
        std::string problem;
        if (!read_link_info(attributes[IFLA_LINKINFO], message.link, problem)) {
            return malformed(problem);
        }
    }
    return message;
}

}  // namespace

RtnlMessage decode_rtnl_message(const nlmsghdr* header) {
    switch (header->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
            return decode_link(header);
        case NLMSG_DONE:
            return DumpDone{(header->nlmsg_flags & NLM_F_DUMP_INTR) != 0};
        case NLMSG_NOOP:
            return Skipped{};
        case NLMSG_ERROR: {
            if (header->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
                return Skipped{message_label(header) + ": truncated error message, ignoring"};
            }
            const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
            if (error->error == 0) return Skipped{};  // an ack
            return RequestFailed{-error->error};
        }
        default:
            break;
    }
    return Skipped{"unexpected " + message_label(header) + ", ignoring"};
}

}  // namespace opa::netwatch
