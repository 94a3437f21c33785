// The agent core: the registry of ports, what is desired against what NetworkManager has, and
// the one path every change takes, whichever door it came through (a FUSE mkdir, a D-Bus call,
// a link appearing). NetworkManager sits behind the small Backend interface (agent/nm_backend.hpp
// is the real one), the ledger behind Journal, so the core is unit-tested with fakes.
//
// Concurrency: each port has its own operation mutex, so operations on one port are serialised
// and different ports proceed in parallel on a pool of workers. Every request bumps the port's
// generation; a worker always acts on the newest desired state, so a late, stale request never
// undoes a newer one. Reads (ports(), port()) never wait for NetworkManager.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlan/vlan.hpp"

namespace opa::agent {

// Where a port came from. Ports discovered from a link go away with the link; requested ones
// stay (pending) until they are removed. External ports were plugged into the bridge by someone
// else (Proxmox's ovs-vsctl hook, an administrator): the agent shows them and never touches them.
enum class Origin { Request, Link, External };
std::string_view to_string(Origin origin);
std::optional<Origin> origin_from_string(std::string_view text);

enum class PortState { Pending, Activating, Activated, Failed, Deactivating, External };
std::string_view to_string(PortState state);

enum class LinkKind { Unknown, Veth, Tap };
std::string_view to_string(LinkKind kind);

struct PortOptions {
    std::optional<std::uint16_t> tag;
    std::optional<std::uint32_t> vmid;
    vlan::Trunks trunks = {};  // VLANs a trunk port carries; empty: all
    bool operator==(const PortOptions&) const = default;
};

// A port as the core knows it: a snapshot, safe to keep.
struct Port {
    std::string name;
    PortState state = PortState::Pending;
    Origin origin = Origin::Request;
    LinkKind kind = LinkKind::Unknown;
    PortOptions options;
    bool link_present = false;
    std::string port_uuid;
    std::string member_uuid;
    std::string last_error;
    std::chrono::system_clock::time_point created;
    std::chrono::system_clock::time_point since;    // entered `state`
    std::chrono::system_clock::time_point changed;  // anything about it changed
    std::uint64_t generation = 0;
};

enum class Errc {
    Ok,
    InvalidName,
    NameTooLong,
    InvalidArgument,
    Exists,
    NotFound,
    NotOwned,  // the port is on the bridge, but someone else plugged it
    Backend,
    ShuttingDown,
    LedgerUnwritable,  // the journal cannot record the change now (the ledger's disk is full)
    Unavailable,       // what the change depends on did not answer in time (a stalled /etc/pve)
};
std::string_view to_string(Errc code);

struct Status {
    Errc code = Errc::Ok;
    std::string message;
    int error_number = 0;  // LedgerUnwritable: the errno the ledger failed with (0: EIO)

    bool ok() const { return code == Errc::Ok; }
    explicit operator bool() const { return ok(); }
    int to_errno() const;
};

class BackendError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// An OVSDB port row of the agent's on the bridge without a port or profiles of the agent's
// behind it (a crash between a rename and the old profiles' removal leaves one): its name and the
// NM.connection.uuid values NM wrote into its Port and Interface rows.
struct OrphanRow {
    std::string name;
    std::string port_connection;
    std::string interface_connection;
};

// NetworkManager, as the core needs it. Methods may block (they talk to NM) and throw
// BackendError with a sentence that names NM's reason.
class Backend {
  public:
    struct Profiles {
        std::string port_uuid;
        std::string member_uuid;
        bool link_present = false;
        bool activated = false;
        LinkKind kind = LinkKind::Unknown;
        bool created = false;       // false: they existed already
        bool was_active = false;    // activate(): attached already, nothing was done
        nlohmann::json nm_objects;  // object paths and uuids involved, for the ledger
    };
    struct Owned {
        std::string name;
        std::string port_uuid;
        std::string member_uuid;
        PortOptions options;
        Origin origin = Origin::Request;
        bool link_present = false;
        bool activated = false;
        LinkKind kind = LinkKind::Unknown;
    };

