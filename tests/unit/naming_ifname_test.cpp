#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>

#include "agent/naming.hpp"

namespace opa::naming {
namespace {

struct IfnameCase {
    std::string name;
    std::optional<IfnameError> expected;
};

class NamingIfnameTest : public ::testing::TestWithParam<IfnameCase> {};

TEST_P(NamingIfnameTest, ClassifiesName) {
    const IfnameCase& c = GetParam();
    EXPECT_EQ(ifname_error(c.name), c.expected) << "name: '" << c.name << "'";
    EXPECT_EQ(is_valid_ifname(c.name), !c.expected.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Naming, NamingIfnameTest,
    ::testing::Values(
        // valid
        IfnameCase{"ovsbr0", std::nullopt}, IfnameCase{"veth100i0", std::nullopt},
        IfnameCase{"a", std::nullopt}, IfnameCase{"vi999999999i31", std::nullopt},
        IfnameCase{"abcdefghijklmno", std::nullopt},  // exactly 15 bytes
        IfnameCase{"veth-web.1_X", std::nullopt}, IfnameCase{"...", std::nullopt},
        IfnameCase{".a", std::nullopt},
        // invalid
        IfnameCase{"", IfnameError::kEmpty},
        IfnameCase{"abcdefghijklmnop", IfnameError::kTooLong},   // 16 bytes
        IfnameCase{"a/b/c/d/e/f/g/h/i", IfnameError::kTooLong},  // length wins over '/'
        IfnameCase{".", IfnameError::kDotName}, IfnameCase{"..", IfnameError::kDotName},
        IfnameCase{"a/b", IfnameError::kSlash}, IfnameCase{"/", IfnameError::kSlash},
        IfnameCase{"eth0:1", IfnameError::kColon}, IfnameCase{"a b", IfnameError::kWhitespace},
        IfnameCase{"a\\b", IfnameError::kBackslash}, IfnameCase{"\\", IfnameError::kBackslash},
        IfnameCase{"a\tb", IfnameError::kWhitespace}, IfnameCase{"ab\n", IfnameError::kWhitespace},
        IfnameCase{"a\rb", IfnameError::kWhitespace}, IfnameCase{"a\vb", IfnameError::kWhitespace},
        IfnameCase{std::string("a\0b", 3), IfnameError::kControl},
        IfnameCase{"a\x1b", IfnameError::kControl}, IfnameCase{"a\x7f", IfnameError::kControl},
        IfnameCase{"caf\xc3\xa9", IfnameError::kNonAscii},
        IfnameCase{"\xff", IfnameError::kNonAscii}));

TEST(NamingIfname, ErrnoMapsTooLongToEnametoolong) {
    EXPECT_EQ(errno_for(IfnameError::kTooLong), ENAMETOOLONG);
    for (auto e : {IfnameError::kEmpty, IfnameError::kDotName, IfnameError::kSlash,
                   IfnameError::kColon, IfnameError::kBackslash, IfnameError::kWhitespace,
                   IfnameError::kControl, IfnameError::kNonAscii}) {
        EXPECT_EQ(errno_for(e), EINVAL);
    }
}

TEST(NamingIfname, EveryErrorHasADescription) {
    for (auto e : {IfnameError::kEmpty, IfnameError::kTooLong, IfnameError::kDotName,
                   IfnameError::kSlash, IfnameError::kColon, IfnameError::kBackslash,
                   IfnameError::kWhitespace, IfnameError::kControl, IfnameError::kNonAscii}) {
        EXPECT_FALSE(describe(e).empty());
    }
    EXPECT_EQ(describe(IfnameError::kTooLong), "is longer than 15 bytes");
}

}  // namespace
}  // namespace opa::naming
