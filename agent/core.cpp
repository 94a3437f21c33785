#include "agent/core.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include "agent/naming.hpp"

namespace opa::agent {
namespace {

using SystemClock = std::chrono::system_clock;

// last_error of a port NM calls attached while OVSDB shows no row for it (confirm_rows).
constexpr std::string_view kNoRow =
    "NetworkManager reports it activated, but OVSDB has no row for it (yet)";

nlohmann::json options_json(const PortOptions& options) {
    nlohmann::json j = nlohmann::json::object();
    if (options.tag) j["tag"] = *options.tag;
    if (options.vmid) j["vmid"] = *options.vmid;
    // Compact ranges: a trunk of every VLAN is one short field, not 4094 numbers.
    if (!options.trunks.empty()) j["trunks"] = options.trunks.to_string();
    return j;
}

Status validate_request(const std::string& name, const PortOptions& options) {
    if (auto error = naming::ifname_error(name)) {
        return {*error == naming::IfnameError::kTooLong ? Errc::NameTooLong : Errc::InvalidName,
                "invalid port name '" + name + "': " + std::string(naming::describe(*error))};
    }
    if (auto problem = options.tag ? vlan::tag_error(*options.tag) : std::nullopt) {
        return {Errc::InvalidArgument, *problem};
    }
    // Trunks are valid by construction (vlan::Trunks holds 1..4094 only).
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
        case Origin::External:
            return "external";
    }
    return "request";
}

std::optional<Origin> origin_from_string(std::string_view text) {
    if (text == "request") return Origin::Request;
    if (text == "link") return Origin::Link;
    if (text == "external") return Origin::External;
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
        case PortState::External:
            return "external";
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
        case Errc::NotOwned:
            return "not the agent's";
        case Errc::Backend:
            return "NetworkManager error";
        case Errc::ShuttingDown:
            return "shutting down";
        case Errc::LedgerUnwritable:
            return "ledger cannot be written";
        case Errc::Unavailable:
            return "unavailable";
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
        case Errc::NotOwned:
            return EPERM;
        case Errc::Backend:
            return EIO;
        case Errc::ShuttingDown:
            return ESHUTDOWN;
        case Errc::LedgerUnwritable:
            return error_number != 0 ? error_number : EIO;
        case Errc::Unavailable:
            return EAGAIN;
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
    bool force_reactivate = false;  // NM claims it attached, OVSDB has no row: re-activate
    // NM restarted and does not restore this port: until the agent's re-plug activates it, NM's
    // claim that it is attached is not taken (Backend::replug).
    bool replug = false;
    std::chrono::steady_clock::time_point row_missing_since{};  // zero while the row is there
    unsigned failed_attempts = 0;                               // activations failed in a row
    // When a worker last attached it: reconcile's listing, if older, does not undo that.
    std::chrono::steady_clock::time_point activated_at{};
    // port_created of profiles a ProfilesOnly pass made, held for the activation queued after
    // it (the ledger's fsync would otherwise sit on a new link's attach latency).
    std::optional<nlohmann::json> created_record;
    std::chrono::steady_clock::time_point retry_at{};  // zero: no retry pending
    // The agent made the profiles, or the link came back, since the last port_attached: an
    // attach NM made by itself (NM 1.52 autoconnects a profile as its link appears) is recorded.
    bool attach_unrecorded = false;
    // A rename moves a port (move_port): the old name's slot names the new one, which is not
    // activated while the old one is being removed.
    std::string moved_to;
    std::string moved_from;
    Port view;
};

Core::Core(Backend& backend, Journal& journal, CoreOptions options)
    : backend_(backend), journal_(journal), options_(std::move(options)) {
    const unsigned n = options_.workers == 0 ? 1 : options_.workers;
    for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
    retry_thread_ = std::thread([this] { retry_loop(); });
}

Core::~Core() { stop(); }

void Core::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        work_available_.notify_all();
        retry_armed_.notify_all();
    }
    for (std::thread& worker : workers_) {
        if (worker.joinable()) worker.join();
    }
    if (retry_thread_.joinable()) retry_thread_.join();
}

void Core::retry_loop() {
    using Steady = std::chrono::steady_clock;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const auto now = Steady::now();
        auto next = Steady::time_point::max();
        std::vector<std::string> due;
        for (auto& [name, slot] : slots_) {
            if (slot->retry_at == Steady::time_point{}) continue;
            if (slot->retry_at <= now) {
                slot->retry_at = {};
                due.push_back(name);
            } else {
                next = std::min(next, slot->retry_at);
            }
        }
        if (!due.empty()) {
            lock.unlock();
            for (const std::string& name : due) schedule(name);
            lock.lock();
            continue;
        }
        // No timer at all while nothing waits for a retry: the idle daemon does not wake up.
        if (next == Steady::time_point::max()) {
            retry_armed_.wait(lock);
        } else {
            retry_armed_.wait_until(lock, next);
        }
    }
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

std::shared_ptr<Core::Slot> Core::new_slot(const std::string& name) {
    auto slot = std::make_shared<Slot>();
    slot->view.name = name;
    slot->view.created = SystemClock::now();
    slot->view.since = slot->view.created;  // state Pending
    return slot;
}

