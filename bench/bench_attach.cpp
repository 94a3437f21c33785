// bench_attach: from a link appearing to its port working, the agent against NetworkManager's
// floor, side by side in one run.
//
//   bench_attach [--bridge=ovsbr0] [--samples=20] [--burst=200] [--inflight=100]
//                [--timeout=300]
//
// Runs in the sandbox (scripts/sandbox.sh exec) while the agent runs there (`ovs-port-agent run`
// with "veth" among include_prefixes, its bridge made by setup-bridge). "Done" for a port means
// both: NetworkManager signalled its interface's device ACTIVATED, and OVSDB holds its Port row
// (seen by `ovsdb-client monitor`, so no polling). The device is the veth's own (type veth), not
// NM's OVS port device of the same name, which reaches ACTIVATED a little earlier. Time starts just
// before the link is created.
//   - ours:  `ip link add vethNi0 type veth peer name vethNi0p`; the agent sees the link and
//            attaches it. The link is deleted afterwards (the agent detaches the port).
//   - floor: the same NM calls the agent makes, made directly and nothing else: AddConnection2 of
//            the ovs-port and of the member profile (the agent's settings and flags, another id),
//            then ActivateConnection of the member on its device once NM has the device. The
//            floor learns of the link at once: its calls start together with `ip link add`.
//   - single ports: --samples of each, one at a time, ours and floor alternating (who goes first
//     alternates too); median and p95, and ours / floor of the medians (target <= 1.25).
//   - burst: --burst links created by one `ip -batch` at once -> all done: ours, then two floors,
//     both with --inflight chains at once (each one call at a time, so at most --inflight calls
//     are in flight; the system bus allows 128 pending replies per connection): per-port chains
//     (add, add, activate), and NM's other strategy, all profiles first and then all activations.
//     Wall time until the last port is done, and ours / the faster floor (target <= 1.5).
// Between measurements everything is deleted again and awaited (links, OVSDB rows, profiles).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "bus/sdbus_compat.hpp"

#include "bench/bench_report.hpp"
#include "nm/profiles.hpp"

extern char** environ;

