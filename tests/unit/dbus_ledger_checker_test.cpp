// VerifyLedger's checker: calls never wait for a verification in progress, concurrent calls
// share one, an unchanged file is answered from the cache, a changed one verified again.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "dbus/ledger_checker.hpp"
#include "ledger/ledger.hpp"
#include "tests/support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using opa::dbus::LedgerChecker;
using opa::test::wait_until;
namespace fs = std::filesystem;

class DbusLedgerChecker : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/opa-ledger-checker-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir = pattern;
        path = dir / "ledger.jsonl";
        opa::ledger::Ledger ledger(path);
        ledger.append("agent_started", {});
    }
    void TearDown() override { fs::remove_all(dir); }

    // The real verifier behind a gate the test opens.
    LedgerChecker::Verify gated_verify() {
        return [this](const fs::path& file) {
            std::unique_lock lock(mutex);
            ++started;
            changed.notify_all();
            changed.wait(lock, [this] { return gate_open; });
            return opa::ledger::verify(file);
        };
    }
    void open_gate() {
        std::lock_guard lock(mutex);
        gate_open = true;
        changed.notify_all();
    }
    LedgerChecker::Reply record() {
        return [this](bool ok, const std::string& report) {
            std::lock_guard lock(mutex);
            ++answers;
            if (ok && report.rfind("PASS: ", 0) == 0) ++passed;
        };
    }
    int count(const int& value) {
        std::lock_guard lock(mutex);
        return value;
    }

    fs::path dir;
    fs::path path;
    std::mutex mutex;
    std::condition_variable changed;
    bool gate_open = false;
    int started = 0;
    int answers = 0;
    int passed = 0;
};

TEST_F(DbusLedgerChecker, CallsDuringAVerificationReturnAtOnceAndShareTheNext) {
    LedgerChecker checker(path, gated_verify());
    ASSERT_TRUE(checker.check(record()));
    ASSERT_TRUE(wait_until([&] { return count(started) == 1; }));
    // 50 more while the first verification is held: check() returns without waiting.
    const auto before = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(checker.check(record()));
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
    EXPECT_EQ(count(answers), 0);
    open_gate();
    ASSERT_TRUE(wait_until([&] { return count(answers) == 51; }));
    EXPECT_EQ(count(passed), 51);
    // The first verification and one shared by the 50 (or their cache hit).
    EXPECT_LE(checker.verifications(), 2u);
    EXPECT_LE(count(started), 2);

    // Unchanged file: answered on the caller's thread from the cache, no verification.
    const auto runs = checker.verifications();
    ASSERT_TRUE(checker.check(record()));
    EXPECT_EQ(count(answers), 52);
    EXPECT_EQ(checker.verifications(), runs);

    // An append changes the answer's key: verified again.
    {
        opa::ledger::Ledger ledger(path);
        ledger.append("port_created", {{"port", "vi100"}});
    }
    ASSERT_TRUE(checker.check(record()));
    ASSERT_TRUE(wait_until([&] { return count(answers) == 53; }));
    EXPECT_EQ(checker.verifications(), runs + 1);
}

TEST_F(DbusLedgerChecker, ABrokenLedgerIsReportedAndCallsBeyondTheLimitAreRefused) {
    std::ofstream(path, std::ios::app) << "garbage\n";
    LedgerChecker checker(path, gated_verify(), 3);
    std::string report;
    bool ok = true;
    ASSERT_TRUE(checker.check([&](bool result, const std::string& text) {
        std::lock_guard lock(mutex);
        ok = result;
        report = text;
        ++answers;
    }));
    ASSERT_TRUE(wait_until([&] { return count(started) == 1; }));
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(checker.check(record()));
    EXPECT_FALSE(checker.check(record()));  // a fourth caller waiting: refused
    open_gate();
    ASSERT_TRUE(wait_until([&] { return count(answers) == 4; }));
    std::lock_guard lock(mutex);
    EXPECT_FALSE(ok);
    EXPECT_EQ(report.rfind("FAIL: ", 0), 0u) << report;
}

TEST_F(DbusLedgerChecker, CallsStillWaitingAreAnsweredWhenTheCheckerGoes) {
    std::atomic<int> second_answers{0};
    {
        LedgerChecker checker(path, gated_verify());
        ASSERT_TRUE(checker.check(record()));
        ASSERT_TRUE(wait_until([&] { return count(started) == 1; }));
        // Verified after all, or told the agent is stopping: answered once either way.
        ASSERT_TRUE(checker.check([&](bool ok, const std::string& text) {
            if (ok || text == "the agent is stopping.") ++second_answers;
        }));
        open_gate();  // the destructor joins the verification in progress
    }
    EXPECT_EQ(count(answers), 1);
    EXPECT_EQ(second_answers.load(), 1);
}

}  // namespace
