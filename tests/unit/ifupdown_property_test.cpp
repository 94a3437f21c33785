// Property tests of apply_block over thousands of generated interfaces files: random mixes of
// stanzas, comments, blank lines, tabs and spaces, CRLF lines, a missing final newline, an old
// block of ours at a random place or none, and random port sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "ifupdown/block.hpp"

namespace opa::ifupdown {
namespace {

constexpr std::string_view kTag = "ovs-port-agent";
constexpr std::string_view kBridge = "ovsbr0";
const std::string kBeginLine = "# BEGIN ovs-port-agent\n";
const std::string kEndLine = "# END ovs-port-agent\n";
constexpr int kIterations = 4000;

class FileGenerator {
  public:
    explicit FileGenerator(unsigned seed) : random_(seed) {}

    int number(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
    bool chance(int percent) { return number(1, 100) <= percent; }
    template <typename T>
    const T& pick(const std::vector<T>& choices) {
        return choices[static_cast<std::size_t>(number(0, static_cast<int>(choices.size()) - 1))];
    }

    std::vector<Port> ports() {
        std::vector<Port> result;
        for (int vmid = 100; vmid <= 120; ++vmid) {
            if (!chance(30)) continue;
            Port port{"vi" + std::to_string(vmid), std::nullopt, {}};
            if (chance(60)) port.tag = static_cast<std::uint16_t>(number(0, 4094));
            if (chance(20)) {
                const auto first = static_cast<std::uint16_t>(number(1, 4000));
                port.trunks.push_back({first, static_cast<std::uint16_t>(first + number(0, 94))});
            }
            result.push_back(std::move(port));
        }
        return result;
    }

    // One administrator's element: a whole stanza, a comment, a blank line, a single keyword.
    std::string element() {
        const std::string eol = chance(10) ? "\r\n" : "\n";
        const std::string indent = pick<std::string>({"\t", "    ", "  ", "", "\t "});
        auto line = [&](const std::string& text) { return text + eol; };
        auto option = [&](const std::string& text) { return indent + text + eol; };
        switch (number(0, 13)) {
            case 0:
                return line(pick<std::string>({"", " ", "\t", "  \t "}));
            case 1:
                return line(pick<std::string>({"# comment", "   # indented comment", "#",
                                               "## BEGIN something else", "# END", "#BEGIN",
                                               "# managed by hand"}));
            case 2:
                return line("auto lo") + line("iface lo inet loopback");
            case 3:
                return line(pick<std::string>({"auto eth0", "allow-hotplug eth0 eth2"})) +
                       line("iface eth0 inet static") + option("address 192.0.2.10/24") +
                       (chance(50) ? line("# gateway below") : "") + option("gateway 192.0.2.1");
            case 4:  // an administrator's NIC in an OVS bridge, as a GUI save writes it
                return line("auto eth1") + line("iface eth1 inet manual") +
                       option("ovs_bridge ovsbr0") + option("ovs_type OVSPort");
            case 5:
                return line(pick<std::string>({"auto vmbr1", "allow-ovs vmbr1"})) +
                       line("iface vmbr1 inet manual") + option("ovs_type OVSBridge") +
                       option("ovs_ports eth1 enp3s0");
            case 6:  // an OVSPort of our bridge for a NIC named nowhere: not ours by rule 3
                return line("allow-ovsbr0 enp3s0") + line("iface enp3s0 inet manual") +
                       option("ovs_type OVSPort") + option("ovs_bridge ovsbr0");
            case 7:
                return line("allow-vmbr1 mgmt0") + line("iface mgmt0 inet static") +
                       option("ovs_type OVSIntPort") + option("ovs_bridge vmbr1") +
                       option("ovs_options tag=14") + option("address 10.14.0.2/24");
            case 8:
                return line("mapping eth0") + option("script /usr/local/sbin/map-scheme") +
                       option("map HOME eth0-home");
            case 9:
                return line(pick<std::string>(
                    {"source /etc/network/interfaces.d/*", "source-directory interfaces.d"}));
            case 10:
                return line("iface eth0 inet6 auto") + option("privext 2");
            case 11:
                return line("auto bond0") + line("iface bond0 inet manual") +
                       option("ovs_bonds eth3 eth4") + option("ovs_type OVSBond") +
                       option("ovs_bridge vmbr1");
            case 12:
                return line("iface vmbr0 inet static") + option("bridge-ports eno1") +
                       option("bridge-stp off") + line("#vmbr0 comment");
            default:
                return line("allow-ovsbr0 eth1");
        }
    }

    struct File {
        std::vector<std::string> admin_elements;  // each ends in '\n'
        std::string text;                         // the elements, maybe with a block of ours
        bool has_block = false;
    };

    File file() {
        File result;
        const int count = number(0, 12);
        for (int i = 0; i < count; ++i) result.admin_elements.push_back(element());
        std::vector<std::string> elements = result.admin_elements;
        if (chance(60)) {
            const auto at = static_cast<std::size_t>(number(0, count));
            elements.insert(elements.begin() + static_cast<std::ptrdiff_t>(at),
                            render_block(kTag, kBridge, ports()));
            result.has_block = true;
        }
        for (const std::string& element : elements) result.text += element;
        if (!result.text.empty() && !result.text.ends_with(kEndLine) && chance(10)) {
            result.text.pop_back();  // no final newline (a CRLF line keeps its '\r')
        }
        return result;
    }

  private:
    std::mt19937 random_;
};

std::size_t count_lines(const std::string& text, const std::string& wanted_line) {
    std::size_t count = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::size_t stop = end == std::string::npos ? text.size() : end + 1;
        if (text.compare(start, stop - start, wanted_line) == 0) ++count;
        start = stop;
    }
    return count;
}

struct BlockSpan {
    std::size_t begin;
    std::size_t end;  // one past the END line's '\n'
};

// The single block: BEGIN at a line start, END line after it.
std::optional<BlockSpan> find_block(const std::string& text) {
    std::size_t begin = text.starts_with(kBeginLine) ? 0 : text.find("\n" + kBeginLine);
    if (begin == std::string::npos) return std::nullopt;
    if (begin != 0 || !text.starts_with(kBeginLine)) ++begin;
    const std::size_t end_line = text.find("\n" + kEndLine, begin);
    if (end_line == std::string::npos) return std::nullopt;
    return BlockSpan{begin, end_line + 1 + kEndLine.size()};
}

std::string cut(const std::string& text, const BlockSpan& span) {
    return text.substr(0, span.begin) + text.substr(span.end);
}

std::vector<std::string> non_blank_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
        start = end + 1;
    }
    return lines;
}

