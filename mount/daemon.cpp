#include "mount/daemon.hpp"

#include <malloc.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include <sdbus-c++/sdbus-c++.h>
#include <spdlog/spdlog.h>

#include "agent/core.hpp"
#include "agent/guest_config_reader.hpp"
#include "agent/guest_policy.hpp"
#include "agent/naming.hpp"
#include "agent/nm_backend.hpp"
#include "agent/proxmox_config.hpp"
#include "agent/unique_fd.hpp"
#include "dbus/errors.hpp"
#include "dbus/service.hpp"
#include "fs/fuse_server.hpp"
#include "ledger/ledger.hpp"
#include "mount/block_writer.hpp"
#include "mount/ledger_journal.hpp"
#include "mount/link_handler.hpp"
#include "mount/logging.hpp"
#include "mount/nm_return.hpp"
#include "mount/ovsdb_feed.hpp"
#include "mount/systemd.hpp"
#include "netwatch/error.hpp"
#include "netwatch/link_watcher.hpp"
#include "netwatch/rename.hpp"
#include "netwatch/rename_guard.hpp"
#include "nm/nm_client.hpp"

namespace opa::mount {
namespace {

// Guest configs: reads at once (a stuck read holds its thread), and how long a request (mkdir,
// D-Bus) waits for its guest's before it is refused with "try again".
constexpr unsigned kGuestConfigThreads = 4;
constexpr std::chrono::milliseconds kGuestConfigWait{2000};

// Wakes the loop from other threads (NM's bus thread) with a reason bit.
class Wakeup {
  public:
    enum Reason : std::uint64_t {
        kNmAppeared = 1,
        kNmVanished = 2,
        kPortsChanged = 4,
        kReloadConfig = 8,
        kLedgerHeld = 16,
        kGuestConfigRead = 32
    };
    Wakeup() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    bool ok() const { return fd_.get() >= 0; }
    int fd() const { return fd_.get(); }
    void post(Reason reason) {
        reasons_.fetch_or(reason);
        const std::uint64_t one = 1;
        // A full counter still wakes the loop; nothing to do on failure.
        [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
    }
    std::uint64_t take() {
        std::uint64_t count = 0;
        [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
        return reasons_.exchange(0);
    }

  private:
    UniqueFd fd_;
    std::atomic<std::uint64_t> reasons_{0};
};

// The bridge's NM device, for the tree's `bridge` file.
struct BridgeDevice {
    std::mutex mutex;
    std::string path;
    std::uint32_t seed = 0;
    bool empty() {
        std::lock_guard lock(mutex);
        return path.empty();
    }
    void refresh(nm::NmClient& nm, const std::string& bridge) {
        std::optional<nm::DeviceInfo> device;
        try {
            device = nm.device_by_interface(bridge, {nm::kDeviceOvsBridge});
        } catch (const nm::NmError&) {
            // NM is away; the next refresh (after it is back) fills it in.
        }
        std::lock_guard lock(mutex);
        path = device ? device->path : "";
        seed = device ? device->state : 0;
    }
};

// Keys a running daemon cannot change: its identity on the host.
std::vector<std::string> keys_needing_restart(const config::Config& now,
                                              const config::Config& wanted) {
    std::vector<std::string> keys;
    if (now.bridge_name != wanted.bridge_name) keys.push_back("bridge_name");
    if (now.ledger_path != wanted.ledger_path) keys.push_back("ledger_path");
    if (now.ledger_spill_path != wanted.ledger_spill_path) keys.push_back("ledger_spill_path");
    if (now.mountpoint != wanted.mountpoint) keys.push_back("mountpoint");
    if (now.datapath_type != wanted.datapath_type) keys.push_back("datapath_type");
    return keys;
}

netwatch::WatcherOptions watcher_options(const config::Config& config) {
    netwatch::WatcherOptions watch_options;
    watch_options.include_prefixes = config.include_prefixes;
    // The bridge's own devices are NM's business, not ports to attach.
    watch_options.own_devices = {config.bridge_name, "ovs-system", "ovs-netdev"};
    watch_options.debounce = config.debounce_ms;
    // A guest NIC appearing is a container or VM starting: attach it without waiting for the
    // burst to settle. (LXC's temporary peer names are not guest NIC names: still debounced.)
    watch_options.prompt_name = [](std::string_view name) {
        return naming::parse_guest_ifname(name).has_value();
    };
    return watch_options;
}

// A time point the loop may wait for: an optional's interface (GCC 12 -O2 warns falsely that an
// optional time_point may be used uninitialized).
class LoopTimer {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;
    LoopTimer& operator=(TimePoint at) {
        at_ = at;
        armed_ = true;
        return *this;
    }
    explicit operator bool() const { return armed_; }
    const TimePoint& operator*() const { return at_; }
    void reset() { armed_ = false; }

  private:
    bool armed_ = false;
    TimePoint at_{};
};

// A reload asked over D-Bus, applied by the loop; the caller waits for the outcome.
struct PendingReload {
    std::mutex mutex;
    std::optional<config::Config> wanted;
    std::promise<void> done;
};

}  // namespace

int run_daemon(const DaemonOptions& options) {
    // glibc gives busy threads arenas of their own (up to 8 per CPU); the daemon's threads mostly
    // wait, and every arena keeps its freed memory: two are plenty (about 1 MiB less at 200
    // attached ports, bench.sh part 6). Before any thread starts.
    ::mallopt(M_ARENA_MAX, 2);
    // The loop's own copy: ReloadConfig replaces it (on the loop's thread only).
    config::Config config = options.config;

    // Signals arrive through a signalfd, handled in the loop like any other event.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
        spdlog::critical("cannot block SIGTERM/SIGINT: {}", std::strerror(errno));
        return 1;
    }
    UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    Wakeup wakeup;
    if (signal_fd.get() < 0 || !wakeup.ok()) {
        spdlog::critical("cannot create the event loop's descriptors: {}", std::strerror(errno));
        return 1;
    }

