// ovs-port-agent: the command line. It only parses arguments and calls into the libraries.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "agent/naming.hpp"
#include "cli/doctor.hpp"
#include "config/config.hpp"
#include "dbus/client.hpp"
#include "ledger/ledger.hpp"
#include "ledger/verify.hpp"
#include "mount/daemon.hpp"
#include "mount/logging.hpp"
#include "nm/bridge_setup.hpp"
#include "nm/nm_client.hpp"

namespace {

constexpr int kExitUsage = 2;

// Loads the configuration or prints every error; nullopt means exit.
std::optional<opa::config::Config> load_config(const std::string& path) {
    opa::config::LoadResult result = opa::config::load(path);
    if (!result.ok()) {
        for (const auto& error : result.errors) std::cerr << error.to_string() << "\n";
        return std::nullopt;
    }
    return result.config;
}

std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int cmd_name(const opa::config::Config& config, const std::string& container, unsigned index,
             std::optional<unsigned> vmid) {
    auto result =
        opa::naming::render_template(config.naming_template, container, index,
                                     vmid ? std::optional<std::uint32_t>(*vmid) : std::nullopt);
    if (!result) {
        std::cerr << "naming_template '" << config.naming_template
                  << "': " << result.error->message() << "\n";
        return 1;
    }
    std::cout << *result.name << "\n";
    return 0;
}

int cmd_ledger_verify(const std::string& path) {
    const opa::ledger::VerifyReport report = opa::ledger::verify(path);
    std::cout << opa::ledger::format_report(report) << "\n";
    return report.ok ? 0 : 1;
}

int cmd_setup_bridge(const opa::config::Config& config, const std::string& bridge,
                     const std::string& uplink, bool with_ovsbr1, const std::string& datapath) {
    std::ofstream setup_log(config.setup_log_path, std::ios::app);
    if (!setup_log) {
        std::cerr << "warning: cannot open the setup log " << config.setup_log_path
                  << "; logging to the terminal only\n";
    }
    // Every line goes to the setup log (rule 10) and the terminal.
    auto log = [&](const std::string& line) {
        std::cout << line << "\n";
        if (setup_log) setup_log << timestamp() << " " << line << "\n" << std::flush;
    };
    opa::nm::BridgeSetupOptions options;
    options.bridge = bridge.empty() ? config.bridge_name : bridge;
    if (!uplink.empty()) {
        options.uplink = uplink;
    } else if (config.uplink) {
        options.uplink = config.uplink;
    }
    if (options.uplink && !opa::naming::is_valid_ifname(*options.uplink)) {
        std::cerr << "invalid uplink name '" << *options.uplink << "'\n";
        return kExitUsage;
    }
    if (!opa::naming::is_valid_ifname(options.bridge)) {
        std::cerr << "invalid bridge name '" << options.bridge << "'\n";
        return kExitUsage;
    }
    options.datapath_type = datapath.empty() ? config.datapath_type : datapath;
    if (with_ovsbr1) options.empty_bridges.push_back("ovsbr1");
    log("setup-bridge " + options.bridge + (options.uplink ? " uplink " + *options.uplink : "") +
        " datapath " + options.datapath_type);
    // Every step goes to the ledger too; a ledger that cannot be written stops the setup
    // before anything changes.
    std::optional<opa::ledger::Ledger> ledger;
    try {
        ledger.emplace(config.ledger_path);
    } catch (const opa::ledger::LedgerError& error) {
        log(std::string("setup-bridge: FAILED: cannot open the ledger: ") + error.what() +
            "; nothing changed");
        return 1;
    }
    auto record = [&](std::string_view action, const nlohmann::json& details) {
        try {
            ledger->append(action, details);
        } catch (const opa::ledger::LedgerError& error) {
            log(std::string("cannot write ") + std::string(action) +
                " to the ledger: " + error.what());
            throw;
        }
    };
    try {
        opa::nm::NmClient nm;
        const opa::nm::BridgeSetupReport report = opa::nm::setup_bridge(nm, options, log, record);
        log(report.changed ? "setup-bridge: done"
                           : "setup-bridge: already set up, nothing changed");
        return 0;
    } catch (const opa::nm::NmError& error) {
        log(std::string("setup-bridge: FAILED: ") + error.what());
        return 1;
    } catch (const opa::ledger::LedgerError& error) {
        log(std::string("setup-bridge: FAILED: the ledger cannot be written (") + error.what() +
            "); nothing changed");
        return 1;
    }
}

int cmd_introspect() {
    try {
        opa::nm::NmClient nm;
        std::cout << nm.introspect();
        return 0;
    } catch (const opa::nm::NmError& error) {
        std::cerr << error.what() << "\n";
        return 1;
    }
}

// The mutating subcommands talk to the running daemon rather than repeat its logic.
template <typename Fn>
int with_agent(Fn&& fn) {
    try {
        opa::dbus::AgentClient client;
        return fn(client);
    } catch (const opa::dbus::AgentError& error) {
        std::cerr << error.what() << "\n";
        return 1;
    }
}

int cmd_list() {
    return with_agent([](opa::dbus::AgentClient& client) {
        for (const std::string& name : client.list_ports()) std::cout << name << "\n";
        return 0;
    });
}

int cmd_status() {
    return with_agent([](opa::dbus::AgentClient& client) {
        client.ping();
        const auto names = client.list_ports();
        std::cout << "agent: running, " << names.size() << " ports\n";
        if (names.empty()) return 0;
        std::printf("%-15s %-12s %-7s %-9s %-5s %-8s %s\n", "PORT", "STATE", "KIND", "VMID", "TAG",
                    "ORIGIN", "LAST ERROR");
        for (const std::string& name : names) {
            opa::dbus::PortInfo port;
            try {
                port = client.get_port(name);
            } catch (const opa::dbus::AgentError&) {
                continue;  // removed meanwhile
            }
            std::printf("%-15s %-12s %-7s %-9s %-5s %-8s %s\n", port.name.c_str(),
                        port.state.c_str(), port.kind.c_str(),
                        port.vmid ? std::to_string(*port.vmid).c_str() : "-",
                        port.tag ? std::to_string(*port.tag).c_str() : "-", port.origin.c_str(),
                        port.last_error.c_str());
        }
        return 0;
    });
}

int cmd_doctor(const std::string& config_path) {
    int failures = 0;
    for (const auto& check : opa::cli::run_doctor(config_path)) {
        std::cout << opa::cli::format_check(check) << "\n";
        if (check.level == opa::cli::CheckLevel::Fail) ++failures;
    }
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ovs-port-agent: keeps container veth/tap interfaces attached as Open vSwitch "
        "ports through NetworkManager"};
    app.set_version_flag("--version", std::string("ovs-port-agent ") + OPA_VERSION);
    app.require_subcommand(1);
    std::string config_path(opa::config::kDefaultPath);
    app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "debug logging");

    auto* run = app.add_subcommand("run", "run the daemon (foreground)");
    unsigned workers = 8;
    run->add_option("--workers", workers, "ports activated in parallel")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();

    auto* name = app.add_subcommand("name", "print the interface name naming_template gives");
    std::string container;
    unsigned index = 0;
    std::optional<unsigned> vmid;
    name->add_option("CONTAINER", container, "container name")->required();
    name->add_option("INDEX", index, "interface index")->required();
    name->add_option("--vmid", vmid, "VMID for {vmid}");

    auto* ledger = app.add_subcommand("ledger", "the hash-chained action ledger");
    ledger->require_subcommand(1);
    auto* verify = ledger->add_subcommand("verify", "check every hash of a ledger (exit 0 = PASS)");
    std::string ledger_path;
    verify->add_option("PATH", ledger_path, "ledger file (default: ledger_path of the config)");

    auto* setup = app.add_subcommand(
        "setup-bridge", "create the bridge through NetworkManager (the seed's rules 3-12)");
    std::string bridge, uplink, datapath;
    bool with_ovsbr1 = false;
    setup->add_option("--bridge", bridge, "bridge name (default: bridge_name)");
    setup->add_option("--uplink", uplink, "NIC to enslave; its IP moves to the bridge");
    setup->add_flag("--with-ovsbr1", with_ovsbr1, "also create an empty bridge ovsbr1");
    setup->add_option("--datapath", datapath, "system or netdev (default: datapath_type)")
        ->check(CLI::IsMember({"system", "netdev"}));

    app.add_subcommand("introspect", "print NetworkManager's root D-Bus introspection");

    auto* create = app.add_subcommand(
        "create-interface", "ask the running agent to attach a container interface as vi{VMID}");
    std::string raw_ifname, container_id;
    unsigned create_vmid = 0;
    create->add_option("RAW_IFNAME", raw_ifname, "the interface as it is named now")->required();
    create->add_option("CONTAINER_ID", container_id, "the container")->required();
    create->add_option("VMID", create_vmid, "the guest's VMID")->required();
    auto* remove = app.add_subcommand("remove-interface", "ask the running agent to remove a port");
    std::string remove_name;
    remove->add_option("IFNAME", remove_name, "the port, e.g. vi100")->required();
    app.add_subcommand("list", "the ports the running agent manages");
    app.add_subcommand("status", "the running agent and its ports");
    app.add_subcommand("doctor", "check NetworkManager, OVS, FUSE, the config, the ledger, ...");

    auto* config_cmd = app.add_subcommand("config", "the configuration file");
    config_cmd->require_subcommand(1);
    config_cmd->add_subcommand("check", "validate it; every error as file:line:column");
    config_cmd->add_subcommand("show", "print the effective configuration");

    CLI11_PARSE(app, argc, argv);

    opa::mount::setup_logging(verbose);

    if (app.got_subcommand("introspect")) return cmd_introspect();
    if (app.got_subcommand("list")) return cmd_list();
    if (app.got_subcommand("status")) return cmd_status();
    if (app.got_subcommand("doctor")) return cmd_doctor(config_path);
    if (app.got_subcommand(create)) {
        return with_agent([&](opa::dbus::AgentClient& client) {
            std::cout << client.create_container_interface(raw_ifname, container_id, create_vmid)
                      << "\n";
            return 0;
        });
    }
    if (app.got_subcommand(remove)) {
        return with_agent([&](opa::dbus::AgentClient& client) {
            std::cout << client.remove_container_interface(remove_name) << "\n";
            return 0;
        });
    }

    std::optional<opa::config::Config> config = load_config(config_path);
    if (!config) return kExitUsage;

    if (app.got_subcommand(run)) {
        return opa::mount::run_daemon({*config, config_path, workers});
    }
    if (app.got_subcommand(name)) return cmd_name(*config, container, index, vmid);
    if (app.got_subcommand(ledger)) {
        return cmd_ledger_verify(ledger_path.empty() ? config->ledger_path.string() : ledger_path);
    }
    if (app.got_subcommand(setup)) {
        return cmd_setup_bridge(*config, bridge, uplink, with_ovsbr1, datapath);
    }
    if (app.got_subcommand(config_cmd)) {
        if (config_cmd->got_subcommand("show")) std::cout << config->to_toml();
        if (config_cmd->got_subcommand("check")) std::cout << config_path << ": OK\n";
        return 0;
    }
    return kExitUsage;
}
