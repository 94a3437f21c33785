// Which node of the tree an inode number stands for. Numbers are handed out once per node and
// never reused while the mount lives, so a port re-created under the same name gets its old
// numbers back and the kernel never confuses two different nodes. The table only grows: a few
// dozen bytes per (port, file) name ever seen, which is bounded by the ports a host ever has.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace opa::fs {

using Ino = std::uint64_t;

enum class NodeKind {
    Root,        // the mountpoint
    RootLedger,  // /ledger
    RootBridge,  // /bridge
    ByVmid,      // /by-vmid
    PortDir,     // /<port>
    PortFile,    // /<port>/<file>
    VmidDir,     // /by-vmid/<vmid>
    VmidLink,    // /by-vmid/<vmid>/<port> -> ../../<port>
};

enum class PortFile { State, Info, Tag, LastError, Ledger };

struct NodeKey {
    NodeKind kind = NodeKind::Root;
    std::string port;        // PortDir, PortFile, VmidLink
    std::uint32_t vmid = 0;  // VmidDir, VmidLink
    PortFile file = PortFile::State;

    auto operator<=>(const NodeKey&) const = default;
};

inline constexpr Ino kRootIno = 1;  // FUSE_ROOT_ID

class InodeTable {
  public:
    InodeTable();
    // The node's number, allocated on first use.
    Ino ino_for(const NodeKey& key);
    std::optional<NodeKey> key_for(Ino ino) const;
    // The node's number if it has one (never allocates).
    std::optional<Ino> find(const NodeKey& key) const;
    std::size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::map<NodeKey, Ino> by_key_;
    std::vector<NodeKey> by_ino_;  // index = ino - 1
};

}  // namespace opa::fs