    std::unique_ptr<ledger::Ledger> ledger;
    try {
        ledger = std::make_unique<ledger::Ledger>(config.ledger_path);
    } catch (const std::exception& error) {
        spdlog::critical("cannot open the ledger: {}", error.what());
        return 1;
    }
    if (const auto& recovery = ledger->recovery()) {
        spdlog::warn("ledger {}: a torn last line ({} bytes) was moved to {} ({})",
                     config.ledger_path.string(), recovery->moved_bytes,
                     recovery->moved_to.string(), recovery->reason);
    }
    // While the ledger cannot be written the journal holds its entries; the loop retries.
    ledger::HoldingOptions holding;
    holding.spill_path = config.ledger_spill_path;
    LedgerJournal journal(*ledger, holding, [&wakeup] { wakeup.post(Wakeup::kLedgerHeld); });
    // What an earlier run held when it died goes first.
    journal.replay_spill();

    std::unique_ptr<nm::NmClient> nm;
    nm::DaemonInfo nm_info;
    try {
        nm = std::make_unique<nm::NmClient>();
        nm_info = nm->require_ovs();
    } catch (const nm::NmError& error) {
        spdlog::critical("{}", error.what());
        journal.record("agent_start_failed", {{"error", error.what()}});
        return 1;
    }
    spdlog::info("NetworkManager {} with Open vSwitch; bridge {}", nm_info.version,
                 config.bridge_name);

    // A crash mid-change leaves the agent's checkpoint behind; it would block or roll back
    // later changes, so it goes first.
    try {
        for (const std::string& checkpoint : nm->sweep_agent_checkpoints()) {
            spdlog::warn("destroyed a checkpoint left by an earlier run: {}", checkpoint);
            journal.record("checkpoint_swept", {{"checkpoint", checkpoint}});
        }
    } catch (const nm::NmError& error) {
        spdlog::warn("cannot sweep checkpoints: {}", error.what());
    }

