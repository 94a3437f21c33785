#include "cli/doctor.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "agent/proxmox_config.hpp"
#include "dbus/client.hpp"
#include "ifupdown/doctor.hpp"
#include "ifupdown/interfaces_file.hpp"
#include "ledger/verify.hpp"
#include "netwatch/ovsdb_monitor.hpp"
#include "nm/nm_client.hpp"
#include "nm/nm_package.hpp"

namespace opa::cli {
namespace {

CheckResult ok(std::string what) { return {CheckLevel::Ok, std::move(what), {}}; }
CheckResult warn(std::string what, std::string advice) {
    return {CheckLevel::Warn, std::move(what), std::move(advice)};
}
CheckResult fail(std::string what, std::string advice) {
    return {CheckLevel::Fail, std::move(what), std::move(advice)};
}

// Asks ovsdb-server for its databases over its JSON-RPC socket (a read: list_dbs).
CheckResult check_ovsdb() {
    const char* rundir = std::getenv("OVS_RUNDIR");
    const std::string path = std::string(rundir ? rundir : "/run/openvswitch") + "/db.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("ovsdb: socket(): " + std::string(std::strerror(errno)), "");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    struct timeval tv {
        2, 0
    };
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CheckResult result;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        result = fail("ovsdb-server not reachable at " + path + ": " + std::strerror(errno),
                      "start Open vSwitch (systemctl start openvswitch-switch)");
    } else {
        const std::string request = R"({"method":"list_dbs","params":[],"id":0})";
        char reply[512] = {};
        if (::write(fd, request.data(), request.size()) < 0 ||
            ::read(fd, reply, sizeof reply - 1) <= 0) {
            result = fail("ovsdb-server at " + path + " does not answer", "check ovsdb-server");
        } else if (std::strstr(reply, "Open_vSwitch") == nullptr) {
            result = fail("ovsdb-server at " + path + " has no Open_vSwitch database",
                          "initialise OVS (ovs-vsctl --no-wait init)");
        } else {
            result = ok("ovsdb-server answers at " + path);
        }
    }
    ::close(fd);
    return result;
}

CheckResult check_fuse() {
    const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return fail("/dev/fuse: " + std::string(std::strerror(errno)),
                    "load the fuse module (modprobe fuse) and install fuse3");
    }
    ::close(fd);
    return ok("/dev/fuse can be opened");
}

CheckResult check_mountpoint(const config::Config& config) {
    const std::string path = config.mountpoint.string();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOTCONN) {
            return warn("mountpoint " + path + " is a stale FUSE mount",
                        "the agent recovers it at start; or run: umount -l " + path);
        }
        if (errno == ENOENT)
            return warn("mountpoint " + path + " does not exist yet",
                        "the agent creates it at start");
        return fail("mountpoint " + path + ": " + std::strerror(errno), "");
    }
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string source, target, type;
        fields >> source >> target >> type;
        if (target == path) {
            if (type.find("fuse") != std::string::npos)
                return ok("the port tree is mounted at " + path);
            return warn("something else (" + type + ") is mounted at " + path,
                        "choose another mountpoint in the config");
        }
    }
    return warn("the port tree is not mounted at " + path, "start the agent");
}

CheckResult check_ledger(const config::Config& config) {
    struct stat st {};
    if (::stat(config.ledger_path.c_str(), &st) != 0) {
        return warn("no ledger at " + config.ledger_path.string() + " yet",
                    "the agent creates it at start");
    }
    const ledger::VerifyReport report = ledger::verify(config.ledger_path);
    if (report.ok) return ok("ledger: " + ledger::format_report(report));
    return fail("ledger: " + ledger::format_report(report),
                "the ledger was altered or truncated: keep a copy for inspection");
}

