// Container ports on the agent's bridge, made of NetworkManager profiles: for each port an
// ovs-port profile (controller = the bridge) and a member profile for the interface itself
// (802-3-ethernet for a veth or NIC, tun for a tap). Profiles live in memory (a reboot leaves no
// stale ones) and carry the agent's id scheme and ovs-external-ids, so the agent only ever
// deletes what it created.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nm/nm_client.hpp"
#include "nm/profiles.hpp"

namespace opa::nm {

struct PortRequest {
    std::string ifname;  // the interface, and the name of its OVS port
    VlanOptions vlan;
    std::optional<std::uint32_t> vmid;
    std::string origin;  // recorded in ovs-external-ids
    // NM brings the port back by itself after it restarts. False where someone else may plug the
    // same name (Proxmox's hook): NM re-adding it at once would make that one fail.
    bool autoconnect = true;
};

enum class AttachState { Activated, Pending };

struct AttachResult {
    AttachState state = AttachState::Pending;
    std::string port_uuid;
    std::string port_profile;  // object paths
    std::string member_uuid;
    std::string member_profile;
    std::string member_type;  // 802-3-ethernet | tun
    std::string device;       // the interface's NM device, "" while pending
    std::string active_connection;
    bool created = false;     // false: the profiles existed already
    bool was_active = false;  // activate(): the port was attached already, nothing was done
};

struct DetachResult {
    std::vector<std::string> deleted_uuids;
    std::vector<std::string> deleted_profiles;
};

// A port the agent owns, as NetworkManager's profiles describe it, with its interface's device.
struct OwnedPort {
    std::string name;
    std::optional<ConnectionInfo> port;
    std::optional<ConnectionInfo> member;
    std::optional<DeviceInfo> device;  // the interface (veth, NIC or tap), when it exists
    std::optional<std::uint16_t> tag;  // from the port profile
    std::vector<VlanRange> trunks;     // from the port profile
};

class OvsPorts {
  public:
    OvsPorts(NmClient& nm, std::string bridge_name,
             std::chrono::milliseconds activation_timeout = std::chrono::seconds(30));

    // Creates the port's profiles (unless they exist) and, when the interface exists, activates
    // them and waits until NM reports the device ACTIVATED. Without the interface the port is
    // Pending: NM holds the profiles, and a later attach() activates them. On failure every
    // profile this call created is deleted again and the device's state rolled back.
    AttachResult attach(const PortRequest& request);
    // The two halves of attach(): create the profiles (never activates; state Pending, or
    // Activated when the device is attached already) ...
    AttachResult prepare(const PortRequest& request);
    // ... and activate them once the interface exists, waiting for ACTIVATED. A member profile
    // of the wrong kind (made before the link existed) is replaced first. Right after prepare()
    // of the same name found the interface, what prepare() learned is used instead of reading
    // the profiles, the device and the bridge again (a new link's latency is mostly D-Bus round
    // trips).
    AttachResult activate(const std::string& ifname);
    // activate() for a port NM calls attached although OVSDB has no row behind it: NM's port
    // device is deactivated first, so the activation writes the rows again.
    AttachResult reactivate(const std::string& ifname);
    // activate() for a port NM does not restore itself, right after NM restarted. NM then
    // resumes the member it had before (from its state file) and shows it ACTIVATED for a
    // moment, but it drops that again along with the port's OVSDB rows: so the member is
    // activated whatever NM shows, never reported as attached already.
    AttachResult replug(const std::string& ifname);
    // Deletes the port's profiles (only the agent's own); NM removes the OVS port with them.
    // Throws NmError when the agent has no profile for `ifname`.
    DetachResult detach(const std::string& ifname);
    // Changes VLAN settings of a port; applied to the live port by re-activating it.
    void set_vlan(const std::string& ifname, const VlanOptions& vlan);
    // Every port whose profiles the agent owns.
    std::vector<OwnedPort> owned_ports();
    std::optional<OwnedPort> owned_port(const std::string& ifname);

    // The bridge's profile (type ovs-bridge, interface-name = bridge), if any.
    std::optional<ConnectionInfo> bridge_profile();
    const std::string& bridge_name() const { return bridge_name_; }

  private:
    // prepare() after its checks. assume_new: add the profiles without looking for them first;
    // nullopt when NM holds one of them already (nothing is left behind then).
    std::optional<AttachResult> prepare_new(const PortRequest& request,
                                            const ConnectionInfo& bridge, const WireNames& wire,
                                            const Ownership& owner, bool assume_new = true);
    void ensure_bridge_active(const ConnectionInfo& bridge, Clock::time_point deadline);
    // activate() and replug(); take_claim: a member NM shows ACTIVATED is taken as attached.
    AttachResult activate_member(const std::string& ifname, bool take_claim);
    // The agent's profile of `role` for `name`: by its deterministic UUID (profile_uuid), else,
    // for profiles made by older versions with random UUIDs, by the UUID one listing found.
    std::optional<ConnectionInfo> find_owned(ProfileRole role, const std::string& name);
    std::optional<ConnectionInfo> by_uuid(const std::string& uuid);
    // Records the older versions' profiles found in a listing of all (lookup_mutex_ held).
    void index_legacy(const std::vector<ConnectionInfo>& all);

    // What prepare() learned about a port whose interface exists, for the activate() that
    // follows it (at most kPreparedFresh later; taken once).
    struct Prepared {
        OwnedPort port;
        ConnectionInfo bridge;
        Clock::time_point at;
        std::uint64_t instance = 0;  // NmClient::instance() when read
    };
    std::optional<Prepared> take_prepared(const std::string& ifname);

    NmClient& nm_;
    std::string bridge_name_;
    std::chrono::milliseconds activation_timeout_;
    // Lookups never list every profile once these are known. lookup_mutex_ guards the seven
    // below; it is held across D-Bus calls only for the one listing that fills legacy_.
    std::mutex lookup_mutex_;
    std::optional<ConnectionInfo> bridge_;      // the bridge's profile, once found
    std::string bridge_device_;                 // its device's path, "" until found
    std::uint64_t bridge_device_instance_ = 0;  // NmClient::instance() of that path
    // NmClient::state_generation() of the bridge's device when bridge_ was last checked.
    std::optional<std::uint64_t> bridge_validated_at_;
    bool legacy_indexed_ = false;
    std::map<std::pair<ProfileRole, std::string>, std::string> legacy_;  // -> uuid
    std::map<std::string, Prepared> prepared_;                           // by interface name
    std::mutex bridge_mutex_;  // serialises ensure_bridge_active()
};

// Is this profile one the agent created? (Its id follows the scheme, and where it carries
// ovs-external-ids they name the agent as owner.)
bool is_owned_by_agent(const ConnectionInfo& info);
// Is the device ACTIVATED with the member profile of this UUID (not another one's)?
bool active_with(NmClient& nm, const DeviceInfo& device, const std::string& member_uuid);

}  // namespace opa::nm
