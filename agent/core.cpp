#include "agent/core.hpp"

#include <cerrno>

#include "agent/naming.hpp"

namespace opa::agent {
namespace {

using SystemClock = std::chrono::system_clock;

nlohmann::json options_json(const PortOptions& options) {
    nlohmann::json j = nlohmann::json::object();
    if (options.tag) j["tag"] = *options.tag;
    if (options.vmid) j["vmid"] = *options.vmid;
    return j;
}

Status validate_request(const std::string& name, const PortOptions& options) {
    if (auto error = naming::ifname_error(name)) {
        return {*error == naming::IfnameError::kTooLong ? Errc::NameTooLong : Errc::InvalidName,
                "invalid port name '" + name + "': " + std::string(naming::describe(*error))};
    }
    if (options.tag && *options.tag > 4094) {
        return {Errc::InvalidArgument,
                "VLAN tag " + std::to_string(*options.tag) + " is out of range (0..4094)"};
    }
    if (options.vmid && (*options.vmid < naming::kMinVmid || *options.vmid > naming::kMaxVmid)) {
        return {Errc::InvalidArgument, "VMID " + std::to_string(*options.vmid) +
                                           " is out of range (" + std::to_string(naming::kMinVmid) +
                                           ".." + std::to_string(naming::kMaxVmid) + ")"};
    }
    return {};
}

}  // namespace

std::string_view to_string(Origin origin) {
    switch (origin) {
        case Origin::Request:
            return "request";
        case Origin::Link:
            return "link";
    }
    return "request";
}

std::optional<Origin> origin_from_string(std::string_view text) {
    if (text == "request") return Origin::Request;
    if (text == "link") return Origin::Link;
    return std::nullopt;
}

std::string_view to_string(PortState state) {
    switch (state) {
        case PortState::Pending:
            return "pending";
        case PortState::Activating:
            return "activating";
        case PortState::Activated:
            return "activated";
        case PortState::Failed:
            return "failed";
        case PortState::Deactivating:
            return "deactivating";
    }
    return "pending";
}

std::string_view to_string(LinkKind kind) {
    switch (kind) {
        case LinkKind::Unknown:
            return "unknown";
        case LinkKind::Veth:
            return "veth";
        case LinkKind::Tap:
            return "tap";
    }
    return "unknown";
}

std::string_view to_string(Errc code) {
    switch (code) {
        case Errc::Ok:
            return "ok";
        case Errc::InvalidName:
            return "invalid name";
        case Errc::NameTooLong:
            return "name too long";
        case Errc::InvalidArgument:
            return "invalid argument";
        case Errc::Exists:
            return "exists";
        case Errc::NotFound:
            return "not found";
        case Errc::Backend:
            return "NetworkManager error";
        case Errc::ShuttingDown:
            return "shutting down";
    }
    return "error";
}

int Status::to_errno() const {
    switch (code) {
        case Errc::Ok:
            return 0;
        case Errc::InvalidName:
            return EINVAL;
        case Errc::NameTooLong:
            return ENAMETOOLONG;
        case Errc::InvalidArgument:
            return EINVAL;
        case Errc::Exists:
            return EEXIST;
        case Errc::NotFound:
            return ENOENT;
        case Errc::Backend:
            return EIO;
        case Errc::ShuttingDown:
            return ESHUTDOWN;
    }
    return EIO;
}

// One port: what is wanted (desired_*), what NM has (prepared, applied_options), and the view
// readers get. All but op_mutex are guarded by Core::mutex_.
struct Core::Slot {
    std::mutex op_mutex;  // serialises backend operations on this port
    bool desired_present = true;
    PortOptions desired_options;
    bool prepared = false;  // NM holds the profiles
    bool activated = false;
    PortOptions applied_options;
    Port view;
};

Core::Core(Backend& backend, Journal& journal, CoreOptions options)
    : backend_(backend), journal_(journal), options_(std::move(options)) {
    const unsigned n = options_.workers == 0 ? 1 : options_.workers;
    for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Core::~Core() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        work_available_.notify_all();
    }
    for (std::thread& worker : workers_) worker.join();
}