namespace {

using namespace opa::bench;
using namespace std::chrono_literals;

constexpr std::string_view kBench = "bench_attach";
constexpr const char* kNm = "org.freedesktop.NetworkManager";
constexpr const char* kNmPath = "/org/freedesktop/NetworkManager";
constexpr const char* kSettingsPath = "/org/freedesktop/NetworkManager/Settings";
constexpr const char* kSettingsIface = "org.freedesktop.NetworkManager.Settings";
constexpr const char* kConnectionIface = "org.freedesktop.NetworkManager.Settings.Connection";
constexpr const char* kDeviceIface = "org.freedesktop.NetworkManager.Device";
constexpr std::uint32_t kActivated = 100;
constexpr std::uint32_t kDeviceVeth = 20;

// Runs argv, waits; its exit status (or -1).
int run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `ip -batch` of these lines; throws when ip fails.
void ip_batch(const std::vector<std::string>& lines) {
    char path[] = "/tmp/bench-attach-ip-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    const int status = written ? run({"ip", "-batch", path}) : -1;
    ::unlink(path);
    if (status != 0)
        throw std::runtime_error("ip -batch failed (status " + std::to_string(status) + ")");
}

std::vector<std::string> add_lines(const std::vector<std::string>& names) {
    std::vector<std::string> lines;
    for (const std::string& n : names)
        lines.push_back("link add " + n + " type veth peer name " + n + "p");
    return lines;
}
std::vector<std::string> del_lines(const std::vector<std::string>& names) {
    std::vector<std::string> lines;
    for (const std::string& n : names) lines.push_back("link del " + n);
    return lines;
}

// What NetworkManager and OVSDB said, with the time each thing was first seen.
class Observer {
  public:
    Observer() {
        bus_ = sdbus::createSystemBusConnection();
        resolver_bus_ = sdbus::createSystemBusConnection();
        opa::bus::add_match(*bus_, opa::bus::signal_rule(kNm, kDeviceIface, "StateChanged"),
                            [this](sdbus::Message& m) { on_state(m); });
        opa::bus::add_match(*bus_, opa::bus::signal_rule(kNm, kNm, "DeviceAdded"),
                            [this](sdbus::Message& m) { on_added(m); });
        bus_->enterEventLoopAsync();
        resolver_ = std::thread([this] { resolve_loop(); });
        start_monitor();
    }
    ~Observer() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            changed_.notify_all();
        }
        resolver_.join();
        bus_->leaveEventLoop();
        if (monitor_pid_ > 0) {
            ::kill(monitor_pid_, SIGTERM);
            ::waitpid(monitor_pid_, nullptr, 0);
        }
        if (monitor_.joinable()) monitor_.join();
    }

    // Waits until `check` (called under the lock) holds; false at the deadline.
    bool wait(const std::function<bool()>& check, Clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return changed_.wait_until(lock, deadline, check);
    }
    // When `name` was done (ACTIVATED and in OVSDB), if it is. Lock held (inside wait()).
    std::optional<Clock::time_point> done_at(const std::string& name) const {
        auto path = path_of_.find(name);
        auto ovs = ovs_in_.find(name);
        if (path == path_of_.end() || ovs == ovs_in_.end()) return std::nullopt;
        auto active = activated_.find(path->second);
        if (active == activated_.end()) return std::nullopt;
        return std::max(active->second, ovs->second);
    }
    bool in_ovsdb(const std::string& name) const { return ovs_in_.count(name) > 0; }
    std::optional<std::string> device_of(const std::string& name) const {
        auto it = path_of_.find(name);
        if (it == path_of_.end()) return std::nullopt;
        return it->second;
    }
    bool monitor_ready() {
        std::lock_guard lock(mutex_);
        return monitor_ready_;
    }

  private:
    void on_state(sdbus::Message& m) {
        try {
            std::uint32_t state = 0;
            m >> state;
            const auto now = Clock::now();
            if (state != kActivated) return;
            std::lock_guard lock(mutex_);
            activated_.try_emplace(m.getPath(), now);
            changed_.notify_all();
        } catch (const std::exception&) {
        }
    }
    void on_added(sdbus::Message& m) {
        try {
            sdbus::ObjectPath path;
            m >> path;
            std::lock_guard lock(mutex_);
            to_resolve_.push_back(path);
            changed_.notify_all();
        } catch (const std::exception&) {
        }
    }
    // Device path -> interface name, off the signal thread. Only the link's own device (veth):
    // NM's OVS port device has the same name and reaches ACTIVATED first.
    void resolve_loop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            changed_.wait(lock, [this] { return stopping_ || !to_resolve_.empty(); });
            if (stopping_) return;
            const std::string path = to_resolve_.front();
            to_resolve_.pop_front();
            lock.unlock();
            std::string name;
            try {
                auto proxy = opa::bus::make_proxy(*resolver_bus_, kNm, path);
                const auto type =
                    proxy->getProperty("DeviceType").onInterface(kDeviceIface).get<std::uint32_t>();
                if (type == kDeviceVeth) {
                    name = proxy->getProperty("Interface")
                               .onInterface(kDeviceIface)
                               .get<std::string>();
                }
            } catch (const std::exception&) {
            }
            lock.lock();
            if (!name.empty()) path_of_[name] = path;
            changed_.notify_all();
        }
    }
    void start_monitor() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        // Its "terminating with signal 15" at the end is no news.
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const char* argv[] = {"stdbuf",       "-oL",  "ovsdb-client", "--format=csv", "monitor",
                              "Open_vSwitch", "Port", "name",         nullptr};
        const int rc = posix_spawnp(&monitor_pid_, argv[0], &actions, nullptr,
                                    const_cast<char**>(argv), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            throw std::runtime_error("cannot start ovsdb-client");
        }
        monitor_ = std::thread([this, fd = fds[0]] {
            FILE* in = ::fdopen(fd, "r");
            char line[512];
            while (in && std::fgets(line, sizeof line, in)) {
                const auto now = Clock::now();
                std::string text(line);
                while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
                    text.pop_back();
                std::lock_guard lock(mutex_);
                monitor_ready_ = true;
                const auto first = text.find(',');
                const auto second = first == std::string::npos ? first : text.find(',', first + 1);
                if (second != std::string::npos) {
                    const std::string action = text.substr(first + 1, second - first - 1);
                    std::string name = text.substr(second + 1);
                    if (name.size() >= 2 && name.front() == '"')
                        name = name.substr(1, name.size() - 2);
                    if (action == "insert" || action == "initial") ovs_in_.try_emplace(name, now);
                    if (action == "delete") ovs_in_.erase(name);
                }
                changed_.notify_all();
            }
            if (in) std::fclose(in);
        });
    }

    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IConnection> resolver_bus_;
    std::thread resolver_;
    std::thread monitor_;
    pid_t monitor_pid_ = 0;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    bool monitor_ready_ = false;
    std::deque<std::string> to_resolve_;
    std::map<std::string, Clock::time_point> activated_;  // device path -> first ACTIVATED
    std::map<std::string, std::string> path_of_;          // interface -> device path
    std::map<std::string, Clock::time_point> ovs_in_;     // port name -> row inserted
};

