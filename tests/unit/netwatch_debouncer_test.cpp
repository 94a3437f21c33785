// The debouncer with a fake clock: one batch per burst, the net effect per name, the quiet
// period and the latency bound. No real time passes.
#include <gtest/gtest.h>

#include "netwatch/debouncer.hpp"

namespace opa::netwatch {
namespace {

using std::chrono::milliseconds;

class FakeClock {
  public:
    Debouncer::TimePoint now() const { return now_; }
    void advance(milliseconds step) { now_ += step; }

  private:
    Debouncer::TimePoint now_{std::chrono::seconds(1000)};
};

LinkEvent event(LinkChange change, const std::string& name, int ifindex = 10) {
    LinkEvent e;
    e.change = change;
    e.link.name = name;
    e.link.ifindex = ifindex;
    e.link.kind = LinkKind::Veth;
    return e;
}

std::vector<std::string> summary(const LinkBatch& batch) {
    std::vector<std::string> lines;
    for (const LinkEvent& e : batch.events) {
        lines.push_back(std::string(to_string(e.change)) + " " + e.link.name +
                        (e.replaced ? " replaced" : ""));
    }
    return lines;
}

class NetwatchDebouncer : public testing::Test {
  protected:
    FakeClock clock;
    Debouncer debouncer{milliseconds(100), milliseconds(1000)};
};

TEST_F(NetwatchDebouncer, NothingPendingMeansNoTimeoutAndNoBatch) {
    EXPECT_FALSE(debouncer.pending());
    EXPECT_EQ(debouncer.next_timeout(clock.now()), std::nullopt);
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
}

TEST_F(NetwatchDebouncer, BurstBecomesOneBatchAfterTheQuietPeriod) {
    for (int i = 0; i < 50; ++i) {
        debouncer.add(event(LinkChange::Appeared, "veth" + std::to_string(100 + i), 10 + i),
                      clock.now());
        clock.advance(milliseconds(5));
        // Each event pushes the deadline: still 100 ms of quiet to wait.
        EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(95));
        EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    }
    clock.advance(milliseconds(94));
    EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(1));
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    clock.advance(milliseconds(1));
    EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(0));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_EQ(batch->events.size(), 50U);
    EXPECT_FALSE(debouncer.pending());
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
}

TEST_F(NetwatchDebouncer, TwoBurstsSeparatedByQuietAreTwoBatches) {
    debouncer.add(event(LinkChange::Appeared, "veth1"), clock.now());
    clock.advance(milliseconds(100));
    auto first = debouncer.take_batch(clock.now());
    ASSERT_TRUE(first);
    EXPECT_EQ(summary(*first), std::vector<std::string>{"appeared veth1"});
    clock.advance(milliseconds(500));
    debouncer.add(event(LinkChange::Gone, "veth1"), clock.now());
    clock.advance(milliseconds(100));
    auto second = debouncer.take_batch(clock.now());
    ASSERT_TRUE(second);
    EXPECT_EQ(summary(*second), std::vector<std::string>{"gone veth1"});
}

TEST_F(NetwatchDebouncer, NeverEndingBurstIsCutAtMaxDelay) {
    // An event every 50 ms never leaves 100 ms of quiet; max_delay (1 s) bounds the wait.
    int batches = 0;
    for (int step = 0; step < 60; ++step) {
        debouncer.add(event(LinkChange::Changed, "veth1"), clock.now());
        ASSERT_LE(*debouncer.next_timeout(clock.now()), milliseconds(100));
        clock.advance(milliseconds(50));
        if (auto batch = debouncer.take_batch(clock.now())) {
            ++batches;
            EXPECT_EQ(summary(*batch), std::vector<std::string>{"changed veth1"});
            EXPECT_EQ(step % 20, 19) << "a batch after exactly 1 s of events";
        }
    }
    EXPECT_EQ(batches, 3);
}

TEST_F(NetwatchDebouncer, MaxDelayIsAtLeastTheQuietPeriod) {
    Debouncer odd(milliseconds(300), milliseconds(10));
    odd.add(event(LinkChange::Appeared, "veth1"), clock.now());
    EXPECT_EQ(odd.next_timeout(clock.now()), milliseconds(300));
}

