#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>

#include "agent/naming.hpp"

namespace opa::naming {
namespace {

using Kind = TemplateError::Kind;

// --- check_template ---------------------------------------------------------------------------

struct CheckCase {
    std::string tmpl;
    std::optional<Kind> kind;
    std::size_t offset = 0;
    std::string variable = {};
};

class NamingTemplateCheckTest : public ::testing::TestWithParam<CheckCase> {};

TEST_P(NamingTemplateCheckTest, Checks) {
    const CheckCase& c = GetParam();
    const auto error = check_template(c.tmpl);
    if (!c.kind) {
        EXPECT_EQ(error, std::nullopt) << c.tmpl << ": " << error->message();
        return;
    }
    ASSERT_TRUE(error) << c.tmpl;
    EXPECT_EQ(error->kind, *c.kind) << error->message();
    EXPECT_EQ(error->offset, c.offset) << error->message();
    EXPECT_EQ(error->variable, c.variable);
    EXPECT_FALSE(error->message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Naming, NamingTemplateCheckTest,
    ::testing::Values(CheckCase{"veth-{container}-eth{index}", std::nullopt},
                      CheckCase{"vi{vmid}i{index}", std::nullopt}, CheckCase{"plain", std::nullopt},
                      CheckCase{"{container}{index}{vmid}", std::nullopt},
                      CheckCase{"", Kind::kEmpty},
                      CheckCase{"veth-{foo}", Kind::kUnknownVariable, 5, "foo"},
                      CheckCase{"{}", Kind::kUnknownVariable, 0, ""},
                      CheckCase{"{Container}", Kind::kUnknownVariable, 0, "Container"},
                      CheckCase{"{index}{ vmid}", Kind::kUnknownVariable, 7, " vmid"},
                      CheckCase{"veth-{container", Kind::kUnbalancedBrace, 5},
                      CheckCase{"veth-}", Kind::kUnbalancedBrace, 5},
                      CheckCase{"{index}}", Kind::kUnbalancedBrace, 7},
                      CheckCase{"{{index}}", Kind::kUnbalancedBrace, 0},
                      CheckCase{"{", Kind::kUnbalancedBrace, 0}));

TEST(NamingTemplateCheck, UnknownVariableMessageNamesIt) {
    const auto error = check_template("x{foo}");
    ASSERT_TRUE(error);
    EXPECT_NE(error->message().find("{foo}"), std::string::npos) << error->message();
}

// --- render_template --------------------------------------------------------------------------

struct RenderCase {
    std::string tmpl;
    std::string container;
    std::uint32_t index;
    std::optional<std::uint32_t> vmid;
    std::optional<std::string> expected_name;
    std::optional<Kind> expected_error = std::nullopt;
};

class NamingTemplateRenderTest : public ::testing::TestWithParam<RenderCase> {};

TEST_P(NamingTemplateRenderTest, Renders) {
    const RenderCase& c = GetParam();
    const RenderResult result = render_template(c.tmpl, c.container, c.index, c.vmid);
    EXPECT_EQ(result.name, c.expected_name);
    EXPECT_EQ(result.name.has_value(), !result.error.has_value());
    if (c.expected_error) {
        ASSERT_TRUE(result.error);
        EXPECT_EQ(result.error->kind, *c.expected_error);
    }
    if (result.name) {
        EXPECT_TRUE(is_valid_ifname(*result.name)) << *result.name;
        EXPECT_LE(result.name->size(), kMaxIfnameLen);
    }
}

// Hash suffixes were computed independently: printf '%s' EXPANSION | sha256sum | cut -c1-8
INSTANTIATE_TEST_SUITE_P(
    Naming, NamingTemplateRenderTest,
    ::testing::Values(
        RenderCase{"veth-{container}-eth{index}", "web", 0, std::nullopt, "veth_web_eth0"},
        RenderCase{"veth-{container}-eth{index}", "Web.1", 2, std::nullopt, "veth_web_1_eth2"},
        RenderCase{"{container}", "A-Z_09", 0, std::nullopt, "a_z_09"},
        RenderCase{"vi{vmid}i{index}", "ignored", 1, 100u, "vi100i1"},
        RenderCase{"{container}{index}", "caf\xc3\xa9", 0, std::nullopt, "caf__0"},
        RenderCase{"abcdefghijklmno", "", 0, std::nullopt, "abcdefghijklmno"},  // 15: kept
        // over 15 bytes: 7 bytes of the sanitized name + 8 hex of SHA-256(unsanitized)
        RenderCase{"veth-{container}-eth{index}", "webserver-prod", 0, std::nullopt,
                   "veth_we0f9c0c17"},
        RenderCase{"veth-{container}-eth{index}", "WebServer-Prod", 0, std::nullopt,
                   "veth_wee2f41f9c"},
        RenderCase{"ct-{container}-{index}", "1234567890123", 0, std::nullopt, "ct_1234e3e93c8e"},
        // errors
        RenderCase{"vi{vmid}", "web", 0, std::nullopt, std::nullopt, Kind::kMissingVmid},
        RenderCase{"{container}", "", 0, std::nullopt, std::nullopt, Kind::kEmptyResult},
        RenderCase{"{bogus}", "web", 0, std::nullopt, std::nullopt, Kind::kUnknownVariable},
        RenderCase{"", "web", 0, std::nullopt, std::nullopt, Kind::kEmpty},
        RenderCase{"{container", "web", 0, std::nullopt, std::nullopt, Kind::kUnbalancedBrace}));

TEST(NamingTemplateRender, MissingVmidPointsAtTheVariable) {
    const RenderResult result = render_template("x-{vmid}", "web", 0);
    ASSERT_TRUE(result.error);
    EXPECT_EQ(result.error->kind, Kind::kMissingVmid);
    EXPECT_EQ(result.error->offset, 2u);
}

TEST(NamingTemplateRender, HashSuffixIsDeterministic) {
    const std::string container = "a-rather-long-container-name";
    const auto first = render_template("veth-{container}-eth{index}", container, 3);
    const auto second = render_template("veth-{container}-eth{index}", container, 3);
    ASSERT_TRUE(first);
    EXPECT_EQ(first.name, second.name);
    EXPECT_EQ(first.name->size(), kMaxIfnameLen);
}

// Long names sharing their whole sanitized prefix must stay apart through the hash suffix.
TEST(NamingTemplateRender, TenThousandLongNamesDoNotCollide) {
    std::set<std::string> names;
    constexpr int kCount = 10'000;
    for (int i = 0; i < kCount; ++i) {
        const std::string container = "tenant-container-" + std::to_string(i);
        const auto result = render_template("veth-{container}-eth{index}", container, 0);
        ASSERT_TRUE(result) << container;
        ASSERT_EQ(result.name->size(), kMaxIfnameLen);
        ASSERT_EQ(result.name->substr(0, kHashPrefixLen), "veth_te");
        EXPECT_TRUE(names.insert(*result.name).second) << "collision: " << *result.name;
    }
    EXPECT_EQ(names.size(), static_cast<std::size_t>(kCount));
}

TEST(NamingTemplateRender, LongNamesDifferingOnlyInPunctuationStayDistinct) {
    // Sanitizing maps both to the same 19 bytes; the hash is over the unsanitized text.
    const auto dotted = render_template("{container}", "abc.defgh.ijklmnop", 0);
    const auto dashed = render_template("{container}", "abc-defgh-ijklmnop", 0);
    ASSERT_TRUE(dotted && dashed);
    EXPECT_NE(dotted.name, dashed.name);
}

}  // namespace
}  // namespace opa::naming
