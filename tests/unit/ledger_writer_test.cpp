// Writer side of the ledger: chaining, reopen, group commit under threads and processes,
// torn-tail recovery, the head file, errors, and the reader API.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/reader.hpp"
#include "ledger/verify.hpp"
#include "tests/support/file_size_limit.hpp"
#include "tests/support/files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using opa::ledger::Entry;
using opa::ledger::Ledger;
using opa::ledger::LedgerError;

namespace {

using opa::test::append_text;
using opa::test::lines_of;
using opa::test::read_text;
using opa::test::write_text;

// Ledger tests' directories are named for the ledger.
class TempDir : public opa::test::TempDir {
  public:
    TempDir() : opa::test::TempDir("opa-ledger") {}
};

// Waits for a child with a deadline (pidfd + poll), then reaps it. Returns its exit status
// or -1 on timeout (after killing it).
int wait_for_child(pid_t pid, std::chrono::milliseconds deadline) {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        pollfd readiness{pidfd, POLLIN, 0};
        int ready = ::poll(&readiness, 1, static_cast<int>(deadline.count()));
        ::close(pidfd);
        if (ready == 0) ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return -1;
}

const std::regex kTimestampPattern(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

}  // namespace

TEST(LedgerWriter, FirstEntryStartsTheChainAndLineIsCanonical) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    Entry entry = ledger.append("port_added", {{"port", "vi100"}, {"bridge", "ovsbr0"}});

    EXPECT_EQ(entry.seq, 1u);
    EXPECT_EQ(entry.prev_hash, std::string(opa::ledger::kGenesisPrevHash));
    EXPECT_TRUE(std::regex_match(entry.ts, kTimestampPattern)) << entry.ts;
    EXPECT_TRUE(opa::ledger::is_lowercase_hex_hash(entry.hash));

    const std::string text = read_text(path);
    ASSERT_FALSE(text.empty());
    ASSERT_EQ(text.back(), '\n');
    const std::string line = text.substr(0, text.size() - 1);
    json object = json::parse(line);
    EXPECT_EQ(object.dump(), line) << "stored line must be its own canonical serialization";
    EXPECT_EQ(object["hash"], entry.hash);
    object.erase("hash");
    EXPECT_EQ(opa::ledger::entry_hash(object, entry.prev_hash), entry.hash);
    EXPECT_EQ(opa::ledger::canonical_line(entry), line);
}

TEST(LedgerWriter, ReopenContinuesTheChain) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    std::string last_hash;
    {
        Ledger ledger(path);
        for (int i = 0; i < 3; ++i) last_hash = ledger.append("step", {{"i", i}}).hash;
    }
    Ledger reopened(path);
    EXPECT_EQ(reopened.head().seq, 3u);
    EXPECT_EQ(reopened.head().hash, last_hash);
    EXPECT_FALSE(reopened.recovery().has_value());
    Entry next = reopened.append("step", {{"i", 3}});
    EXPECT_EQ(next.seq, 4u);
    EXPECT_EQ(next.prev_hash, last_hash);
    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, 4u);
}

TEST(LedgerWriter, CreatesDirectoriesAndFilesWithRestrictedModes) {
    TempDir dir;
    const fs::path path = dir.path() / "a" / "b" / "ledger.jsonl";
    mode_t umask_now = ::umask(022);
    ::umask(umask_now);
    Ledger ledger(path);
    ledger.append("created");
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() / "a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0750u & ~umask_now);
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(LedgerWriter, HeadFileRecordsTheLastEntry) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    ledger.append("one");
    Entry second = ledger.append("two", {{"port", "vi101"}});
    json head = json::parse(read_text(opa::ledger::head_path_for(path)));
    EXPECT_EQ(head, (json{{"seq", 2}, {"hash", second.hash}}));
    EXPECT_FALSE(fs::exists(path.string() + ".head.tmp"));
}

