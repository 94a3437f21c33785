// Files the agent writes, read back by Debian's real ifupdown2 parser (ifquery, which only
// reads; never ifup/ifreload). Skipped when /usr/sbin/ifquery is missing.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "ifupdown/interfaces_file.hpp"

namespace opa::ifupdown {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTag = "ovs-port-agent";
constexpr std::string_view kBridge = "ovsbr0";
const fs::path kIfquery = "/usr/sbin/ifquery";
constexpr int kFiles = 24;
constexpr std::size_t kParallel = 4;  // ifquery takes ~0.7 s to start; run a few at once

// What the administrator's file holds besides our block, as a GUI save writes it.
const std::string kAdminText =
    "auto lo\niface lo inet loopback\n\n"
    "auto eno1\niface eno1 inet manual\n\tovs_bridge ovsbr0\n\tovs_type OVSPort\n\n"
    "iface ovsbr0 inet manual\n\tovs_ports eno1\n\tovs_type OVSBridge\n";

struct Output {
    int status = -1;
    std::string out;
    std::string err;
};

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs shell commands, a few at a time, each with its own stderr file; returns their outputs.
std::vector<Output> run_all(const std::vector<std::string>& commands, const fs::path& dir) {
    std::vector<Output> outputs(commands.size());
    for (std::size_t first = 0; first < commands.size(); first += kParallel) {
        const std::size_t last = std::min(commands.size(), first + kParallel);
        std::vector<FILE*> pipes;
        for (std::size_t i = first; i < last; ++i) {
            const fs::path err = dir / ("stderr-" + std::to_string(i));
            pipes.push_back(::popen((commands[i] + " 2>" + err.string()).c_str(), "r"));
        }
        for (std::size_t i = first; i < last; ++i) {
            FILE* pipe = pipes[i - first];
            if (!pipe) continue;
            char buffer[4096];
            std::size_t n = 0;
            while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
                outputs[i].out.append(buffer, n);
            }
            const int raw = ::pclose(pipe);
            outputs[i].status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
            outputs[i].err = read_text(dir / ("stderr-" + std::to_string(i)));
        }
    }
    return outputs;
}

std::vector<Port> random_ports(std::mt19937& random) {
    auto number = [&](int low, int high) {
        return std::uniform_int_distribution<int>(low, high)(random);
    };
    std::vector<Port> ports;
    const int count = number(1, 6);
    for (int i = 0; i < count; ++i) {
        Port port{"vi" + std::to_string(100 + i * 7 + number(0, 6)), std::nullopt, {}};
        if (number(0, 2) > 0) port.tag = static_cast<std::uint16_t>(number(0, 4094));
        if (number(0, 3) == 0) {
            const auto first = static_cast<std::uint16_t>(number(1, 4000));
            port.trunks = {{first, first},
                           {static_cast<std::uint16_t>(first + 2),
                            static_cast<std::uint16_t>(first + number(2, 90))}};
        }
        ports.push_back(std::move(port));
    }
    return ports;
}

class IfupdownIfquery : public testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(kIfquery))
            GTEST_SKIP() << kIfquery << " missing (apt-get install ifupdown2)";
        // ifquery makes its state directory when missing, and two test processes doing it at
        // once fail with "File exists" (ifupdown2 3.0 in a fresh Debian 13 root, seen in CI).
        std::error_code made;
        fs::create_directories("/run/network", made);
        std::string pattern = (fs::temp_directory_path() / "opa-ifquery-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        if (!dir_.empty()) fs::remove_all(dir_, ignored);
    }
    // ifquery runs from the temp dir and reads only the given file.
    std::string ifquery(const fs::path& file, const std::string& arguments) const {
        return "cd '" + dir_.string() + "' && " + kIfquery.string() + " -i '" + file.string() +
               "' " + arguments;
    }

    fs::path dir_;
};

