// NmReturn: what follows NetworkManager's return runs off the caller's thread, in order, and
// starts over when NM returns again.
#include "mount/nm_return.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mount/serial_worker.hpp"

namespace {

using namespace std::chrono_literals;
using opa::mount::NmReturn;
using opa::mount::NmReturnSteps;
using opa::mount::SerialWorker;

// A fake NM: answers after `silent_for` questions; reconcile fails `reconcile_failures` times.
struct FakeSteps {
    std::mutex mutex;
    std::vector<std::string> log;
    int silent_for = 0;
    int reconcile_failures = 0;
    std::atomic<bool> block_answer{false};
    std::condition_variable unblocked;

    void add(std::string entry) {
        std::lock_guard lock(mutex);
        log.push_back(std::move(entry));
    }
    std::vector<std::string> entries() {
        std::lock_guard lock(mutex);
        return log;
    }
    NmReturnSteps steps() {
        return {
            .answering =
                [this] {
                    std::unique_lock lock(mutex);
                    unblocked.wait(lock, [this] { return !block_answer.load(); });
                    const bool answers = silent_for-- <= 0;
                    log.push_back(answers ? "answering" : "silent");
                    return answers;
                },
            .replug = [this] { add("replug"); },
            .reconcile =
                [this](bool last) {
                    std::lock_guard lock(mutex);
                    const bool done = reconcile_failures-- <= 0;
                    log.push_back(std::string(done ? "reconciled" : "not reconciled") +
                                  (last ? " (last)" : ""));
                    return done;
                },
            .refresh_bridge = [this] { add("refresh"); },
        };
    }
};

TEST(NmReturn, AsksUntilNmAnswersReplugsOnceReconcilesThenRefreshesTheBridge) {
    FakeSteps fake;
    fake.silent_for = 2;
    fake.reconcile_failures = 1;
    NmReturn follow_up(fake.steps(), 1ms, 10s);
    follow_up.nm_returned();
    ASSERT_TRUE(follow_up.wait_idle(5s));
    EXPECT_EQ(fake.entries(),
              (std::vector<std::string>{"silent", "silent", "answering", "replug", "not reconciled",
                                        "answering", "reconciled", "refresh"}));
}

TEST(NmReturn, GivesUpAfterItsPatienceWithTheLastTryRecorded) {
    FakeSteps fake;
    fake.reconcile_failures = 1000000;
    NmReturn follow_up(fake.steps(), 1ms, 50ms);
    follow_up.nm_returned();
    ASSERT_TRUE(follow_up.wait_idle(5s));
    const auto entries = fake.entries();
    ASSERT_GE(entries.size(), 3u);
    EXPECT_EQ(entries.at(entries.size() - 2), "not reconciled (last)");
    EXPECT_EQ(entries.back(), "refresh");
    EXPECT_EQ(std::count(entries.begin(), entries.end(), "replug"), 1);
}

TEST(NmReturn, TheCallerNeverWaitsAndANewReturnStartsOver) {
    FakeSteps fake;
    fake.block_answer = true;  // NM holds its bus name but does not answer
    NmReturn follow_up(fake.steps(), 1ms, 10s);
    const auto before = std::chrono::steady_clock::now();
    follow_up.nm_returned();
    follow_up.nm_returned();  // it restarted again meanwhile
    follow_up.refresh_bridge();
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
    EXPECT_FALSE(follow_up.wait_idle(20ms));
    EXPECT_TRUE(fake.entries().empty());
    {
        std::lock_guard lock(fake.mutex);
        fake.block_answer = false;
    }
    fake.unblocked.notify_all();
    ASSERT_TRUE(follow_up.wait_idle(5s));
    // The last return's sequence ran whole (the first one's too, if it had started).
    const auto entries = fake.entries();
    ASSERT_GE(entries.size(), 4u);
    EXPECT_EQ(std::vector<std::string>(entries.end() - 4, entries.end()),
              (std::vector<std::string>{"answering", "replug", "reconciled", "refresh"}));
}

TEST(NmReturn, ABridgeRefreshAloneRunsOnce) {
    FakeSteps fake;
    NmReturn follow_up(fake.steps(), 1ms, 10s);
    follow_up.refresh_bridge();
    ASSERT_TRUE(follow_up.wait_idle(5s));
    EXPECT_EQ(fake.entries(), (std::vector<std::string>{"refresh"}));
}

TEST(SerialWorker, RunsJobsInOrderAndAThrowingJobDoesNotEndIt) {
    std::mutex mutex;
    std::vector<std::string> seen;
    std::vector<std::string> failures;
    SerialWorker worker([&](const std::string& what) {
        std::lock_guard lock(mutex);
        failures.push_back(what);
    });
    worker.post([&] {
        std::lock_guard lock(mutex);
        seen.push_back("one");
    });
    worker.post([] { throw std::runtime_error("boom"); });
    worker.post([&] {
        std::lock_guard lock(mutex);
        seen.push_back("two");
    });
    ASSERT_TRUE(worker.wait_idle(5s));
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(failures, (std::vector<std::string>{"boom"}));
}

}  // namespace
