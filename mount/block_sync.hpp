// Keeps the bounded block in the interfaces file in step with the core's ports. Called from the
// daemon's loop after the core changed; writes nothing when the block is already right.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "agent/core.hpp"
#include "config/config.hpp"
#include "ifupdown/interfaces_file.hpp"

namespace opa::mount {

class BlockSync {
  public:
    BlockSync(const config::Config& config, agent::Journal& journal);
    // Rewrites the block for `ports` if it differs; logs and records what it did. Never throws:
    // a file that cannot be written is reported and retried at the next change.
    void sync(const std::vector<agent::Port>& ports);
    std::uint64_t writes() const { return writes_; }

  private:
    ifupdown::InterfacesFile file_;
    std::string tag_;
    std::string bridge_;
    agent::Journal& journal_;
    // Names the agent wrote before: their stanzas are recognised as ours even after a GUI save
    // moved them away from the markers.
    std::set<std::string> written_;
    std::uint64_t writes_ = 0;
};

}  // namespace opa::mount