    // On a Proxmox node its hook may plug a guest's NIC name itself: NM must not re-add such a
    // port on its own after restarting (the hook would then fail); the agent re-plugs it.
    const std::filesystem::path pve_root = config.pve_root;
    // A pmxcfs that does not answer is a Proxmox node's (and must not hold up the start).
    const bool pve_node = proxmox::is_directory_within(pve_root, kGuestConfigWait).value_or(true);
    agent::NmBackend backend(*nm, config.bridge_name, [pve_node](const std::string& name) {
        return !(pve_node && naming::parse_guest_ifname(name).has_value());
    });
    agent::CoreOptions core_options;
    core_options.bridge = config.bridge_name;
    core_options.workers = options.workers;
    // Long enough that Proxmox's del-port/add-port pair (milliseconds apart) is never taken for a
    // gap; a link deleted meanwhile is told apart by link_exists, not by waiting for its event.
    core_options.row_grace = std::chrono::milliseconds(300);
    core_options.link_exists = [](const std::string& name) {
        return ::if_nametoindex(name.c_str()) != 0;
    };
    // "activated" is what NM says and OVSDB shows (the feed below).
    core_options.confirm_rows = true;
    // Guest configs are read off the event loop and the requesters' threads wait for them at
    // most kGuestConfigWait: /etc/pve is pmxcfs, which can stall.
    proxmox::GuestConfigReader guest_configs(
        [pve_root](const proxmox::GuestKey& key) {
            return proxmox::read_guest_config(pve_root, key.kind, key.vmid);
        },
        kGuestConfigThreads);
    // A requested guest NIC's VLAN tag and trunks from its Proxmox config.
    core_options.default_options = [&guest_configs, pve_root, bridge = config.bridge_name](
                                       const std::string& name) -> agent::DefaultOptions {
        auto guest = naming::parse_guest_ifname(name);
        if (!guest) return {};
        const auto read = guest_configs.read_within({guest->kind, guest->vmid}, kGuestConfigWait);
        if (!read) {
            return {std::nullopt, "guest " + std::to_string(guest->vmid) + "'s config under " +
                                      pve_root.string() + " did not answer within " +
                                      std::to_string(kGuestConfigWait.count()) + " ms"};
        }
        if (!*read) return {};
        for (const std::string& problem : (*read)->problems) {
            spdlog::warn("guest {} config: {} (line skipped)", guest->vmid, problem);
        }
        auto nic = proxmox::nic_at(**read, guest->index);
        // A NIC that names no bridge, or another one, says nothing about this bridge's VLANs.
        if (!nic || !proxmox::vlans_from_config(*nic, bridge)) return {};
        agent::PortOptions defaults;
        defaults.tag = nic->tag;
        // A set: `trunks=1-4094;1-4094;...` is 4094 bits, however often it is written.
        for (const auto& [first, last] : nic->trunks) defaults.trunks.add(first, last);
        return {defaults, ""};
    };
    agent::Core core(backend, journal, core_options);
    // One journal line per state change of a port, with PORT=, VMID=, BRIDGE= fields.
    core.add_listener([&wakeup, &config,
                       last = std::make_shared<std::map<std::string, agent::PortState>>(),
                       last_mutex = std::make_shared<std::mutex>()](
                          const std::string& name, const std::optional<agent::Port>& port) {
        wakeup.post(Wakeup::kPortsChanged);
        std::lock_guard lock(*last_mutex);
        if (!port) {
            if (last->erase(name)) {
                log_port_event(spdlog::level::info, config.bridge_name, name, std::nullopt,
                               "removed");
            }
            return;
        }
        auto [it, inserted] = last->try_emplace(name, port->state);
        if (!inserted && it->second == port->state) return;
        it->second = port->state;
        if (port->state == agent::PortState::Failed) {
            log_port_event(spdlog::level::warn, config.bridge_name, name, port->options.vmid,
                           "failed: " + port->last_error);
        } else {
            log_port_event(spdlog::level::info, config.bridge_name, name, port->options.vmid,
                           std::string(agent::to_string(port->state)));
        }
    });
    nm->on_nm_owner_changed([&wakeup](bool running) {
        wakeup.post(running ? Wakeup::kNmAppeared : Wakeup::kNmVanished);
    });