TEST_F(IfupdownIfquery, ParsesEveryPortOfGeneratedFiles) {
    std::mt19937 random(4242);
    std::vector<std::vector<Port>> port_sets;
    std::vector<fs::path> files;
    std::vector<std::string> commands;
    for (int i = 0; i < kFiles; ++i) {
        const fs::path file = dir_ / ("interfaces-" + std::to_string(i));
        std::ofstream(file) << kAdminText;
        // Odd files hold an old block first, so the update replaces rather than appends.
        InterfacesFile writer(file, dir_ / ".pve-interfaces.lock");
        if (i % 2 == 1) writer.update(kTag, kBridge, random_ports(random));
        port_sets.push_back(random_ports(random));
        writer.update(kTag, kBridge, port_sets.back());
        std::string names;
        for (const Port& port : port_sets.back()) names += " " + port.name;
        commands.push_back(ifquery(file, "-l --allow=ovsbr0"));
        commands.push_back(ifquery(file, "--allow=ovsbr0 -o json" + names));
        files.push_back(file);
    }
    const std::vector<Output> outputs = run_all(commands, dir_);

    for (int i = 0; i < kFiles; ++i) {
        const std::vector<Port>& ports = port_sets[static_cast<std::size_t>(i)];
        const Output& listed = outputs[static_cast<std::size_t>(2 * i)];
        const Output& shown = outputs[static_cast<std::size_t>(2 * i + 1)];
        SCOPED_TRACE("file " + std::to_string(i) + ":\n" +
                     read_text(files[static_cast<std::size_t>(i)]));

        ASSERT_EQ(listed.status, 0) << listed.err;
        std::set<std::string> listed_names;
        std::istringstream lines(listed.out);
        for (std::string line; std::getline(lines, line);) {
            if (!line.empty()) listed_names.insert(line);
        }
        std::set<std::string> expected_names;
        for (const Port& port : ports) expected_names.insert(port.name);
        EXPECT_EQ(listed_names, expected_names);

        ASSERT_EQ(shown.status, 0) << shown.err;
        const nlohmann::json parsed = nlohmann::json::parse(shown.out);
        ASSERT_TRUE(parsed.is_array());
        // ifquery prints a stanza once per way it was selected; all copies must agree.
        std::map<std::string, nlohmann::json> by_name;
        for (const nlohmann::json& stanza : parsed) {
            const std::string name = stanza.at("name");
            if (by_name.contains(name)) {
                EXPECT_EQ(by_name[name], stanza);
            }
            by_name[name] = stanza;
        }
        ASSERT_EQ(by_name.size(), ports.size());
        for (const Port& port : ports) {
            SCOPED_TRACE(port.name);
            ASSERT_TRUE(by_name.contains(port.name));
            const nlohmann::json& stanza = by_name[port.name];
            EXPECT_EQ(stanza.at("auto"), false);
            EXPECT_EQ(stanza.at("addr_family"), "inet");
            EXPECT_EQ(stanza.at("addr_method"), "manual");
            const nlohmann::json& config = stanza.at("config");
            EXPECT_EQ(config.at("ovs-type"), "OVSPort");
            EXPECT_EQ(config.at("ovs-bridge"), "ovsbr0");
            const std::string options = render_ovs_options(port);
            if (options.empty()) {
                EXPECT_FALSE(config.contains("ovs-options"));
            } else {
                EXPECT_EQ(config.at("ovs-options"), options);
            }
        }
    }
}

TEST_F(IfupdownIfquery, RepairedGuiSaveAndEmptyBlockParse) {
    // A GUI-saved file (BEGIN dropped, END absorbed after the last stanza), repaired; and a file
    // whose block is empty.
    const fs::path repaired = dir_ / "repaired";
    std::ofstream(repaired) << kAdminText
                            << "\nallow-ovsbr0 vi100\n\niface vi100 inet manual\n"
                               "\tovs_bridge ovsbr0\n\tovs_options tag=10\n\tovs_type OVSPort\n"
                               "# END ovs-port-agent\n";
    const fs::path empty = dir_ / "empty";
    std::ofstream(empty) << kAdminText;
    const std::vector<Port> ports = {{"vi100", 10, {}}, {"vi200", std::nullopt, {}}};
    ASSERT_TRUE(InterfacesFile(repaired).update(kTag, kBridge, ports).wrote());
    ASSERT_TRUE(InterfacesFile(empty).update(kTag, kBridge, {}).wrote());

    const std::vector<Output> outputs =
        run_all({ifquery(repaired, "-l --allow=ovsbr0"), ifquery(empty, "-l --allow=ovsbr0"),
                 ifquery(repaired, "-l -a"), ifquery(empty, "-l -a")},
                dir_);
    ASSERT_EQ(outputs[0].status, 0) << outputs[0].err;
    EXPECT_EQ(outputs[0].out, "vi100\nvi200\n");
    // An empty class is an error for ifquery, but it is the only one: the file parses.
    EXPECT_EQ(outputs[1].out, "");
    EXPECT_NE(outputs[1].err.find("no ifaces found matching given allow lists"), std::string::npos)
        << outputs[1].err;
    // `-a` covers only auto stanzas: ours never are.
    ASSERT_EQ(outputs[2].status, 0) << outputs[2].err;
    EXPECT_EQ(outputs[2].out.find("vi1"), std::string::npos) << outputs[2].out;
    EXPECT_EQ(outputs[2].out.find("vi2"), std::string::npos) << outputs[2].out;
    ASSERT_EQ(outputs[3].status, 0) << outputs[3].err;
    EXPECT_EQ(outputs[3].out, "lo\neno1\n");
}

}  // namespace
}  // namespace opa::ifupdown
