#include "dbus/service.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>
#include "bus/sdbus_compat.hpp"

#include "agent/core.hpp"
#include "dbus/errors.hpp"
#include "dbus/ledger_checker.hpp"
#include "dbus/port_dict.hpp"
#include "dbus/validate.hpp"
// Generated at build time from dbus/dev.ovs.PortAgent1.xml.
#include "dev_ovs_PortAgent1_adaptor.h"

namespace opa::dbus {
namespace {

// The one place where exceptions become D-Bus errors. sdbus-c++ only turns sdbus::Error into an
// error reply; anything else would unwind into sd-bus's C frames. So every handler and getter
// runs its body here: a ServiceError keeps its kind and sentence, anything else is Failed.
template <typename Body>
auto at_bus_boundary(Body&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const ServiceError& error) {
        throw bus::make_error(error_name(error.kind()), error.what());
    } catch (const std::exception& error) {
        throw bus::make_error(error_name(ErrorKind::Failed),
                              std::string("internal error: ") + error.what() + ".");
    } catch (...) {
        throw bus::make_error(error_name(ErrorKind::Failed), "internal error.");
    }
}

// A signal to emit, in the order the registry changed.
struct Event {
    enum class Kind { Added, Removed, StateChanged };
    Kind kind;
    std::string name;
    std::string state;
};

// Turns the core's notifications into signal events and queues them for the emitter thread.
// Shared with the core's listener, which outlives the service (the core cannot drop listeners):
// once closed, it ignores notifications.
class SignalQueue {
  public:
    explicit SignalQueue(agent::Core& core) : core_(core) {}

    // From the core's listener, on any thread. Compares the core's current view of the port
    // (read now, not the snapshot handed to the listener, so that of two racing notifications
    // the later one always leaves the last word) with the last state this queue reported.
    // Lock order: mutex_ before the core's lock; the core never calls a listener under it.
    void observe(const std::string& name) {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        const std::optional<agent::Port> current = core_.port(name);
        auto known = known_.find(name);
        if (current && known == known_.end()) {
            known_.emplace(name, current->state);
            push({Event::Kind::Added, name, {}});
        } else if (current && known->second != current->state) {
            known->second = current->state;
            push({Event::Kind::StateChanged, name, std::string(agent::to_string(current->state))});
        } else if (!current && known != known_.end()) {
            known_.erase(known);
            push({Event::Kind::Removed, name, {}});
        }
    }

    // Takes the ports the core has now as known, so that they are not announced as added.
    void prime() {
        std::lock_guard lock(mutex_);
        for (const agent::Port& port : core_.ports()) known_.emplace(port.name, port.state);
    }

    // Blocks for the next event; nullopt once closed.
    std::optional<Event> next() {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return closed_ || !events_.empty(); });
        if (closed_) return std::nullopt;
        Event event = std::move(events_.front());
        events_.pop_front();
        return event;
    }

    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        events_.clear();
        ready_.notify_all();
    }

  private:
    void push(Event event) {
        events_.push_back(std::move(event));
        ready_.notify_one();
    }

    agent::Core& core_;
    std::mutex mutex_;
    std::condition_variable ready_;
    bool closed_ = false;
    std::map<std::string, agent::PortState> known_;
    std::deque<Event> events_;
};

}  // namespace

class Service::Impl final : public sdbus::AdaptorInterfaces<dev::ovs::PortAgent1_adaptor> {
  public:
    Impl(sdbus::IConnection& connection, agent::Core& core, ServiceOptions options)
        : AdaptorInterfaces(connection, sdbus::ObjectPath(kObjectPath)),
          connection_(connection),
          core_(core),
          options_(std::move(options)),
          signals_(std::make_shared<SignalQueue>(core)) {
        if (!options_.ledger_path.empty()) {
            checker_ = std::make_unique<LedgerChecker>(options_.ledger_path);
        }
        // First: if the bus refuses the object, nothing else has been set up yet.
        registerAdaptor();
        core_.add_listener(
            [signals = signals_](const std::string& name, const std::optional<agent::Port>&) {
                signals->observe(name);
            });
        signals_->prime();
        emitter_ = std::thread([this] { emit_signals(); });
    }

    ~Impl() {
        if (name_requested_) {
            try {
                bus::release_name(connection_, kBusName);
            } catch (const sdbus::Error&) {
                // The connection is closing anyway; the bus drops the name with it.
            }
        }
        // Before any member goes, so that no handler runs on a half-destroyed service (sd-bus
        // waits for a running one).
        unregisterAdaptor();
        checker_.reset();  // answers the calls still waiting
        signals_->close();
        emitter_.join();
    }