// The floor: the agent's NM calls for one port, on a bus connection of the caller's.
class Floor {
  public:
    Floor(std::string bridge_uuid, opa::nm::WireNames wire)
        : bridge_uuid_(std::move(bridge_uuid)), wire_(std::move(wire)) {}

    struct Made {
        std::string port_path;
        std::string member_path;
    };
    Made attach(sdbus::IConnection& bus, Observer& observer, const std::string& name,
                Clock::time_point deadline) const {
        Made made = add_profiles(bus, name);
        activate(bus, observer, name, made, deadline);
        return made;
    }
    // The two AddConnection2 calls of a port.
    Made add_profiles(sdbus::IConnection& bus, const std::string& name) const {
        using namespace opa::nm;
        const ProfileCommon port{new_uuid(), true};
        const ProfileCommon member{new_uuid(), true};
        Settings port_settings = port_profile(name, port, bridge_uuid_, {}, std::nullopt, wire_);
        Settings member_settings =
            ethernet_member_profile(name, member, port.uuid, std::nullopt, wire_);
        port_settings["connection"]["id"] = sdbus::Variant("bench-floor:port:" + name);
        member_settings["connection"]["id"] = sdbus::Variant("bench-floor:member:" + name);
        auto settings = opa::bus::make_proxy(bus, kNm, kSettingsPath);
        Made made;
        made.port_path = add(*settings, port_settings);
        made.member_path = add(*settings, member_settings);
        return made;
    }
    // ActivateConnection of the member once NM shows the device.
    static void activate(sdbus::IConnection& bus, Observer& observer, const std::string& name,
                         const Made& made, Clock::time_point deadline) {
        std::string device;
        if (!observer.wait(
                [&] {
                    auto d = observer.device_of(name);
                    if (d) device = *d;
                    return d.has_value();
                },
                deadline)) {
            throw std::runtime_error("floor: NM never showed device " + name);
        }
        auto manager = opa::bus::make_proxy(bus, kNm, kNmPath);
        sdbus::ObjectPath active;
        manager->callMethod("ActivateConnection")
            .onInterface(kNm)
            .withArguments(sdbus::ObjectPath(made.member_path), sdbus::ObjectPath(device),
                           sdbus::ObjectPath("/"))
            .storeResultsTo(active);
    }
    static void remove(sdbus::IConnection& bus, const Made& made) {
        for (const std::string& path : {made.member_path, made.port_path}) {
            try {
                opa::bus::make_proxy(bus, kNm, path)
                    ->callMethod("Delete")
                    .onInterface(kConnectionIface);
            } catch (const sdbus::Error&) {
            }
        }
    }

