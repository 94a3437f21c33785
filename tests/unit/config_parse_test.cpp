#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"

namespace opa::config {
namespace {

using namespace std::chrono_literals;

std::string describe_errors(const LoadResult& result) {
    std::string out;
    for (const Error& e : result.errors) out += "  " + e.to_string() + "\n";
    return out;
}

// --- one bad input, one error -----------------------------------------------------------------

struct BadCase {
    std::string label;
    std::string text;
    std::string expected_substring;
    std::size_t line;
    std::size_t column;
    std::string forbidden_substring = {};  // must NOT appear (e.g. a bogus suggestion)
};

class ConfigBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigBadInputTest, ReportsOneErrorAtPosition) {
    const BadCase& c = GetParam();
    const LoadResult result = parse(c.text, "test.toml");
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(result.config.has_value());
    ASSERT_EQ(result.errors.size(), 1u) << describe_errors(result);
    const Error& error = result.errors.front();
    EXPECT_EQ(error.file, "test.toml");
    EXPECT_NE(error.message.find(c.expected_substring), std::string::npos)
        << "message: " << error.message << "\nexpected to contain: " << c.expected_substring;
    EXPECT_EQ(error.line, c.line) << error.to_string();
    EXPECT_EQ(error.column, c.column) << error.to_string();
    if (!c.forbidden_substring.empty()) {
        EXPECT_EQ(error.message.find(c.forbidden_substring), std::string::npos) << error.message;
    }
}

// Columns point at the offending value (or key, for unknown keys), 1-based.
INSTANTIATE_TEST_SUITE_P(
    Config, ConfigBadInputTest,
    ::testing::Values(
        // types
        BadCase{"debounce_string", "debounce_ms = \"5\"",
                "debounce_ms: expected an integer, got a string", 1, 15},
        BadCase{"debounce_float", "debounce_ms = 1.5", "expected an integer, got a floating-point",
                1, 15},
        BadCase{"bridge_int", "bridge_name = 5", "bridge_name: expected a string, got an integer",
                1, 15},
        BadCase{"rename_string", "enable_rename = \"yes\"",
                "enable_rename: expected a boolean, got a string", 1, 17},
        BadCase{"prefixes_string", "include_prefixes = \"veth\"",
                "include_prefixes: expected an array of strings, got a string", 1, 20},
        BadCase{"prefix_element_int", "include_prefixes = [\"veth\", 3]",
                "include_prefixes[1]: expected a string, got an integer", 1, 29},
        BadCase{"path_bool", "ledger_path = true", "ledger_path: expected a string, got a boolean",
                1, 15},
        BadCase{"known_key_as_table", "[bridge_name]\nx = 1",
                "bridge_name: expected a string, got a table", 1, 1},
        // debounce range
        BadCase{"debounce_high", "debounce_ms = 60001",
                "debounce_ms: 60001 is out of range 0..60000", 1, 15},
        BadCase{"debounce_negative", "debounce_ms = -1", "-1 is out of range 0..60000", 1, 15},
        // interface names
        BadCase{"bridge_space", "bridge_name = \"a b\"",
                "bridge_name: \"a b\" is not a valid interface name: it contains whitespace", 1,
                15},
        BadCase{"bridge_long", "bridge_name = \"abcdefghijklmnop\"", "is longer than 15 bytes", 1,
                15},
        BadCase{"bridge_empty", "bridge_name = \"\"", "it is empty", 1, 15},
        BadCase{"bridge_dot", "bridge_name = \".\"", "is \".\" or \"..\"", 1, 15},
        BadCase{"bridge_dotdot", "bridge_name = \"..\"", "is \".\" or \"..\"", 1, 15},
        BadCase{"bridge_slash", "bridge_name = \"a/b\"", "contains '/'", 1, 15},
        BadCase{"bridge_nonascii", "bridge_name = \"br\u00e9\"", "contains a non-ASCII byte", 1,
                15},
        BadCase{"bridge_control", "bridge_name = \"br\\u0007\"",
                "\"br\\u0007\" is not a valid interface name: it contains a control character", 1,
                15},
        BadCase{"uplink_colon", "uplink = \"eth0:1\"", "uplink: \"eth0:1\" is not a valid", 1, 10},
        // include_prefixes
        BadCase{"prefixes_empty", "include_prefixes = []",
                "include_prefixes: must list at least one entry", 1, 20},
        BadCase{"prefix_empty", "include_prefixes = [\"veth\", \"\"]",
                "include_prefixes[1]: must not be empty", 1, 29},
        BadCase{"prefix_slash", "include_prefixes = [\"a/\"]",
                "include_prefixes[0]: \"a/\" cannot start an interface name", 1, 21},
        // naming_template
        BadCase{"template_unknown_var", "naming_template = \"veth-{foo}\"",
                "naming_template: \"veth-{foo}\": unknown variable {foo}", 1, 19},
        BadCase{"template_unbalanced", "naming_template = \"veth-{container\"",
                "unbalanced brace at offset 5", 1, 19},
        BadCase{"template_stray_close", "naming_template = \"veth}\"",
                "unbalanced brace at offset 4", 1, 19},
        BadCase{"template_empty", "naming_template = \"\"", "naming_template: must not be empty", 1,
                19},
        // managed_block_tag
        BadCase{"tag_empty", "managed_block_tag = \"\"", "managed_block_tag: must not be empty", 1,
                21},
        BadCase{"tag_newline", "managed_block_tag = \"a\\nb\"",
                "managed_block_tag: \"a\\nb\" must not contain a line break", 1, 21},
        BadCase{"tag_multiline", "managed_block_tag = \"\"\"\nx\ny\"\"\"",
                "must not contain a line", 1, 21},
        // paths
        BadCase{"interfaces_relative", "interfaces_path = \"etc/network/interfaces\"",
                "interfaces_path: \"etc/network/interfaces\" is not an absolute path", 1, 19},
        BadCase{"ledger_relative", "ledger_path = \"ledger.jsonl\"", "ledger_path: ", 1, 15},
        BadCase{"mountpoint_empty", "mountpoint = \"\"", "mountpoint: \"\" is not an absolute path",
                1, 14},
        BadCase{"setup_log_relative", "setup_log_path = \"./x.log\"", "is not an absolute path", 1,
                18},
        BadCase{"path_nul", "ledger_path = \"/var/a\\u0000b\"",
                "ledger_path: must not contain a NUL character", 1, 15},
        // container_name_cmd
        BadCase{"name_cmd_empty", "container_name_cmd = \"\"",
                "container_name_cmd: must not be empty when given", 1, 22},
        // unknown keys
        BadCase{"unknown_typo", "bridge_nam = \"x\"",
                "unknown key 'bridge_nam'; did you mean 'bridge_name'?", 1, 1},
        BadCase{"unknown_case", "Debounce_MS = 5", "did you mean 'debounce_ms'?", 1, 1},
        BadCase{"unknown_two_edits", "ledgr_pth = \"/x\"", "did you mean 'ledger_path'?", 1, 1},
        BadCase{"unknown_far", "frobnicate = 1", "unknown key 'frobnicate'", 1, 1, "did you mean"},
        BadCase{"unknown_indented", "\n\n   uplnk = \"eth0\"", "did you mean 'uplink'?", 3, 4},
        BadCase{"unknown_table", "[bridge]\nname = \"ovsbr1\"",
                "unknown key 'bridge' (tables are not supported", 1, 2, "did you mean"},
        BadCase{"unknown_dotted", "net.uplink = \"eth0\"", "unknown key 'net'", 1, 1},
        BadCase{"unknown_quoted", "\"bridge name\" = \"x\"",
                "unknown key 'bridge name'; did you mean 'bridge_name'?", 1, 1}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.label; });

// --- malformed TOML ---------------------------------------------------------------------------

struct MalformedCase {
    std::string label;
    std::string text;
    std::size_t line;
};

class ConfigMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(ConfigMalformedTest, ReportsExactlyTheSyntaxError) {
    const MalformedCase& c = GetParam();
    const LoadResult result = parse(c.text, "bad.toml");
    EXPECT_FALSE(result.config.has_value());
    ASSERT_EQ(result.errors.size(), 1u) << describe_errors(result);
    EXPECT_EQ(result.errors[0].line, c.line) << result.errors[0].to_string();
    EXPECT_GE(result.errors[0].column, 1u);
    EXPECT_FALSE(result.errors[0].message.empty());
    EXPECT_EQ(result.errors[0].to_string().rfind("bad.toml:" + std::to_string(c.line) + ":", 0), 0u)
        << result.errors[0].to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigMalformedTest,
    ::testing::Values(
        MalformedCase{"unterminated_string", "bridge_name = \"ovsbr0\n", 1},
        MalformedCase{"missing_value", "debounce_ms =\n", 1},
        MalformedCase{"duplicate_key", "bridge_name = \"a\"\nbridge_name = \"b\"\n", 2},
        // the unknown key and bad value before the syntax error are not reported
        MalformedCase{"after_semantic_errors",
                      "bogus = 1\ndebounce_ms = \"x\"\ninclude_prefixes = [\"a\",\n", 3},
        MalformedCase{"garbage", "\n\n}{", 3}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.label; });

// --- several errors at once -------------------------------------------------------------------

TEST(ConfigParse, ReportsEveryErrorSortedByPosition) {
    const std::string text =
        "bridge_name = \"not valid\"\n"           // 1
        "debounce_ms = 99999\n"                   // 2
        "include_prefixes = [\"\", 7, \"ok\"]\n"  // 3: two element errors
        "naming_template = \"{nope}\"\n"          // 4
        "ledger_path = \"relative\"\n"            // 5
        "enable_rename = 1\n"                     // 6
        "bridge_nmae = \"x\"\n"                   // 7
        "uplink = \"\"\n";                        // 8
    const LoadResult result = parse(text, "multi.toml");
    ASSERT_FALSE(result.ok());
    EXPECT_FALSE(result.config.has_value());

    struct Expected {
        std::size_t line, column;
        std::string substring;
    };
    const std::vector<Expected> expected = {
        {1, 15, "bridge_name: "},
        {2, 15, "debounce_ms: 99999 is out of range"},
        {3, 21, "include_prefixes[0]: must not be empty"},
        {3, 25, "include_prefixes[1]: expected a string"},
        {4, 19, "unknown variable {nope}"},
        {5, 15, "ledger_path: \"relative\" is not an absolute path"},
        {6, 17, "enable_rename: expected a boolean, got an integer"},
        {7, 1, "unknown key 'bridge_nmae'; did you mean 'bridge_name'?"},
        {8, 10, "uplink: \"\" is not a valid interface name: it is empty"},
    };
    ASSERT_EQ(result.errors.size(), expected.size()) << describe_errors(result);
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const Error& error = result.errors[i];
        EXPECT_EQ(error.line, expected[i].line) << error.to_string();
        EXPECT_EQ(error.column, expected[i].column) << error.to_string();
        EXPECT_NE(error.message.find(expected[i].substring), std::string::npos)
            << error.to_string();
    }
}