CheckResult check_proxmox_lock(const config::Config& config) {
    const auto lock_path = ifupdown::InterfacesFile::default_lock_path(config.interfaces_path);
    const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ok("Proxmox lock " + lock_path.string() + " not in use");
        return warn("Proxmox lock " + lock_path.string() + ": " + std::strerror(errno), "");
    }
    CheckResult result = ok("Proxmox lock " + lock_path.string() + " is free");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        result = warn("Proxmox lock " + lock_path.string() + " is held (a GUI edit in progress?)",
                      "the agent waits for it before writing the interfaces file");
    } else {
        ::flock(fd, LOCK_UN);
    }
    ::close(fd);
    return result;
}

CheckResult check_interfaces(const config::Config& config) {
    std::ifstream in(config.interfaces_path);
    if (!in) {
        return warn(config.interfaces_path.string() + " does not exist",
                    "the agent creates it with its block");
    }
    std::stringstream text;
    text << in.rdbuf();
    if (auto finding = ifupdown::check_bridge_autostart(text.str(), config.bridge_name)) {
        return warn(finding->message(), "use 'allow-ovs " + config.bridge_name +
                                            "' instead of 'auto " + config.bridge_name +
                                            "' for the NetworkManager-managed bridge");
    }
    return ok(config.interfaces_path.string() + " does not auto-start the bridge with ifupdown");
}

}  // namespace

// Who plugs what on the bridge: Proxmox's start hook plugs every guest NIC whose config names
// the bridge (with ovs-vsctl), and NM 1.42 cannot take such a port over; the agent leaves those
// to Proxmox and shows them as external. Explained here, with the counts OVSDB shows.
std::vector<CheckResult> check_coexistence(const config::Config& config) {
    std::vector<CheckResult> results;
    namespace fsys = std::filesystem;
    std::error_code ec;
    if (!fsys::is_directory(config.pve_root, ec)) {
        results.push_back(ok("not a Proxmox node (no " + config.pve_root.string() +
                             "): the agent attaches every included veth/tap itself"));
    } else {
        unsigned nics = 0;
        std::vector<std::string> guests;
        unsigned unbridged = 0;  // NICs that name no bridge: left alone, like another bridge's
        std::vector<std::string> unbridged_guests;
        for (const char* kind : {"lxc", "qemu-server"}) {
            for (const auto& entry : fsys::directory_iterator(config.pve_root / kind, ec)) {
                if (entry.path().extension() != ".conf") continue;
                std::ifstream in(entry.path());
                std::stringstream text;
                text << in.rdbuf();
                const proxmox::GuestConfig guest = proxmox::parse_guest_config(text.str());
                bool named = false;
                bool no_bridge = false;
                for (const auto& nic : guest.nics) {
                    if (nic.bridge.empty()) {
                        ++unbridged;
                        no_bridge = true;
                    }
                    if (nic.bridge != config.bridge_name) continue;
                    ++nics;
                    named = true;
                }
                if (named) guests.push_back(entry.path().stem().string());
                if (no_bridge) unbridged_guests.push_back(entry.path().stem().string());
            }
        }
        if (unbridged > 0) {
            std::string list;
            for (std::size_t i = 0; i < unbridged_guests.size() && i < 10; ++i) {
                list += (i ? ", " : "") + unbridged_guests[i];
            }
            if (unbridged_guests.size() > 10) list += ", ...";
            results.push_back(ok(
                "Proxmox node: " + std::to_string(unbridged) +
                " guest NIC(s) name no bridge (guests " + list +
                "): the agent leaves their links alone (link_left_alone); only root's mkdir, "
                "CreateContainerInterface or the hookscript attaches one, and its tag and trunks "
                "come from that request, never from a config that does not name " +
                config.bridge_name));
        }
        if (nics == 0) {
            results.push_back(ok("Proxmox node: no guest config names " + config.bridge_name));
        } else {
            std::string list;
            for (std::size_t i = 0; i < guests.size() && i < 10; ++i) {
                list += (i ? ", " : "") + guests[i];
            }
            if (guests.size() > 10) list += ", ...";
            results.push_back(warn(
                "Proxmox node: " + std::to_string(nics) + " guest NIC(s) name " +
                    config.bridge_name + " (guests " + list + ")",
                "Proxmox's start hook plugs these itself with ovs-vsctl, and NetworkManager 1.42 "
                "cannot take over a port plugged that way, so the agent leaves them to Proxmox "
                "and shows them as 'external' (tree, ListPorts, status); it never races the "
                "hook. The agent owns ports made with mkdir or CreateContainerInterface and "
                "links with no guest config line; a NIC whose config names no bridge or another "
                "bridge is left alone"));
        }
    }
    netwatch::OvsdbMonitor monitor(netwatch::default_ovsdb_socket());
    if (monitor.sync_once(std::chrono::seconds(2))) {
        unsigned agents = 0, external = 0, others = 0;
        for (const auto& port : monitor.tables().ports_on(config.bridge_name)) {
            switch (port.owner) {
                case netwatch::PortOwner::Agent:
                    ++agents;
                    break;
                case netwatch::PortOwner::External:
                    ++external;
                    break;
                case netwatch::PortOwner::NetworkManager:
                    ++others;
                    break;
            }
        }
        if (!monitor.tables().has_bridge(config.bridge_name)) {
            results.push_back(warn("OVSDB has no bridge " + config.bridge_name,
                                   "create it with 'ovs-port-agent setup-bridge'"));
        } else {
            results.push_back(ok("OVSDB: " + config.bridge_name + " has " + std::to_string(agents) +
                                 " port(s) of the agent's, " + std::to_string(external) +
                                 " external, " + std::to_string(others) + " of other NM profiles"));
        }
    }
    return results;
}