    virtual ~Backend() = default;
    // Creates the port's profiles unless they exist (idempotent); does not activate.
    virtual Profiles prepare(const std::string& name, const PortOptions& options,
                             Origin origin) = 0;
    // Activates the port's profiles and waits until NM reports it ACTIVATED.
    virtual Profiles activate(const std::string& name) = 0;
    // Activates a port NM claims is attached although OVSDB has no row for it: NM's devices are
    // deactivated first when needed. The default is activate(), for backends without that state.
    virtual Profiles reactivate(const std::string& name) { return activate(name); }
    // Activates a port NM does not restore, after NM restarted: NM's claim that the port is
    // attached already is not taken (NM shows the member it resumed from before its restart,
    // then drops it). The default is activate(), for backends without that state.
    virtual Profiles replug(const std::string& name) { return activate(name); }
    // Whether NM re-adds this port by itself after it restarts (its profiles autoconnect).
    virtual bool nm_restores(const std::string& /*name*/) const { return true; }
    // Deletes the port's profiles (NM removes the OVS port); returns what was deleted.
    virtual nlohmann::json remove(const std::string& name) = 0;
    // Applies changed options (the VLAN tag) to the profiles and, if live, the port.
    virtual void set_options(const std::string& name, const PortOptions& options) = 0;
    // Every port whose profiles the agent owns, with its live state.
    virtual std::vector<Owned> owned() = 0;
    // Removes an OVSDB port row of the agent's that neither a port nor profiles are behind
    // (see OrphanRow); returns what was used, for the ledger. The default cannot.
    virtual nlohmann::json remove_orphan_row(const OrphanRow& row);
};

// Why the journal cannot record anything now: the errno and its words ("No space left on
// device").
struct JournalFault {
    int error_number = 0;
    std::string reason;
};

// Where the core records what it did (the ledger in the daemon). Must not throw.
class Journal {
  public:
    virtual ~Journal() = default;
    virtual void record(std::string_view action, const nlohmann::json& details) noexcept = 0;
    // Asked before a change someone requested (never before one a link event brings): nullopt
    // when the change can be recorded, otherwise why not, and the request is refused before
    // anything changes. May first write what the journal holds (space may have returned).
    virtual std::optional<JournalFault> unwritable() noexcept { return std::nullopt; }
};

// A port on the bridge as OVSDB shows it (read-only), for Core::bridge_observed.
struct BridgePort {
    std::string name;
    bool agents = false;  // written by NM for one of the agent's profiles
    std::string owner;    // "agent", "networkmanager" or "external"
    std::optional<std::uint16_t> tag;
    vlan::Trunks trunks;
    // NM.connection.uuid of the Port row and of its Interface row ("" when none).
    std::string port_connection = {};
    std::string interface_connection = {};
};

// What CoreOptions::default_options found for a name: the options (nullopt: none), or, when
// they cannot be known now, why (a request then fails with Errc::Unavailable).
struct DefaultOptions {
    std::optional<PortOptions> options;
    std::string unavailable;
};

struct CoreOptions {
    std::string bridge;
    unsigned workers = 8;
    // Options a port gets when its request or link gives no tag and no trunks, e.g. the guest's
    // from its Proxmox config. Called without the core's locks held, on the requester's thread.
    std::function<DefaultOptions(const std::string& name)> default_options = {};
    // How long an attached port may lack its OVSDB row before it is re-activated: long enough
    // that a Proxmox hook's del-port/add-port pair (milliseconds apart) is never taken for a
    // gap. (A deleted link is told apart by link_exists.)
    std::chrono::milliseconds row_grace{300};
    // Whether the kernel has a link of this name right now, not debounced (the daemon:
    // if_nametoindex). A link deleted in a long burst is reported gone only after the burst,
    // while NM drops its OVSDB row at once: such a port is not repaired. Unset: every link is
    // taken to exist. Called with the core's lock held: it must not call into the core.
    std::function<bool(const std::string& name)> link_exists = {};
    // A port whose activation failed while its link exists is tried again after retry_first,
    // then after twice as long each time, at most retry_max apart (NM busy beyond the
    // activation timeout, a transient NM error). Zero: never.
    std::chrono::milliseconds retry_first{std::chrono::seconds(2)};
    std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
    // A port NM reports attached is shown Activated only while OVSDB (bridge_observed) has its
    // row; until then it is Activating, with the reason in last_error. False: NM's word is taken
    // (for a core without an OVSDB feed).
    bool confirm_rows = false;
    // An agent's row (bridge_observed) without a port of the agent's for this long, while no link
    // of its name exists, is an orphan: the backend removes it (once per appearance of the row).
    // Long enough for NM to delete the rows of a port just removed. Zero: orphans stay.
    std::chrono::milliseconds orphan_grace{std::chrono::seconds(5)};
};

class Core {
  public:
    Core(Backend& backend, Journal& journal, CoreOptions options);
    ~Core();
    // Stops the workers and the retry timer (idempotent): no listener is called after it
    // returns. Owners whose listeners reference shorter-lived objects call it first.
    void stop();
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    // Requests (FUSE, D-Bus) are refused (Errc::LedgerUnwritable) while the journal cannot
    // record them (Journal::unwritable); link events never are: their records are kept by the
    // journal and written later. ready_for_change() is that check alone, for callers that change
    // something themselves before calling the core (the D-Bus service renames links).
    Status ready_for_change() const;
    // create_port returns once NM holds the port's profiles; the activation continues on a
    // worker (the port is Pending until its link exists).
    Status create_port(const std::string& name, const PortOptions& options,
                       Origin origin = Origin::Request);
    // Deletes the port's profiles; returns when NM has done so.
    Status remove_port(const std::string& name);
    Status set_tag(const std::string& name, std::optional<std::uint16_t> tag);