  private:
    static std::string add(sdbus::IProxy& settings, const opa::nm::Settings& s) {
        sdbus::ObjectPath path;
        std::map<std::string, sdbus::Variant> result;
        settings.callMethod("AddConnection2")
            .onInterface(kSettingsIface)
            .withArguments(s, std::uint32_t{0x2 | 0x20}, std::map<std::string, sdbus::Variant>{})
            .storeResultsTo(path, result);
        return path;
    }
    std::string bridge_uuid_;
    opa::nm::WireNames wire_;
};

// The agent's profiles of `name` are gone (their UUIDs are derived from the name).
bool agent_profiles_gone(sdbus::IConnection& bus, const std::string& name) {
    auto settings = opa::bus::make_proxy(bus, kNm, kSettingsPath);
    for (auto role : {opa::nm::ProfileRole::Port, opa::nm::ProfileRole::Member}) {
        try {
            sdbus::ObjectPath path;
            settings->callMethod("GetConnectionByUuid")
                .onInterface(kSettingsIface)
                .withArguments(opa::nm::profile_uuid(role, name))
                .storeResultsTo(path);
            return false;
        } catch (const sdbus::Error&) {
        }
    }
    return true;
}

// Re-checks `check` every 20 ms until the deadline (clean-up only, never timed).
bool poll_until(const std::function<bool()>& check, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!check()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

struct Context {
    Observer& observer;
    Floor& floor;
    sdbus::IConnection& bus;
    std::chrono::seconds timeout;
};

// Waits until every name is done; the latencies (s) from t0, in the order of `names`.
std::vector<double> wait_done(Context& c, const std::vector<std::string>& names,
                              Clock::time_point t0, const std::string& what) {
    std::vector<double> latencies;
    const bool all = c.observer.wait(
        [&] {
            for (const std::string& n : names) {
                if (!c.observer.done_at(n)) return false;
            }
            for (const std::string& n : names) {
                latencies.push_back(
                    std::chrono::duration<double>(*c.observer.done_at(n) - t0).count());
            }
            return true;
        },
        Clock::now() + c.timeout);
    if (!all)
        throw std::runtime_error(what + ": not all ports done within " +
                                 std::to_string(c.timeout.count()) + " s");
    return latencies;
}

void wait_gone(Context& c, const std::vector<std::string>& names, bool agent) {
    c.observer.wait(
        [&] {
            for (const std::string& n : names) {
                if (c.observer.in_ovsdb(n)) return false;
            }
            return true;
        },
        Clock::now() + c.timeout);
    if (agent) {
        for (const std::string& n : names) {
            poll_until([&] { return agent_profiles_gone(c.bus, n); }, c.timeout);
        }
    }
}

double ours(Context& c, const std::vector<std::string>& names) {
    const auto t0 = Clock::now();
    ip_batch(add_lines(names));
    auto latencies = wait_done(c, names, t0, "ours");
    ip_batch(del_lines(names));
    wait_gone(c, names, true);
    return *std::max_element(latencies.begin(), latencies.end());
}

// Runs `work(bus, name)` for every name on `inflight` chains (one bus connection each, one call
// in flight on each); the first error, if any, is thrown after all have stopped.
void on_chains(const std::vector<std::unique_ptr<sdbus::IConnection>>& buses,
               const std::vector<std::string>& names,
               const std::function<void(sdbus::IConnection&, const std::string&)>& work) {
    std::mutex mutex;
    std::deque<std::string> queue(names.begin(), names.end());
    std::string error;
    std::vector<std::thread> workers;
    for (const auto& bus : buses) {
        workers.emplace_back([&, connection = bus.get()] {
            try {
                for (;;) {
                    std::string name;
                    {
                        std::lock_guard lock(mutex);
                        if (queue.empty() || !error.empty()) return;
                        name = queue.front();
                        queue.pop_front();
                    }
                    work(*connection, name);
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(mutex);
                error = e.what();
            }
        });
    }
    for (std::thread& w : workers) w.join();
    if (!error.empty()) throw std::runtime_error(error);
}

double floor_run(Context& c, const std::vector<std::string>& names, unsigned inflight) {
    // One connection per chain, made before the clock starts: one call in flight on each.
    std::vector<std::unique_ptr<sdbus::IConnection>> buses;
    for (unsigned i = 0; i < std::min<std::size_t>(inflight, names.size()); ++i) {
        buses.push_back(sdbus::createSystemBusConnection());
    }
    std::mutex mutex;
    std::vector<Floor::Made> made;
    const auto t0 = Clock::now();
    std::thread links([&] { ip_batch(add_lines(names)); });  // the floor's calls run meanwhile
    try {
        on_chains(buses, names, [&](sdbus::IConnection& bus, const std::string& name) {
            Floor::Made m = c.floor.attach(bus, c.observer, name, t0 + c.timeout);
            std::lock_guard lock(mutex);
            made.push_back(m);
        });
    } catch (const std::exception& e) {
        links.join();
        throw std::runtime_error(std::string("floor: ") + e.what());
    }
    links.join();
    auto latencies = wait_done(c, names, t0, "floor");
    ip_batch(del_lines(names));
    for (const Floor::Made& m : made) Floor::remove(c.bus, m);
    wait_gone(c, names, false);
    return *std::max_element(latencies.begin(), latencies.end());
}

// The floor with NM's other strategy for a burst (nm-test-stack.md: its fastest for 200): every
// port's two profiles first, then every activation, each phase with `inflight` calls in flight.
double floor_phased(Context& c, const std::vector<std::string>& names, unsigned inflight) {
    std::vector<std::unique_ptr<sdbus::IConnection>> buses;
    for (unsigned i = 0; i < std::min<std::size_t>(inflight, names.size()); ++i) {
        buses.push_back(sdbus::createSystemBusConnection());
    }
    std::mutex mutex;
    std::map<std::string, Floor::Made> made;
    const auto t0 = Clock::now();
    std::thread links([&] { ip_batch(add_lines(names)); });  // the calls run meanwhile
    try {
        on_chains(buses, names, [&](sdbus::IConnection& bus, const std::string& name) {
            Floor::Made m = c.floor.add_profiles(bus, name);
            std::lock_guard lock(mutex);
            made[name] = m;
        });
        on_chains(buses, names, [&](sdbus::IConnection& bus, const std::string& name) {
            Floor::Made m;
            {
                std::lock_guard lock(mutex);
                m = made.at(name);
            }
            Floor::activate(bus, c.observer, name, m, t0 + c.timeout);
        });
    } catch (const std::exception& e) {
        links.join();
        throw std::runtime_error(std::string("floor (phased): ") + e.what());
    }
    links.join();
    auto latencies = wait_done(c, names, t0, "floor (phased)");
    ip_batch(del_lines(names));
    for (const auto& [name, m] : made) Floor::remove(c.bus, m);
    wait_gone(c, names, false);
    return *std::max_element(latencies.begin(), latencies.end());
}

std::string ms(double seconds) { return fixed(seconds * 1000, 1) + " ms"; }

std::pair<std::string, opa::nm::WireNames> bridge_and_wire(sdbus::IConnection& bus,
                                                           const std::string& bridge) {
    auto manager = opa::bus::make_proxy(bus, kNm, kNmPath);
    const auto version = manager->getProperty("Version").onInterface(kNm).get<std::string>();
    auto settings = opa::bus::make_proxy(bus, kNm, kSettingsPath);
    std::vector<sdbus::ObjectPath> paths;
    settings->callMethod("ListConnections").onInterface(kSettingsIface).storeResultsTo(paths);
    for (const auto& path : paths) {
        opa::nm::Settings s;
        opa::bus::make_proxy(bus, kNm, path)
            ->callMethod("GetSettings")
            .onInterface(kConnectionIface)
            .storeResultsTo(s);
        auto& con = s["connection"];
        if (con["type"].get<std::string>() == "ovs-bridge" && con.count("interface-name") &&
            con["interface-name"].get<std::string>() == bridge) {
            return {con["uuid"].get<std::string>(), opa::nm::wire_names_for(version)};
        }
    }
    throw std::runtime_error("no ovs-bridge profile for " + bridge + " (run setup-bridge first)");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Args args(argc, argv);
        const std::string bridge = args.get("bridge", "ovsbr0");
        const int samples = static_cast<int>(args.number("samples", 20));
        const int burst = static_cast<int>(args.number("burst", 200));
        const unsigned inflight = static_cast<unsigned>(args.number("inflight", 100));
        const std::chrono::seconds timeout(args.number("timeout", 300));
        args.finish();

        print_machine();
        auto bus = sdbus::createSystemBusConnection();
        auto [bridge_uuid, wire] = bridge_and_wire(*bus, bridge);
        Observer observer;
        if (!poll_until([&] { return observer.monitor_ready(); }, 10s)) {
            note("ovsdb-client monitor printed nothing yet (no ports on the bridge?)");
        }
        Floor floor(bridge_uuid, wire);
        Context c{observer, floor, *bus, timeout};

        // A warm-up of each, not counted: the first port wakes the datapath's paths up.
        ours(c, {"veth9999i0"});
        floor_run(c, {"flw9999"}, 1);

        std::vector<double> our_times, floor_times;
        for (int i = 0; i < samples; ++i) {
            const std::string our_name = "veth" + std::to_string(1000 + i) + "i0";
            const std::string floor_name = "fl" + std::to_string(1000 + i);
            if (i % 2 == 0) {
                our_times.push_back(ours(c, {our_name}));
                floor_times.push_back(floor_run(c, {floor_name}, 1));
            } else {
                floor_times.push_back(floor_run(c, {floor_name}, 1));
                our_times.push_back(ours(c, {our_name}));
            }
        }
        const double ratio = median(our_times) / median(floor_times);
        report(kBench,
               "one port: link created -> ACTIVATED and in OVSDB, agent, " +
                   std::to_string(samples) + " runs",
               "median " + ms(median(our_times)) + ", p95 " + ms(quantile(our_times, 0.95)), "-",
               Verdict::Info);
        report(kBench,
               "one port: the same NM calls made directly (floor), " + std::to_string(samples) +
                   " runs",
               "median " + ms(median(floor_times)) + ", p95 " + ms(quantile(floor_times, 0.95)),
               "-", Verdict::Info);
        report(kBench, "one port: agent / floor, medians", fixed(ratio, 2) + "x", "<= 1.25x",
               verdict(ratio <= 1.25));

        if (burst > 0) {
            std::vector<std::string> our_names, floor_names;
            for (int i = 0; i < burst; ++i) {
                our_names.push_back("veth" + std::to_string(3000 + i) + "i0");
                floor_names.push_back("fb" + std::to_string(3000 + i));
            }
            std::vector<std::string> phased_names;
            for (int i = 0; i < burst; ++i) phased_names.push_back("fp" + std::to_string(3000 + i));
            const double our_burst = ours(c, our_names);
            const double chains = floor_run(c, floor_names, inflight);
            const double phased = floor_phased(c, phased_names, inflight);
            const double floor_burst = std::min(chains, phased);
            report(kBench,
                   std::to_string(burst) + " links at once -> all ACTIVATED and in OVSDB, agent",
                   fixed(our_burst, 2) + " s", "-", Verdict::Info);
            report(kBench,
                   std::to_string(burst) + " links at once, floor: per-port chains (" +
                       std::to_string(inflight) + " in flight)",
                   fixed(chains, 2) + " s", "-", Verdict::Info);
            report(kBench,
                   std::to_string(burst) +
                       " links at once, floor: all profiles, then all "
                       "activations (" +
                       std::to_string(inflight) + " in flight)",
                   fixed(phased, 2) + " s", "-", Verdict::Info);
            report(kBench, std::to_string(burst) + " links at once: agent / the faster floor",
                   fixed(our_burst / floor_burst, 2) + "x", "<= 1.5x",
                   verdict(our_burst / floor_burst <= 1.5));
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_attach: " << e.what() << "\n";
        return 1;
    }
}