std::string format_check(const CheckResult& check) {
    const char* word = check.level == CheckLevel::Ok     ? "ok  "
                       : check.level == CheckLevel::Warn ? "warn"
                                                         : "FAIL";
    std::string line = std::string(word) + "  " + check.what;
    if (!check.advice.empty()) line += "\n      -> " + check.advice;
    return line;
}

std::vector<CheckResult> run_doctor(const std::string& config_path) {
    std::vector<CheckResult> checks;
    const config::LoadResult loaded = config::load(config_path);
    config::Config config;
    if (!loaded.ok()) {
        std::string errors;
        for (const auto& e : loaded.errors) errors += "\n      " + e.to_string();
        checks.push_back(fail("config " + config_path + " has errors:" + errors,
                              "fix them; the defaults are used below"));
    } else {
        config = *loaded.config;
        checks.push_back(ok("config " + config_path +
                            (loaded.used_defaults ? " absent: defaults" : " is valid")));
    }

    // NetworkManager: what answers on the bus, and which package the host has (none; Debian's,
    // without OVS; Debian's rebuilt with OVS; that rebuild of an older Debian version).
    std::optional<nm::DaemonInfo> info;
    std::string bus_error;
    try {
        nm::NmClient nm;
        info = nm.daemon_info();
    } catch (const std::exception& error) {
        bus_error = error.what();
    }
    const nm::NmVerdict verdict =
        nm::nm_verdict(info, bus_error, nm::read_nm_package(), nm::nm_ovs_fix_command());
    checks.push_back({verdict.level == 0   ? CheckLevel::Ok
                      : verdict.level == 1 ? CheckLevel::Warn
                                           : CheckLevel::Fail,
                      verdict.what, verdict.advice});
    checks.push_back(check_ovsdb());
    checks.push_back(check_fuse());
    checks.push_back(check_mountpoint(config));
    checks.push_back(check_ledger(config));
    checks.push_back(check_proxmox_lock(config));
    checks.push_back(check_interfaces(config));
    for (CheckResult& check : check_coexistence(config)) checks.push_back(std::move(check));
    try {
        dbus::AgentClient client;
        client.ping();
        checks.push_back(ok("the agent answers on D-Bus (dev.ovs.PortAgent1)"));
    } catch (const dbus::AgentError& error) {
        checks.push_back(warn(std::string("the agent does not answer: ") + error.what(),
                              "systemctl start ovs-port-agent"));
    }
    return checks;
}

}  // namespace opa::cli
