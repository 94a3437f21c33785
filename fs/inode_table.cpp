#include "fs/inode_table.hpp"

namespace opa::fs {

InodeTable::InodeTable() {
    // Fixed numbers for the fixed nodes, in this order: 1 root, 2 ledger, 3 bridge, 4 by-vmid.
    for (NodeKind kind :
         {NodeKind::Root, NodeKind::RootLedger, NodeKind::RootBridge, NodeKind::ByVmid}) {
        ino_for(NodeKey{kind, {}, 0, PortFile::State});
    }
}

Ino InodeTable::ino_for(const NodeKey& key) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = by_key_.try_emplace(key, by_ino_.size() + 1);
    if (inserted) by_ino_.push_back(key);
    return it->second;
}

std::optional<NodeKey> InodeTable::key_for(Ino ino) const {
    std::lock_guard lock(mutex_);
    if (ino == 0 || ino > by_ino_.size()) return std::nullopt;
    return by_ino_[ino - 1];
}

std::optional<Ino> InodeTable::find(const NodeKey& key) const {
    std::lock_guard lock(mutex_);
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return std::nullopt;
    return it->second;
}

std::size_t InodeTable::size() const {
    std::lock_guard lock(mutex_);
    return by_ino_.size();
}

}  // namespace opa::fs
