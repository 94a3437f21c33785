// Checks on a real ledger file shared by the ledger's and the journal's tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ledger/entry.hpp"
#include "ledger/ledger.hpp"
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

// Appends port_attached entries for vi100..vi149 in turn, each padded with `pad` bytes, 10,000
// per write, until the ledger holds at least `bytes`: a large ledger for tests of its readers.
inline void fill_ledger(const std::filesystem::path& path, std::uintmax_t bytes, std::size_t pad) {
    ledger::Ledger ledger(path);
    while (std::filesystem::file_size(path) < bytes) {
        std::vector<ledger::NewEntry> entries;
        for (int i = 0; i < 10000; ++i) {
            entries.push_back(
                {"port_attached",
                 {{"port", "vi" + std::to_string(100 + i % 50)}, {"pad", std::string(pad, 'x')}}});
        }
        ledger.append_all(std::move(entries));
    }
}

}  // namespace opa::test
