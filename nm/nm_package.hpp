// Which NetworkManager package the host has, for `doctor`: none; Debian's own (built without
// OVS); the rebuild with OVS that scripts/build-nm-ovs.sh --deb makes (<Debian's version>+ovs1);
// or that rebuild of an older Debian version than the archive now offers (a security update
// came out: rebuild and reinstall).
#pragma once

#include <optional>
#include <string>

#include "nm/nm_client.hpp"

namespace opa::nm {

struct NmPackage {
    std::string installed;  // dpkg's version of network-manager when installed, else empty
    std::string debian;     // the newest version Debian's archive offers, empty if unknown
    bool ovs_plugin = false;  // libnm-device-plugin-ovs.so is under /usr/lib/*/NetworkManager/
};

enum class NmPackageKind { Missing, DebianWithoutOvs, RebuiltWithOvs, RebuiltOutOfStep, OtherWithOvs };

NmPackageKind classify(const NmPackage& package);
// Debian version comparison (dpkg's algorithm): <0, 0, >0.
int compare_debian_versions(const std::string& a, const std::string& b);

// Reads the host's package state (dpkg-query, apt-cache madison, the plugin directory).
NmPackage read_nm_package();

// One doctor line about NetworkManager from what answers on the bus (nullopt: nothing answers;
// the error text) and the package state. `fix` is the command that installs or rebuilds the
// OVS-capable package. level: 0 ok, 1 warn, 2 fail.
struct NmVerdict {
    int level = 0;
    std::string what;
    std::string advice;
};
NmVerdict nm_verdict(const std::optional<DaemonInfo>& bus, const std::string& bus_error,
                     const NmPackage& package, const std::string& fix);

// The command that installs NetworkManager with OVS on this host: the installed helper when the
// agent came from its package or install.sh, else install.sh in a source tree.
std::string nm_ovs_fix_command();

}  // namespace opa::nm
