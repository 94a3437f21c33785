#include "mount/block_sync.hpp"

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
}

void BlockSync::sync(const std::vector<agent::Port>& ports) {
    std::vector<ifupdown::Port> block;
    block.reserve(ports.size());
    std::set<std::string> now;
    for (const agent::Port& port : ports) {
        // External ports were plugged by someone else: the block lists only the agent's, so
        // ifupdown2 never takes (or removes) someone else's port.
        if (port.name == bridge_ || port.state == agent::PortState::External) continue;
        block.push_back({port.name, port.options.tag, {}});
        now.insert(port.name);
    }
    ifupdown::ApplyOptions options;
    for (const std::string& name : written_) {
        if (!now.count(name)) options.previously_managed.push_back(name);
    }
    try {
        const ifupdown::UpdateResult result = file_.update(tag_, bridge_, block, options);
        written_ = now;
        if (result.wrote()) {
            ++writes_;
            spdlog::info("{}: block updated ({} ports{})", file_.path().string(), block.size(),
                         result.pending_written ? ", and in the pending .new file" : "");
            journal_.record("interfaces_updated", {{"path", file_.path().string()},
                                                   {"ports", block.size()},
                                                   {"pending_file", result.pending_written}});
        }
    } catch (const std::exception& error) {
        spdlog::error("{}: cannot update the {} block: {}", file_.path().string(), tag_,
                      error.what());
        journal_.record("interfaces_update_failed",
                        {{"path", file_.path().string()}, {"error", error.what()}});
    }
}

}  // namespace opa::mount