    void request_name() {
        bus::request_name(connection_, kBusName);
        name_requested_ = true;
    }

  private:
    // --- methods ------------------------------------------------------------------------------

    // The snake_case aliases share the PascalCase handlers' bodies (each call crosses
    // at_bus_boundary once).
    std::string Ping() override {
        return at_bus_boundary([] { return std::string("pong"); });
    }
    std::string ping() override {
        return at_bus_boundary([] { return std::string("pong"); });
    }

    std::vector<std::string> ListPorts() override {
        return at_bus_boundary([this] { return port_names(); });
    }
    std::vector<std::string> list_ports() override {
        return at_bus_boundary([this] { return port_names(); });
    }

    std::string CreateContainerInterface(const std::string& raw_ifname,
                                         const std::string& container_id,
                                         const std::uint32_t& vmid) override {
        return at_bus_boundary([&] {
            return create_interface("CreateContainerInterface", raw_ifname, container_id, vmid);
        });
    }
    std::string create_container_interface(const std::string& raw_ifname,
                                           const std::string& container_id,
                                           const std::uint32_t& vmid) override {
        return at_bus_boundary([&] {
            return create_interface("create_container_interface", raw_ifname, container_id, vmid);
        });
    }

    std::string RemoveContainerInterface(const std::string& ifname) override {
        return at_bus_boundary(
            [&] { return remove_interface("RemoveContainerInterface", ifname); });
    }
    std::string remove_container_interface(const std::string& ifname) override {
        return at_bus_boundary(
            [&] { return remove_interface("remove_container_interface", ifname); });
    }

    std::map<std::string, sdbus::Variant> GetPort(const std::string& name) override {
        return at_bus_boundary([&] {
            check_ifname(name, "port name");
            const std::optional<agent::Port> port = core_.port(name);
            if (!port) throw error_for({agent::Errc::NotFound, "no port named " + name});
            return port_to_dict(*port);
        });
    }

    void ReloadConfig() override {
        at_bus_boundary([&] {
            require_root(caller_uid(), "ReloadConfig");
            if (!options_.reload_config) {
                throw ServiceError(ErrorKind::Failed,
                                   "this agent runs without a configuration file to reload.");
            }
            // A reload is a change the ledger records (config_reloaded): refused, like the
            // others, while that record could not be written.
            if (agent::Status refused = core_.ready_for_change(); !refused) {
                throw error_for(refused);
            }
            try {
                options_.reload_config();
            } catch (const ServiceError&) {
                throw;
            } catch (const std::exception& error) {
                throw ServiceError(ErrorKind::Failed, std::string("reloading the configuration "
                                                                  "failed: ") +
                                                          error.what() + ".");
            }
        });
    }

    // Anyone may call it, so it must never hold the bus thread: the checker answers from its
    // cache at once or later from its own thread.
    void VerifyLedger(sdbus::Result<bool, std::string>&& result) override {
        try {
            at_bus_boundary([&] {
                if (!checker_) {
                    throw ServiceError(ErrorKind::Failed, "this agent keeps no ledger to verify.");
                }
                auto shared = std::make_shared<sdbus::Result<bool, std::string>>(std::move(result));
                const bool queued = checker_->check([shared](bool ok, const std::string& report) {
                    try {
                        shared->returnResults(ok, report);
                    } catch (const std::exception&) {
                        // The caller or the connection is gone: nobody to answer.
                    }
                });
                if (!queued) {
                    result = std::move(*shared);
                    throw ServiceError(ErrorKind::Failed,
                                       "too many VerifyLedger calls are waiting; try again later.");
                }
            });
        } catch (const sdbus::Error& error) {
            result.returnError(error);
        }
    }

    // --- properties ---------------------------------------------------------------------------

    std::string Bridge() override {
        return at_bus_boundary([&] { return core_.bridge(); });
    }
    std::uint32_t PortCount() override {
        return at_bus_boundary([&] { return static_cast<std::uint32_t>(core_.ports().size()); });
    }
    std::string Version() override {
        return at_bus_boundary([&] { return options_.version; });
    }

    // --- the work -----------------------------------------------------------------------------

    std::vector<std::string> port_names() const {
        std::vector<std::string> names;
        for (const agent::Port& port : core_.ports()) names.push_back(port.name);
        std::sort(names.begin(), names.end());
        return names;
    }