TEST(ConfigParse, ErrorToStringIsFileLineColumnMessage) {
    const LoadResult result = parse("\ndebounce_ms = \"5\"", "/etc/x.toml");
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].to_string(),
              "/etc/x.toml:2:15: debounce_ms: expected an integer, got a string");
    const Error no_position{"/etc/x.toml", 0, 0, "cannot open: Permission denied"};
    EXPECT_EQ(no_position.to_string(), "/etc/x.toml: cannot open: Permission denied");
}

// --- good input -------------------------------------------------------------------------------

TEST(ConfigParse, EmptyTextGivesDefaults) {
    const LoadResult result = parse("", "empty.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    EXPECT_EQ(result.config, Config{});
    EXPECT_FALSE(result.used_defaults);  // a file existed; it just set nothing
}

TEST(ConfigParse, DefaultsAreTheDocumentedOnes) {
    const Config config;
    EXPECT_EQ(config.bridge_name, "ovsbr0");
    EXPECT_EQ(config.interfaces_path, "/etc/network/interfaces");
    EXPECT_EQ(config.include_prefixes, (std::vector<std::string>{"veth-", "tap", "veth"}));
    EXPECT_EQ(config.debounce_ms, 500ms);
    EXPECT_EQ(config.managed_block_tag, "ovs-port-agent");
    EXPECT_EQ(config.naming_template, "veth-{container}-eth{index}");
    EXPECT_FALSE(config.enable_rename);
    EXPECT_EQ(config.container_name_cmd, std::nullopt);
    EXPECT_EQ(config.ledger_path, "/var/lib/ovs-port-agent/ledger.jsonl");
    EXPECT_EQ(config.mountpoint, "/run/ovs-ports");
    EXPECT_EQ(config.uplink, std::nullopt);
    EXPECT_EQ(config.setup_log_path, "/var/log/nm-ovs-setup.log");
    EXPECT_EQ(kDefaultPath, "/etc/ovs-port-agent/config.toml");
}

TEST(ConfigParse, ReadsEveryKey) {
    const std::string text = R"(
bridge_name = "ovsbr1"
interfaces_path = "/tmp/interfaces"
include_prefixes = ["veth", "tap", "fwln"]
debounce_ms = 0
managed_block_tag = "opa test"
naming_template = "vi{vmid}i{index}-{container}"
enable_rename = true
container_name_cmd = "/usr/bin/name {ifname}"
ledger_path = "/tmp/ledger.jsonl"
mountpoint = "/mnt/ports"
uplink = "eno1"
setup_log_path = "/tmp/setup.log"
)";
    const LoadResult result = parse(text, "all.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    const Config& c = *result.config;
    EXPECT_EQ(c.bridge_name, "ovsbr1");
    EXPECT_EQ(c.interfaces_path, "/tmp/interfaces");
    EXPECT_EQ(c.include_prefixes, (std::vector<std::string>{"veth", "tap", "fwln"}));
    EXPECT_EQ(c.debounce_ms, 0ms);
    EXPECT_EQ(c.managed_block_tag, "opa test");
    EXPECT_EQ(c.naming_template, "vi{vmid}i{index}-{container}");
    EXPECT_TRUE(c.enable_rename);
    EXPECT_EQ(c.container_name_cmd, "/usr/bin/name {ifname}");
    EXPECT_EQ(c.ledger_path, "/tmp/ledger.jsonl");
    EXPECT_EQ(c.mountpoint, "/mnt/ports");
    EXPECT_EQ(c.uplink, "eno1");
    EXPECT_EQ(c.setup_log_path, "/tmp/setup.log");
}

TEST(ConfigParse, BoundaryValuesAreAccepted) {
    const LoadResult result = parse(
        "debounce_ms = 60000\nbridge_name = \"abcdefghijklmno\"\ninclude_prefixes = [\".\"]\n",
        "edge.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    EXPECT_EQ(result.config->debounce_ms, 60000ms);
}

// --- to_toml ----------------------------------------------------------------------------------

TEST(ConfigToToml, DefaultsRoundTrip) {
    const std::string dumped = Config{}.to_toml();
    const LoadResult result = parse(dumped, "dump.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result) << dumped;
    EXPECT_EQ(result.config, Config{});
    EXPECT_NE(dumped.find("bridge_name = \"ovsbr0\"\n"), std::string::npos) << dumped;
    EXPECT_NE(dumped.find("# uplink is not set\n"), std::string::npos) << dumped;
}

TEST(ConfigToToml, EveryKeyIsDumpedInTableOrder) {
    Config config;
    config.uplink = "eno1";
    config.container_name_cmd = "x";
    const std::string dumped = config.to_toml();
    std::size_t previous = 0;
    for (std::string_view key : known_keys()) {
        const std::size_t at = dumped.find(std::string(key) + " = ");
        ASSERT_NE(at, std::string::npos) << key << " missing in\n" << dumped;
        EXPECT_GE(at, previous) << key;
        previous = at;
    }
}

TEST(ConfigToToml, NonDefaultValuesWithEscapesRoundTrip) {
    Config config;
    config.bridge_name = "br-x";
    config.interfaces_path = "/etc/net \"work\"/inter\\faces";
    config.include_prefixes = {"a", "b\"c"};
    config.debounce_ms = std::chrono::milliseconds(12345);
    config.managed_block_tag = "tag\twith tab";
    config.naming_template = "{vmid}";
    config.enable_rename = true;
    config.container_name_cmd = "cmd 'q' \"dq\" \\";
    config.ledger_path = "/l";
    config.mountpoint = "/m";
    config.uplink = "eno1";
    config.setup_log_path = "/s";
    const std::string dumped = config.to_toml();
    const LoadResult result = parse(dumped, "dump.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result) << dumped;
    EXPECT_EQ(result.config, config) << dumped;
}

}  // namespace
}  // namespace opa::config