void Core::add_listener(Listener listener) {
    std::lock_guard lock(listeners_mutex_);
    listeners_.push_back(std::move(listener));
}

void Core::notify(const std::string& name) {
    std::optional<Port> snapshot = port(name);
    std::vector<Listener> listeners;
    {
        std::lock_guard lock(listeners_mutex_);
        listeners = listeners_;
    }
    for (const Listener& listener : listeners) listener(name, snapshot);
}

void Core::set_state(Slot& slot, PortState state) {
    const auto now = SystemClock::now();
    if (slot.view.state != state) slot.view.since = now;
    slot.view.state = state;
    slot.view.changed = now;
    ++change_count_;
}

std::shared_ptr<Core::Slot> Core::find_slot(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(name);
    return it == slots_.end() ? nullptr : it->second;
}

std::vector<Port> Core::ports() const {
    std::lock_guard lock(mutex_);
    std::vector<Port> result;
    result.reserve(slots_.size());
    for (const auto& [name, slot] : slots_) result.push_back(slot->view);
    return result;
}

std::optional<Port> Core::port(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(name);
    if (it == slots_.end()) return std::nullopt;
    return it->second->view;
}

std::uint64_t Core::change_count() const {
    std::lock_guard lock(mutex_);
    return change_count_;
}

Status Core::create_port(const std::string& name, const PortOptions& options, Origin origin) {
    if (Status invalid = validate_request(name, options); !invalid) return invalid;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return {Errc::ShuttingDown, "the agent is shutting down"};
        auto& slot = slots_[name];
        if (slot && slot->desired_present) {
            return {Errc::Exists, "port " + name + " exists already"};
        }
        if (!slot) {
            slot = std::make_shared<Slot>();
            slot->view.name = name;
            slot->view.created = SystemClock::now();
            slot->view.state = PortState::Pending;
            slot->view.since = slot->view.created;
        }
        slot->desired_present = true;
        slot->desired_options = options;
        slot->view.origin = origin;
        slot->view.options = options;
        slot->view.last_error.clear();
        if (auto link = links_.find(name); link != links_.end()) {
            slot->view.link_present = true;
            slot->view.kind = link->second;
        }
        slot->view.generation++;
        set_state(*slot, slot->view.state);
    }
    notify(name);
    return converge(name, Phase::ProfilesOnly);
}

Status Core::remove_port(const std::string& name) {
    if (auto error = naming::ifname_error(name)) {
        return {*error == naming::IfnameError::kTooLong ? Errc::NameTooLong : Errc::InvalidName,
                "invalid port name '" + name + "': " + std::string(naming::describe(*error))};
    }
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        if (it == slots_.end() || !it->second->desired_present) {
            return {Errc::NotFound, "no port named " + name};
        }
        it->second->desired_present = false;
        it->second->view.generation++;
        set_state(*it->second, PortState::Deactivating);
    }
    notify(name);
    return converge(name, Phase::Full);
}

Status Core::set_tag(const std::string& name, std::optional<std::uint16_t> tag) {
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        if (it == slots_.end() || !it->second->desired_present) {
            return {Errc::NotFound, "no port named " + name};
        }
        PortOptions options = it->second->desired_options;
        options.tag = tag;
        if (Status invalid = validate_request(name, options); !invalid) return invalid;
        it->second->desired_options = options;
        it->second->view.options = options;
        it->second->view.generation++;
        set_state(*it->second, it->second->view.state);
    }
    notify(name);
    return converge(name, Phase::Full);
}