    // container_id is part of the original agent's signature; the vi{VMID} scheme names ports
    // by VMID alone, so it is accepted and not used.
    std::string create_interface(std::string_view method, const std::string& raw_ifname,
                                 const std::string& /*container_id*/, std::uint32_t vmid) {
        const std::string port_name = port_name_for_request(raw_ifname, vmid);
        require_root(caller_uid(), method);

        // Refused before the link is renamed, so that a refusal changes nothing.
        if (auto raw = core_.port(raw_ifname); raw && raw->state == agent::PortState::External) {
            // Proxmox's hook (or someone) plugged it: renaming it would take the interface out
            // from under their OVS port.
            throw error_for({agent::Errc::NotOwned,
                             raw_ifname + " is plugged into " + core_.bridge() +
                                 " by someone else (external); the agent leaves it alone"});
        }
        if (core_.port(port_name)) {
            throw error_for({agent::Errc::Exists, "port " + port_name + " exists already"});
        }
        // The rename is a change too (and recorded): refused with the port while the ledger
        // cannot be written.
        if (const agent::Status refused = core_.ready_for_change(); !refused) {
            throw error_for(refused);
        }
        const bool rename = raw_ifname != port_name && options_.rename_link;
        if (rename && options_.rename_refusal) {
            // Renaming sets the link down: only a guest's veth or tap, never the uplink.
            if (const auto why = options_.rename_refusal(raw_ifname)) {
                throw ServiceError(ErrorKind::InvalidArgs,
                                   raw_ifname + " " + *why +
                                       ": only a guest's veth or tap is renamed; nothing changed.");
            }
        }
        const agent::PortOptions options{std::nullopt, vmid, {}};
        if (!rename) {
            const agent::Status status =
                core_.create_port(port_name, options, agent::Origin::Request);
            if (!status) throw error_for(status);
            return port_name;
        }
        // The renamed link's port moves with it: the core removes the old name's port, has the
        // link renamed (the callback), then makes the new one.
        std::exception_ptr rename_failure;
        bool renamed = false;
        const agent::Status status = core_.move_port(raw_ifname, port_name, options, [&] {
            try {
                options_.rename_link(raw_ifname, port_name);
                renamed = true;
            } catch (...) {
                rename_failure = std::current_exception();
            }
            return renamed;
        });
        if (rename_failure) {
            try {
                std::rethrow_exception(rename_failure);
            } catch (const ServiceError&) {
                throw;
            } catch (const std::exception& error) {
                throw ServiceError(ErrorKind::Failed, "renaming " + raw_ifname + " to " +
                                                          port_name + " failed: " + error.what() +
                                                          ".");
            }
        }
        if (!status) {
            if (renamed) undo_rename(port_name, raw_ifname);
            throw error_for(status);
        }
        return port_name;
    }

    // Best effort: the caller hears why the port was refused, which matters more than a link
    // that keeps its new name.
    void undo_rename(const std::string& port_name, const std::string& raw_ifname) noexcept {
        try {
            options_.rename_link(port_name, raw_ifname);
        } catch (...) {
        }
    }

    std::string remove_interface(std::string_view method, const std::string& ifname) {
        check_ifname(ifname, "port name");
        require_root(caller_uid(), method);
        const agent::Status status = core_.remove_port(ifname);
        if (!status) throw error_for(status);
        return ifname;
    }

    // The effective uid the bus daemon vouches for (GetConnectionUnixUser of the sender), or
    // nullopt.
    std::optional<uid_t> caller_uid() const {
        try {
            return bus::current_caller_uid(getObject());
        } catch (const sdbus::Error&) {
            return std::nullopt;
        }
    }

    // The emitter thread.
    void emit_signals() {
        while (const std::optional<Event> event = signals_->next()) {
            try {
                switch (event->kind) {
                    case Event::Kind::Added:
                        emitPortAdded(event->name);
                        bus::emit_property_changed(getObject(), kInterface, "PortCount");
                        break;
                    case Event::Kind::Removed:
                        emitPortRemoved(event->name);
                        bus::emit_property_changed(getObject(), kInterface, "PortCount");
                        break;
                    case Event::Kind::StateChanged:
                        emitPortStateChanged(event->name, event->state);
                        break;
                }
            } catch (const std::exception&) {
                // The connection is gone: the signal is lost, the registry is not. Clients
                // that reconnect read ListPorts.
            }
        }
    }

    sdbus::IConnection& connection_;
    agent::Core& core_;
    const ServiceOptions options_;
    std::shared_ptr<SignalQueue> signals_;
    std::unique_ptr<LedgerChecker> checker_;
    std::thread emitter_;
    bool name_requested_ = false;
};

Service::Service(sdbus::IConnection& connection, agent::Core& core, ServiceOptions options)
    : impl_(std::make_unique<Impl>(connection, core, std::move(options))) {}

Service::~Service() = default;

void Service::request_name() { impl_->request_name(); }

}  // namespace opa::dbus
