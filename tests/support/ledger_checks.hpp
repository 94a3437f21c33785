// Checks on a real ledger file shared by the ledger's and the journal's tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ledger/entry.hpp"
#include "ledger/verify.hpp"

namespace opa::test {

// The actions of `entries`, in order.
inline std::vector<std::string> actions(const std::vector<ledger::Entry>& entries) {
    std::vector<std::string> names;
    for (const ledger::Entry& entry : entries) names.push_back(entry.action);
    return names;
}

// The whole chain verifies (the report says why when not).
inline void expect_verifies(const std::filesystem::path& path) {
    const ledger::VerifyReport report = ledger::verify(path);
    EXPECT_TRUE(report.ok) << ledger::format_report(report);
}

}  // namespace opa::test
