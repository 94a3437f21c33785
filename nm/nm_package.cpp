#include "nm/nm_package.hpp"

#include <glob.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <sstream>
#include <vector>

namespace opa::nm {
namespace {

constexpr const char* kOvsSuffix = "+ovs";

// stdout of a read-only command, empty when it cannot run.
std::string read_command(const char* command) {
    std::string out;
    FILE* pipe = ::popen(command, "r");
    if (pipe == nullptr) return out;
    std::array<char, 512> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
    ::pclose(pipe);
    return out;
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

// dpkg's ordering of characters in the non-digit parts: ~ first, then the end, letters, others.
int order(char c) {
    if (std::isdigit(static_cast<unsigned char>(c))) return 0;
    if (std::isalpha(static_cast<unsigned char>(c))) return c;
    if (c == '~') return -1;
    if (c) return c + 256;
    return 0;
}

int compare_part(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        int first_diff = 0;
        while ((i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i]))) ||
               (j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j])))) {
            const int ac = i < a.size() ? order(a[i]) : 0;
            const int bc = j < b.size() ? order(b[j]) : 0;
            if (ac != bc) return ac - bc;
            ++i;
            ++j;
        }
        while (i < a.size() && a[i] == '0') ++i;
        while (j < b.size() && b[j] == '0') ++j;
        while (i < a.size() && j < b.size() && std::isdigit(static_cast<unsigned char>(a[i])) &&
               std::isdigit(static_cast<unsigned char>(b[j]))) {
            if (!first_diff) first_diff = a[i] - b[j];
            ++i;
            ++j;
        }
        if (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) return 1;
        if (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) return -1;
        if (first_diff) return first_diff;
    }
    return 0;
}

struct Version {
    long epoch = 0;
    std::string upstream;
    std::string revision;
};
Version split(const std::string& v) {
    Version out;
    std::string rest = v;
    if (const auto colon = rest.find(':'); colon != std::string::npos) {
        out.epoch = std::atol(rest.substr(0, colon).c_str());
        rest = rest.substr(colon + 1);
    }
    if (const auto dash = rest.rfind('-'); dash != std::string::npos) {
        out.revision = rest.substr(dash + 1);
        rest = rest.substr(0, dash);
    }
    out.upstream = rest;
    return out;
}

bool is_rebuild(const std::string& version) {
    return version.find(kOvsSuffix) != std::string::npos;
}
std::string debian_base(const std::string& version) {
    return version.substr(0, version.rfind(kOvsSuffix));
}

}  // namespace

int compare_debian_versions(const std::string& a, const std::string& b) {
    const Version x = split(a), y = split(b);
    if (x.epoch != y.epoch) return x.epoch < y.epoch ? -1 : 1;
    if (const int c = compare_part(x.upstream, y.upstream)) return c;
    return compare_part(x.revision, y.revision);
}

NmPackageKind classify(const NmPackage& package) {
    if (package.installed.empty()) return NmPackageKind::Missing;
    if (!package.ovs_plugin) return NmPackageKind::DebianWithoutOvs;
    if (!is_rebuild(package.installed)) return NmPackageKind::OtherWithOvs;
    if (!package.debian.empty() &&
        compare_debian_versions(package.debian, debian_base(package.installed)) > 0) {
        return NmPackageKind::RebuiltOutOfStep;
    }
    return NmPackageKind::RebuiltWithOvs;
}

NmPackage read_nm_package() {
    NmPackage package;
    const std::string status = read_command(
        "dpkg-query -W -f='${db:Status-Abbrev} ${Version}' network-manager 2>/dev/null");
    // "ii 1.42.4-1", or "hi ..." when held: the second letter is the state (i = installed).
    if (status.size() > 3 && status[1] == 'i') package.installed = trim(status.substr(3));
    std::istringstream madison(read_command("apt-cache madison network-manager 2>/dev/null"));
    std::string line;
    while (std::getline(madison, line)) {
        const auto bar1 = line.find('|');
        if (bar1 == std::string::npos) continue;
        const auto bar2 = line.find('|', bar1 + 1);
        const std::string version = trim(line.substr(bar1 + 1, bar2 - bar1 - 1));
        if (version.empty() || is_rebuild(version)) continue;
        if (package.debian.empty() || compare_debian_versions(version, package.debian) > 0)
            package.debian = version;
    }
    glob_t found{};
    if (::glob("/usr/lib/*/NetworkManager/*/libnm-device-plugin-ovs.so", 0, nullptr, &found) == 0)
        package.ovs_plugin = found.gl_pathc > 0;
    ::globfree(&found);
    return package;
}

