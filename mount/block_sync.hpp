// Keeps the bounded block in the interfaces file in step with the core's ports. Called from the
// daemon's loop after the core changed, and after someone else rewrote the file (a Proxmox GUI
// save renames a new file over it, dropping or moving the block): the loop polls watch_fd(), an
// inotify watch on the file's directory. Writes nothing when the block is already right.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/core.hpp"
#include "agent/unique_fd.hpp"
#include "config/config.hpp"
#include "ifupdown/interfaces_file.hpp"

namespace opa::mount {

class BlockSync {
  public:
    BlockSync(const config::Config& config, agent::Journal& journal);
    enum class Outcome {
        Done,      // the block is right (written, or nothing to change)
        LockBusy,  // someone else held Proxmox's lock for all of `lock_wait`: nothing changed
        Failed,    // the file could not be written (logged and recorded)
    };
    // Rewrites the block for `ports` if it differs, waiting at most `lock_wait` for Proxmox's
    // lock; logs and records what it did. Never throws. `lock_holders` gets who held the lock
    // when the outcome is LockBusy.
    Outcome sync(const std::vector<agent::Port>& ports, std::chrono::milliseconds lock_wait,
                 std::vector<pid_t>* lock_holders = nullptr);
    std::uint64_t writes() const { return writes_; }

    // The inotify descriptor to poll (-1 when the directory cannot be watched: then only port
    // changes rewrite the block). drain_watch() reads its events and says whether the interfaces
    // file or its pending .new copy was replaced, written, created or deleted.
    int watch_fd() const { return watch_.get(); }
    bool drain_watch();

  private:
    ifupdown::InterfacesFile file_;
    std::string tag_;
    std::string bridge_;
    agent::Journal& journal_;
    // Names the agent wrote before: their stanzas are recognised as ours even after a GUI save
    // moved them away from the markers.
    std::set<std::string> written_;
    std::uint64_t writes_ = 0;
    UniqueFd watch_;
    std::string file_name_;     // the interfaces file's name in its directory
    std::string pending_name_;  // and its pending copy's
    // Ports left out of the block (a name ifupdown2 cannot read): name -> why, as recorded.
    std::map<std::string, std::string> skipped_;
    // The update failing now, and how many times in a row (0: the last one worked).
    std::string failing_;
    std::uint64_t failures_ = 0;
};

}  // namespace opa::mount