void Core::make_external(Slot& slot, const BridgePort& port) {
    slot.desired_present = false;
    slot.prepared = false;
    slot.activated = false;
    slot.force_reactivate = false;
    slot.row_missing_since = {};
    slot.view.origin = Origin::External;
    slot.view.options = PortOptions{port.tag, std::nullopt, port.trunks};
    if (auto guest = naming::parse_guest_ifname(slot.view.name)) {
        slot.view.options.vmid = guest->vmid;
    }
    slot.desired_options = slot.view.options;
    slot.view.port_uuid.clear();
    slot.view.member_uuid.clear();
    slot.view.last_error.clear();
    slot.view.link_present = links_.count(slot.view.name) > 0;
    slot.view.generation++;
    set_state(slot, PortState::External);
}

void Core::show_attached(Slot& slot) {
    if (!options_.confirm_rows || agent_rows_.count(slot.view.name)) {
        if (slot.view.last_error == kNoRow) slot.view.last_error.clear();
        set_state(slot, PortState::Activated);
        return;
    }
    slot.view.last_error = kNoRow;
    set_state(slot, PortState::Activating);
}

bool Core::waits_for_move(Slot& slot) const {
    if (slot.moved_from.empty()) return false;
    auto it = slots_.find(slot.moved_from);
    // Until the old name's slot is gone (or its removal failed: then NM is left to take the
    // device over from the old member, and reconcile collects the old profiles).
    if (it != slots_.end() && it->second->moved_to == slot.view.name &&
        !it->second->desired_present && it->second->view.state == PortState::Deactivating) {
        return true;
    }
    slot.moved_from.clear();
    return false;
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

Status Core::with_defaults(const std::string& name, PortOptions& options) const {
    if (options.tag || !options.trunks.empty() || !options_.default_options) return {};
    DefaultOptions defaults = options_.default_options(name);
    if (!defaults.unavailable.empty()) {
        return {Errc::Unavailable,
                "the default options of " + name + " cannot be known now: " + defaults.unavailable};
    }
    if (defaults.options) {
        options.tag = defaults.options->tag;
        options.trunks = defaults.options->trunks;
        if (!options.vmid) options.vmid = defaults.options->vmid;
    }
    return {};
}

Status Core::ready_for_change() const {
    const std::optional<JournalFault> fault = journal_.unwritable();
    if (!fault) return {};
    const int error_number = fault->error_number != 0 ? fault->error_number : EIO;
    const std::string reason = fault->reason.empty() ? std::strerror(error_number) : fault->reason;
    return {Errc::LedgerUnwritable,
            "the ledger cannot be written (" + reason +
                "): refusing a change that could not be audited",
            error_number};
}

Status Core::create_port(const std::string& name, const PortOptions& requested, Origin origin) {
    if (Status invalid = validate_request(name, requested); !invalid) return invalid;
    PortOptions options = requested;
    if (Status unknown = with_defaults(name, options); !unknown) return unknown;
    if (Status invalid = validate_request(name, options); !invalid) return invalid;
    // Asked before the lock (the journal is never called under it), reported after the checks
    // that need no ledger: a port that exists is EEXIST whatever the ledger's state.
    const Status refused = ready_for_change();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return {Errc::ShuttingDown, "the agent is shutting down"};
        auto it = slots_.find(name);
        if (it != slots_.end() && it->second->view.state == PortState::External) {
            return {Errc::Exists, "port " + name + " is on bridge " + options_.bridge +
                                      " already, plugged by someone else (external); the agent "
                                      "leaves it alone"};
        }
        if (it != slots_.end() && it->second->desired_present) {
            return {Errc::Exists, "port " + name + " exists already"};
        }
        if (taking_over_.count(name)) {
            return {Errc::Unavailable, "an orphan OVSDB row named " + name +
                                           " is being removed; try again in a few seconds"};
        }
        if (!refused) return refused;
        auto& slot = slots_[name];
        if (!slot) slot = new_slot(name);
        slot->desired_present = true;
        slot->moved_to.clear();
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
    const Status refused = ready_for_change();  // reported after the checks below
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        if (it != slots_.end() && it->second->view.state == PortState::External) {
            return {Errc::NotOwned, "port " + name + " was plugged into " + options_.bridge +
                                        " by someone else (external): the agent does not remove "
                                        "it"};
        }
        if (it == slots_.end() || !it->second->desired_present) {
            return {Errc::NotFound, "no port named " + name};
        }
        if (!refused) return refused;
        it->second->desired_present = false;
        it->second->view.generation++;
        set_state(*it->second, PortState::Deactivating);
    }
    notify(name);
    Status removed = converge(name, Phase::Full);
    // An operation in flight for the port (an activation) may see the removal first and finish
    // it before this call looks: the port is gone, as asked.
    if (removed.code == Errc::NotFound) return {};
    return removed;
}

Status Core::set_tag(const std::string& name, std::optional<std::uint16_t> tag) {
    const Status refused = ready_for_change();  // reported after the checks below
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        if (it != slots_.end() && it->second->view.state == PortState::External) {
            return {Errc::NotOwned, "port " + name + " was plugged into " + options_.bridge +
                                        " by someone else (external): the agent does not change "
                                        "it"};
        }
        if (it == slots_.end() || !it->second->desired_present) {
            return {Errc::NotFound, "no port named " + name};
        }
        PortOptions options = it->second->desired_options;
        options.tag = tag;
        if (Status invalid = validate_request(name, options); !invalid) return invalid;
        if (!refused) return refused;
        it->second->desired_options = options;
        it->second->view.options = options;
        it->second->view.generation++;
        set_state(*it->second, it->second->view.state);
    }
    notify(name);
    return converge(name, Phase::Full);
}