void Core::link_appeared(const std::string& name, LinkKind kind,
                         std::optional<PortOptions> given_options) {
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        links_[name] = kind;
        auto it = slots_.find(name);
        known = it != slots_.end() && it->second->desired_present;
        if (known) {
            it->second->view.link_present = true;
            it->second->view.kind = kind;
            it->second->view.generation++;
            set_state(*it->second, it->second->view.state);
        }
    }
    if (known) {
        notify(name);
        schedule(name);
        return;
    }
    // A new link: the port is created and activated on a worker, so a burst of links is
    // handled in parallel and the caller's event loop never waits for NM.
    PortOptions options = given_options.value_or(PortOptions{});
    if (!options.vmid) {
        if (auto guest = naming::parse_guest_ifname(name)) options.vmid = guest->vmid;
    }
    if (Status invalid = validate_request(name, options); !invalid) return;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        auto& slot = slots_[name];
        if (!slot) {
            slot = std::make_shared<Slot>();
            slot->view.name = name;
            slot->view.created = SystemClock::now();
            slot->view.since = slot->view.created;
        }
        slot->desired_present = true;
        slot->desired_options = options;
        slot->view.origin = Origin::Link;
        slot->view.options = options;
        slot->view.kind = kind;
        slot->view.link_present = true;
        slot->view.generation++;
        set_state(*slot, PortState::Pending);
    }
    notify(name);
    schedule(name);
}

void Core::link_gone(const std::string& name) {
    bool remove = false;
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        links_.erase(name);
        auto it = slots_.find(name);
        if (it == slots_.end()) return;
        known = true;
        Slot& slot = *it->second;
        slot.view.link_present = false;
        slot.activated = false;
        slot.view.generation++;
        if (slot.view.origin == Origin::Link && slot.desired_present) {
            // Discovered with the link, gone with it.
            slot.desired_present = false;
            remove = true;
            set_state(slot, PortState::Deactivating);
        } else if (slot.desired_present) {
            set_state(slot, PortState::Pending);
        }
    }
    if (known) notify(name);
    if (remove) schedule(name);
}

void Core::schedule(const std::string& name) {
    std::lock_guard lock(mutex_);
    if (stopping_ || queued_.count(name)) return;
    queued_.insert(name);
    queue_.push_back(name);
    work_available_.notify_one();
}

void Core::worker_loop() {
    for (;;) {
        std::string name;
        {
            std::unique_lock lock(mutex_);
            work_available_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            name = std::move(queue_.front());
            queue_.pop_front();
            queued_.erase(name);
            ++busy_;
        }
        converge(name, Phase::Full);
        {
            std::lock_guard lock(mutex_);
            --busy_;
            if (busy_ == 0 && queue_.empty()) idle_.notify_all();
        }
    }
}

bool Core::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return busy_ == 0 && queue_.empty(); });
}