TEST(IfupdownProperty, BytesOutsideBlockKeptOneBlockIdempotent) {
    FileGenerator generator(20240601);
    for (int iteration = 0; iteration < kIterations; ++iteration) {
        const FileGenerator::File before = generator.file();
        const std::vector<Port> ports = generator.ports();
        const std::string after = apply_block(before.text, kTag, kBridge, ports);
        SCOPED_TRACE("iteration " + std::to_string(iteration) + "\n--- before ---\n" + before.text +
                     "\n--- after ---\n" + after);

        ASSERT_EQ(count_lines(after, kBeginLine), 1u);
        ASSERT_EQ(count_lines(after, kEndLine), 1u);
        const std::optional<BlockSpan> span = find_block(after);
        ASSERT_TRUE(span.has_value());
        EXPECT_EQ(after.substr(span->begin, span->end - span->begin),
                  render_block(kTag, kBridge, ports));

        if (before.has_block) {
            const std::optional<BlockSpan> old_span = find_block(before.text);
            ASSERT_TRUE(old_span.has_value());
            EXPECT_EQ(cut(after, *span), cut(before.text, *old_span));
        } else {
            // Appended: the old text, at most two '\n' to end the last line and leave a blank
            // line, then the block at the very end.
            EXPECT_EQ(after.substr(0, before.text.size()), before.text);
            const std::string separator =
                after.substr(before.text.size(), span->begin - before.text.size());
            EXPECT_LE(separator.size(), 2u);
            EXPECT_EQ(separator.find_first_not_of('\n'), std::string::npos);
            EXPECT_EQ(span->end, after.size());
        }
        ASSERT_EQ(apply_block(after, kTag, kBridge, ports), after) << "not idempotent";
    }
}

// What a Proxmox GUI save does to our block (proxmox-and-peers.md): BEGIN dropped, a blank line
// after each allow- line, options sorted, END kept as a comment after the last stanza.
std::string gui_mangle(const std::vector<Port>& ports) {
    std::vector<Port> sorted = ports;
    std::sort(sorted.begin(), sorted.end(),
              [](const Port& a, const Port& b) { return a.name < b.name; });
    std::string text;
    for (const Port& port : sorted) {
        text += "allow-ovsbr0 " + port.name + "\n\niface " + port.name + " inet manual\n";
        text += "\tovs_bridge ovsbr0\n";
        if (const std::string options = render_ovs_options(port); !options.empty()) {
            text += "\tovs_options " + options + "\n";
        }
        text += "\tovs_type OVSPort\n\n";
    }
    if (!text.empty()) text.pop_back();  // the END comment follows the last stanza directly
    return text + "# END ovs-port-agent\n";
}

TEST(IfupdownProperty, GuiMangledBlockRepairedWithoutLosingAdminLines) {
    FileGenerator generator(977);
    for (int iteration = 0; iteration < kIterations / 4; ++iteration) {
        const FileGenerator::File file = generator.file();
        const std::vector<Port> old_ports = generator.ports();
        const std::vector<Port> new_ports = generator.ports();
        // The GUI writes whole stanzas: the mangled ports go between two admin elements.
        const std::vector<std::string>& elements = file.admin_elements;
        const auto at =
            static_cast<std::size_t>(generator.number(0, static_cast<int>(elements.size())));
        std::string admin_text;
        std::string mangled;
        for (std::size_t i = 0; i <= elements.size(); ++i) {
            if (i == at) mangled += "\n" + gui_mangle(old_ports) + "\n";
            if (i == elements.size()) break;
            admin_text += elements[i];
            mangled += elements[i];
        }
        // The agent passes the ports it wrote before as previously managed.
        ApplyOptions options;
        for (const Port& port : old_ports) options.previously_managed.push_back(port.name);

        const std::string after = apply_block(mangled, kTag, kBridge, new_ports, options);
        SCOPED_TRACE("iteration " + std::to_string(iteration) + "\n--- mangled ---\n" + mangled +
                     "\n--- after ---\n" + after);
        ASSERT_EQ(count_lines(after, kBeginLine), 1u);
        ASSERT_EQ(count_lines(after, kEndLine), 1u);
        const std::optional<BlockSpan> span = find_block(after);
        ASSERT_TRUE(span.has_value());
        EXPECT_EQ(after.substr(span->begin, span->end - span->begin),
                  render_block(kTag, kBridge, new_ports));
        // The repair may drop or add blank lines around the block; no other admin line changes.
        EXPECT_EQ(non_blank_lines(cut(after, *span)), non_blank_lines(admin_text));
        ASSERT_EQ(apply_block(after, kTag, kBridge, new_ports, options), after);
    }
}

}  // namespace
}  // namespace opa::ifupdown