bool Core::known_link_appeared(const std::string& name, LinkKind kind) {
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        if (taking_over_.count(name)) return true;  // the take-over's own veth: no port
        links_[name] = kind;
        auto it = slots_.find(name);
        if (it != slots_.end() && it->second->view.state == PortState::External) {
            // Someone else plugged it: never attach it too (NM would lose, or win and break the
            // other's next plug).
            it->second->view.link_present = true;
            it->second->view.kind = kind;
            set_state(*it->second, PortState::External);
            known = true;
        }
    }
    if (known) {
        notify(name);
        return true;
    }
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        known = it != slots_.end() && it->second->desired_present;
        if (known) {
            it->second->view.link_present = true;
            it->second->view.kind = kind;
            it->second->view.generation++;
            set_state(*it->second, it->second->view.state);
        }
    }
    if (!known) return false;
    notify(name);
    schedule(name);
    return true;
}

void Core::link_appeared(const std::string& name, LinkKind kind,
                         std::optional<PortOptions> given_options) {
    if (known_link_appeared(name, kind)) return;
    // A new link: the port is created and activated on a worker, so a burst of links is
    // handled in parallel and the caller's event loop never waits for NM.
    PortOptions options = given_options.value_or(PortOptions{});
    // Defaults that cannot be known now are none: a link event is never refused.
    if (!given_options && !with_defaults(name, options)) options = PortOptions{};
    if (!options.vmid) {
        if (auto guest = naming::parse_guest_ifname(name)) options.vmid = guest->vmid;
    }
    if (Status invalid = validate_request(name, options); !invalid) return;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        // Renamed (or deleted) since the event was read: its Gone follows, and a port made now
        // would wait for a device that never comes. (Checked under the lock move_port takes
        // after the kernel rename: either it sees this port, or this sees the rename.)
        if (options_.link_exists && !options_.link_exists(name)) {
            links_.erase(name);
            return;
        }
        auto& slot = slots_[name];
        if (!slot) slot = new_slot(name);
        slot->desired_present = true;
        slot->moved_to.clear();
        slot->desired_options = options;
        slot->view.origin = Origin::Link;
        slot->view.options = options;
        slot->view.kind = kind;
        slot->view.link_present = true;
        slot->view.generation++;
        set_state(*slot, PortState::Pending);
    }
    notify(name);
    // Its profiles first, its activation after every pending port's profiles (see worker_loop).
    schedule(name, Phase::ProfilesOnly);
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
        slot.view.generation++;
        if (slot.view.state == PortState::External) {
            // OVSDB, not the link, says when an external port is gone.
            set_state(slot, PortState::External);
        } else if (slot.view.origin == Origin::Link && slot.desired_present) {
            // Discovered with the link, gone with it.
            slot.activated = false;
            slot.desired_present = false;
            remove = true;
            set_state(slot, PortState::Deactivating);
        } else if (slot.desired_present) {
            slot.activated = false;
            slot.attach_unrecorded = true;
            set_state(slot, PortState::Pending);
        } else {
            slot.activated = false;
        }
    }
    if (known) notify(name);
    if (remove) schedule(name);
}

