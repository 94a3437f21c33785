// Tests of BlockWriter against a real interfaces file in a temp directory: submit never waits for
// Proxmox's lock, a held lock is recorded once and waited out, and the last ports asked for are
// written before the writer goes.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "mount/block_writer.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/files.hpp"
#include "tests/support/wait.hpp"

namespace opa::mount {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BlockWriterTest : public testing::Test {
  protected:
    void SetUp() override {
        config_.interfaces_path = dir_.path() / "interfaces";
        test::write_text(config_.interfaces_path, "auto lo\niface lo inet loopback\n");
    }
    std::string text() const { return test::read_text(config_.interfaces_path); }
    static std::vector<agent::Port> ports(std::initializer_list<const char*> names) {
        std::vector<agent::Port> list;
        for (const char* name : names) {
            agent::Port port;
            port.name = name;
            port.state = agent::PortState::Activated;
            list.push_back(port);
        }
        return list;
    }
    bool lists(const std::string& name) const {
        return text().find("iface " + name + " ") != std::string::npos ||
               text().find("iface " + name + "\n") != std::string::npos;
    }

    test::TempDir dir_{"opa-block-writer"};
    config::Config config_;
    test::FakeJournal journal_;
};

TEST_F(BlockWriterTest, WritesWhatWasSubmittedLast) {
    BlockWriter writer(config_, journal_, {100ms, 200ms});
    writer.submit(ports({"vi100"}));
    writer.submit(ports({"vi100", "vi101"}));
    ASSERT_TRUE(test::wait_until([&] { return lists("vi101"); }, 5s)) << text();
    EXPECT_TRUE(lists("vi100"));
}

TEST_F(BlockWriterTest, AHeldLockIsWaitedOutOffTheCallersThreadAndRecordedOnce) {
    const fs::path lock = dir_.path() / ".pve-interfaces.lock";
    const int held = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_SH), 0);  // a read-only descriptor is enough to hold it up

    BlockWriter writer(config_, journal_, {50ms, 200ms});
    writer.submit(ports({"vi100"}));  // returns at once: the caller is the daemon's loop
    ASSERT_TRUE(test::wait_until([&] { return writer.waiting_for_lock(); }, 5s));
    writer.submit(ports({"vi100", "vi101"}));
    // Several tries of 50 ms go by; the spell is recorded once.
    ASSERT_TRUE(test::wait_until(
        [&] { return writer.writes() == 0 && journal_.count("interfaces_lock_busy") == 1; }, 5s));
    EXPECT_FALSE(lists("vi100"));

    ::close(held);
    ASSERT_TRUE(test::wait_until([&] { return lists("vi101") && !writer.waiting_for_lock(); }, 5s))
        << text();
    EXPECT_EQ(journal_.count("interfaces_lock_busy"), 1u);
    EXPECT_EQ(journal_.count("interfaces_lock_free"), 1u);
    EXPECT_EQ(writer.writes(), 1u);
}

TEST_F(BlockWriterTest, TheLastPortsAskedForAreWrittenBeforeTheWriterGoes) {
    {
        BlockWriter writer(config_, journal_, {100ms, 200ms});
        writer.submit(ports({"vi100"}));
        writer.submit(ports({"vi102"}));
    }
    EXPECT_TRUE(lists("vi102")) << text();
    EXPECT_FALSE(lists("vi100"));
}

}  // namespace
}  // namespace opa::mount