TEST(LedgerWriter, ConcurrentThreadsGetUniqueConsecutiveSeqs) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 200;
    std::vector<std::vector<Entry>> written(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i)
                written[t].push_back(ledger.append("thread_append", {{"thread", t}, {"i", i}}));
        });
    }
    for (auto& thread : threads) thread.join();

    std::set<std::uint64_t> seqs;
    for (const auto& per_thread : written) {
        std::uint64_t previous = 0;
        for (const Entry& entry : per_thread) {
            EXPECT_GT(entry.seq, previous) << "one thread's appends must stay in order";
            previous = entry.seq;
            seqs.insert(entry.seq);
        }
    }
    ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kThreads * kPerThread));
    EXPECT_EQ(*seqs.begin(), 1u);
    EXPECT_EQ(*seqs.rbegin(), static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_EQ(ledger.head().seq, static_cast<std::uint64_t>(kThreads * kPerThread));

    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST(LedgerWriter, TwoLedgerObjectsOnOnePathKeepOneChain) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger first(path);
    Ledger second(path);
    for (int i = 0; i < 10; ++i) {
        Entry a = first.append("from_first", {{"i", i}});
        Entry b = second.append("from_second", {{"i", i}});
        EXPECT_EQ(b.seq, a.seq + 1);
        EXPECT_EQ(b.prev_hash, a.hash);
    }
    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, 20u);
}

TEST(LedgerWriter, ProcessesAppendingConcurrentlyInterleaveCorrectly) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    constexpr int kChildren = 2;
    constexpr int kPerProcess = 200;
    std::vector<pid_t> children;
    for (int child = 0; child < kChildren; ++child) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int status = 0;
            try {
                Ledger ledger(path);
                for (int i = 0; i < kPerProcess; ++i)
                    ledger.append("process_append", {{"process", child}, {"i", i}});
            } catch (...) {
                status = 1;
            }
            ::_exit(status);
        }
        children.push_back(pid);
    }
    {
        Ledger ledger(path);  // the parent writes too
        for (int i = 0; i < kPerProcess; ++i)
            ledger.append("process_append", {{"process", "parent"}, {"i", i}});
    }
    for (pid_t pid : children) EXPECT_EQ(wait_for_child(pid, std::chrono::seconds(60)), 0);

    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, static_cast<std::uint64_t>((kChildren + 1) * kPerProcess));
    std::map<std::string, int> per_writer;
    for (const Entry& entry : opa::ledger::read_all(path))
        ++per_writer[entry.details["process"].dump()];
    EXPECT_EQ(per_writer.size(), static_cast<std::size_t>(kChildren + 1));
    for (const auto& [writer, count] : per_writer) EXPECT_EQ(count, kPerProcess) << writer;
}

TEST(LedgerWriter, TornTailWithoutNewlineIsMovedAsideAndRecorded) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    std::string hash_before;
    {
        Ledger ledger(path);
        for (int i = 0; i < 5; ++i) hash_before = ledger.append("step", {{"i", i}}).hash;
    }
    const std::string torn = R"({"action":"step","details":{"i":5},"ha)";
    append_text(path, torn);

    Ledger ledger(path);
    ASSERT_TRUE(ledger.recovery().has_value());
    const auto& recovery = *ledger.recovery();
    EXPECT_EQ(recovery.moved_bytes, torn.size());
    EXPECT_EQ(read_text(recovery.moved_to), torn);
    EXPECT_EQ(recovery.moved_to.parent_path(), path.parent_path());
    EXPECT_EQ(recovery.recorded_at_seq, 6u);

    auto entries = opa::ledger::read_all(path);
    ASSERT_EQ(entries.size(), 6u);
    EXPECT_EQ(entries.back().action, "ledger_recovered");
    EXPECT_EQ(entries.back().prev_hash, hash_before);
    EXPECT_EQ(entries.back().details["moved_bytes"], torn.size());
    EXPECT_EQ(entries.back().details["moved_to"], recovery.moved_to.string());

    EXPECT_EQ(ledger.append("after_recovery").seq, 7u);
    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, 7u);
}

