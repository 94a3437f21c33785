// Reading back a VMID from an external id anyone with root may have edited.
#include <gtest/gtest.h>

#include "nm/external_ids.hpp"

namespace {

using opa::nm::parse_vmid;

TEST(ParseVmid, TakesTheCanonicalSpellingOnly) {
    EXPECT_EQ(parse_vmid("100"), 100u);
    EXPECT_EQ(parse_vmid("1"), 1u);
    EXPECT_EQ(parse_vmid("999999999"), 999'999'999u);
    for (const char* bad : {"", "abc", "-1", "+1", " 100", "100 ", "0", "0100", "1e3", "10a",
                            "1000000000", "4294967296", "18446744073709551616", "0x10"}) {
        EXPECT_FALSE(parse_vmid(bad)) << bad;
    }
}

}  // namespace
