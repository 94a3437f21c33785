// Holding ledger entries while the file cannot be written, against a real Ledger: the "full
// disk" is RLIMIT_FSIZE (tests/support/file_size_limit.hpp), which needs no root and no mount.

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ledger/holding_writer.hpp"
#include "ledger/ledger.hpp"
#include "ledger/reader.hpp"
#include "ledger/verify.hpp"
#include "tests/support/file_size_limit.hpp"
#include "tests/support/files.hpp"
#include "tests/support/ledger_checks.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace opa::ledger;
using Kind = opa::ledger::HoldResult::Kind;
using opa::test::FileSizeLimit;

using opa::test::actions;
using opa::test::expect_verifies;

namespace {

class LedgerHolding : public ::testing::Test {
  protected:
    // The ledger "fills up": no byte more fits.
    void fill() { limit.limit(fs::file_size(path)); }

    opa::test::TempDir dir{"opa-ledger-hold"};
    fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger{path};
    FileSizeLimit limit;
};

}  // namespace

TEST_F(LedgerHolding, EntriesAreHeldInOrderAndWrittenBeforeTheNextOne) {
    HoldingWriter writer(ledger);
    ASSERT_EQ(writer.record("first", {{"i", 0}}).kind, Kind::Written);
    fill();
    const std::string before = opa::test::read_text(path);

    const HoldResult a = writer.record("a", {{"i", 1}});
    EXPECT_EQ(a.kind, Kind::Held);
    EXPECT_TRUE(a.outage_began);
    EXPECT_NE(a.error.find("File too large"), std::string::npos) << a.error;
    const HoldResult b = writer.record("b", {{"i", 2}});
    EXPECT_EQ(b.kind, Kind::Held);
    EXPECT_FALSE(b.outage_began);
    EXPECT_EQ(writer.record("c", {{"i", 3}}).kind, Kind::Held);
    EXPECT_TRUE(writer.holding());
    EXPECT_EQ(opa::test::read_text(path), before) << "nothing half-written";

    const FlushResult still_full = writer.flush();
    EXPECT_FALSE(still_full.ended);
    ASSERT_TRUE(still_full.outage);
    EXPECT_EQ(still_full.outage->error_number, EFBIG);
    EXPECT_EQ(still_full.outage->held, 3u);
    EXPECT_EQ(still_full.outage->dropped, 0u);
    EXPECT_EQ(opa::test::read_text(path), before);

    limit.lift();
    const HoldResult d = writer.record("d", {{"i", 4}});
    EXPECT_EQ(d.kind, Kind::Written);
    ASSERT_TRUE(d.ended);
    EXPECT_EQ(d.ended->held, 3u);
    EXPECT_EQ(d.ended->dropped, 0u);
    EXPECT_FALSE(writer.holding());

    const std::vector<Entry> entries = read_all(path);
    ASSERT_EQ(actions(entries),
              (std::vector<std::string>{"first", "a", "b", "c", "ledger_recovered", "d"}));
    std::string previous_held;
    for (std::size_t i = 1; i <= 3; ++i) {
        const Entry& held = entries[i];
        EXPECT_EQ(held.details["i"], static_cast<int>(i));
        ASSERT_TRUE(held.details.contains("held_since")) << held.details.dump();
        const std::string held_since = held.details["held_since"];
        EXPECT_LE(held_since, held.ts);  // recorded before it was written
        EXPECT_LE(previous_held, held_since);
        previous_held = held_since;
    }
    EXPECT_FALSE(entries[0].details.contains("held_since"));
    EXPECT_FALSE(entries[5].details.contains("held_since"));
    const json& recovered = entries[4].details;
    EXPECT_EQ(recovered["held"], 3);
    EXPECT_EQ(recovered["dropped"], 0);
    EXPECT_GE(recovered["down_ms"].get<std::int64_t>(), 0);
    EXPECT_NE(recovered["error"].get<std::string>().find("File too large"), std::string::npos);
    EXPECT_EQ(recovered["since"], entries[1].details["held_since"]);
    EXPECT_EQ(d.ended->recovered_seq, entries[4].seq);
    expect_verifies(path);
}

TEST_F(LedgerHolding, FlushWritesWhatIsHeldWithoutANewEntry) {
    HoldingWriter writer(ledger);
    fill();
    EXPECT_EQ(writer.record("a", {}).kind, Kind::Held);
    limit.lift();
    const FlushResult flushed = writer.flush();
    ASSERT_TRUE(flushed.ended);
    EXPECT_FALSE(flushed.outage);
    EXPECT_EQ(flushed.ended->held, 1u);
    EXPECT_EQ(actions(read_all(path)), (std::vector<std::string>{"a", "ledger_recovered"}));
    // Nothing held: flushing again writes nothing.
    EXPECT_FALSE(writer.flush().ended);
    EXPECT_EQ(read_all(path).size(), 2u);
    expect_verifies(path);
}