TEST(LedgerWriter, UnparsableLastLineIsTreatedAsTorn) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    { Ledger(path).append("step"); }
    append_text(path, "{\"action\":\"st\xff\n");
    Ledger ledger(path);
    ASSERT_TRUE(ledger.recovery().has_value());
    EXPECT_EQ(ledger.recovery()->moved_bytes, 15u);
    EXPECT_NE(ledger.recovery()->reason.find("not a valid entry"), std::string::npos);
    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_EQ(report.lines_checked, 2u);
}

TEST(LedgerWriter, TornFirstLineLeavesAnEmptyChain) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    append_text(path, R"({"action":"st)");
    Ledger ledger(path);
    ASSERT_TRUE(ledger.recovery().has_value());
    EXPECT_EQ(ledger.head().seq, 1u);  // the ledger_recovered entry
    auto report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
}

TEST(LedgerWriter, BadMiddleLineIsReportedNotRepaired) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    std::string last_hash;
    {
        Ledger ledger(path);
        for (int i = 0; i < 5; ++i) last_hash = ledger.append("step", {{"i", i}}).hash;
    }
    auto lines = lines_of(read_text(path));
    lines[2] = "this is not json";
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        for (const auto& line : lines) out << line << '\n';
    }
    Ledger ledger(path);
    EXPECT_FALSE(ledger.recovery().has_value());
    Entry next = ledger.append("step", {{"i", 5}});
    EXPECT_EQ(next.seq, 6u);
    EXPECT_EQ(next.prev_hash, last_hash);
    auto report = opa::ledger::verify(path);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.line, 3u);
    EXPECT_EQ(report.problem, opa::ledger::Problem::parse_error);
}

TEST(LedgerWriter, RejectsDetailsThatAreNotAnObjectOrNotUtf8) {
    TempDir dir;
    Ledger ledger(dir.path() / "ledger.jsonl");
    EXPECT_THROW(ledger.append("bad", json::array({1, 2})), LedgerError);
    EXPECT_THROW(ledger.append("bad", {{"name", "\xff\xfe"}}), LedgerError);
    EXPECT_THROW(ledger.append("bad\xc3"), LedgerError);
    EXPECT_EQ(ledger.append("good", nullptr).seq, 1u) << "rejected appends must not use seqs";
}

TEST(LedgerWriter, OpenErrorNamesThePathAndErrno) {
    TempDir dir;
    const fs::path blocker = dir.path() / "not-a-dir";
    append_text(blocker, "x");
    try {
        Ledger ledger(blocker / "ledger.jsonl");
        FAIL() << "expected LedgerError";
    } catch (const LedgerError& error) {
        std::string message = error.what();
        EXPECT_NE(message.find(blocker.string()), std::string::npos) << message;
        EXPECT_NE(message.find("Not a directory"), std::string::npos) << message;
    }
}

TEST(LedgerWriter, RefusesToExtendAV1Ledger) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    const std::string v1_line =
        R"({"ts":1700000000,"action":"rename","details":{"bridge":"ovsbr0","new":"vi100","old":"veth100i0"},"prev_hash":"","hash":"9a94be936f49e12a9b22d6a2747a1cf7d26b2c087f245f282b7a93472ba5890b"})"
        "\n";
    append_text(path, v1_line);
    EXPECT_THROW(Ledger ledger(path), LedgerError);
    EXPECT_EQ(read_text(path), v1_line) << "a v1 file must be left untouched";
}

TEST(LedgerReader, ReadsAllEntriesAndFiltersByPort) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    ledger.append("port_added", {{"port", "vi100"}});
    ledger.append("port_added", {{"port", "vi101"}});
    ledger.append("bridge_changed", {{"bridge", "ovsbr0"}});
    ledger.append("port_removed", {{"port", "vi100"}});
    ledger.append("odd", {{"port", 100}});

    auto all = opa::ledger::read_all(path);
    ASSERT_EQ(all.size(), 5u);
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, i + 1);

    auto vi100 = opa::ledger::entries_for_port(path, "vi100");
    ASSERT_EQ(vi100.size(), 2u);
    EXPECT_EQ(vi100[0].action, "port_added");
    EXPECT_EQ(vi100[1].action, "port_removed");
    EXPECT_TRUE(opa::ledger::entries_for_port(path, "vi999").empty());
}