    // Link events (netwatch), for links the watcher classified as candidates.
    // `options` (e.g. the guest's VLAN tag from its Proxmox config, read by the caller) apply as
    // given when the link makes a new port; without them, default_options' (never waited for: a
    // name whose defaults are unavailable gets none); the VMID is taken from a Proxmox name.
    void link_appeared(const std::string& name, LinkKind kind,
                       std::optional<PortOptions> options = std::nullopt);
    // The same for a link whose port exists already (or is External): never makes a new port.
    // False when there is none (e.g. removed since the caller looked): nothing changed.
    bool known_link_appeared(const std::string& name, LinkKind kind);
    // Whether the link `name` is the veth NM makes to remove an orphan row of that name
    // (remove_orphan): it is no port, never renamed, and requests for the name wait.
    bool taking_over(const std::string& name) const;
    void link_gone(const std::string& name);
    // Link `old_name` is renamed `new_name` by the agent (the D-Bus call, enable_rename): the
    // port moves with it. The old name's port (the agent's) is removed first, on the caller's
    // thread, then `rename` renames the link (NM releases an interface from its OVS port by its
    // name: removed after the rename, the old name's rows would stay); the new name's port is
    // made then, and activated only once nothing of the old one is left. With `requested` the
    // new port is the one asked for (origin Request; a port its link brought meanwhile is taken
    // over) and this returns once NM holds its profiles, as create_port does; without it the new
    // port keeps the old one's origin and options, if the old name had a port. When `rename`
    // returns false nothing is moved (InvalidArgument) and the old port is made again.
    Status move_port(const std::string& old_name, const std::string& new_name,
                     std::optional<PortOptions> requested = std::nullopt,
                     const std::function<bool()>& rename = {});

    // Compares the registry with what NM has: adopts the agent's profiles from an earlier run,
    // re-creates profiles that vanished, re-activates what is down, and removes link-discovered
    // ports whose link is gone, and the profiles of ports the agent let go of (a removal that
    // failed); agent-owned OVSDB rows with neither a port nor profiles behind them are recorded
    // (port_orphan_row: NM removes rows only for an interface it releases, or when it starts).
    // Runs at start-up and after NetworkManager restarts.
    // NetworkManager answers again after a restart. It deleted every OVS row it owned and
    // re-adds only the ports whose profiles autoconnect: the others are re-activated at once,
    // on the workers, without waiting for reconcile's full listing. Returns how many.
    std::size_t nm_returned();
    // False when NM could not be asked; the failure is recorded only with record_failure (a
    // caller retrying while NM starts up records the last attempt only).
    bool reconcile(std::string_view reason, bool record_failure = true);

    // What OVSDB shows on the bridge (the whole list, each time it changes). A port someone
    // else plugged is shown as External and never touched; when it takes the name of one of the
    // agent's ports (Proxmox's hook: del-port, add-port), the agent hands the name over: it
    // deletes its profiles, which leaves the other's rows alone, so nobody fights for it. An
    // agent port NM calls attached but without a row is re-activated once the gap has lasted
    // row_grace(). Returns true while such a gap is being timed: call again after row_grace().
    bool bridge_observed(const std::vector<BridgePort>& ports);
    std::chrono::milliseconds row_grace() const { return options_.row_grace; }