    std::unique_ptr<netwatch::LinkWatcher> watcher;
    try {
        watcher = std::make_unique<netwatch::LinkWatcher>(watcher_options(config));
    } catch (const netwatch::NetwatchError& error) {
        spdlog::critical("cannot watch network links: {}", error.what());
        return 1;
    }
    auto block = std::make_unique<BlockWriter>(config, journal);
    PendingReload reload;
    BridgeDevice bridge_device;
    // The watcher is driven by this loop and, for renames asked over D-Bus, by the bus thread;
    // recursive because the loop's own calls into the core come back through the listener below.
    std::recursive_mutex watcher_mutex;
    // A port requested by name (mkdir, D-Bus) may have a name outside include_prefixes: its
    // link must still be reported when it appears.
    core.add_listener([&](const std::string& name, const std::optional<agent::Port>&) {
        std::lock_guard lock(watcher_mutex);
        // The port as it is now, not the snapshot: listeners run on several threads, and a
        // late one carrying an older snapshot would watch the name of a port removed meanwhile,
        // and its link would come back as a new, link-discovered port.
        const std::optional<agent::Port> port = core.port(name);
        if (port && port->origin == agent::Origin::Request) {
            watcher->watch_name(name);
        } else if (!port) {
            watcher->unwatch_name(name);
        }
    });

    // The listener above uses the watcher and its mutex, which go before the core: the core's
    // workers (a retry due during shutdown) stop first, whichever way this function returns.
    struct CoreStopper {
        agent::Core& core;
        ~CoreStopper() { core.stop(); }
    } core_stopper{core};
    // Link events to core requests; guest decisions wait for their configs off the loop.
    LinkHandler links(core, journal, watcher, watcher_mutex, guest_configs,
                      [&wakeup] { wakeup.post(Wakeup::kGuestConfigRead); });

