// The tree's ledger index: incremental (an append costs what was appended), offsets instead of
// text, immutable per-port snapshots, and a new index for a replaced or rewritten file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "fs/ledger_index.hpp"
#include "ledger/ledger.hpp"

namespace {

using opa::fs::LedgerIndex;
using opa::fs::LedgerSource;
namespace fs = std::filesystem;

class FsLedgerIndex : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/opa-ledger-index-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir = pattern;
        path = dir / "ledger.jsonl";
    }
    void TearDown() override { fs::remove_all(dir); }

    // What <port>/ledger showed before the index: each of the port's entries, canonical.
    std::string expected_text(const std::string& port) const {
        std::string text;
        for (const auto& entry : opa::ledger::entries_for_port(path, port)) {
            text += opa::ledger::canonical_line(entry) + "\n";
        }
        return text;
    }
    static std::string read_all(const LedgerIndex& index, const std::string& port) {
        const auto text = index.port_text(port);
        std::string out;
        EXPECT_EQ(index.read_port(port, text.lines, 0, text.size, out), 0);
        return out;
    }

    fs::path dir;
    fs::path path;
};

TEST_F(FsLedgerIndex, APortsTextIsItsLinesAndReadsAtAnyOffsetAgree) {
    {
        opa::ledger::Ledger ledger(path);
        for (int i = 0; i < 30; ++i) {
            ledger.append("port_created", {{"port", "vi" + std::to_string(100 + i % 3)}, {"i", i}});
            ledger.append("reconcile", {{"reason", "tick"}});
        }
    }
    int error = -1;
    const auto index = LedgerIndex::open(path, error);
    ASSERT_TRUE(index) << error;
    const std::string whole = expected_text("vi101");
    EXPECT_EQ(read_all(*index, "vi101"), whole);
    EXPECT_EQ(index->port_text("vi101").lines, 10u);
    EXPECT_EQ(index->port_text("vi101").size, whole.size());
    EXPECT_EQ(index->port_text("vi999").lines, 0u);
    for (std::uint64_t offset : {0ul, 1ul, 17ul, 200ul, whole.size() - 1, whole.size()}) {
        for (std::size_t size : {1ul, 5ul, 300ul, 4096ul}) {
            std::string out;
            ASSERT_EQ(index->read_port("vi101", 10, offset, size, out), 0);
            EXPECT_EQ(out, whole.substr(std::min<std::size_t>(offset, whole.size()), size))
                << offset << "+" << size;
        }
    }
}

TEST_F(FsLedgerIndex, AnAppendIsReadAloneAndOldSnapshotsStayAsTheyWere) {
    opa::ledger::Ledger ledger(path);
    for (int i = 0; i < 200; ++i) ledger.append("reconcile", {{"reason", "filler"}, {"i", i}});
    ledger.append("port_created", {{"port", "vi100"}});
    int error = -1;
    const auto index = LedgerIndex::open(path, error);
    ASSERT_TRUE(index);
    const std::uint64_t size_before = fs::file_size(path);
    EXPECT_EQ(index->bytes_scanned(), size_before);
    const auto before = index->port_text("vi100");
    const std::string text_before = read_all(*index, "vi100");
    EXPECT_EQ(before.lines, 1u);

    ledger.append("port_attached", {{"port", "vi100"}});
    ASSERT_TRUE(index->catch_up());
    // Only the appended line was read, not the 200 before it.
    EXPECT_EQ(index->bytes_scanned(), fs::file_size(path));
    EXPECT_EQ(index->bytes_scanned() - size_before, fs::file_size(path) - size_before);
    EXPECT_EQ(read_all(*index, "vi100"), expected_text("vi100"));
    EXPECT_EQ(index->port_text("vi100").lines, 2u);
    // A catch-up with nothing new reads nothing.
    ASSERT_TRUE(index->catch_up());
    EXPECT_EQ(index->bytes_scanned(), fs::file_size(path));

    // The snapshot taken before the append still reads what it had.
    std::string old;
    ASSERT_EQ(index->read_port("vi100", before.lines, 0, 1 << 20, old), 0);
    EXPECT_EQ(old, text_before);
    EXPECT_EQ(index->lines_indexed(), 2u);  // offsets of the port's lines, nothing else kept
}