    // Reads, served from the registry.
    std::vector<Port> ports() const;
    std::optional<Port> port(const std::string& name) const;
    // Increases on every change of any port (for mtimes and change detection).
    std::uint64_t change_count() const;
    const std::string& bridge() const { return options_.bridge; }

    // Called (from a worker or a caller's thread, never under the core's locks) after ports
    // changed, with the port's new snapshot or nullopt when it was removed.
    using Listener = std::function<void(const std::string& name, const std::optional<Port>& port)>;
    void add_listener(Listener listener);

    // Waits until no work is queued or running (tests, shutdown). False on timeout.
    bool wait_idle(std::chrono::milliseconds timeout);

  private:
    struct Slot;
    enum class Phase { ProfilesOnly, Full };

    Status converge(const std::string& name, Phase phase);
    std::shared_ptr<Slot> find_slot(const std::string& name) const;
    // Fills in default_options when `options` has no tag and no trunks; Unavailable when they
    // cannot be known now.
    Status with_defaults(const std::string& name, PortOptions& options) const;
    // Queues a converge of `name` on a worker. ProfilesOnly work is taken before Full work.
    void schedule(const std::string& name, Phase phase = Phase::Full);
    bool idle_now() const;  // mutex_ held
    void worker_loop();
    // A job ended with an exception converge did not handle: the port is Failed with `what`.
    void job_failed(const std::string& name, const std::string& what);
    // Removes an orphan row through the backend unless a port of its name exists by now;
    // records the outcome.
    void remove_orphan(const OrphanRow& row);
    // bridge_observed's part for the agent's rows without a port: queues those past the grace
    // (records those a link's name keeps). Returns whether one is still within it (mutex_ held).
    using Records = std::vector<std::pair<std::string, nlohmann::json>>;
    bool find_orphans(const std::vector<BridgePort>& ports,
                      std::chrono::steady_clock::time_point now, Records& records);
    // Schedules failed ports whose retry is due; sleeps while none is pending.
    void retry_loop();
    void notify(const std::string& name);
    void set_state(Slot& slot, PortState state);  // mutex_ held
    // A new slot for `name`, Pending, created now.
    static std::shared_ptr<Slot> new_slot(const std::string& name);
    // Turns the slot into the view of an external port (mutex_ held).
    void make_external(Slot& slot, const BridgePort& port);
    // NM reports the port attached: Activated, or Activating until OVSDB shows its row
    // (confirm_rows). mutex_ held.
    void show_attached(Slot& slot);
    // The port's activation waits for the removal of the port it was moved from (mutex_ held).
    bool waits_for_move(Slot& slot) const;

    Backend& backend_;
    Journal& journal_;
    const CoreOptions options_;

    // Guards slots_, links_, queue_, the desired and view parts of every slot, change_count_.
    // Lock order: a slot's op_mutex before mutex_; mutex_ is never held while calling the
    // backend, the journal or a listener.
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Slot>> slots_;
    std::map<std::string, LinkKind> links_;
    // From the last bridge_observed(): the ports not the agent's, by name, the list itself, and
    // whether one came at all.
    std::map<std::string, BridgePort> external_;
    std::vector<BridgePort> last_observed_;
    std::set<std::string> agent_rows_;  // the agent's rows in the last observation
    // Agent's rows without a port: since when (bridge_observed), and those queued or tried.
    std::map<std::string, std::chrono::steady_clock::time_point> orphan_since_;
    std::set<std::string> orphan_tried_;
    std::deque<OrphanRow> orphan_queue_;  // taken by a worker when no port work waits
    // Names whose orphan row is being removed: their links are the take-over's veth, never ports.
    std::set<std::string> taking_over_;
    bool observed_ = false;
    std::deque<std::string> queue_;  // Full converges
    std::set<std::string> queued_;
    std::deque<std::string> profiles_queue_;  // ProfilesOnly converges, taken first
    std::set<std::string> profiles_queued_;
    unsigned busy_ = 0;
    bool stopping_ = false;
    std::uint64_t change_count_ = 0;
    std::condition_variable work_available_;
    std::condition_variable idle_;
    std::condition_variable retry_armed_;  // a slot's retry_at was set (or stopping_)
    std::mutex listeners_mutex_;
    std::vector<Listener> listeners_;
    std::vector<std::thread> workers_;
    std::thread retry_thread_;
};

}  // namespace opa::agent