    // The D-Bus face, on a connection of its own with its own event loop thread.
    std::unique_ptr<sdbus::IConnection> service_bus;
    std::unique_ptr<dbus::Service> service;
    try {
        service_bus = sdbus::createSystemBusConnection();
        service_bus->enterEventLoopAsync();
        dbus::ServiceOptions service_options;
        service_options.version = OPA_VERSION;
        service_options.ledger_path = config.ledger_path;
        service_options.rename_link = [&](const std::string& old_name,
                                          const std::string& new_name) {
            std::lock_guard lock(watcher_mutex);
            watcher->watch_name(new_name);
            const netwatch::RenameResult renamed = netwatch::rename_link(old_name, new_name);
            if (renamed.error == ENODEV) {
                watcher->unwatch_name(new_name);
                return;  // no such link (yet): the port waits for a link of its own name
            }
            if (!renamed.ok()) {
                watcher->unwatch_name(new_name);
                throw std::runtime_error(renamed.message);
            }
            journal.record("link_renamed", {{"old", old_name}, {"new", new_name}});
        };
        // Read on the D-Bus thread: the bridge and uplink need a restart to change.
        service_options.rename_refusal =
            [rules = netwatch::RenameRules{config.bridge_name, config.uplink}](
                const std::string& name) -> std::optional<std::string> {
            const netwatch::LinkLookup found = netwatch::look_up_link(name);
            if (found.error == ENODEV) return std::nullopt;  // the port waits for its link
            if (found.error != 0)
                return "cannot be looked up (" + netwatch::errno_text(found.error) + ")";
            return netwatch::rename_refusal(found.link, found.controller, rules);
        };
        service_options.reload_config = [&options, &config, &reload, &wakeup] {
            const config::LoadResult reloaded = config::load(options.config_path);
            if (!reloaded.ok()) {
                std::string text;
                for (const auto& error : reloaded.errors) text += error.to_string() + "; ";
                throw dbus::ServiceError(dbus::ErrorKind::InvalidArgs,
                                         "the configuration has errors, nothing changed: " + text);
            }
            std::future<void> applied;
            {
                std::lock_guard lock(reload.mutex);
                // `config` is only read here; the loop writes it while this waits below.
                const auto restart = keys_needing_restart(config, *reloaded.config);
                if (!restart.empty()) {
                    std::string keys;
                    for (const auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
                    throw dbus::ServiceError(dbus::ErrorKind::InvalidArgs,
                                             "changing " + keys +
                                                 " needs a restart (systemctl restart "
                                                 "ovs-port-agent); nothing changed");
                }
                reload.wanted = *reloaded.config;
                reload.done = std::promise<void>();
                applied = reload.done.get_future();
            }
            wakeup.post(Wakeup::kReloadConfig);
            if (applied.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
                throw dbus::ServiceError(dbus::ErrorKind::Failed,
                                         "the agent did not apply the configuration in time");
            }
            applied.get();
        };
        service = std::make_unique<dbus::Service>(*service_bus, core, service_options);
    } catch (const sdbus::Error& error) {
        spdlog::critical("cannot serve D-Bus: {}", error.getMessage());
        return 1;
    }

    journal.record("agent_started", {{"pid", ::getpid()},
                                     {"bridge", config.bridge_name},
                                     {"networkmanager", nm_info.version},
                                     {"config", options.config_path}});
    core.reconcile("start-up");
    bridge_device.refresh(*nm, config.bridge_name);

    // The port tree. A mount left by a killed agent ("Transport endpoint is not connected") is
    // cleared first.
    std::unique_ptr<fs::FuseServer> tree;
    try {
        const fs::MountpointRecovery recovered = fs::recover_mountpoint(config.mountpoint);
        if (recovered != fs::MountpointRecovery::Ready) {
            spdlog::info("mountpoint {}: {}", config.mountpoint.string(), fs::to_string(recovered));
        }
        fs::TreeOptions tree_options;
        tree_options.ledger_path = config.ledger_path;
        // Reads never wait for NM: the bridge's state comes from NM's StateChanged signals,
        // seeded by one read here (and again after NM restarts, in the loop).
        tree_options.bridge_state = [&nm, &bridge_device] {
            std::lock_guard lock(bridge_device.mutex);
            if (bridge_device.path.empty()) return std::string("absent");
            return nm::device_state_name(
                nm->last_signalled_state(bridge_device.path).value_or(bridge_device.seed));
        };
        tree_options.report = [](const std::string& sentence) { spdlog::warn("{}", sentence); };
        tree = std::make_unique<fs::FuseServer>(
            core, tree_options,
            fs::MountOptions{.mountpoint = config.mountpoint, .max_threads = 8});
        spdlog::info("port tree mounted at {}", config.mountpoint.string());
    } catch (const std::exception& error) {
        spdlog::critical("cannot mount the port tree at {}: {}", config.mountpoint.string(),
                         error.what());
        journal.record("agent_start_failed", {{"error", error.what()}});
        return 1;
    }

    try {
        service->request_name();
    } catch (const sdbus::Error& error) {
        spdlog::critical(
            "cannot own the bus name dev.ovs.PortAgent1 ({}): is another agent "
            "running, and is dbus/dev.ovs.PortAgent1.conf installed in "
            "/usr/share/dbus-1/system.d?",
            error.getMessage());
        journal.record("agent_start_failed", {{"error", error.getMessage()}});
        return 1;
    }
    spdlog::info("ready: {} ports", core.ports().size());
    notify_ready("serving " + std::to_string(core.ports().size()) + " ports on " +
                 config.bridge_name);
    const auto watchdog = watchdog_period();
    auto next_watchdog = std::chrono::steady_clock::now();

    // When the block is next synced outside a port change: after someone else rewrote the file
    // (debounced). The writer's thread retries what failed or waits for Proxmox's lock.
    LoopTimer block_due;
    auto sync_block = [&](std::vector<agent::Port> ports) {
        block_due.reset();
        block->submit(std::move(ports));
    };
    sync_block(core.ports());
    // While the journal holds entries (the ledger's disk is full), when to try writing them
    // again; they are also written at the next record or requested change. Nothing held: no
    // timer.
    LoopTimer ledger_due;
    constexpr auto kLedgerRetry = std::chrono::seconds(5);
    // Memory freed after port changes (a burst's D-Bus messages, OVSDB updates) is handed back to
    // the system once they have been quiet this long; malloc keeps it otherwise.
    LoopTimer trim_due;
    constexpr auto kTrimAfter = std::chrono::seconds(2);
    LoopTimer nm_stopped_at;
    // After NM returns: re-plug, reconcile and the bridge's device, off the loop.
    NmReturn nm_return(
        NmReturnSteps{
            .answering =
                [&nm] {
                    // A cheap question first: the full listing takes NM ~0.5 s right after it
                    // starts, so the ports NM does not re-add itself are re-plugged before that.
                    try {
                        nm->list_connection_paths();
                        return true;
                    } catch (const nm::NmError&) {
                        return false;  // NM takes its bus name before it exports its objects
                    }
                },
            .replug =
                [&core, &journal] {
                    const std::size_t replugging = core.nm_returned();
                    journal.record("networkmanager_answering", {{"replugging", replugging}});
                    spdlog::info(
                        "NetworkManager answers: re-plugging {} ports it does not restore itself",
                        replugging);
                },
            .reconcile =
                [&core](bool last) {
                    const auto started = std::chrono::steady_clock::now();
                    const bool reconciled = core.reconcile("networkmanager restarted", last);
                    spdlog::debug("reconcile after NM's return: {} in {} ms",
                                  reconciled ? "done" : "NM not ready",
                                  std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started)
                                      .count());
                    return reconciled;
                },
            .refresh_bridge = [&nm, &bridge_device,
                               bridge = config.bridge_name] { bridge_device.refresh(*nm, bridge); },
        },
        std::chrono::milliseconds(50), std::chrono::seconds(30));
    // Who plugged what, read from OVSDB (never written).
    OvsdbFeed ovsdb(netwatch::default_ovsdb_socket(), config.bridge_name, core, journal);