Status Core::move_port(const std::string& old_name, const std::string& new_name,
                       std::optional<PortOptions> requested, const std::function<bool()>& rename) {
    if (requested) {
        if (Status invalid = validate_request(new_name, *requested); !invalid) return invalid;
        if (Status unknown = with_defaults(new_name, *requested); !unknown) return unknown;
        if (Status invalid = validate_request(new_name, *requested); !invalid) return invalid;
    } else if (auto error = naming::ifname_error(new_name)) {
        return {*error == naming::IfnameError::kTooLong ? Errc::NameTooLong : Errc::InvalidName,
                "invalid port name '" + new_name + "': " + std::string(naming::describe(*error))};
    }
    const Status refused = requested ? ready_for_change() : Status{};
    // The old name's port, if the agent's and wanted: its origin and options go to the new name
    // unless a request says otherwise.
    auto movable = [this](const std::string& name) -> std::shared_ptr<Slot> {
        auto it = slots_.find(name);
        if (it == slots_.end() || !it->second->desired_present ||
            it->second->view.state == PortState::External) {
            return nullptr;
        }
        return it->second;
    };
    auto release = [this](Slot& slot, const std::string& to) {
        slot.desired_present = false;
        slot.moved_to = to;
        slot.activated = false;
        slot.view.generation++;
        set_state(slot, PortState::Deactivating);
    };
    // The old name's slot while a removal is under way (a Gone event came first, an rmdir).
    auto leaving = [this](const std::string& name, const std::string& to) {
        auto it = slots_.find(name);
        if (it == slots_.end() || it->second->desired_present ||
            it->second->view.state != PortState::Deactivating) {
            return false;
        }
        it->second->moved_to = to;
        return true;
    };
    std::optional<std::pair<Origin, PortOptions>> carried;
    bool wait_old = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return {Errc::ShuttingDown, "the agent is shutting down"};
        auto new_it = slots_.find(new_name);
        if (new_it != slots_.end() && new_it->second->view.state == PortState::External) {
            return {Errc::Exists, "port " + new_name + " is on bridge " + options_.bridge +
                                      " already, plugged by someone else (external)"};
        }
        // A port the renamed link brought under its new name (its event can come before this
        // call) is taken over by the request; any other is a conflict.
        if (requested && new_it != slots_.end() && new_it->second->desired_present &&
            new_it->second->view.origin != Origin::Link) {
            return {Errc::Exists, "port " + new_name + " exists already"};
        }
        if (!refused) return refused;
        if (auto old = movable(old_name)) {
            carried = {old->view.origin, old->desired_options};
            release(*old, new_name);
            wait_old = true;
        } else {
            wait_old = leaving(old_name, new_name);
        }
    }
    if (carried) notify(old_name);
    if (wait_old) {
        // Removed before the link is renamed, here and now: NM releases the interface from its
        // OVS port by the interface's name, and would miss the rows of a renamed one.
        converge(old_name, Phase::Full);
    }
    if (rename && !rename()) {
        // Nothing renamed: the old name's port comes back as it was.
        if (carried) {
            {
                std::lock_guard lock(mutex_);
                auto& slot = slots_[old_name];
                if (!slot) slot = new_slot(old_name);
                if (!slot->desired_present) {
                    slot->desired_present = true;
                    slot->moved_to.clear();
                    slot->view.origin = carried->first;
                    slot->desired_options = carried->second;
                    slot->view.options = carried->second;
                    slot->view.link_present = links_.count(old_name) > 0;
                    slot->view.generation++;
                    set_state(*slot, PortState::Pending);
                }
            }
            notify(old_name);
            schedule(old_name, Phase::ProfilesOnly);
        }
        return {Errc::InvalidArgument, "link " + old_name + " was not renamed to " + new_name};
    }
    bool remove_old = false;
    bool make_new = false;
    {
        std::lock_guard lock(mutex_);
        if (auto link = links_.find(old_name); link != links_.end()) {
            links_[new_name] = link->second;
            links_.erase(link);
        }
        // A port the old name's late event made meanwhile: removed in the background, and the
        // new name's activation waits for that.
        std::shared_ptr<Slot> old = movable(old_name);
        if (old) {
            if (!carried) carried = {old->view.origin, old->desired_options};
            release(*old, new_name);
            remove_old = true;
        }
        const bool after_old = old || leaving(old_name, new_name);
        if (requested || carried) {
            auto& slot = slots_[new_name];
            const bool fresh = !slot;
            if (fresh) slot = new_slot(new_name);
            if (requested || fresh || !slot->desired_present) {
                slot->desired_present = true;
                slot->moved_to.clear();
                slot->desired_options = requested ? *requested : carried->second;
                slot->view.options = slot->desired_options;
                slot->view.origin = requested ? Origin::Request : carried->first;
            }
            if (after_old) slot->moved_from = old_name;
            // What NM shows for the new name may be the old member's activation: activated
            // again, for real.
            slot->activated = false;
            slot->view.last_error.clear();
            if (auto link = links_.find(new_name); link != links_.end()) {
                slot->view.link_present = true;
                slot->view.kind = link->second;
            }
            slot->view.generation++;
            set_state(*slot, slot->view.link_present && slot->prepared ? PortState::Activating
                                                                       : PortState::Pending);
            make_new = true;
        }
    }
    if (remove_old) {
        notify(old_name);
        schedule(old_name);
    }
    if (!make_new) return {};
    notify(new_name);
    if (requested) return converge(new_name, Phase::ProfilesOnly);
    schedule(new_name, Phase::ProfilesOnly);
    return {};
}

void Core::schedule(const std::string& name, Phase phase) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    auto& queue = phase == Phase::ProfilesOnly ? profiles_queue_ : queue_;
    auto& queued = phase == Phase::ProfilesOnly ? profiles_queued_ : queued_;
    if (queued.count(name)) return;
    queued.insert(name);
    queue.push_back(name);
    work_available_.notify_one();
}

void Core::worker_loop() {
    for (;;) {
        std::string name;
        Phase phase = Phase::Full;
        {
            std::unique_lock lock(mutex_);
            work_available_.wait(lock, [this] {
                return stopping_ || !queue_.empty() || !profiles_queue_.empty() ||
                       !orphan_queue_.empty();
            });
            if (stopping_) return;
            if (queue_.empty() && profiles_queue_.empty()) {
                // Orphan rows only when no port waits: they are nobody's, ports are someone's.
                const OrphanRow row = std::move(orphan_queue_.front());
                orphan_queue_.pop_front();
                ++busy_;
                lock.unlock();
                remove_orphan(row);
                lock.lock();
                --busy_;
                if (idle_now()) idle_.notify_all();
                continue;
            }
            // Profiles before activations: in a burst NM adds every profile while nothing is
            // being activated, then activates; several times faster for NM than interleaving the
            // two (bench_attach's floors: 5.5 s against 40 s for 200 links).
            if (!profiles_queue_.empty()) {
                phase = Phase::ProfilesOnly;
                name = std::move(profiles_queue_.front());
                profiles_queue_.pop_front();
                profiles_queued_.erase(name);
            } else {
                name = std::move(queue_.front());
                queue_.pop_front();
                queued_.erase(name);
            }
            ++busy_;
        }
        // No exception ends a worker (the daemon would std::terminate): the job fails, once.
        try {
            converge(name, phase);
        } catch (const std::exception& error) {
            job_failed(name, error.what());
        } catch (...) {
            job_failed(name, "an unknown exception");
        }
        {
            std::lock_guard lock(mutex_);
            --busy_;
            if (idle_now()) idle_.notify_all();
        }
    }
}

