// A fake NetworkManager behind the core's Backend interface, and a journal that keeps what it
// is told: for tests of the core and of the doors that sit on it (FUSE, D-Bus). One copy for all.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "agent/core.hpp"

namespace opa::test {

class FakeBackend : public agent::Backend {
  public:
    struct Profile {
        agent::PortOptions options;
        agent::Origin origin = agent::Origin::Request;
        bool activated = false;
    };

    bool nm_restores(const std::string& name) const override {
        return !not_restored_by_nm.count(name);
    }

    Profiles prepare(const std::string& name, const agent::PortOptions& options,
                     agent::Origin origin) override {
        std::unique_lock lock(mutex);
        calls.push_back("prepare " + name);
        changed.notify_all();
        changed.wait(lock, [&] { return !prepare_gate_closed; });
        if (fail_prepare.count(name)) {
            throw agent::BackendError("prepare of " + name + " refused");
        }
        Profiles p;
        p.port_uuid = "port-" + name;
        p.member_uuid = "member-" + name;
        p.link_present = links.count(name) > 0;
        p.created = !profiles.count(name);
        if (p.created) profiles[name] = {options, origin, false};
        // NM 1.52 autoconnects new profiles whose link is there.
        if (p.link_present && nm_autoconnects.count(name)) profiles[name].activated = true;
        // NM shows the device ACTIVATED while it carries another member (a renamed link's).
        p.activated = profiles[name].activated || claimed_by.count(name) > 0;
        return p;
    }
    // Waits while the gate is closed, so tests can hold an activation "inside NM".
    Profiles activate(const std::string& name) override { return activate_as("activate", name); }
    Profiles replug(const std::string& name) override { return activate_as("replug", name); }
    Profiles activate_as(const std::string& call, const std::string& name) {
        bool was_active = false;
        {
            std::unique_lock lock(mutex);
            calls.push_back(call + " " + name);
            ++in_activate;
            max_in_activate = std::max(max_in_activate, in_activate);
            changed.notify_all();
            changed.wait(lock, [&] { return !gate_closed; });
            --in_activate;
            if (fail_activate.count(name)) {
                throw agent::BackendError("device failed: ovsdb-failed");
            }
            // What std::stoul threw on an edited vmid external id: not a BackendError.
            if (throw_unexpected.count(name)) throw std::invalid_argument("stoul");
            if (!profiles.count(name)) throw agent::BackendError("no profiles for " + name);
            was_active = nm_autoconnects.count(name) > 0;
            profiles[name].activated = true;
        }
        Profiles p;
        p.was_active = was_active;
        p.link_present = true;
        p.activated = true;
        p.kind = agent::LinkKind::Veth;
        return p;
    }
    nlohmann::json remove(const std::string& name) override {
        std::lock_guard lock(mutex);
        calls.push_back("remove " + name);
        if (fail_remove.count(name)) throw agent::BackendError("NM refused to delete " + name);
        profiles.erase(name);
        std::erase_if(claimed_by, [&](const auto& claim) { return claim.second == name; });
        return {{"deleted", name}};
    }
    nlohmann::json remove_orphan_row(const agent::OrphanRow& row) override {
        std::lock_guard lock(mutex);
        calls.push_back("remove_orphan_row " + row.name + " " + row.port_connection + " " +
                        row.interface_connection);
        if (fail_orphan_removal) throw agent::BackendError("NM did not take the rows over");
        return {{"taken_over", row.name}};
    }
    void set_options(const std::string& name, const agent::PortOptions& options) override {
        std::lock_guard lock(mutex);
        calls.push_back("set_options " + name);
        if (fail_set_options) throw agent::BackendError("NM refused the tag");
        profiles[name].options = options;
    }
    std::vector<Owned> owned() override {
        std::unique_lock lock(mutex);
        std::vector<Owned> result;
        for (const auto& [name, profile] : profiles) {
            Owned o;
            o.name = name;
            o.options = profile.options;
            o.origin = profile.origin;
            o.link_present = links.count(name) > 0;
            o.activated = profile.activated && o.link_present;
            result.push_back(o);
        }
        if (while_listing) {
            // What happens between NM's answer and the core reading it (the listing is old).
            lock.unlock();
            std::exchange(while_listing, nullptr)();
        }
        return result;
    }

    // The agent's rows OVSDB would show: one for each port NM activated (for bridge_observed).
    std::vector<agent::BridgePort> rows() {
        std::lock_guard lock(mutex);
        std::vector<agent::BridgePort> result;
        for (const auto& [name, profile] : profiles) {
            if (profile.activated) result.push_back({name, true, "agent", std::nullopt, {}});
        }
        return result;
    }
    // The kernel renamed a link: NM's device keeps what it carried under the new name.
    void rename_link(const std::string& old_name, const std::string& new_name) {
        std::lock_guard lock(mutex);
        if (links.erase(old_name)) links.insert(new_name);
        if (auto it = profiles.find(old_name); it != profiles.end() && it->second.activated) {
            claimed_by[new_name] = old_name;
        }
    }
    // Position of the first call `call` in calls, or npos.
    std::size_t position(const std::string& call) {
        std::lock_guard lock(mutex);
        auto it = std::find(calls.begin(), calls.end(), call);
        return it == calls.end() ? std::string::npos : static_cast<std::size_t>(it - calls.begin());
    }

    void open_gate() {
        std::lock_guard lock(mutex);
        gate_closed = false;
        changed.notify_all();
    }
    bool wait_in_activate(int n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [&] { return in_activate >= n; });
    }
    std::size_t count(const std::string& call) {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), call));
    }
    std::size_t call_count() {
        std::lock_guard lock(mutex);
        return calls.size();
    }

    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, Profile> profiles;
    std::set<std::string> links;
    // Links renamed while attached: new name -> old name, whose member NM shows ACTIVATED on the
    // device (prepare() says activated) until the old name's profiles are removed.
    std::map<std::string, std::string> claimed_by;
    std::set<std::string> fail_prepare, fail_activate, fail_remove;
    std::set<std::string> throw_unexpected;  // activate() throws std::invalid_argument
    bool fail_set_options = false;
    bool fail_orphan_removal = false;
    std::set<std::string> not_restored_by_nm;  // nm_restores() says no (guest NICs on PVE)
    // NM attaches these by itself as soon as their link is there (NM 1.52's autoconnect).
    std::set<std::string> nm_autoconnects;
    std::vector<std::string> calls;
    bool gate_closed = false;             // activate() waits while closed
    bool prepare_gate_closed = false;     // prepare() waits while closed
    std::function<void()> while_listing;  // run once by owned() after it made its answer
    int in_activate = 0;
    int max_in_activate = 0;
};

class FakeJournal : public agent::Journal {
  public:
    void record(std::string_view action, const nlohmann::json& details) noexcept override {
        std::lock_guard lock(mutex);
        entries.emplace_back(std::string(action), details);
    }
    // Set `fault` to make requested changes be refused (the ledger "cannot be written").
    std::optional<agent::JournalFault> unwritable() noexcept override {
        std::lock_guard lock(mutex);
        ++unwritable_calls;
        return fault;
    }
    void set_fault(std::optional<agent::JournalFault> value) {
        std::lock_guard lock(mutex);
        fault = std::move(value);
    }
    std::size_t count(const std::string& action) {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(std::count_if(
            entries.begin(), entries.end(), [&](const auto& e) { return e.first == action; }));
    }
    std::mutex mutex;
    std::vector<std::pair<std::string, nlohmann::json>> entries;
    std::optional<agent::JournalFault> fault;
    int unwritable_calls = 0;
};

}  // namespace opa::test