TEST_F(NetwatchDebouncer, ZeroQuietPeriodReportsAtOnce) {
    Debouncer immediate(milliseconds(0), milliseconds(0));
    immediate.add(event(LinkChange::Appeared, "veth1"), clock.now());
    EXPECT_EQ(immediate.next_timeout(clock.now()), milliseconds(0));
    EXPECT_TRUE(immediate.take_batch(clock.now()));
}

struct NetEffectCase {
    std::string label;
    std::vector<LinkChange> changes;
    std::vector<std::string> expected;
};

void PrintTo(const NetEffectCase& c, std::ostream* out) { *out << c.label; }

class NetwatchDebouncerNetEffect : public testing::TestWithParam<NetEffectCase> {};

TEST_P(NetwatchDebouncerNetEffect, OneEntryPerName) {
    FakeClock clock;
    Debouncer debouncer(milliseconds(100), milliseconds(1000));
    int ifindex = 10;
    for (LinkChange change : GetParam().changes) {
        debouncer.add(event(change, "veth1", ifindex++), clock.now());
        clock.advance(milliseconds(1));
    }
    clock.advance(milliseconds(100));
    auto batch = debouncer.take_batch(clock.now());
    if (GetParam().expected.empty()) {
        EXPECT_EQ(batch, std::nullopt) << "events that cancel out make no batch";
        EXPECT_FALSE(debouncer.pending());
        return;
    }
    ASSERT_TRUE(batch);
    EXPECT_EQ(summary(*batch), GetParam().expected);
    EXPECT_EQ(batch->events.back().link.ifindex, ifindex - 1) << "the last state is reported";
}

using C = LinkChange;
const NetEffectCase kNetEffects[] = {
    {"appeared", {C::Appeared}, {"appeared veth1"}},
    {"appeared_then_changed", {C::Appeared, C::Changed, C::Changed}, {"appeared veth1"}},
    {"created_and_deleted", {C::Appeared, C::Gone}, {}},
    {"created_deleted_created", {C::Appeared, C::Gone, C::Appeared}, {"appeared veth1"}},
    {"gone", {C::Gone}, {"gone veth1"}},
    {"changed_then_gone", {C::Changed, C::Gone}, {"gone veth1"}},
    {"changed", {C::Changed, C::Changed}, {"changed veth1"}},
    {"deleted_and_recreated", {C::Gone, C::Appeared}, {"changed veth1 replaced"}},
    {"recreated_then_changed", {C::Gone, C::Appeared, C::Changed}, {"changed veth1 replaced"}},
    {"recreated_then_gone", {C::Gone, C::Appeared, C::Gone}, {"gone veth1"}},
};
INSTANTIATE_TEST_SUITE_P(Netwatch, NetwatchDebouncerNetEffect, testing::ValuesIn(kNetEffects),
                         [](const testing::TestParamInfo<NetEffectCase>& info) {
                             return info.param.label;
                         });

TEST_F(NetwatchDebouncer, RenameIsGoneOldAndAppearedNewGoneFirst) {
    debouncer.add(event(LinkChange::Changed, "veth100i0", 5), clock.now());  // set down
    debouncer.add(event(LinkChange::Gone, "veth100i0", 5), clock.now());     // renamed...
    debouncer.add(event(LinkChange::Appeared, "vi100", 5), clock.now());     // ...to vi100
    debouncer.add(event(LinkChange::Changed, "vi100", 5), clock.now());      // set up
    debouncer.add(event(LinkChange::Appeared, "aaa0", 6), clock.now());
    debouncer.add(event(LinkChange::Changed, "zzz0", 7), clock.now());
    clock.advance(milliseconds(100));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_EQ(summary(*batch), (std::vector<std::string>{"gone veth100i0", "changed zzz0",
                                                         "appeared aaa0", "appeared vi100"}));
}

TEST_F(NetwatchDebouncer, NotesTravelWithTheBatchAndArmTheDeadline) {
    debouncer.add_note("netlink message type 99, ignoring", clock.now());
    EXPECT_TRUE(debouncer.pending());
    EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(100));
    debouncer.add(event(LinkChange::Appeared, "veth1"), clock.now());
    debouncer.add(event(LinkChange::Gone, "veth1"), clock.now());
    clock.advance(milliseconds(100));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_TRUE(batch->events.empty());
    EXPECT_EQ(batch->notes, std::vector<std::string>{"netlink message type 99, ignoring"});
}