Status Core::converge(const std::string& name, Phase phase) {
    std::shared_ptr<Slot> slot = find_slot(name);
    if (!slot) return {Errc::NotFound, "no port named " + name};
    std::lock_guard op(slot->op_mutex);
    Status first_result;
    bool first = true;
    auto report = [&](Status status) {
        if (first) first_result = std::move(status);
        first = false;
    };
    for (;;) {
        bool present = false;
        bool prepared = false;
        bool activated = false;
        bool link = false;
        PortOptions options;
        PortOptions applied;
        Origin origin = Origin::Request;
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(mutex_);
            present = slot->desired_present;
            prepared = slot->prepared;
            activated = slot->activated;
            link = slot->view.link_present || links_.count(name) > 0;
            options = slot->desired_options;
            applied = slot->applied_options;
            origin = slot->view.origin;
            generation = slot->view.generation;
        }

        if (!present) {
            if (prepared) {
                try {
                    nlohmann::json deleted = backend_.remove(name);
                    journal_.record("port_removed", {{"port", name},
                                                     {"bridge", options_.bridge},
                                                     {"origin", to_string(origin)},
                                                     {"nm", std::move(deleted)}});
                } catch (const BackendError& error) {
                    {
                        std::lock_guard lock(mutex_);
                        slot->view.last_error = error.what();
                        set_state(*slot, PortState::Failed);
                    }
                    journal_.record("port_remove_failed",
                                    {{"port", name}, {"error", error.what()}});
                    notify(name);
                    report({Errc::Backend, error.what()});
                    return first_result;
                }
            }
            bool erased = false;
            {
                std::lock_guard lock(mutex_);
                if (slot->view.generation == generation && !slot->desired_present) {
                    auto it = slots_.find(name);
                    if (it != slots_.end() && it->second == slot) slots_.erase(it);
                    ++change_count_;
                    erased = true;
                } else {
                    slot->prepared = false;
                    slot->activated = false;
                }
            }
            if (erased) {
                notify(name);
                report({});
                return first_result;
            }
            continue;  // a newer request arrived while removing
        }

        if (!prepared) {
            try {
                Backend::Profiles profiles = backend_.prepare(name, options, origin);
                {
                    std::lock_guard lock(mutex_);
                    slot->prepared = true;
                    slot->activated = profiles.activated;
                    slot->applied_options = options;
                    slot->view.port_uuid = profiles.port_uuid;
                    slot->view.member_uuid = profiles.member_uuid;
                    // NM may not show a link the kernel announced yet: activate() waits for it.
                    link = profiles.link_present || links_.count(name) > 0;
                    slot->view.link_present = link;
                    if (profiles.kind != LinkKind::Unknown) slot->view.kind = profiles.kind;
                    slot->view.last_error.clear();
                    set_state(*slot, profiles.activated ? PortState::Activated
                                     : link             ? PortState::Activating
                                                        : PortState::Pending);
                }
                if (profiles.created) {
                    nlohmann::json details = {{"port", name},
                                              {"bridge", options_.bridge},
                                              {"origin", to_string(origin)},
                                              {"options", options_json(options)},
                                              {"nm", profiles.nm_objects}};
                    journal_.record("port_created", details);
                }
                notify(name);
                report({});
                prepared = true;
                activated = profiles.activated;
                applied = options;
            } catch (const BackendError& error) {
                bool drop = false;
                {
                    std::lock_guard lock(mutex_);
                    slot->view.last_error = error.what();
                    // A request that never got its profiles leaves nothing behind.
                    drop = first && slot->view.generation == generation;
                    if (drop) {
                        auto it = slots_.find(name);
                        if (it != slots_.end() && it->second == slot) slots_.erase(it);
                        ++change_count_;
                    } else {
                        set_state(*slot, PortState::Failed);
                    }
                }
                journal_.record("port_create_failed", {{"port", name}, {"error", error.what()}});
                notify(name);
                report({Errc::Backend, error.what()});
                return first_result;
            }
        } else if (options != applied) {
            try {
                backend_.set_options(name, options);
                {
                    std::lock_guard lock(mutex_);
                    slot->applied_options = options;
                    slot->view.last_error.clear();
                    set_state(*slot, slot->view.state);
                }
                journal_.record("port_options_changed",
                                {{"port", name}, {"options", options_json(options)}});
                notify(name);
                report({});
            } catch (const BackendError& error) {
                {
                    std::lock_guard lock(mutex_);
                    slot->view.last_error = error.what();
                    slot->desired_options = applied;  // what NM still has
                    slot->view.options = applied;
                    set_state(*slot, slot->view.state);
                }
                journal_.record("port_options_failed", {{"port", name}, {"error", error.what()}});
                notify(name);
                report({Errc::Backend, error.what()});
                return first_result;
            }
        }

        if (phase == Phase::ProfilesOnly) {
            if (link && !activated) schedule(name);
            report({});
            return first_result;
        }

        if (link && !activated) {
            {
                std::lock_guard lock(mutex_);
                set_state(*slot, PortState::Activating);
            }
            notify(name);
            try {
                Backend::Profiles profiles = backend_.activate(name);
                {
                    std::lock_guard lock(mutex_);
                    slot->activated = true;
                    slot->view.link_present = true;
                    if (profiles.kind != LinkKind::Unknown) slot->view.kind = profiles.kind;
                    slot->view.last_error.clear();
                    set_state(*slot, PortState::Activated);
                }
                journal_.record(
                    "port_attached",
                    {{"port", name}, {"bridge", options_.bridge}, {"nm", profiles.nm_objects}});
            } catch (const BackendError& error) {
                {
                    std::lock_guard lock(mutex_);
                    slot->view.last_error = error.what();
                    set_state(*slot, PortState::Failed);
                }
                journal_.record("port_attach_failed", {{"port", name}, {"error", error.what()}});
                notify(name);
                report({Errc::Backend, error.what()});
                return first_result;
            }
            notify(name);
        }

        std::lock_guard lock(mutex_);
        if (slot->view.generation == generation) {
            if (first) first_result = {};
            return first_result;
        }
        // A newer request or event arrived meanwhile: converge again on the newest state.
    }
}

