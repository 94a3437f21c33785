// The daemon's block keeper (mount/block_sync) on a real interfaces file: a port the block cannot
// list is left out without stopping the others, and a failure that repeats every retry is
// recorded once, then counted.
#include <gtest/gtest.h>

#include <chrono>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "agent/core.hpp"
#include "config/config.hpp"
#include "mount/block_sync.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/files.hpp"

namespace fs = std::filesystem;

namespace {

opa::agent::Port port(const std::string& name, std::optional<std::uint16_t> tag = std::nullopt) {
    opa::agent::Port p;
    p.name = name;
    p.state = opa::agent::PortState::Activated;
    p.options.tag = tag;
    return p;
}

using Outcome = opa::mount::BlockSync::Outcome;
constexpr std::chrono::milliseconds kWait{1000};

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(BlockSync, APortTheBlockCannotListIsLeftOutAndTheOthersAreWritten) {
    opa::test::TempDir dir{"opa-block-sync"};
    opa::config::Config config;
    config.interfaces_path = dir.path() / "interfaces";
    opa::test::FakeJournal journal;
    opa::mount::BlockSync sync(config, journal);

    // A backslash (ifupdown2 joins lines there) and a tag out of range, beside good ports.
    const std::vector<opa::agent::Port> ports = {port("vi100", 10), port("a\\b"),
                                                 port("vi101", 4095), port("vi102")};
    for (int i = 0; i < 3; ++i) ASSERT_EQ(sync.sync(ports, kWait), Outcome::Done);
    const std::string text = read_file(config.interfaces_path);
    EXPECT_NE(text.find("iface vi100 inet manual"), std::string::npos) << text;
    EXPECT_NE(text.find("iface vi102 inet manual"), std::string::npos) << text;
    EXPECT_EQ(text.find("a\\b"), std::string::npos) << text;
    EXPECT_EQ(text.find("vi101"), std::string::npos) << text;
    EXPECT_EQ(journal.count("interfaces_updated"), 1u);
    EXPECT_EQ(journal.count("interfaces_port_skipped"), 2u) << "once per port, not per sync";
    EXPECT_EQ(journal.count("interfaces_update_failed"), 0u);
}

TEST(BlockSync, ARepeatedFailureIsRecordedOnceThenCounted) {
    opa::test::TempDir dir{"opa-block-sync"};
    opa::config::Config config;
    config.interfaces_path = dir.path() / "missing" / "interfaces";  // its directory is not there
    opa::test::FakeJournal journal;
    opa::mount::BlockSync sync(config, journal);

    for (int i = 0; i < 5; ++i) EXPECT_EQ(sync.sync({port("vi100")}, kWait), Outcome::Failed);
    EXPECT_EQ(journal.count("interfaces_update_failed"), 1u);

    fs::create_directory(dir.path() / "missing");
    ASSERT_EQ(sync.sync({port("vi100")}, kWait), Outcome::Done);
    ASSERT_EQ(journal.count("interfaces_updated"), 1u);
    std::lock_guard lock(journal.mutex);
    EXPECT_EQ(journal.entries.back().second.value("after_failed_attempts", 0), 5);
}

}  // namespace