void Core::job_failed(const std::string& name, const std::string& what) {
    const std::string reason = "internal error: " + what;
    {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(name);
        if (it == slots_.end()) return;
        it->second->view.last_error = reason;
        set_state(*it->second, PortState::Failed);
    }
    journal_.record("port_job_failed", {{"port", name}, {"error", reason}});
    notify(name);
}

bool Core::idle_now() const {
    return busy_ == 0 && queue_.empty() && profiles_queue_.empty() && orphan_queue_.empty();
}

void Core::remove_orphan(const OrphanRow& row) {
    nlohmann::json details = {{"port", row.name},
                              {"bridge", options_.bridge},
                              {"port_connection", row.port_connection},
                              {"interface_connection", row.interface_connection}};
    {
        std::lock_guard lock(mutex_);
        // A port of that name came meanwhile (its profiles take the rows over): not an orphan.
        if (slots_.count(row.name) || stopping_) return;
        taking_over_.insert(row.name);
    }
    try {
        nlohmann::json used = backend_.remove_orphan_row(row);
        if (!used.is_null()) details["nm_objects"] = std::move(used);
        journal_.record("port_orphan_row_removed", details);
    } catch (const std::exception& error) {
        details["reason"] = std::string("could not remove it: ") + error.what();
        journal_.record("port_orphan_row", details);
    } catch (...) {
        // No exception ends a worker, and the name is never left marked.
        details["reason"] = "could not remove it: an unknown exception";
        journal_.record("port_orphan_row", details);
    }
    std::lock_guard lock(mutex_);
    taking_over_.erase(row.name);
}

bool Core::taking_over(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return taking_over_.count(name) > 0;
}

bool Core::find_orphans(const std::vector<BridgePort>& ports,
                        std::chrono::steady_clock::time_point now, Records& records) {
    bool within_grace = false;
    std::map<std::string, std::chrono::steady_clock::time_point> since;
    std::set<std::string> tried;
    for (const BridgePort& port : ports) {
        if (!port.agents || slots_.count(port.name)) continue;
        auto it = orphan_since_.find(port.name);
        const auto first_seen = it == orphan_since_.end() ? now : it->second;
        since[port.name] = first_seen;
        if (orphan_tried_.count(port.name)) {
            tried.insert(port.name);
            continue;
        }
        if (options_.orphan_grace.count() == 0) continue;
        if (now - first_seen < options_.orphan_grace) {
            within_grace = true;
            continue;
        }
        tried.insert(port.name);
        // A link of that name is someone's (or becomes the agent's port, whose profiles then
        // take the rows over): the row may be its own.
        if (options_.link_exists && options_.link_exists(port.name)) {
            records.push_back({"port_orphan_row",
                               {{"port", port.name},
                                {"bridge", options_.bridge},
                                {"reason",
                                 "an OVSDB row of the agent's without its port or profiles; a "
                                 "link of its name exists, so it is left alone"}}});
            continue;
        }
        orphan_queue_.push_back({port.name, port.port_connection, port.interface_connection});
        work_available_.notify_one();
    }
    // A row that went, or got a port, starts afresh when it is seen without one again.
    orphan_since_ = std::move(since);
    orphan_tried_ = std::move(tried);
    return within_grace;
}

nlohmann::json Backend::remove_orphan_row(const OrphanRow& row) {
    throw BackendError("this backend cannot remove the OVSDB row of " + row.name);
}

bool Core::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return idle_now(); });
}

