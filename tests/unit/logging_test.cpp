// The journal fields of port events, and telling whether stderr is the journal stream.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>

#include "mount/logging.hpp"

namespace {

using opa::mount::port_event_fields;

TEST(Logging, PortEventsCarryPortVmidAndBridge) {
    const auto fields =
        port_event_fields(spdlog::level::warn, "ovsbr0", "vi100", 100, "failed: ovsdb-failed");
    const std::vector<std::string> expected = {"MESSAGE=port vi100: failed: ovsdb-failed",
                                               "PRIORITY=4",
                                               "SYSLOG_IDENTIFIER=ovs-port-agent",
                                               "PORT=vi100",
                                               "BRIDGE=ovsbr0",
                                               "VMID=100"};
    EXPECT_EQ(fields, expected);
    const auto no_vmid =
        port_event_fields(spdlog::level::info, "ovsbr0", "vi7", std::nullopt, "up");
    EXPECT_EQ(no_vmid.size(), 5u);
    EXPECT_EQ(no_vmid[1], "PRIORITY=6");
}

TEST(Logging, StderrIsTheJournalOnlyWhenJournalStreamNamesIt) {
    struct stat st {};
    ASSERT_EQ(::fstat(2, &st), 0);
    const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
    EXPECT_TRUE(opa::mount::stderr_is_journal());
    ::setenv("JOURNAL_STREAM", "1:2", 1);
    EXPECT_FALSE(opa::mount::stderr_is_journal());
    ::setenv("JOURNAL_STREAM", "garbage", 1);
    EXPECT_FALSE(opa::mount::stderr_is_journal());
    ::unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(opa::mount::stderr_is_journal());
}

}  // namespace
