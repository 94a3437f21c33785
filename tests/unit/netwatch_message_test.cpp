// Decoding rtnetlink messages: real-looking ones, and malformed ones that must be skipped with a
// note rather than crash or be believed.
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include <cstring>

#include <gtest/gtest.h>

#include "netwatch/nl_handles.hpp"
#include "netwatch/rtnl_message.hpp"

namespace opa::netwatch {
namespace {

struct MessageSpec {
    int type = RTM_NEWLINK;
    int flags = 0;
    unsigned char family = AF_UNSPEC;
    int ifindex = 7;
    std::uint32_t ifi_flags = IFF_UP;
    const char* name = "veth100i0";
    const char* kind = "veth";
    int tun_type = -1;  // IFF_TUN / IFF_TAP, -1 for no IFLA_INFO_DATA
    int master = 0;
};

NlMsgPtr build(const MessageSpec& spec) {
    NlMsgPtr message(nlmsg_alloc_simple(spec.type, spec.flags), &nlmsg_free);
    ifinfomsg info{};
    info.ifi_family = spec.family;
    info.ifi_index = spec.ifindex;
    info.ifi_flags = spec.ifi_flags;
    EXPECT_EQ(nlmsg_append(message.get(), &info, sizeof(info), NLMSG_ALIGNTO), 0);
    if (spec.name) nla_put_string(message.get(), IFLA_IFNAME, spec.name);
    nla_put_u8(message.get(), IFLA_OPERSTATE, 6);
    if (spec.master) nla_put_u32(message.get(), IFLA_MASTER, spec.master);
    if (spec.kind) {
        nlattr* link_info = nla_nest_start(message.get(), IFLA_LINKINFO);
        nla_put_string(message.get(), IFLA_INFO_KIND, spec.kind);
        if (spec.tun_type >= 0) {
            nlattr* data = nla_nest_start(message.get(), IFLA_INFO_DATA);
            nla_put_u8(message.get(), IFLA_TUN_TYPE, static_cast<std::uint8_t>(spec.tun_type));
            nla_nest_end(message.get(), data);
        }
        nla_nest_end(message.get(), link_info);
    }
    return message;
}

RtnlMessage decode(const NlMsgPtr& message) {
    return decode_rtnl_message(nlmsg_hdr(message.get()));
}

std::string note_of(const RtnlMessage& decoded) {
    const auto* skipped = std::get_if<Skipped>(&decoded);
    return skipped ? skipped->note : "<not skipped>";
}

TEST(NetwatchMessage, DecodesANewVeth) {
    MessageSpec spec;
    spec.master = 3;
    RtnlMessage decoded = decode(build(spec));
    const auto* link = std::get_if<LinkMessage>(&decoded);
    ASSERT_NE(link, nullptr) << note_of(decoded);
    EXPECT_FALSE(link->deleted);
    EXPECT_FALSE(link->from_dump);
    EXPECT_EQ(link->link.ifindex, 7);
    EXPECT_EQ(link->link.name, "veth100i0");
    EXPECT_EQ(link->link.kind, LinkKind::Veth);
    EXPECT_EQ(link->link.kind_name, "veth");
    EXPECT_EQ(link->link.flags, static_cast<std::uint32_t>(IFF_UP));
    EXPECT_EQ(link->link.operstate, 6);
    EXPECT_EQ(link->link.controller_ifindex, 3);
}

TEST(NetwatchMessage, DumpReplyAndDeletion) {
    MessageSpec spec;
    spec.flags = NLM_F_MULTI | NLM_F_DUMP_INTR;
    RtnlMessage dumped = decode(build(spec));
    ASSERT_TRUE(std::holds_alternative<LinkMessage>(dumped));
    EXPECT_TRUE(std::get<LinkMessage>(dumped).from_dump);
    EXPECT_TRUE(std::get<LinkMessage>(dumped).dump_interrupted);
    spec = MessageSpec{};
    spec.type = RTM_DELLINK;
    RtnlMessage deleted = decode(build(spec));
    ASSERT_TRUE(std::holds_alternative<LinkMessage>(deleted));
    EXPECT_TRUE(std::get<LinkMessage>(deleted).deleted);
}

TEST(NetwatchMessage, TunKindsByMode) {
    MessageSpec spec;
    spec.kind = "tun";
    spec.name = "tap100i0";
    EXPECT_EQ(std::get<LinkMessage>(decode(build(spec))).link.kind, LinkKind::Tap)
        << "no mode reported: tap-capable";
    spec.tun_type = IFF_TAP;
    EXPECT_EQ(std::get<LinkMessage>(decode(build(spec))).link.kind, LinkKind::Tap);
    spec.tun_type = IFF_TUN;
    EXPECT_EQ(std::get<LinkMessage>(decode(build(spec))).link.kind, LinkKind::Tun);
}

TEST(NetwatchMessage, OtherAndMissingKinds) {
    MessageSpec spec;
    spec.kind = "dummy";
    EXPECT_EQ(std::get<LinkMessage>(decode(build(spec))).link.kind, LinkKind::Other);
    spec.kind = nullptr;  // physical NICs and lo carry no IFLA_LINKINFO
    const auto link = std::get<LinkMessage>(decode(build(spec))).link;
    EXPECT_EQ(link.kind, LinkKind::Other);
    EXPECT_EQ(link.kind_name, "");
}

TEST(NetwatchMessage, BridgeFamilyMessagesAreSkippedSilently) {
    MessageSpec spec;
    spec.type = RTM_DELLINK;
    spec.family = AF_BRIDGE;
    RtnlMessage decoded = decode(build(spec));
    ASSERT_TRUE(std::holds_alternative<Skipped>(decoded));
    EXPECT_EQ(note_of(decoded), "");
}

TEST(NetwatchMessage, MissingNameIsSkippedWithANote) {
    MessageSpec spec;
    spec.name = nullptr;
    EXPECT_NE(note_of(decode(build(spec))).find("no IFLA_IFNAME, ignoring"), std::string::npos);
}

TEST(NetwatchMessage, OverlongNameIsSkippedWithANote) {
    MessageSpec spec;
    spec.name = "a-name-much-longer-than-ifnamsiz";
    EXPECT_NE(note_of(decode(build(spec))).find("malformed IFLA_IFNAME, ignoring"),
              std::string::npos);
}

TEST(NetwatchMessage, UnterminatedNameIsSkippedWithANote) {
    NlMsgPtr message(nlmsg_alloc_simple(RTM_NEWLINK, 0), &nlmsg_free);
    ifinfomsg info{};
    info.ifi_index = 7;
    nlmsg_append(message.get(), &info, sizeof(info), NLMSG_ALIGNTO);
    nla_put(message.get(), IFLA_IFNAME, 4, "veth");  // no NUL
    EXPECT_NE(note_of(decode(message)).find("malformed IFLA_IFNAME"), std::string::npos);
}

TEST(NetwatchMessage, ZeroIfindexIsSkippedWithANote) {
    MessageSpec spec;
    spec.ifindex = 0;
    EXPECT_NE(note_of(decode(build(spec))).find("no interface index, ignoring"), std::string::npos);
}

TEST(NetwatchMessage, TruncatedHeaderIsSkippedWithANote) {
    NlMsgPtr message(nlmsg_alloc_simple(RTM_NEWLINK, 0), &nlmsg_free);
    char half[4] = {};
    nlmsg_append(message.get(), half, sizeof(half), NLMSG_ALIGNTO);
    EXPECT_NE(note_of(decode(message)).find("too short for a link message, ignoring"),
              std::string::npos);
}

TEST(NetwatchMessage, AttributeOverrunningTheMessageIsNotBelieved) {
    MessageSpec spec;
    NlMsgPtr message = build(spec);
    // Claim the first attribute (IFLA_IFNAME) is far longer than the message.
    auto* first = static_cast<nlattr*>(nlmsg_attrdata(nlmsg_hdr(message.get()), sizeof(ifinfomsg)));
    first->nla_len = 4000;
    RtnlMessage decoded = decode(message);
    EXPECT_TRUE(std::holds_alternative<Skipped>(decoded));
    EXPECT_NE(note_of(decoded).find("ignoring"), std::string::npos);
}

TEST(NetwatchMessage, MalformedLinkInfoIsSkippedWithANote) {
    NlMsgPtr message(nlmsg_alloc_simple(RTM_NEWLINK, 0), &nlmsg_free);
    ifinfomsg info{};
    info.ifi_index = 7;
    nlmsg_append(message.get(), &info, sizeof(info), NLMSG_ALIGNTO);
    nla_put_string(message.get(), IFLA_IFNAME, "veth1");
    nlattr* link_info = nla_nest_start(message.get(), IFLA_LINKINFO);
    nla_put(message.get(), IFLA_INFO_KIND, 0, nullptr);  // an empty kind
    nla_nest_end(message.get(), link_info);
    EXPECT_NE(note_of(decode(message)).find("malformed IFLA_INFO_KIND, ignoring"),
              std::string::npos);
}

TEST(NetwatchMessage, ControlMessages) {
    NlMsgPtr done(nlmsg_alloc_simple(NLMSG_DONE, NLM_F_MULTI), &nlmsg_free);
    int zero = 0;
    nlmsg_append(done.get(), &zero, sizeof(zero), NLMSG_ALIGNTO);
    EXPECT_TRUE(std::holds_alternative<DumpDone>(decode(done)));

    NlMsgPtr error(nlmsg_alloc_simple(NLMSG_ERROR, 0), &nlmsg_free);
    nlmsgerr failure{};
    failure.error = -EBUSY;
    nlmsg_append(error.get(), &failure, sizeof(failure), NLMSG_ALIGNTO);
    RtnlMessage decoded = decode(error);
    ASSERT_TRUE(std::holds_alternative<RequestFailed>(decoded));
    EXPECT_EQ(std::get<RequestFailed>(decoded).error, EBUSY);

    NlMsgPtr ack(nlmsg_alloc_simple(NLMSG_ERROR, 0), &nlmsg_free);
    nlmsgerr ok{};
    nlmsg_append(ack.get(), &ok, sizeof(ok), NLMSG_ALIGNTO);
    EXPECT_EQ(note_of(decode(ack)), "");

    NlMsgPtr route(nlmsg_alloc_simple(RTM_NEWROUTE, 0), &nlmsg_free);
    EXPECT_NE(note_of(decode(route)).find("unexpected netlink message type 24"), std::string::npos);
}

}  // namespace
}  // namespace opa::netwatch