Status Core::converge(const std::string& name, Phase phase) {
    std::shared_ptr<Slot> slot = find_slot(name);
    if (!slot) return {Errc::NotFound, "no port named " + name};
    std::lock_guard op(slot->op_mutex);
    if (find_slot(name) != slot) return {};  // removed by the operation this one waited for
    Status first_result;
    bool first = true;
    auto report = [&](Status status) {
        if (first) first_result = std::move(status);
        first = false;
    };
    // port_created, held until the activation that follows it has an outcome; written before
    // anything else this call records (and at its end at the latest).
    std::optional<nlohmann::json> created_record;
    {
        std::lock_guard lock(mutex_);
        created_record = std::exchange(slot->created_record, std::nullopt);
    }
    struct WriteHeld {
        Journal& journal;
        std::optional<nlohmann::json>& record;
        void now() {
            if (record) journal.record("port_created", *record);
            record.reset();
        }
        ~WriteHeld() { now(); }
    } held{journal_, created_record};
    // Every other record of this call comes after the held port_created.
    auto record = [&](std::string_view action, const nlohmann::json& details) {
        held.now();
        journal_.record(action, details);
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
            std::string moved_to;
            {
                std::lock_guard lock(mutex_);
                moved_to = slot->moved_to;
            }
            if (prepared) {
                try {
                    nlohmann::json deleted = backend_.remove(name);
                    nlohmann::json details = {{"port", name},
                                              {"bridge", options_.bridge},
                                              {"origin", to_string(origin)},
                                              {"nm", std::move(deleted)}};
                    if (!moved_to.empty()) details["renamed_to"] = moved_to;
                    record("port_removed", details);
                } catch (const std::exception& error) {
                    {
                        std::lock_guard lock(mutex_);
                        slot->view.last_error = error.what();
                        set_state(*slot, PortState::Failed);
                    }
                    record("port_remove_failed", {{"port", name}, {"error", error.what()}});
                    notify(name);
                    if (!moved_to.empty()) schedule(moved_to);
                    report({Errc::Backend, error.what()});
                    return first_result;
                }
            }
            bool erased = false;
            {
                std::lock_guard lock(mutex_);
                if (slot->view.generation == generation && !slot->desired_present) {
                    auto it = slots_.find(name);
                    if (auto other = external_.find(name); other != external_.end()) {
                        // Handed over: the name stays on the bridge, as someone else's port.
                        slot->prepared = false;
                        make_external(*slot, other->second);
                    } else {
                        if (it != slots_.end() && it->second == slot) slots_.erase(it);
                        ++change_count_;
                    }
                    erased = true;
                } else {
                    slot->prepared = false;
                    slot->activated = false;
                }
            }
            if (erased) {
                notify(name);
                if (!moved_to.empty()) schedule(moved_to);  // its activation waited for this
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
                    // Renamed from a port still being removed: what NM shows on the device is the
                    // old member's activation, not this port's.
                    if (waits_for_move(*slot)) profiles.activated = false;
                    slot->prepared = true;
                    slot->activated = profiles.activated;
                    slot->applied_options = options;
                    if (profiles.created) slot->attach_unrecorded = !profiles.activated;
                    slot->view.port_uuid = profiles.port_uuid;
                    slot->view.member_uuid = profiles.member_uuid;
                    // NM may not show a link the kernel announced yet: activate() waits for it.
                    link = profiles.link_present || links_.count(name) > 0;
                    slot->view.link_present = link;
                    if (profiles.kind != LinkKind::Unknown) slot->view.kind = profiles.kind;
                    slot->view.last_error.clear();
                    if (profiles.activated) {
                        show_attached(*slot);
                    } else {
                        set_state(*slot, link ? PortState::Activating : PortState::Pending);
                    }
                }
                if (profiles.created) {
                    nlohmann::json details = {{"port", name},
                                              {"bridge", options_.bridge},
                                              {"origin", to_string(origin)},
                                              {"options", options_json(options)},
                                              {"nm", profiles.nm_objects}};
                    // When the activation follows at once, its outcome is recorded right after
                    // this: the ledger's fsync would otherwise sit between the two NM steps of
                    // a new link's attach, on its latency.
                    if (phase == Phase::Full && link && !profiles.activated) {
                        held.now();
                        created_record = std::move(details);
                    } else if (link && !profiles.activated) {
                        // ProfilesOnly: its activation is queued right after and writes this.
                        std::lock_guard lock(mutex_);
                        slot->created_record = std::move(details);
                    } else {
                        record("port_created", details);
                        // NM attached the new profiles by itself already (its autoconnect).
                        if (profiles.activated) {
                            record("port_attached", {{"port", name},
                                                     {"bridge", options_.bridge},
                                                     {"nm", profiles.nm_objects}});
                        }
                    }
                }
                notify(name);
                report({});
                prepared = true;
                activated = profiles.activated;
                applied = options;
            } catch (const std::exception& error) {
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
                record("port_create_failed", {{"port", name}, {"error", error.what()}});
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
                record("port_options_changed",
                       {{"port", name}, {"options", options_json(options)}});
                notify(name);
                report({});
            } catch (const std::exception& error) {
                {
                    std::lock_guard lock(mutex_);
                    slot->view.last_error = error.what();
                    slot->desired_options = applied;  // what NM still has
                    slot->view.options = applied;
                    set_state(*slot, slot->view.state);
                }
                record("port_options_failed", {{"port", name}, {"error", error.what()}});
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
                if (waits_for_move(*slot)) {
                    // The old name's removal schedules this port again when it is done.
                    set_state(*slot, link ? PortState::Activating : PortState::Pending);
                    if (slot->view.generation == generation) {
                        if (first) first_result = {};
                        return first_result;
                    }
                    continue;
                }
                set_state(*slot, PortState::Activating);
            }
            notify(name);
            bool force = false;
            bool replug = false;
            {
                std::lock_guard lock(mutex_);
                force = std::exchange(slot->force_reactivate, false);
                replug = std::exchange(slot->replug, false);
            }
            try {
                Backend::Profiles profiles = force    ? backend_.reactivate(name)
                                             : replug ? backend_.replug(name)
                                                      : backend_.activate(name);
                held.now();
                unsigned failed_before = 0;
                bool unrecorded = false;
                {
                    std::lock_guard lock(mutex_);
                    failed_before = std::exchange(slot->failed_attempts, 0);
                    unrecorded = std::exchange(slot->attach_unrecorded, false);
                    slot->retry_at = {};
                    slot->activated = true;
                    slot->activated_at = std::chrono::steady_clock::now();
                    slot->view.link_present = true;
                    if (profiles.kind != LinkKind::Unknown) slot->view.kind = profiles.kind;
                    slot->view.last_error.clear();
                    show_attached(*slot);
                }
                // Attached already (another request did, or NM after its restart): no new
                // fact, unless it failed before (an activation NM finished after its timeout)
                // or NM's own autoconnect made an attach nobody recorded yet.
                if (!profiles.was_active || failed_before > 0 || unrecorded) {
                    nlohmann::json details = {
                        {"port", name}, {"bridge", options_.bridge}, {"nm", profiles.nm_objects}};
                    if (failed_before > 0) details["after_failed_attempts"] = failed_before;
                    record("port_attached", details);
                }
            } catch (const std::exception& error) {
                held.now();
                nlohmann::json details = {{"port", name}, {"error", error.what()}};
                {
                    std::lock_guard lock(mutex_);
                    slot->view.last_error = error.what();
                    set_state(*slot, PortState::Failed);
                    ++slot->failed_attempts;
                    details["attempt"] = slot->failed_attempts;
                    if (options_.retry_first.count() > 0) {
                        // retry_first * 2^(attempts-1), at most retry_max.
                        auto delay = options_.retry_first;
                        for (unsigned i = 1;
                             i < slot->failed_attempts && delay < options_.retry_max; ++i) {
                            delay *= 2;
                        }
                        delay = std::min(delay, options_.retry_max);
                        slot->retry_at = std::chrono::steady_clock::now() + delay;
                        details["retry_in_ms"] = delay.count();
                        retry_armed_.notify_all();
                    }
                }
                record("port_attach_failed", details);
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

std::size_t Core::nm_returned() {
    std::vector<std::string> replug;
    {
        std::lock_guard lock(mutex_);
        for (auto& [name, slot] : slots_) {
            if (!slot->desired_present || !slot->prepared || !slot->activated) continue;
            if (backend_.nm_restores(name)) continue;
            slot->activated = false;
            slot->replug = true;
            slot->row_missing_since = {};
            slot->view.generation++;
            set_state(*slot, PortState::Activating);
            replug.push_back(name);
        }
    }
    for (const std::string& name : replug) {
        notify(name);
        schedule(name);
    }
    return replug.size();
}

bool Core::reconcile(std::string_view reason, bool record_failure) {
    const auto listed_at = std::chrono::steady_clock::now();
    std::vector<Backend::Owned> owned;
    try {
        owned = backend_.owned();
    } catch (const std::exception& error) {
        if (record_failure) {
            journal_.record("reconcile_failed", {{"reason", reason}, {"error", error.what()}});
        }
        return false;
    }
    std::vector<std::string> adopted, collected, reactivate, recreate, handed_over, stale;
    std::set<std::string> owned_names;
    {
        std::lock_guard lock(mutex_);
        for (const Backend::Owned& o : owned) {
            owned_names.insert(o.name);
            auto& slot = slots_[o.name];
            if (slot && slot->view.state == PortState::External) {
                // Profiles for a name someone else has plugged meanwhile: the agent's are
                // deleted (which leaves the other's rows alone); the port stays External.
                slot->prepared = true;
                slot->desired_present = false;
                slot->view.generation++;
                handed_over.push_back(o.name);
                continue;
            }
            if (!slot) {
                // Profiles of an earlier run (or made while we were away): they are the
                // registry's persistence, so the port is taken back.
                slot = new_slot(o.name);
                slot->view.origin = o.origin;
                slot->desired_present = true;
                slot->desired_options = o.options;
                slot->view.options = o.options;
                adopted.push_back(o.name);
            }
            slot->prepared = true;
            slot->applied_options = o.options;
            // Attached by a worker while NM was being listed (the re-plug after NM restarts runs
            // alongside): the listing is older than that, so it is not activated again.
            const bool attached_since = slot->activated && slot->activated_at >= listed_at;
            // Waiting for its re-plug: what NM shows now is the member it resumed after its
            // restart, which it drops again with the port's rows.
            const bool nm_claim = o.activated && !slot->replug;
            slot->activated = nm_claim || attached_since;
            slot->view.port_uuid = o.port_uuid;
            slot->view.member_uuid = o.member_uuid;
            slot->view.link_present = o.link_present || links_.count(o.name) > 0;
            if (o.kind != LinkKind::Unknown) slot->view.kind = o.kind;
            slot->view.generation++;
            if (!slot->desired_present) {
                // Profiles of a port the agent let go of whose removal failed (or was missed):
                // removed now. One being removed right now is left to that.
                if (slot->view.state != PortState::Deactivating) {
                    set_state(*slot, PortState::Deactivating);
                    stale.push_back(o.name);
                }
                continue;
            }
            if (slot->view.origin == Origin::Link && !slot->view.link_present) {
                slot->desired_present = false;  // its link is gone: stale
                set_state(*slot, PortState::Deactivating);
                collected.push_back(o.name);
            } else if (slot->activated) {
                show_attached(*slot);
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
    for (const std::string& name : handed_over) {
        journal_.record("port_handed_over", {{"port", name},
                                             {"bridge", options_.bridge},
                                             {"reason", "profiles of an earlier run"}});
    }
    for (const auto& list : {adopted, collected, reactivate, recreate, handed_over, stale}) {
        for (const std::string& name : list) {
            notify(name);
            schedule(name);
        }
    }
    for (const std::string& name : collected) {
        journal_.record("port_gc", {{"port", name}, {"reason", "link gone"}});
    }
    for (const std::string& name : stale) {
        journal_.record("port_gc",
                        {{"port", name}, {"reason", "the agent no longer has this port"}});
    }
    // The agent's rows in OVSDB (by the owner NM wrote into them) that neither a port nor a
    // profile of the agent's is behind, recorded here; bridge_observed has them removed once
    // they have stayed so for orphan_grace (find_orphans).
    std::vector<std::string> orphans;
    {
        std::lock_guard lock(mutex_);
        for (const std::string& name : agent_rows_) {
            if (!owned_names.count(name) && !slots_.count(name)) orphans.push_back(name);
        }
    }
    for (const std::string& name : orphans) {
        journal_.record("port_orphan_row",
                        {{"port", name},
                         {"bridge", options_.bridge},
                         {"reason",
                          "an OVSDB row of the agent's without its port or profiles; it is "
                          "removed through NetworkManager unless a port of its name comes"}});
    }
    journal_.record("reconcile", {{"reason", reason},
                                  {"owned", owned.size()},
                                  {"adopted", adopted},
                                  {"collected", collected},
                                  {"reactivated", reactivate},
                                  {"recreated", recreate},
                                  {"stale", stale},
                                  {"orphan_rows", orphans}});
    // Profiles taken back above may carry names someone else has plugged meanwhile.
    std::optional<std::vector<BridgePort>> observed;
    {
        std::lock_guard lock(mutex_);
        if (observed_) observed = last_observed_;
    }
    if (observed) bridge_observed(*observed);
    return true;
}

bool Core::bridge_observed(const std::vector<BridgePort>& ports) {
    using Steady = std::chrono::steady_clock;
    const auto now = Steady::now();
    std::vector<std::string> changed;
    std::vector<std::string> scheduled;
    std::vector<std::pair<std::string, nlohmann::json>> records;
    bool recheck = false;
    auto describe = [this](const BridgePort& port) {
        nlohmann::json details = {
            {"port", port.name}, {"bridge", options_.bridge}, {"owner", port.owner}};
        if (port.tag) details["tag"] = *port.tag;
        if (!port.trunks.empty()) details["trunks"] = port.trunks.to_string();
        return details;
    };
    {
        std::lock_guard lock(mutex_);
        last_observed_ = ports;
        observed_ = true;
        std::map<std::string, BridgePort> external;
        std::set<std::string> agent_rows;
        for (const BridgePort& port : ports) {
            if (port.agents) {
                agent_rows.insert(port.name);
            } else {
                external[port.name] = port;
            }
        }
        external_ = external;
        agent_rows_ = agent_rows;
        if (find_orphans(ports, now, records)) recheck = true;
        for (auto it = slots_.begin(); it != slots_.end();) {
            if (it->second->view.state == PortState::External && !external.count(it->first)) {
                records.push_back(
                    {"port_external_gone", {{"port", it->first}, {"bridge", options_.bridge}}});
                changed.push_back(it->first);
                ++change_count_;
                it = slots_.erase(it);
            } else {
                ++it;
            }
        }
        for (const auto& [name, port] : external) {
            auto& slot = slots_[name];
            if (!slot) {
                slot = new_slot(name);
                make_external(*slot, port);
                records.push_back({"port_external", describe(port)});
                changed.push_back(name);
            } else if (slot->view.state == PortState::External) {
                if (slot->view.options.tag != port.tag ||
                    slot->view.options.trunks != port.trunks) {
                    make_external(*slot, port);
                    changed.push_back(name);
                }
            } else if (slot->desired_present) {
                // Someone else plugged one of the agent's names (Proxmox's hook after the agent
                // attached it): hand the name over. Deleting the agent's profiles leaves the
                // other's rows as they are; the slot becomes External when that is done.
                slot->desired_present = false;
                slot->view.generation++;
                set_state(*slot, PortState::Deactivating);
                records.push_back({"port_handed_over", describe(port)});
                changed.push_back(name);
                scheduled.push_back(name);
            }
        }
        for (auto& [name, slot] : slots_) {
            if (slot->desired_present && slot->activated && !external.count(name) &&
                slot->view.state != PortState::Deactivating) {
                // Shown activated only while its row is there (confirm_rows).
                const bool row = agent_rows.count(name) > 0;
                if (options_.confirm_rows && row != (slot->view.state == PortState::Activated)) {
                    show_attached(*slot);
                    changed.push_back(name);
                }
            }
            if (!slot->desired_present || !slot->activated || agent_rows.count(name) ||
                external.count(name)) {
                slot->row_missing_since = {};
                continue;
            }
            if (slot->row_missing_since == Steady::time_point{}) {
                slot->row_missing_since = now;
                recheck = true;
                continue;
            }
            if (now - slot->row_missing_since < options_.row_grace) {
                recheck = true;
                continue;
            }
            if (options_.link_exists && !options_.link_exists(name)) {
                // The link went (its event is still being debounced): nothing to repair, the
                // port goes or waits with it.
                slot->row_missing_since = {};
                continue;
            }
            // NM says attached, OVSDB has nothing: NM claims a port it does not have.
            slot->row_missing_since = {};
            slot->activated = false;
            slot->force_reactivate = true;
            slot->view.generation++;
            set_state(*slot, PortState::Activating);
            records.push_back(
                {"port_repair",
                 {{"port", name},
                  {"bridge", options_.bridge},
                  {"reason", "NetworkManager reports it attached, but OVSDB has no row for it"}}});
            changed.push_back(name);
            scheduled.push_back(name);
        }
    }
    for (const auto& [action, details] : records) journal_.record(action, details);
    for (const std::string& name : changed) notify(name);
    for (const std::string& name : scheduled) schedule(name);
    return recheck;
}

}  // namespace opa::agent
