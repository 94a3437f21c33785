#include "mount/block_sync.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

namespace opa::mount {

BlockSync::BlockSync(const config::Config& config, agent::Journal& journal)
    : file_(config.interfaces_path),
      tag_(config.managed_block_tag),
      bridge_(config.bridge_name),
      journal_(journal) {
    // What an earlier run wrote counts as ours.
    try {
        const ifupdown::BlockScan scan = ifupdown::scan_block(file_.read(), tag_, bridge_);
        written_.insert(scan.block_ports.begin(), scan.block_ports.end());
        if (!scan.clean() && scan.complete_blocks + scan.lone_markers > 0) {
            spdlog::warn(
                "{}: the {} block is damaged ({} blocks, {} lone markers, {} stray "
                "stanzas); it will be repaired",
                file_.path().string(), tag_, scan.complete_blocks, scan.lone_markers,
                scan.stray_ports.size());
        }
    } catch (const std::exception& error) {
        spdlog::warn("{}: cannot read the existing block: {}", file_.path().string(), error.what());
    }
    const std::filesystem::path& path = file_.path();
    file_name_ = path.filename().string();
    pending_name_ = ifupdown::InterfacesFile::pending_path(path).filename().string();
    const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : ".";
    watch_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (watch_ && ::inotify_add_watch(
                      watch_.get(), directory.c_str(),
                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) < 0) {
        watch_.reset();
    }
    if (!watch_) {
        spdlog::warn("{}: cannot watch {} ({}); the block is repaired at the next port change only",
                     path.string(), directory.string(), std::strerror(errno));
    }
}

bool BlockSync::drain_watch() {
    bool relevant = false;
    alignas(inotify_event) char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(watch_.get(), buffer, sizeof buffer);
        if (n <= 0) break;  // EAGAIN: drained
        for (const char* at = buffer; at < buffer + n;) {
            const auto* event = reinterpret_cast<const inotify_event*>(at);
            at += sizeof(inotify_event) + event->len;
            if (event->mask & IN_Q_OVERFLOW) relevant = true;
            if (event->len == 0) continue;
            const std::string_view name(event->name);
            if (name == file_name_ || name == pending_name_) relevant = true;
        }
    }
    return relevant;
}

BlockSync::Outcome BlockSync::sync(const std::vector<agent::Port>& ports,
                                   std::chrono::milliseconds lock_wait,
                                   std::vector<pid_t>* lock_holders) {
    std::vector<ifupdown::Port> block;
    block.reserve(ports.size());
    std::set<std::string> now;
    std::map<std::string, std::string> skipped;
    for (const agent::Port& port : ports) {
        // External ports were plugged by someone else: the block lists only the agent's, so
        // ifupdown2 never takes (or removes) someone else's port.
        if (port.name == bridge_ || port.state == agent::PortState::External) continue;
        ifupdown::Port entry{port.name, port.options.tag, {}};
        // One port the block cannot list (a name ifupdown2 cannot read) must not stop the
        // block for every other port: it is left out, and why is recorded once.
        if (auto problem = ifupdown::validate_block_input(tag_, bridge_, {entry})) {
            skipped[port.name] = *problem;
            continue;
        }
        block.push_back(std::move(entry));
        now.insert(port.name);
    }
    for (const auto& [name, problem] : skipped) {
        auto it = skipped_.find(name);
        if (it != skipped_.end() && it->second == problem) continue;
        spdlog::warn("{}: port left out of the {} block: {}", file_.path().string(), tag_, problem);
        journal_.record("interfaces_port_skipped",
                        {{"path", file_.path().string()}, {"port", name}, {"error", problem}});
    }
    skipped_ = std::move(skipped);
    ifupdown::ApplyOptions options;
    for (const std::string& name : written_) {
        if (!now.count(name)) options.previously_managed.push_back(name);
    }
    try {
        const ifupdown::UpdateResult result =
            file_.update(tag_, bridge_, block, options, lock_wait);
        written_ = now;
        const std::uint64_t failed_before = std::exchange(failures_, 0);
        failing_.clear();
        const std::string after =
            failed_before > 0 ? ", after " + std::to_string(failed_before) + " failed attempts"
                              : "";
        if (result.wrote()) {
            ++writes_;
            spdlog::info("{}: block updated ({} ports{}){}", file_.path().string(), block.size(),
                         result.pending_written ? ", and in the pending .new file" : "", after);
            nlohmann::json details = {{"path", file_.path().string()},
                                      {"ports", block.size()},
                                      {"pending_file", result.pending_written}};
            if (failed_before > 0) details["after_failed_attempts"] = failed_before;
            journal_.record("interfaces_updated", details);
        } else if (failed_before > 0) {
            spdlog::info("{}: block right again{}", file_.path().string(), after);
            journal_.record(
                "interfaces_update_recovered",
                {{"path", file_.path().string()}, {"after_failed_attempts", failed_before}});
        }
        return Outcome::Done;
    } catch (const ifupdown::LockBusyError& busy) {
        if (lock_holders) *lock_holders = busy.holders();
        return Outcome::LockBusy;
    } catch (const std::exception& error) {
        // The loop retries every few seconds: a failure that repeats is recorded once, then
        // counted (the count goes with the next success or the next different failure).
        const std::string text = error.what();
        if (failures_ > 0 && text == failing_) {
            ++failures_;
            spdlog::debug("{}: cannot update the {} block ({} times): {}", file_.path().string(),
                          tag_, failures_, text);
            return Outcome::Failed;
        }
        spdlog::error("{}: cannot update the {} block: {}", file_.path().string(), tag_, text);
        nlohmann::json details = {{"path", file_.path().string()}, {"error", text}};
        if (failures_ > 0) details["previous_error_repeated"] = failures_;
        journal_.record("interfaces_update_failed", details);
        failing_ = text;
        failures_ = 1;
        return Outcome::Failed;
    }
}

}  // namespace opa::mount