TEST_F(FsLedgerIndex, AnUnterminatedLastLineWaitsUntilItIsWhole) {
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_created", {{"port", "vi100"}});
    }
    const std::string complete = [&] {
        std::ifstream in(path);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }();
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_attached", {{"port", "vi100"}});
    }
    const std::string both = [&] {
        std::ifstream in(path);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }();
    const std::string second = both.substr(complete.size());
    // A writer mid-append: half of the second line.
    std::ofstream(path, std::ios::trunc | std::ios::binary)
        << complete << second.substr(0, second.size() / 2);
    int error = -1;
    const auto index = LedgerIndex::open(path, error);
    ASSERT_TRUE(index);
    EXPECT_EQ(index->port_text("vi100").lines, 1u);
    EXPECT_EQ(index->error(), "");
    std::ofstream(path, std::ios::app | std::ios::binary) << second.substr(second.size() / 2);
    ASSERT_TRUE(index->catch_up());
    EXPECT_EQ(index->port_text("vi100").lines, 2u);
    EXPECT_EQ(read_all(*index, "vi100"), both);
}

TEST_F(FsLedgerIndex, ABadLineStopsThePortsTextsUntilTheFileIsRight) {
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_created", {{"port", "vi100"}});
    }
    std::ofstream(path, std::ios::app) << "not json\n";
    int error = -1;
    const auto index = LedgerIndex::open(path, error);
    ASSERT_TRUE(index);
    EXPECT_NE(index->error().find(":2: not a JSON object"), std::string::npos) << index->error();
    EXPECT_EQ(index->port_text("vi100").lines, 0u);
    std::string out;
    EXPECT_EQ(index->read_port("vi100", 1, 0, 100, out), EIO);
}

TEST_F(FsLedgerIndex, VersionOneLinesAreServedAsTheirCanonicalEntries) {
    // The original agent's lines: no seq, ts in unix seconds, keys in another order.
    std::ofstream(path)
        << R"({"ts":1700000000,"action":"port_created","details":{"port":"vi100"},"prev_hash":"","hash":"x"})"
        << "\n"
        << R"({"ts":1700000001,"action":"reconcile","details":{},"prev_hash":"x","hash":"y"})"
        << "\n"
        << R"({"ts":1700000002,"action":"port_removed","details":{"port":"vi100"},"prev_hash":"y","hash":"z"})"
        << "\n";
    int error = -1;
    const auto index = LedgerIndex::open(path, error);
    ASSERT_TRUE(index);
    const std::string text = read_all(*index, "vi100");
    EXPECT_EQ(text, expected_text("vi100"));
    EXPECT_NE(text.find("\"seq\":3"), std::string::npos) << text;
    EXPECT_EQ(index->port_text("vi100").size, text.size());
}

TEST_F(FsLedgerIndex, TheSourceMakesANewIndexForAReplacedOrShortenedFile) {
    LedgerSource source(path);
    int error = 0;
    EXPECT_EQ(source.current(error), nullptr);
    EXPECT_EQ(error, ENOENT);
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_created", {{"port", "vi100"}});
    }
    const auto first = source.current(error);
    ASSERT_TRUE(first);
    const std::string first_text = read_all(*first, "vi100");
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_attached", {{"port", "vi100"}});
    }
    EXPECT_EQ(source.current(error), first);  // appended to: the same index, caught up
    EXPECT_EQ(first->port_text("vi100").lines, 2u);

    // Replaced by another file (rename over): a new index; the old one reads the old file.
    const fs::path other = dir / "other.jsonl";
    {
        opa::ledger::Ledger ledger(other);
        ledger.append("port_created", {{"port", "vi200"}});
    }
    fs::rename(other, path);
    const auto second = source.current(error);
    ASSERT_TRUE(second);
    EXPECT_NE(second, first);
    EXPECT_EQ(second->port_text("vi200").lines, 1u);
    EXPECT_EQ(second->port_text("vi100").lines, 0u);
    std::string old;
    EXPECT_EQ(first->read_port("vi100", 1, 0, 1 << 20, old), 0);
    EXPECT_EQ(old, first_text);

    // Rewritten shorter in place: not an append, so not caught up but rebuilt.
    fs::resize_file(path, 0);
    { std::ofstream(path) << ""; }
    const auto third = source.current(error);
    ASSERT_TRUE(third);
    EXPECT_NE(third, second);
    EXPECT_EQ(third->port_text("vi200").lines, 0u);
}

}  // namespace