    bool running = true;
    while (running) {
        pollfd fds[] = {{signal_fd.get(), POLLIN, 0},
                        {wakeup.fd(), POLLIN, 0},
                        {watcher->fd(), POLLIN, 0},
                        {block->watch_fd(), POLLIN, 0},
                        {ovsdb.fd(), POLLIN, 0}};
        int timeout_ms = -1;
        {
            std::lock_guard lock(watcher_mutex);
            if (auto due = watcher->next_timeout(netwatch::LinkWatcher::Clock::now())) {
                timeout_ms = static_cast<int>(due->count());
            }
        }
        if (auto due = ovsdb.next_timeout(OvsdbFeed::Clock::now())) {
            if (timeout_ms < 0 || due->count() < timeout_ms)
                timeout_ms = static_cast<int>(due->count());
        }
        if (watchdog) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= next_watchdog) {
                notify_watchdog();
                next_watchdog = now + *watchdog;
            }
            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_watchdog - now);
            if (timeout_ms < 0 || wait.count() < timeout_ms)
                timeout_ms = static_cast<int>(wait.count());
        }
        // The poll wakes up for the earliest of the loop's own timers.
        auto wake_at = [&timeout_ms](std::chrono::steady_clock::time_point due) {
            const auto wait = std::max<std::chrono::milliseconds>(
                std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(
                                                  due - std::chrono::steady_clock::now()));
            if (timeout_ms < 0 || wait.count() < timeout_ms)
                timeout_ms = static_cast<int>(wait.count());
        };
        if (auto due = links.next_timeout()) wake_at(*due);
        if (block_due) wake_at(*block_due);
        if (!ledger_due && journal.holding()) {
            ledger_due = std::chrono::steady_clock::now() + kLedgerRetry;
        }
        if (ledger_due) wake_at(*ledger_due);
        if (trim_due) wake_at(*trim_due);
        const int n = ::poll(fds, std::size(fds), timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::critical("poll: {}", std::strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            if (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
                spdlog::info("signal {}: stopping", strsignal(static_cast<int>(info.ssi_signo)));
                running = false;
            }
        }
        if (fds[1].revents & POLLIN) {
            const std::uint64_t reasons = wakeup.take();
            if ((reasons & Wakeup::kLedgerHeld) && !ledger_due) {
                ledger_due = std::chrono::steady_clock::now() + kLedgerRetry;
            }
            if (reasons & Wakeup::kNmVanished) {
                spdlog::warn("NetworkManager left the bus; ports stay as OVS has them");
                nm_stopped_at = std::chrono::steady_clock::now();
                journal.record("networkmanager_stopped",
                               {{"ports", core.ports().size()}, {"bridge", config.bridge_name}});
            }
            if (reasons & Wakeup::kPortsChanged) {
                trim_due = std::chrono::steady_clock::now() + kTrimAfter;
                // The bridge may have been set up after the agent started.
                if (bridge_device.empty()) nm_return.refresh_bridge();
                const auto ports = core.ports();
                sync_block(ports);
                notify_status("serving " + std::to_string(ports.size()) + " ports on " +
                              config.bridge_name);
            }
            if (reasons & Wakeup::kReloadConfig) {
                std::lock_guard reload_lock(reload.mutex);
                if (reload.wanted) {
                    try {
                        std::lock_guard lock(watcher_mutex);
                        config = *reload.wanted;
                        // A new watcher re-reads every link; the core ignores what it knows.
                        auto fresh =
                            std::make_unique<netwatch::LinkWatcher>(watcher_options(config));
                        for (const agent::Port& port : core.ports()) {
                            if (port.origin == agent::Origin::Request) fresh->watch_name(port.name);
                        }
                        watcher = std::move(fresh);
                        block.reset();  // its last write first
                        block = std::make_unique<BlockWriter>(config, journal);
                        sync_block(core.ports());
                        spdlog::info("configuration reloaded from {}", options.config_path);
                        journal.record("config_reloaded", {{"path", options.config_path}});
                        reload.done.set_value();
                    } catch (const std::exception& error) {
                        spdlog::error("reloading the configuration: {}", error.what());
                        reload.done.set_exception(std::current_exception());
                    }
                    reload.wanted.reset();
                }
            }
            if (reasons & Wakeup::kNmAppeared) {
                // NM deletes the OVS rows it owns when it starts and re-adds only autoconnect
                // profiles; reconcile re-plugs whatever it does not.
                spdlog::info("NetworkManager is back on the bus: reconciling");
                nlohmann::json outage = nlohmann::json::object();
                if (nm_stopped_at) {
                    outage["down_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - *nm_stopped_at)
                                            .count();
                }
                journal.record("networkmanager_started", outage);
                nm_return.nm_returned();
            }
            if (reasons & Wakeup::kGuestConfigRead) links.configs_read(config);
        }
        if ((fds[3].revents & POLLIN) && block->drain_watch()) {
            // Someone else wrote the file (our own writes come back here too, and then find
            // nothing to change): look again once the writer is done.
            block_due = std::chrono::steady_clock::now() + config.debounce_ms;
        }
        if (block_due && std::chrono::steady_clock::now() >= *block_due) {
            block_due.reset();
            sync_block(core.ports());
        }
        links.on_timer(LinkHandler::Clock::now(), config);
        if (trim_due && std::chrono::steady_clock::now() >= *trim_due) {
            trim_due.reset();
            ::malloc_trim(0);
        }
        if (ledger_due && std::chrono::steady_clock::now() >= *ledger_due) {
            // Written already (by a record or a request) or written now: no timer until the
            // next outage. The journal logs the outage's end.
            if (journal.retry()) {
                ledger_due = std::chrono::steady_clock::now() + kLedgerRetry;
            } else {
                ledger_due.reset();
            }
        }
        std::optional<netwatch::LinkBatch> batch;
        {
            std::lock_guard lock(watcher_mutex);
            if (fds[2].revents & POLLIN) watcher->process_pending();
            batch = watcher->take_batch(netwatch::LinkWatcher::Clock::now());
        }
        // The watcher is replaced only on this thread (a reload), so it is used unlocked here.
        if (batch) links.handle(*batch, config);
        if (fds[4].revents & (POLLIN | POLLHUP | POLLERR))
            ovsdb.on_readable(OvsdbFeed::Clock::now());
        ovsdb.on_timer(OvsdbFeed::Clock::now());
    }

    notify_stopping();
    // The doors close first, so no new request reaches a core that is winding down.
    service.reset();
    service_bus.reset();
    tree->stop();
    tree.reset();
    core.wait_idle(std::chrono::seconds(10));
    // The block as the ports are now (written only if it differs), before the last entry.
    block->submit(core.ports());
    block.reset();
    journal.record("agent_stopped", {{"pid", ::getpid()}, {"ports", core.ports().size()}});
    if (journal.holding() && journal.retry()) {
        if (const auto outage = journal.outage()) {
            spdlog::error(
                "ledger {}: still cannot be written ({}); {} held entries are lost with this "
                "process ({} dropped before)",
                config.ledger_path.string(), outage->error, outage->held, outage->dropped);
        }
    }
    return 0;
}

}  // namespace opa::mount
