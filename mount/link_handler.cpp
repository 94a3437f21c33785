#include "mount/link_handler.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "agent/guest_policy.hpp"
#include "agent/naming.hpp"
#include "netwatch/rename.hpp"

namespace opa::mount {
namespace {

agent::LinkKind core_kind(netwatch::LinkKind kind) {
    switch (kind) {
        case netwatch::LinkKind::Veth:
            return agent::LinkKind::Veth;
        case netwatch::LinkKind::Tap:
        case netwatch::LinkKind::Tun:
            return agent::LinkKind::Tap;
        case netwatch::LinkKind::Other:
            return agent::LinkKind::Unknown;
    }
    return agent::LinkKind::Unknown;
}

// enable_rename: the template name for a raw link, or nullopt to keep its name. {container}
// is the guest's VMID for Proxmox names (container_name_cmd is not run by the daemon yet).
std::optional<std::string> rename_target(const config::Config& config, const std::string& name) {
    if (!config.enable_rename) return std::nullopt;
    auto guest = naming::parse_guest_ifname(name);
    const std::string container = guest ? std::to_string(guest->vmid) : name;
    const std::uint32_t index = guest ? guest->index : 0;
    auto rendered =
        naming::render_template(config.naming_template, container, index,
                                guest ? std::optional<std::uint32_t>(guest->vmid) : std::nullopt);
    if (!rendered || *rendered.name == name) return std::nullopt;
    return rendered.name;
}

// Proxmox's hotplug peer veth{VMID}i{N}p lives on the host only until LXC moves it into the
// container: it is never a port.
bool is_guest_peer(const std::string& name) {
    return name.size() > 1 && name.back() == 'p' &&
           naming::parse_guest_ifname(std::string_view(name).substr(0, name.size() - 1));
}

}  // namespace

LinkHandler::LinkHandler(agent::Core& core, agent::Journal& journal,
                         std::unique_ptr<netwatch::LinkWatcher>& watcher,
                         std::recursive_mutex& watcher_mutex, proxmox::GuestConfigReader& reader,
                         std::function<void()> wake)
    : core_(core),
      journal_(journal),
      watcher_(watcher),
      watcher_mutex_(watcher_mutex),
      reader_(reader),
      inbox_(std::make_shared<Inbox>()),
      renames_([](const std::string& what) { spdlog::error("renaming a link: {}", what); }) {
    inbox_->wake = std::move(wake);
}

LinkHandler::~LinkHandler() {
    std::lock_guard lock(inbox_->mutex);
    inbox_->closed = true;
}

void LinkHandler::handle(const netwatch::LinkBatch& batch, const config::Config& config) {
    for (const std::string& note : batch.notes) spdlog::warn("netlink: {}", note);
    for (const netwatch::LinkEvent& event : batch.events) {
        const std::string& name = event.link.name;
        if (is_guest_peer(name) || core_.taking_over(name)) continue;
        switch (event.change) {
            case netwatch::LinkChange::Gone:
                spdlog::debug("link {} gone", name);
                waiting_.erase(name);  // its config's answer, when it comes, is dropped
                {
                    std::lock_guard lock(renamed_mutex_);
                    agent_renamed_.erase(name);
                }
                core_.link_gone(name);
                break;
            case netwatch::LinkChange::Changed:
                // A link replaced within the burst is a new link: attach it afresh.
                if (!event.replaced) break;
                core_.link_gone(name);
                [[fallthrough]];
            case netwatch::LinkChange::Appeared:
                spdlog::debug("link {} appeared ({})", name, netwatch::to_string(event.link.kind));
                appeared(name, core_kind(event.link.kind), config, nullptr);
                break;
        }
    }
}

void LinkHandler::appeared(const std::string& name, agent::LinkKind kind,
                           const config::Config& config,
                           const std::optional<proxmox::GuestConfig>* read) {
    const auto known = core_.port(name);
    // A port someone asked for by name (mkdir, D-Bus) is attached when its link appears, whoever's
    // config names it: the request was explicit. Someone else's port, or a NIC Proxmox plugs or
    // bridges itself, is never renamed, never attached (that would race Proxmox's hook).
    // (Removed since it was looked at: then it is decided as any other link.)
    if (known &&
        (known->origin == agent::Origin::Request || known->state == agent::PortState::External) &&
        core_.known_link_appeared(name, kind)) {
        return;
    }
    const auto guest = naming::parse_guest_ifname(name);
    if (!guest) {
        attach(name, kind, config, std::nullopt);
        return;
    }
    if (!read) {
        // Decided once the guest's config is read; a link seen again meanwhile waits on the same.
        auto [it, fresh] = waiting_.try_emplace(name, Waiting{kind, next_token_, Clock::now()});
        it->second.kind = kind;
        if (!fresh) return;
        const std::uint64_t token = next_token_++;
        reader_.request(
            {guest->kind, guest->vmid},
            [inbox = inbox_, name, token](const std::optional<proxmox::GuestConfig>& config) {
                std::lock_guard lock(inbox->mutex);
                if (inbox->closed) return;
                inbox->reads.push_back({name, token, config});
                inbox->wake();
            });
        return;
    }
    const std::optional<proxmox::GuestNicConfig> nic =
        *read ? proxmox::nic_at(**read, guest->index) : std::nullopt;
    if (*read) {
        for (const std::string& problem : (*read)->problems) {
            spdlog::warn("guest {} config: {} (line skipped)", guest->vmid, problem);
        }
    }
    const auto decision = proxmox::decide_guest_link(*guest, nic, config.bridge_name);
    if (decision.action != proxmox::GuestLinkAction::Attach) {
        spdlog::info("link {}: {}; leaving it alone", name, decision.reason);
        if (decision.action == proxmox::GuestLinkAction::LeaveToProxmox) {
            journal_.record("link_left_to_proxmox",
                            {{"port", name}, {"bridge", config.bridge_name}});
        } else {
            journal_.record(
                "link_left_alone",
                {{"port", name}, {"bridge", config.bridge_name}, {"reason", decision.reason}});
        }
        return;
    }
    // Read once for the decision and the port's VLANs: only a NIC naming this bridge gives them.
    agent::PortOptions options;
    options.vmid = guest->vmid;
    if (nic && proxmox::vlans_from_config(*nic, config.bridge_name)) {
        options.tag = nic->tag;
        for (const auto& [first, last] : nic->trunks) options.trunks.add(first, last);
    }
    attach(name, kind, config, options);
}

void LinkHandler::configs_read(const config::Config& config) {
    std::vector<Read> reads;
    {
        std::lock_guard lock(inbox_->mutex);
        reads.swap(inbox_->reads);
    }
    for (const Read& read : reads) {
        auto it = waiting_.find(read.name);
        if (it == waiting_.end() || it->second.token != read.token) continue;  // gone meanwhile
        const agent::LinkKind kind = it->second.kind;
        if (it->second.reported) {
            spdlog::info("link {}: its guest's config answered; deciding now", read.name);
        }
        waiting_.erase(it);
        appeared(read.name, kind, config, &read.config);
    }
}

std::optional<LinkHandler::Clock::time_point> LinkHandler::next_timeout() const {
    std::optional<Clock::time_point> next;
    for (const auto& [name, waiting] : waiting_) {
        if (waiting.reported) continue;
        const auto due = waiting.since + kSlowRead;
        if (!next || due < *next) next = due;
    }
    return next;
}

void LinkHandler::on_timer(Clock::time_point now, const config::Config& config) {
    for (auto& [name, waiting] : waiting_) {
        if (waiting.reported || now < waiting.since + kSlowRead) continue;
        waiting.reported = true;
        const auto guest = naming::parse_guest_ifname(name);
        const auto waited =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - waiting.since).count();
        spdlog::warn(
            "link {}: guest {}'s config under {} has not answered in {} ms (pmxcfs stalled?); "
            "the link is decided once it does, other links meanwhile",
            name, guest ? guest->vmid : 0, config.pve_root.string(), waited);
        journal_.record("guest_config_stalled", {{"port", name},
                                                 {"vmid", guest ? guest->vmid : 0},
                                                 {"pve_root", config.pve_root.string()},
                                                 {"waited_ms", waited}});
    }
}

