// GuestConfigReader: a read stuck in /etc/pve (a stalled pmxcfs) delays only its own guest.
#include "agent/guest_config_reader.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>

namespace {

using opa::naming::GuestKind;
using opa::proxmox::GuestConfig;
using opa::proxmox::GuestConfigReader;
using opa::proxmox::GuestKey;
using namespace std::chrono_literals;

// A /etc/pve whose reads of some guests hang until released.
class StallingPve {
  public:
    std::optional<GuestConfig> read(const GuestKey& key) {
        std::unique_lock lock(mutex_);
        ++reads_[key.vmid];
        changed_.notify_all();
        changed_.wait(lock, [&] { return !stalled_.count(key.vmid); });
        if (key.vmid == 404) return std::nullopt;
        GuestConfig config;
        config.nics.push_back({});
        config.nics.back().bridge = "vmbr" + std::to_string(key.vmid);
        return config;
    }
    void stall(std::uint32_t vmid) {
        std::lock_guard lock(mutex_);
        stalled_.insert(vmid);
    }
    void release(std::uint32_t vmid) {
        std::lock_guard lock(mutex_);
        stalled_.erase(vmid);
        changed_.notify_all();
    }
    int reads(std::uint32_t vmid) {
        std::lock_guard lock(mutex_);
        return reads_[vmid];
    }
    bool wait_reads(std::uint32_t vmid, int count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 5s, [&] { return reads_[vmid] >= count; });
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::uint32_t> stalled_;
    std::map<std::uint32_t, int> reads_;
};

// The results a test's requests got, waited for with a deadline.
class Results {
  public:
    GuestConfigReader::Done for_vmid(std::uint32_t vmid) {
        return [this, vmid](const std::optional<GuestConfig>& config) {
            std::lock_guard lock(mutex_);
            got_.insert({vmid, config ? config->nics.at(0).bridge : "none"});
            changed_.notify_all();
        };
    }
    bool wait_count(std::uint32_t vmid, std::size_t count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 5s, [&] { return got_.count(vmid) >= count; });
    }
    std::size_t count(std::uint32_t vmid) {
        std::lock_guard lock(mutex_);
        return got_.count(vmid);
    }
    std::string first(std::uint32_t vmid) {
        std::lock_guard lock(mutex_);
        auto it = got_.find(vmid);
        return it == got_.end() ? "" : it->second;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::multimap<std::uint32_t, std::string> got_;
};

GuestKey container(std::uint32_t vmid) { return {GuestKind::kContainer, vmid}; }

TEST(GuestConfigReader, AStuckGuestDoesNotDelayAnother) {
    StallingPve pve;
    pve.stall(100);
    Results results;
    GuestConfigReader reader([&](const GuestKey& key) { return pve.read(key); }, 4);
    reader.request(container(100), results.for_vmid(100));
    ASSERT_TRUE(pve.wait_reads(100, 1));
    reader.request(container(101), results.for_vmid(101));
    ASSERT_TRUE(results.wait_count(101, 1));
    EXPECT_EQ(results.first(101), "vmbr101");
    EXPECT_EQ(results.count(100), 0u);
    pve.release(100);
    ASSERT_TRUE(results.wait_count(100, 1));
    EXPECT_EQ(results.first(100), "vmbr100");
}

TEST(GuestConfigReader, RequestsForOneGuestJoinOneRead) {
    StallingPve pve;
    pve.stall(100);
    Results results;
    GuestConfigReader reader([&](const GuestKey& key) { return pve.read(key); }, 4);
    for (int i = 0; i < 5; ++i) reader.request(container(100), results.for_vmid(100));
    ASSERT_TRUE(pve.wait_reads(100, 1));
    EXPECT_EQ(reader.reads_pending(), 1u);
    pve.release(100);
    ASSERT_TRUE(results.wait_count(100, 5));
    EXPECT_EQ(pve.reads(100), 1);
    // Once answered, a new request reads again (configs change).
    reader.request(container(100), results.for_vmid(100));
    ASSERT_TRUE(results.wait_count(100, 6));
    EXPECT_EQ(pve.reads(100), 2);
}

TEST(GuestConfigReader, ReadWithinGivesUpAtItsDeadlineAndALaterCallJoinsTheRead) {
    StallingPve pve;
    pve.stall(100);
    GuestConfigReader reader([&](const GuestKey& key) { return pve.read(key); }, 4);
    EXPECT_FALSE(reader.read_within(container(100), 50ms).has_value());
    ASSERT_TRUE(pve.wait_reads(100, 1));
    pve.release(100);
    const auto config = reader.read_within(container(100), 5s);
    ASSERT_TRUE(config.has_value());
    ASSERT_TRUE(config->has_value());
    EXPECT_EQ((*config)->nics.at(0).bridge, "vmbr100");
    // A guest without a config answers nullopt, in time.
    const auto missing = reader.read_within(container(404), 5s);
    ASSERT_TRUE(missing.has_value());
    EXPECT_FALSE(missing->has_value());
}

TEST(GuestConfigReader, StuckReadsCostAtMostItsThreads) {
    StallingPve pve;
    pve.stall(100);
    pve.stall(101);
    Results results;
    GuestConfigReader reader([&](const GuestKey& key) { return pve.read(key); }, 2);
    reader.request(container(100), results.for_vmid(100));
    reader.request(container(101), results.for_vmid(101));
    reader.request(container(102), results.for_vmid(102));
    ASSERT_TRUE(pve.wait_reads(100, 1));
    ASSERT_TRUE(pve.wait_reads(101, 1));
    // Both threads are stuck: the third guest waits its turn, unread.
    EXPECT_EQ(pve.reads(102), 0);
    EXPECT_EQ(reader.reads_pending(), 3u);
    pve.release(101);
    ASSERT_TRUE(results.wait_count(102, 1));
    EXPECT_EQ(results.first(102), "vmbr102");
    EXPECT_EQ(results.count(100), 0u);
    pve.release(100);
    ASSERT_TRUE(results.wait_count(100, 1));
}

TEST(GuestConfigReader, DestroyedWithAStuckReadReturnsAndDropsTheLateResult) {
    StallingPve pve;
    pve.stall(100);
    std::atomic<int> called{0};
    // Set when the reader's last thread has let go of the read function: the stuck thread ended.
    std::promise<void> thread_ended;
    auto ended = thread_ended.get_future();
    {
        std::shared_ptr<void> sentinel(nullptr, [&](void*) { thread_ended.set_value(); });
        GuestConfigReader reader([&pve, sentinel](const GuestKey& key) { return pve.read(key); },
                                 1);
        sentinel.reset();
        reader.request(container(100), [&](const std::optional<GuestConfig>&) { ++called; });
        ASSERT_TRUE(pve.wait_reads(100, 1));
    }
    EXPECT_EQ(ended.wait_for(0s), std::future_status::timeout);  // still stuck in the read
    pve.release(100);
    ASSERT_EQ(ended.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(called.load(), 0);
}

}  // namespace

namespace {

TEST(IsDirectoryWithin, AnswersForDirectoriesFilesAndMissingPaths) {
    const auto directory = std::filesystem::temp_directory_path();
    EXPECT_EQ(opa::proxmox::is_directory_within(directory, 5s), true);
    EXPECT_EQ(opa::proxmox::is_directory_within("/proc/self/status", 5s), false);
    EXPECT_EQ(opa::proxmox::is_directory_within(directory / "no-such-dir-opa", 5s), false);
}

}  // namespace