std::string nm_ovs_fix_command() {
    constexpr const char* kHelper = "/usr/lib/ovs-port-agent/nm-ovs-deb.sh";
    if (::access(kHelper, X_OK) == 0) return std::string("sudo ") + kHelper + " install";
    return "sudo scripts/install.sh --with-nm-ovs (in ovs-port-agent's source tree; it runs "
           "scripts/build-nm-ovs.sh --deb and scripts/nm-ovs-deb.sh install)";
}

NmVerdict nm_verdict(const std::optional<DaemonInfo>& bus, const std::string& bus_error,
                     const NmPackage& package, const std::string& fix) {
    const NmPackageKind kind = classify(package);
    const std::string debian_has =
        package.debian.empty() ? std::string() : "; Debian has " + package.debian;
    if (bus && bus->has_ovs()) {
        switch (kind) {
            case NmPackageKind::RebuiltOutOfStep:
                return {1,
                        "NetworkManager " + package.installed + " with OVS is installed" +
                            debian_has + " (a newer Debian release, e.g. a security update)",
                        "rebuild and reinstall it with OVS: " + fix};
            case NmPackageKind::RebuiltWithOvs:
                return {0,
                        "NetworkManager " + bus->version +
                            " with Open vSwitch support (package " + package.installed +
                            ", Debian's rebuilt with OVS, held)",
                        ""};
            case NmPackageKind::Missing:
            case NmPackageKind::DebianWithoutOvs:
            case NmPackageKind::OtherWithOvs:
                return {0,
                        "NetworkManager " + bus->version + " with Open vSwitch support" +
                            (kind == NmPackageKind::OtherWithOvs
                                 ? " (package " + package.installed + ")"
                                 : std::string(" (not the system's package: a private build)")),
                        ""};
        }
    }
    if (bus) {  // answers, without OVS
        if (kind == NmPackageKind::DebianWithoutOvs || kind == NmPackageKind::Missing) {
            return {2,
                    "NetworkManager " + bus->version +
                        " without Open vSwitch support (Debian builds network-manager without "
                        "it" +
                        (package.installed.empty() ? std::string()
                                                   : "; installed: " + package.installed) +
                        ")",
                    "install Debian's network-manager rebuilt with OVS: " + fix};
        }
        return {2,
                "NetworkManager " + bus->version +
                    " answers without Open vSwitch support although package " +
                    package.installed + " has the OVS plugin",
                "restart NetworkManager (systemctl restart NetworkManager) so it loads the plugin"};
    }
    switch (kind) {
        case NmPackageKind::Missing:
            return {2, "NetworkManager is not installed" + debian_has + " (" + bus_error + ")",
                    "install Debian's network-manager rebuilt with Open vSwitch support: " + fix};
        case NmPackageKind::DebianWithoutOvs:
            return {2,
                    "NetworkManager " + package.installed +
                        " (Debian's build, without Open vSwitch support) does not answer: " +
                        bus_error,
                    "install Debian's network-manager rebuilt with OVS: " + fix +
                        "; then systemctl start NetworkManager"};
        case NmPackageKind::RebuiltOutOfStep:
            return {2,
                    "NetworkManager " + package.installed + " with OVS is installed" +
                        debian_has + ", and it does not answer: " + bus_error,
                    "rebuild and reinstall it with OVS: " + fix +
                        "; then systemctl start NetworkManager"};
        case NmPackageKind::RebuiltWithOvs:
        case NmPackageKind::OtherWithOvs:
            break;
    }
    return {2,
            "NetworkManager " + package.installed +
                " with Open vSwitch support is installed but does not answer: " + bus_error,
            "start NetworkManager (systemctl start NetworkManager)"};
}

}  // namespace opa::nm
