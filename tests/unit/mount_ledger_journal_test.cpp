// The daemon's journal (mount/ledger_journal) on a real Ledger whose "disk" fills up
// (RLIMIT_FSIZE, tests/support/file_size_limit.hpp): entries are held, requested changes are
// refused while they are, and the first request after space returns writes them and goes through.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/core.hpp"
#include "ledger/ledger.hpp"
#include "ledger/reader.hpp"
#include "ledger/verify.hpp"
#include "mount/ledger_journal.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/file_size_limit.hpp"
#include "tests/support/files.hpp"
#include "tests/support/ledger_checks.hpp"

namespace fs = std::filesystem;
using namespace opa::ledger;

using opa::test::actions;
using opa::test::expect_verifies;

namespace {

class LedgerJournalTest : public ::testing::Test {
  protected:
    // The ledger "fills up": no byte more fits.
    void fill() { limit.limit(fs::file_size(path)); }

    opa::test::TempDir dir{"opa-journal"};
    fs::path path = dir.path() / "ledger.jsonl";
    Ledger ledger{path};
    opa::test::FileSizeLimit limit;
};

}  // namespace

// The daemon's journal: a requested change asks unwritable() first, which writes what is held
// when space has returned, so the first request after that goes through.
TEST_F(LedgerJournalTest, JournalRefusesWhileFullAndNotOnceSpaceReturned) {
    int outages = 0;
    opa::mount::LedgerJournal journal(ledger, {}, [&outages] { ++outages; });
    EXPECT_FALSE(journal.unwritable());
    fill();
    journal.record("port_attached", {{"port", "veth1"}});
    journal.record("port_attached", {{"port", "veth2"}});
    EXPECT_EQ(outages, 1);
    EXPECT_TRUE(journal.holding());
    const auto fault = journal.unwritable();
    ASSERT_TRUE(fault);
    EXPECT_EQ(fault->error_number, EFBIG);
    EXPECT_EQ(fault->reason, "File too large");
    EXPECT_TRUE(journal.retry());

    limit.lift();
    EXPECT_FALSE(journal.unwritable());
    EXPECT_FALSE(journal.holding());
    EXPECT_EQ(actions(read_all(path)),
              (std::vector<std::string>{"port_attached", "port_attached", "ledger_recovered"}));
    EXPECT_FALSE(journal.retry());
    expect_verifies(path);
}

// The same through the core: refused with the ledger's errno while full, accepted after.
TEST_F(LedgerJournalTest, CoreRequestSucceedsFirstTimeAfterSpaceReturns) {
    opa::mount::LedgerJournal journal(ledger);
    opa::test::FakeBackend backend;
    opa::agent::Core core(backend, journal, opa::agent::CoreOptions{"ovsbr0", 2});
    fill();
    backend.links.insert("veth100i0");
    core.link_appeared("veth100i0", opa::agent::LinkKind::Veth);
    ASSERT_TRUE(core.wait_idle(std::chrono::seconds(5)));
    ASSERT_TRUE(core.port("veth100i0"));
    EXPECT_EQ(core.port("veth100i0")->state, opa::agent::PortState::Activated);
    EXPECT_TRUE(journal.holding());

    const opa::agent::Status refused = core.create_port("vi101", {});
    EXPECT_EQ(refused.code, opa::agent::Errc::LedgerUnwritable);
    EXPECT_EQ(refused.to_errno(), EFBIG);
    EXPECT_FALSE(core.port("vi101"));
    EXPECT_EQ(backend.count("prepare vi101"), 0u);

    limit.lift();
    EXPECT_TRUE(core.create_port("vi101", {}));
    EXPECT_EQ(actions(read_all(path)),
              (std::vector<std::string>{"port_created", "port_attached", "ledger_recovered",
                                        "port_created"}));
    expect_verifies(path);
}