TEST(LedgerReader, SkipsAnUnterminatedLastLineAndNamesBadLines) {
    TempDir dir;
    const fs::path path = dir.path() / "ledger.jsonl";
    { Ledger(path).append("one"); }
    append_text(path, R"({"action":"half)");
    EXPECT_EQ(opa::ledger::read_all(path).size(), 1u);
    append_text(path, "\n");
    try {
        (void)opa::ledger::read_all(path);
        FAIL() << "expected LedgerError";
    } catch (const LedgerError& error) {
        EXPECT_NE(std::string(error.what()).find(path.string() + ":2:"), std::string::npos)
            << error.what();
    }
}

TEST(LedgerWriter, AppendAllWritesAllInOrderOrNothing) {
    opa::test::TempDir dir("opa-ledger-all");
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    std::vector<Entry> written = ledger.append_all({{"a", {{"i", 1}}}, {"b", nullptr}});
    ASSERT_EQ(written.size(), 2u);
    EXPECT_EQ(written[0].seq, 1u);
    EXPECT_EQ(written[1].seq, 2u);
    EXPECT_EQ(written[1].details, json::object());
    EXPECT_TRUE(ledger.append_all({}).empty());

    const std::string before = opa::test::read_text(path);
    {
        opa::test::FileSizeLimit limit;
        limit.limit(fs::file_size(path) + 300);  // room for one line, not for three
        try {
            ledger.append_all({{"c", {}}, {"d", {}}, {"e", {}}});
            ADD_FAILURE() << "append_all succeeded past the limit";
        } catch (const LedgerError& error) {
            EXPECT_EQ(error.error_number(), EFBIG);
        }
        EXPECT_EQ(opa::test::read_text(path), before);
    }
    // An invalid entry anywhere: nothing written, and it says so before trying.
    EXPECT_THROW(ledger.append_all({{"f", {}}, {"g", {{"text", "\xff"}}}}),
                 opa::ledger::InvalidEntryError);
    EXPECT_THROW(ledger.append_all({{"h", json::array()}}), opa::ledger::InvalidEntryError);
    EXPECT_EQ(opa::test::read_text(path), before);
    EXPECT_EQ(ledger.append("c").seq, 3u);
    const opa::ledger::VerifyReport report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
}

// The entries are durable when only the head file cannot be replaced: the append succeeds (so
// nobody writes it twice), the head lags behind (a note for verify) and catches up later.
TEST(LedgerWriter, AnUnreplaceableHeadFileDoesNotFailTheAppend) {
    opa::test::TempDir dir("opa-ledger-head");
    const fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger(path);
    ledger.append("a");
    // The head's temporary cannot be created: a directory is in its place.
    fs::path temporary = opa::ledger::head_path_for(path);
    temporary += ".tmp";
    fs::create_directory(temporary);
    EXPECT_NO_THROW(ledger.append("b"));
    EXPECT_NE(ledger.head_error().find("cannot open"), std::string::npos) << ledger.head_error();
    EXPECT_EQ(opa::ledger::read_all(path).size(), 2u);
    opa::ledger::VerifyReport report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    ASSERT_FALSE(report.notes.empty());
    EXPECT_NE(report.notes.front().find("behind"), std::string::npos) << report.notes.front();

    fs::remove_all(temporary);
    ledger.append("c");
    EXPECT_EQ(ledger.head_error(), "");
    report = opa::ledger::verify(path);
    EXPECT_TRUE(report.ok) << opa::ledger::format_report(report);
    EXPECT_TRUE(report.notes.empty());
}
