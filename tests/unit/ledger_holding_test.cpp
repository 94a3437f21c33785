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
    HoldingOptions bounded;
    bounded.max_held = 3;
    HoldingWriter writer(ledger, bounded);
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
    HoldingOptions small_chunks;
    small_chunks.flush_chunk = 2;
    HoldingWriter writer(ledger, small_chunks);
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

// ---- The spill file: held entries survive the process (issue 15 item 3).

namespace {

class LedgerSpill : public LedgerHolding {
  protected:
    // The "full disk" limit counts every file: a ledger of some size leaves the spill room.
    void SetUp() override {
        HoldingWriter writer(ledger);
        for (int i = 0; i < 20; ++i)
            ASSERT_EQ(writer.record("before", {{"i", i}}).kind, Kind::Written);
    }
    HoldingOptions spilling() const {
        HoldingOptions options;
        options.spill_path = spill;
        return options;
    }
    fs::path spill = dir.path() / "run" / "ledger-held.jsonl";
};

}  // namespace

TEST_F(LedgerSpill, HeldEntriesAreOnDiskUntilWrittenThenTheFileGoes) {
    HoldingWriter writer(ledger, spilling());
    fill();
    for (int i = 0; i < 3; ++i) {
        const HoldResult held = writer.record("e", {{"i", i}});
        EXPECT_EQ(held.kind, Kind::Held);
        EXPECT_TRUE(held.spill_error.empty()) << held.spill_error;
    }
    limit.lift();
    const SpillContents on_disk = SpillFile::read(spill);
    ASSERT_EQ(on_disk.entries.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(on_disk.entries[i].action, "e");
        EXPECT_EQ(on_disk.entries[i].details["i"], i);
        EXPECT_TRUE(on_disk.entries[i].details.contains("held_since"));
    }
    EXPECT_EQ(fs::status(spill).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);

    ASSERT_TRUE(writer.flush().ended);
    EXPECT_FALSE(fs::exists(spill)) << "the spill file stays after everything was written";
}

// The process dies while entries are held; the next one writes them first, in order, with
// their held_since, then ledger_recovered naming the spill file, then its own.
TEST_F(LedgerSpill, AnEarlierRunsHeldEntriesAreWrittenFirstAtTheNextStart) {
    std::vector<std::string> held_since;
    {
        HoldingWriter dying(ledger, spilling());
        fill();
        for (int i = 0; i < 20; ++i) ASSERT_EQ(dying.record("held", {{"i", i}}).kind, Kind::Held);
        limit.lift();
        // SIGKILL: nothing more of this writer runs (its memory is gone with it).
    }
    for (const NewEntry& entry : SpillFile::read(spill).entries) {
        held_since.push_back(entry.details["held_since"]);
    }
    ASSERT_EQ(held_since.size(), 20u);

    Ledger reopened(path);
    HoldingWriter next(reopened, spilling());
    const SpillReplay replay = next.replay_spill();
    EXPECT_EQ(replay.read, 20u);
    EXPECT_EQ(replay.already_written, 0u);
    ASSERT_TRUE(replay.ended);
    EXPECT_EQ(replay.ended->held, 20u);
    EXPECT_EQ(next.record("agent_started", {}).kind, Kind::Written);

    const std::vector<Entry> entries = read_all(path);
    ASSERT_EQ(entries.size(), 20u + 20u + 2u);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(entries[20 + i].action, "held");
        EXPECT_EQ(entries[20 + i].details["i"], i);
        EXPECT_EQ(entries[20 + i].details["held_since"], held_since[i]);
    }
    EXPECT_EQ(entries[40].action, "ledger_recovered");
    EXPECT_EQ(entries[40].details["spill"], spill.string());
    EXPECT_EQ(entries[41].action, "agent_started");
    EXPECT_FALSE(fs::exists(spill));
    expect_verifies(path);
}

// A crash right after the held entries reached the ledger, before the file was emptied: the next
// start does not write them twice.
TEST_F(LedgerSpill, EntriesTheLedgerHasAlreadyAreNotWrittenTwice) {
    HoldingWriter writer(ledger, spilling());
    fill();
    for (int i = 0; i < 3; ++i) ASSERT_EQ(writer.record("e", {{"i", i}}).kind, Kind::Held);
    limit.lift();
    const std::string spilled = opa::test::read_text(spill);
    ASSERT_TRUE(writer.flush().ended);
    opa::test::write_text(spill, spilled);  // as if the crash came before the file went

    HoldingWriter next(ledger, spilling());
    const SpillReplay replay = next.replay_spill();
    EXPECT_EQ(replay.read, 3u);
    EXPECT_EQ(replay.already_written, 3u);
    EXPECT_FALSE(replay.ended);
    EXPECT_EQ(read_all(path).size(), 20u + 3u + 1u);
    EXPECT_FALSE(fs::exists(spill));
}

// Still full at the next start: the entries stay held (in the file too) and go first later.
TEST_F(LedgerSpill, StillFullAtTheNextStartKeepsThemHeldAndFirst) {
    {
        HoldingWriter dying(ledger, spilling());
        fill();
        for (int i = 0; i < 2; ++i) ASSERT_EQ(dying.record("held", {{"i", i}}).kind, Kind::Held);
    }
    HoldingWriter next(ledger, spilling());
    const SpillReplay replay = next.replay_spill();
    EXPECT_EQ(replay.read, 2u);
    EXPECT_FALSE(replay.ended);
    EXPECT_TRUE(next.holding());
    EXPECT_EQ(next.record("agent_started", {}).kind, Kind::Held);
    limit.lift();
    EXPECT_EQ(SpillFile::read(spill).entries.size(), 3u);
    ASSERT_TRUE(next.flush().ended);
    EXPECT_EQ(actions(read_all(path)).back(), "ledger_recovered");
    const std::vector<Entry> entries = read_all(path);
    EXPECT_EQ(entries[20].action, "held");
    EXPECT_EQ(entries[21].action, "held");
    EXPECT_EQ(entries[22].action, "agent_started");
    expect_verifies(path);
}

TEST_F(LedgerSpill, ATornLastLineIsSkippedAndCounted) {
    fs::create_directories(spill.parent_path());
    opa::test::write_text(spill,
                          R"({"action":"a","details":{"held_since":"2026-12-05T07:00:00.000Z"}})"
                          "\n"
                          R"({"action":"b","det)");
    const SpillContents contents = SpillFile::read(spill);
    ASSERT_EQ(contents.entries.size(), 1u);
    EXPECT_EQ(contents.entries[0].action, "a");
    EXPECT_EQ(contents.bad_lines, 1u);
}