TEST_F(LedgerHolding, BeyondTheBoundEntriesAreCountedAsDropped) {
    HoldingWriter writer(ledger, HoldingOptions{3, 256});
    fill();
    std::vector<HoldResult> results;
    for (int i = 0; i < 5; ++i) results.push_back(writer.record("e", {{"i", i}}));
    EXPECT_EQ(results[2].kind, Kind::Held);
    EXPECT_EQ(results[3].kind, Kind::Dropped);
    EXPECT_TRUE(results[3].dropping_began);
    EXPECT_EQ(results[4].kind, Kind::Dropped);
    EXPECT_FALSE(results[4].dropping_began);
    ASSERT_TRUE(writer.outage());
    EXPECT_EQ(writer.outage()->dropped, 2u);

    limit.lift();
    const FlushResult flushed = writer.flush();
    ASSERT_TRUE(flushed.ended);
    EXPECT_EQ(flushed.ended->held, 3u);
    EXPECT_EQ(flushed.ended->dropped, 2u);
    const std::vector<Entry> entries = read_all(path);
    ASSERT_EQ(entries.size(), 4u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(entries[i].details["i"], i);  // the oldest are kept
    EXPECT_EQ(entries[3].action, "ledger_recovered");
    EXPECT_EQ(entries[3].details["dropped"], 2);
    expect_verifies(path);
}

// Space returns only partly: whole chunks are written, in order, the rest stays held.
TEST_F(LedgerHolding, APartialFlushKeepsTheRestInOrder) {
    HoldingWriter writer(ledger, HoldingOptions{100, 2});
    fill();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(writer.record("e", {{"i", i}}).kind, Kind::Held);
    // One line is about 270 bytes: room for one chunk of two, not for two chunks.
    limit.limit(fs::file_size(path) + 700);
    const FlushResult partly = writer.flush();
    EXPECT_FALSE(partly.ended);
    ASSERT_TRUE(partly.outage);
    EXPECT_EQ(partly.outage->held, 3u);
    std::vector<Entry> entries = read_all(path);
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].details["i"], 0);
    EXPECT_EQ(entries[1].details["i"], 1);
    expect_verifies(path);

    limit.lift();
    const FlushResult rest = writer.flush();
    ASSERT_TRUE(rest.ended);
    EXPECT_EQ(rest.ended->held, 5u);
    entries = read_all(path);
    ASSERT_EQ(entries.size(), 6u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(entries[i].details["i"], i);
    EXPECT_EQ(entries[5].action, "ledger_recovered");
    EXPECT_EQ(entries[5].details["held"], 5);
    expect_verifies(path);
}

// An entry that can never be written is not held (it would block every later one).
TEST_F(LedgerHolding, AnInvalidEntryIsNotHeld) {
    HoldingWriter writer(ledger);
    const HoldResult result = writer.record("bad", {{"text", "\xff\xfe"}});
    EXPECT_EQ(result.kind, Kind::Invalid);
    EXPECT_FALSE(result.error.empty());
    EXPECT_FALSE(writer.holding());
    EXPECT_EQ(writer.record("good", {}).kind, Kind::Written);
}

TEST_F(LedgerHolding, ConcurrentRecordsWhileFullAreAllWrittenOnce) {
    HoldingWriter writer(ledger);
    fill();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&writer, t] {
            for (int i = 0; i < 25; ++i) writer.record("e", {{"t", t}, {"i", i}});
        });
    }
    for (std::thread& thread : threads) thread.join();
    ASSERT_TRUE(writer.outage());
    EXPECT_EQ(writer.outage()->held, 100u);
    limit.lift();
    ASSERT_TRUE(writer.flush().ended);
    const std::vector<Entry> entries = read_all(path);
    ASSERT_EQ(entries.size(), 101u);
    // Each thread's entries in its own order, and their times rise in file order.
    std::vector<int> next(4, 0);
    std::string previous;
    for (std::size_t k = 0; k < 100; ++k) {
        const int t = entries[k].details["t"];
        EXPECT_EQ(entries[k].details["i"], next[t]++);
        const std::string held_since = entries[k].details["held_since"];
        EXPECT_LE(previous, held_since) << "entry " << k;
        previous = held_since;
    }
    expect_verifies(path);
}