TEST_F(NetwatchDebouncer, FlushTakesEverythingBeforeTheDeadline) {
    debouncer.add(event(LinkChange::Appeared, "veth1"), clock.now());
    LinkBatch batch = debouncer.flush();
    EXPECT_EQ(summary(batch), std::vector<std::string>{"appeared veth1"});
    EXPECT_FALSE(debouncer.pending());
}

// Prompt names: a guest NIC's first appearance does not wait for the quiet period.

TEST_F(NetwatchDebouncer, PromptAppearedIsDueAtOnceInABatchOfItsOwn) {
    debouncer.add(event(LinkChange::Appeared, "vethtmp1"), clock.now());  // debounced
    debouncer.add(event(LinkChange::Appeared, "veth100i0"), clock.now(), true);
    EXPECT_TRUE(debouncer.pending());
    EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(0));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_EQ(summary(*batch), std::vector<std::string>{"appeared veth100i0"});
    // The other name keeps its own deadline.
    EXPECT_EQ(debouncer.next_timeout(clock.now()), milliseconds(100));
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    clock.advance(milliseconds(100));
    auto rest = debouncer.take_batch(clock.now());
    ASSERT_TRUE(rest);
    EXPECT_EQ(summary(*rest), std::vector<std::string>{"appeared vethtmp1"});
}

TEST_F(NetwatchDebouncer, PromptLinkGoneBeforeItsBatchIsNothing) {
    debouncer.add(event(LinkChange::Appeared, "veth100i0"), clock.now(), true);
    debouncer.add(event(LinkChange::Changed, "veth100i0"), clock.now(), true);
    debouncer.add(event(LinkChange::Gone, "veth100i0"), clock.now(), true);
    EXPECT_FALSE(debouncer.pending());
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    clock.advance(milliseconds(100));
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
}

TEST_F(NetwatchDebouncer, PromptLinkKeepsItsLatestStateUntilTaken) {
    LinkEvent up = event(LinkChange::Changed, "veth100i0");
    up.link.flags = 1;  // IFF_UP
    debouncer.add(event(LinkChange::Appeared, "veth100i0"), clock.now(), true);
    debouncer.add(up, clock.now(), true);
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    ASSERT_EQ(summary(*batch), std::vector<std::string>{"appeared veth100i0"});
    EXPECT_EQ(batch->events[0].link.flags, 1U);
}

TEST_F(NetwatchDebouncer, EventsAfterThePromptBatchAreCoalescedAsChanges) {
    debouncer.add(event(LinkChange::Appeared, "veth100i0"), clock.now(), true);
    ASSERT_TRUE(debouncer.take_batch(clock.now()));
    // Its later events, prompt or not, wait for the quiet period like any other.
    debouncer.add(event(LinkChange::Changed, "veth100i0"), clock.now(), true);
    debouncer.add(event(LinkChange::Gone, "veth100i0"), clock.now(), true);
    debouncer.add(event(LinkChange::Appeared, "veth100i0", 11), clock.now(), true);
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    clock.advance(milliseconds(100));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_EQ(summary(*batch), std::vector<std::string>{"changed veth100i0 replaced"});
}

TEST_F(NetwatchDebouncer, NameAlreadyInTheBurstIsNotPrompt) {
    // Deleted and created again within a burst: the burst's net effect (replaced) decides.
    debouncer.add(event(LinkChange::Gone, "veth100i0"), clock.now());
    debouncer.add(event(LinkChange::Appeared, "veth100i0", 11), clock.now(), true);
    EXPECT_EQ(debouncer.take_batch(clock.now()), std::nullopt);
    clock.advance(milliseconds(100));
    auto batch = debouncer.take_batch(clock.now());
    ASSERT_TRUE(batch);
    EXPECT_EQ(summary(*batch), std::vector<std::string>{"changed veth100i0 replaced"});
}

TEST_F(NetwatchDebouncer, FlushIncludesPromptLinksInNameOrder) {
    debouncer.add(event(LinkChange::Appeared, "veth200i0"), clock.now());
    debouncer.add(event(LinkChange::Appeared, "veth100i0"), clock.now(), true);
    LinkBatch batch = debouncer.flush();
    EXPECT_EQ(summary(batch),
              (std::vector<std::string>{"appeared veth100i0", "appeared veth200i0"}));
    EXPECT_FALSE(debouncer.pending());
}

}  // namespace
}  // namespace opa::netwatch
