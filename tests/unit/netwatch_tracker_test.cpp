// The link table: dump/event dedupe, renames, deletions, resync sweeps, watched names.
#include <net/if.h>

#include <gtest/gtest.h>

#include "netwatch/link_tracker.hpp"

namespace opa::netwatch {
namespace {

LinkMessage new_link(int ifindex, const std::string& name, LinkKind kind = LinkKind::Veth,
                     std::uint32_t flags = 0, bool from_dump = false) {
    LinkMessage message;
    message.from_dump = from_dump;
    message.link.ifindex = ifindex;
    message.link.name = name;
    message.link.kind = kind;
    message.link.flags = flags;
    return message;
}

LinkMessage del_link(int ifindex, const std::string& name, LinkKind kind = LinkKind::Veth) {
    LinkMessage message = new_link(ifindex, name, kind);
    message.deleted = true;
    return message;
}

std::vector<std::string> summary(const std::vector<LinkEvent>& events) {
    std::vector<std::string> lines;
    for (const LinkEvent& e : events) {
        lines.push_back(std::string(to_string(e.change)) + " " + e.link.name);
    }
    return lines;
}

using Lines = std::vector<std::string>;

class NetwatchTracker : public testing::Test {
  protected:
    LinkTracker tracker{ClassifyRules{{"veth", "tap"}, {"ovsbr0"}, {}}};
};

TEST_F(NetwatchTracker, ReportsIncludedLinksOnly) {
    EXPECT_EQ(summary(tracker.apply(new_link(1, "lo", LinkKind::Other, IFF_LOOPBACK))), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(2, "ovsbr0", LinkKind::Tap))), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(3, "veth9", LinkKind::Other))), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(4, "eth0"))), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth100i0"))), Lines{"appeared veth100i0"});
    EXPECT_EQ(summary(tracker.apply(new_link(6, "tap100i0", LinkKind::Tap))),
              Lines{"appeared tap100i0"});
    EXPECT_EQ(tracker.known_links(), 6U);
    EXPECT_EQ(tracker.included_links().size(), 2U);
    EXPECT_EQ(summary(tracker.apply(del_link(4, "eth0"))), Lines{});
    EXPECT_EQ(summary(tracker.apply(del_link(5, "veth100i0"))), Lines{"gone veth100i0"});
    EXPECT_EQ(tracker.known_links(), 4U);
}

TEST_F(NetwatchTracker, DumpRepeatingAnEventIsNotReportedTwice) {
    tracker.begin_resync();
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth1", LinkKind::Veth, IFF_UP))),
              Lines{"appeared veth1"});
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth1", LinkKind::Veth, IFF_UP, true))), Lines{});
    EXPECT_EQ(summary(tracker.end_resync()), Lines{});
}

TEST_F(NetwatchTracker, StateChangeIsChangedAndNoChangeIsNothing) {
    tracker.apply(new_link(5, "veth1"));
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth1", LinkKind::Veth, IFF_UP))),
              Lines{"changed veth1"});
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth1", LinkKind::Veth, IFF_UP))), Lines{});
    LinkMessage enslaved = new_link(5, "veth1", LinkKind::Veth, IFF_UP);
    enslaved.link.controller_ifindex = 2;
    EXPECT_EQ(summary(tracker.apply(enslaved)), Lines{"changed veth1"});
}

TEST_F(NetwatchTracker, RenameIsGoneOldPlusAppearedNew) {
    tracker.apply(new_link(5, "veth100i0"));
    // Renamed to a name no prefix matches, not watched: it just leaves.
    EXPECT_EQ(summary(tracker.apply(new_link(5, "eth0"))), Lines{"gone veth100i0"});
    // Renamed back: it comes back under its name.
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth100i0"))), Lines{"appeared veth100i0"});
    // Renamed between two included names.
    EXPECT_EQ(summary(tracker.apply(new_link(5, "veth7"))),
              (Lines{"gone veth100i0", "appeared veth7"}));
    // A deletion reports the name the link had last.
    EXPECT_EQ(summary(tracker.apply(del_link(5, "veth7"))), Lines{"gone veth7"});
}

TEST_F(NetwatchTracker, RenameToAWatchedNameStaysOurs) {
    tracker.apply(new_link(5, "veth100i0"));
    EXPECT_EQ(summary(tracker.watch_name("vi100")), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(5, "vi100"))),
              (Lines{"gone veth100i0", "appeared vi100"}));
    EXPECT_EQ(summary(tracker.unwatch_name("vi100")), Lines{"gone vi100"});
    EXPECT_EQ(summary(tracker.watch_name("vi100")), Lines{"appeared vi100"});
}

TEST_F(NetwatchTracker, DeleteOfAnUnknownLinkIsNothing) {
    EXPECT_EQ(summary(tracker.apply(del_link(42, "veth42"))), Lines{});
}

TEST_F(NetwatchTracker, ResyncReportsLinksWhoseDeletionWasLost) {
    tracker.apply(new_link(5, "veth1"));
    tracker.apply(new_link(6, "veth2"));
    tracker.apply(new_link(7, "dummy0", LinkKind::Other));
    tracker.begin_resync();
    // The dump shows veth2 only; an event during the dump shows a new veth3.
    EXPECT_EQ(summary(tracker.apply(new_link(6, "veth2", LinkKind::Veth, 0, true))), Lines{});
    EXPECT_EQ(summary(tracker.apply(new_link(8, "veth3"))), Lines{"appeared veth3"});
    EXPECT_EQ(summary(tracker.end_resync()), Lines{"gone veth1"});
    EXPECT_EQ(tracker.known_links(), 2U);
}

TEST_F(NetwatchTracker, CancelledResyncSweepsNothing) {
    tracker.apply(new_link(5, "veth1"));
    tracker.begin_resync();
    tracker.cancel_resync();
    EXPECT_EQ(summary(tracker.end_resync()), Lines{});
    EXPECT_EQ(tracker.known_links(), 1U);
}

TEST_F(NetwatchTracker, NewLinkReusingAnIfindexAfterDeletion) {
    tracker.apply(new_link(5, "veth1"));
    EXPECT_EQ(summary(tracker.apply(del_link(5, "veth1"))), Lines{"gone veth1"});
    EXPECT_EQ(summary(tracker.apply(new_link(5, "tap1", LinkKind::Tap))), Lines{"appeared tap1"});
}

}  // namespace
}  // namespace opa::netwatch