bool LinkHandler::renamed_by_agent(const std::string& name) {
    std::lock_guard lock(renamed_mutex_);
    return agent_renamed_.count(name) > 0;
}

void LinkHandler::attach(const std::string& name, agent::LinkKind kind,
                         const config::Config& config, std::optional<agent::PortOptions> options) {
    const auto target = renamed_by_agent(name) ? std::nullopt : rename_target(config, name);
    if (!target) {
        core_.link_appeared(name, kind, options);
        return;
    }
    {
        std::lock_guard lock(watcher_mutex_);
        watcher_->watch_name(*target);
    }
    // The move waits for NM to remove the old name's port: not on the loop.
    renames_.post([this, name, target = *target, kind, options] {
        rename_and_move(name, target, kind, options);
    });
}

void LinkHandler::rename_and_move(const std::string& name, const std::string& target,
                                  agent::LinkKind kind, std::optional<agent::PortOptions> options) {
    // A port of the old name (attached before enable_rename was turned on) moves with the link:
    // removed before the rename, made again under the new name.
    std::optional<netwatch::RenameResult> renamed;
    const agent::Status moved = core_.move_port(name, target, std::nullopt, [&] {
        // Marked before the rename: the loop may see the new name's event before rename_link
        // returns (it sets the link up again after the rename), and must never rename it again.
        {
            std::lock_guard lock(renamed_mutex_);
            agent_renamed_.insert(target);
        }
        renamed = netwatch::rename_link(name, target);
        if (!renamed->ok()) {
            std::lock_guard lock(renamed_mutex_);
            agent_renamed_.erase(target);
        }
        return renamed->ok();
    });
    if (renamed && renamed->ok()) {
        // The renamed link is reported under its new name in a later batch.
        spdlog::info("renamed {} to {}", name, target);
        journal_.record("link_renamed", {{"old", name}, {"new", target}});
        if (!moved) spdlog::warn("port {}: not moved to {}: {}", name, target, moved.message);
        return;
    }
    {
        std::lock_guard lock(watcher_mutex_);
        watcher_->unwatch_name(target);
    }
    spdlog::warn("cannot rename {} to {}: {}; attaching it as it is", name, target,
                 renamed ? renamed->message : moved.message);
    core_.link_appeared(name, kind, options);
}

}  // namespace opa::mount