void Core::reconcile(std::string_view reason) {
    std::vector<Backend::Owned> owned;
    try {
        owned = backend_.owned();
    } catch (const BackendError& error) {
        journal_.record("reconcile_failed", {{"reason", reason}, {"error", error.what()}});
        return;
    }
    std::vector<std::string> adopted, collected, reactivate, recreate;
    std::set<std::string> owned_names;
    {
        std::lock_guard lock(mutex_);
        for (const Backend::Owned& o : owned) {
            owned_names.insert(o.name);
            auto& slot = slots_[o.name];
            if (!slot) {
                // Profiles of an earlier run (or made while we were away): they are the
                // registry's persistence, so the port is taken back.
                slot = std::make_shared<Slot>();
                slot->view.name = o.name;
                slot->view.created = SystemClock::now();
                slot->view.since = slot->view.created;
                slot->view.origin = o.origin;
                slot->desired_present = true;
                slot->desired_options = o.options;
                slot->view.options = o.options;
                adopted.push_back(o.name);
            }
            slot->prepared = true;
            slot->applied_options = o.options;
            slot->activated = o.activated;
            slot->view.port_uuid = o.port_uuid;
            slot->view.member_uuid = o.member_uuid;
            slot->view.link_present = o.link_present || links_.count(o.name) > 0;
            if (o.kind != LinkKind::Unknown) slot->view.kind = o.kind;
            slot->view.generation++;
            if (!slot->desired_present) continue;
            if (slot->view.origin == Origin::Link && !slot->view.link_present) {
                slot->desired_present = false;  // its link is gone: stale
                set_state(*slot, PortState::Deactivating);
                collected.push_back(o.name);
            } else if (o.activated) {
                set_state(*slot, PortState::Activated);
            } else if (slot->view.link_present) {
                set_state(*slot, PortState::Activating);
                reactivate.push_back(o.name);
            } else {
                set_state(*slot, PortState::Pending);
            }
        }
        for (auto& [name, slot] : slots_) {
            if (owned_names.count(name) || !slot->desired_present || !slot->prepared) continue;
            // NM lost the profiles (deleted by someone): make them again.
            slot->prepared = false;
            slot->activated = false;
            slot->view.generation++;
            recreate.push_back(name);
        }
    }
    for (const auto& list : {adopted, collected, reactivate, recreate}) {
        for (const std::string& name : list) {
            notify(name);
            schedule(name);
        }
    }
    for (const std::string& name : collected) {
        journal_.record("port_gc", {{"port", name}, {"reason", "link gone"}});
    }
    journal_.record("reconcile", {{"reason", reason},
                                  {"owned", owned.size()},
                                  {"adopted", adopted},
                                  {"collected", collected},
                                  {"reactivated", reactivate},
                                  {"recreated", recreate}});
}

}  // namespace opa::agent
