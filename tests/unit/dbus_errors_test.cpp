// dev.ovs.PortAgent1's errors: the one mapping from the core's codes, the names on the wire, and
// the caller check of the mutating methods.
#include <gtest/gtest.h>

#include <cerrno>

#include "dbus/errors.hpp"
#include "dbus/validate.hpp"

namespace {

using opa::agent::Errc;
using opa::agent::Status;
using namespace opa::dbus;

struct MappingCase {
    Errc code;
    ErrorKind kind;
    const char* wire_name;
};

class DbusErrorMapping : public ::testing::TestWithParam<MappingCase> {};

TEST_P(DbusErrorMapping, CoreCodeBecomesNamedErrorWithTheCoreMessage) {
    const MappingCase& c = GetParam();
    EXPECT_EQ(error_kind_for(c.code), c.kind);
    const ServiceError error = error_for(Status{c.code, "the core's reason"});
    EXPECT_EQ(error.kind(), c.kind);
    EXPECT_EQ(error_name(error.kind()), c.wire_name);
    EXPECT_NE(std::string(error.what()).find("the core's reason"), std::string::npos);
    EXPECT_EQ(std::string(error.what()).back(), '.');
}

INSTANTIATE_TEST_SUITE_P(
    Dbus, DbusErrorMapping,
    ::testing::Values(
        MappingCase{Errc::InvalidName, ErrorKind::InvalidName,
                    "dev.ovs.PortAgent1.Error.InvalidName"},
        MappingCase{Errc::NameTooLong, ErrorKind::InvalidName,
                    "dev.ovs.PortAgent1.Error.InvalidName"},
        MappingCase{Errc::InvalidArgument, ErrorKind::InvalidArgs,
                    "dev.ovs.PortAgent1.Error.InvalidArgs"},
        MappingCase{Errc::Exists, ErrorKind::Exists, "dev.ovs.PortAgent1.Error.Exists"},
        MappingCase{Errc::NotFound, ErrorKind::NotFound, "dev.ovs.PortAgent1.Error.NotFound"},
        MappingCase{Errc::Backend, ErrorKind::NetworkManager,
                    "dev.ovs.PortAgent1.Error.NetworkManager"},
        MappingCase{Errc::ShuttingDown, ErrorKind::Failed, "dev.ovs.PortAgent1.Error.Failed"},
        MappingCase{Errc::NotOwned, ErrorKind::NotOwned, "dev.ovs.PortAgent1.Error.NotOwned"},
        MappingCase{Errc::LedgerUnwritable, ErrorKind::LedgerUnwritable,
                    "dev.ovs.PortAgent1.Error.LedgerUnwritable"},
        MappingCase{Errc::Unavailable, ErrorKind::Failed, "dev.ovs.PortAgent1.Error.Failed"}));

TEST(DbusErrorNames, RoundTripAndForeignNames) {
    for (ErrorKind kind :
         {ErrorKind::InvalidName, ErrorKind::InvalidArgs, ErrorKind::NotFound, ErrorKind::Exists,
          ErrorKind::NotOwned, ErrorKind::NetworkManager, ErrorKind::LedgerUnwritable,
          ErrorKind::AccessDenied, ErrorKind::Failed}) {
        EXPECT_EQ(error_kind_from_name(error_name(kind)), kind) << error_name(kind);
    }
    EXPECT_EQ(error_kind_from_name("org.freedesktop.DBus.Error.AccessDenied"), std::nullopt);
    EXPECT_EQ(error_kind_from_name("dev.ovs.PortAgent1.Error.Bogus"), std::nullopt);
    EXPECT_EQ(error_kind_from_name("dev.ovs.PortAgent1.Error."), std::nullopt);
}

TEST(DbusErrorMessages, HintsSayWhatToDo) {
    EXPECT_STREQ(error_for({Errc::NotFound, "no port named vi100"}).what(),
                 "no port named vi100; ListPorts shows the ports the agent knows.");
    EXPECT_STREQ(error_for({Errc::Backend, "device failed: ovsdb-failed"}).what(),
                 "NetworkManager: device failed: ovsdb-failed; see `journalctl -u "
                 "NetworkManager` for its side.");
    EXPECT_STREQ(error_for({Errc::LedgerUnwritable,
                            "the ledger cannot be written (No space left on device): refusing a "
                            "change that could not be audited",
                            ENOSPC})
                     .what(),
                 "the ledger cannot be written (No space left on device): refusing a change that "
                 "could not be audited; free space where the ledger is kept (ledger_path) and try "
                 "again: what the agent did meanwhile is written to it first.");
}

// The service's own check of the caller, beside the bus policy.
TEST(DbusAuthorisation, OnlyRootMayChange) {
    EXPECT_NO_THROW(require_root(0u, "CreateContainerInterface"));
    for (std::optional<uid_t> caller :
         {std::optional<uid_t>(1000), std::optional<uid_t>(65534), std::optional<uid_t>()}) {
        try {
            require_root(caller, "RemoveContainerInterface");
            ADD_FAILURE() << "uid " << (caller ? std::to_string(*caller) : "unknown")
                          << " was let through";
        } catch (const ServiceError& error) {
            EXPECT_EQ(error.kind(), ErrorKind::AccessDenied);
            EXPECT_NE(std::string(error.what()).find("RemoveContainerInterface"),
                      std::string::npos);
        }
    }
}

}  // namespace
