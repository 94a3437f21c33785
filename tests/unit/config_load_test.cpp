#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "config/config.hpp"

namespace opa::config {
namespace {

namespace fs = std::filesystem;

std::string describe_errors(const LoadResult& result) {
    std::string out;
    for (const Error& e : result.errors) out += "  " + e.to_string() + "\n";
    return out;
}

// A fresh directory per test, removed afterwards.
class ConfigLoadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "opa-config-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::permissions(dir_, fs::perms::owner_all, ignored);
        fs::remove_all(dir_, ignored);
    }
    fs::path write(const std::string& name, const std::string& text) {
        const fs::path path = dir_ / name;
        std::ofstream(path) << text;
        return path;
    }
    fs::path dir_;
};

TEST_F(ConfigLoadTest, MissingFileGivesDefaults) {
    const LoadResult result = load(dir_ / "absent.toml");
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    EXPECT_TRUE(result.used_defaults);
    EXPECT_EQ(result.config, Config{});
}

TEST_F(ConfigLoadTest, ExistingFileIsReadAndNotDefaults) {
    const LoadResult result = load(write("c.toml", "bridge_name = \"ovsbr1\"\n"));
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    EXPECT_FALSE(result.used_defaults);
    EXPECT_EQ(result.config->bridge_name, "ovsbr1");
}

TEST_F(ConfigLoadTest, ErrorsNameTheFile) {
    const fs::path path = write("bad.toml", "\ndebounce_ms = \"5\"\n");
    const LoadResult result = load(path);
    ASSERT_EQ(result.errors.size(), 1u) << describe_errors(result);
    EXPECT_EQ(result.errors[0].to_string(),
              path.string() + ":2:15: debounce_ms: expected an integer, got a string");
}

TEST_F(ConfigLoadTest, DirectoryIsAnError) {
    const LoadResult result = load(dir_);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_FALSE(result.config.has_value());
    EXPECT_FALSE(result.used_defaults);
    EXPECT_EQ(result.errors[0].line, 0u);
    EXPECT_NE(result.errors[0].message.find("Is a directory"), std::string::npos)
        << result.errors[0].to_string();
}

TEST_F(ConfigLoadTest, MissingParentThroughAFileIsAnErrorNotDefaults) {
    const fs::path file = write("plain", "");
    const LoadResult result = load(file / "config.toml");  // ENOTDIR, not ENOENT
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_NE(result.errors[0].message.find("cannot open"), std::string::npos);
}

// Runs load() as an unprivileged user when the tests run as root (as in CI), since root
// bypasses file permissions. Returns the errors' to_string(), one per line.
std::string load_errors_unprivileged(const fs::path& path) {
    if (::geteuid() != 0) {
        std::string out;
        for (const Error& e : load(path).errors) out += e.to_string() + "\n";
        return out;
    }
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(fds[0]);
        constexpr uid_t kNobody = 65534;
        if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
        std::string out;
        for (const Error& e : load(path).errors) out += e.to_string() + "\n";
        const bool written =
            ::write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
        ::_exit(written ? 0 : 3);
    }
    ::close(fds[1]);
    std::string out;
    char buffer[512];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, n);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed";
    return out;
}

TEST_F(ConfigLoadTest, UnreadableFileIsAnError) {
    const fs::path path = write("secret.toml", "bridge_name = \"x\"\n");
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    fs::permissions(path, fs::perms::none);
    EXPECT_EQ(load_errors_unprivileged(path), path.string() + ": cannot open: Permission denied\n");
}

TEST_F(ConfigLoadTest, OversizedFileIsAnError) {
    const LoadResult result = load(write("huge.toml", std::string(2 << 20, '#')));
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_NE(result.errors[0].message.find("larger than"), std::string::npos);
}

// --- the shipped example ----------------------------------------------------------------------

const fs::path kExample = fs::path(OPA_SOURCE_ROOT) / "config" / "config.toml.example";

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(ConfigExample, ParsesToDefaults) {
    const LoadResult result = load(kExample);
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    ASSERT_FALSE(result.used_defaults) << "example not found at " << kExample;
    EXPECT_EQ(result.config, Config{});
}

// Uncommenting every "# key = value" line must give a valid file whose values are the
// defaults (except the optional keys, which show an example value): the documented defaults
// are the real ones, and every known key is documented exactly once.
TEST(ConfigExample, DocumentsEveryKeyWithItsDefault) {
    const std::string text = read_file(kExample);
    ASSERT_FALSE(text.empty()) << kExample;
    const std::regex commented_key(R"(^# ([a-z_]+) = )");
    std::multiset<std::string> documented;
    std::string uncommented;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (std::regex_search(line, match, commented_key)) {
            documented.insert(match[1]);
            line = line.substr(2);
        }
        uncommented += line + "\n";
    }
    for (std::string_view key : known_keys()) {
        EXPECT_EQ(documented.count(std::string(key)), 1u) << key;
    }
    EXPECT_EQ(documented.size(), known_keys().size());

    const LoadResult result = parse(uncommented, "uncommented-example");
    ASSERT_TRUE(result.ok()) << describe_errors(result);
    Config config = *result.config;
    EXPECT_TRUE(config.uplink.has_value());
    EXPECT_TRUE(config.container_name_cmd.has_value());
    config.uplink.reset();
    config.container_name_cmd.reset();
    EXPECT_EQ(config, Config{});
}

}  // namespace
}  // namespace opa::config
