// The port tree as a filesystem model over the core: which nodes exist, their attributes, the
// text of their files, and what mkdir/rmdir/unlink/write do. It speaks inode numbers and errno
// values but knows nothing of FUSE, so it is unit-tested without a mount; fuse_server.cpp only
// decodes requests, calls it and replies.
//
//   <mount>/ledger            the whole ledger file, served from the file (0444)
//   <mount>/bridge            "<bridge> <state>\n" (0444)
//   <mount>/<port>/           one per port the core knows (0755); mkdir creates, rmdir removes
//       state info last_error ledger (0444), tag (0644, writable)
//   <mount>/by-vmid/<vmid>/<port> -> ../../<port>
//
// Reads never wait for NetworkManager: everything is rendered from the core's snapshots.
// Changes are allowed to uid 0 only (the mount also uses default_permissions, so the kernel
// refuses others first; the check here is defence in depth).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core.hpp"
#include "fs/inode_table.hpp"
#include "fs/ledger_index.hpp"

namespace opa::fs {

// The single exception type of this layer (mounting, recovering a mountpoint).
class FsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct TreeOptions {
    // The daemon's ledger file; the tree only reads it.
    std::filesystem::path ledger_path;
    // The bridge's state in words ("activated"); called on reads, so it must not block.
    std::function<std::string()> bridge_state;
    // Receives one sentence per failed operation ("mkdir vi100: ..."), for the daemon's log.
    // Called on a FUSE worker thread; must not block for long.
    std::function<void(const std::string&)> report;
};

enum class FileType { Directory, Regular, Symlink };

struct NodeAttr {
    Ino ino = 0;
    FileType type = FileType::Regular;
    std::uint32_t permissions = 0;  // 0755, 0444, ...
    std::uint32_t nlink = 1;
    std::uint64_t size = 0;
    std::chrono::system_clock::time_point mtime;
};

struct DirEntry {
    std::string name;
    Ino ino = 0;
    FileType type = FileType::Regular;
};

// What the kernel may have cached that a change made wrong: the attributes of `inodes` and the
// names `entries` (parent directory, name). Only nodes the kernel was ever told about are named.
struct Invalidation {
    std::vector<Ino> inodes;
    std::vector<std::pair<Ino, std::string>> entries;
};

struct Errno {
    int value;
};

// A value or an errno.
template <typename T>
class Result {
  public:
    Result(T value) : value_(std::move(value)) {}
    Result(Errno error) : error_(error.value) {}
    bool ok() const { return error_ == 0; }
    int error() const { return error_; }
    T& operator*() { return *value_; }
    const T& operator*() const { return *value_; }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }

  private:
    std::optional<T> value_;
    int error_ = 0;
};

// An open file: generated files keep the text they had at open, so a sequence of reads is
// consistent. The ledger files hold no text and no descriptor of their own: the root ledger
// reads through the index's one descriptor, a port's ledger keeps how many of the port's lines
// there were at open (lines are only ever added, so that is an immutable snapshot).
class OpenFile {
  public:
    OpenFile(Ino ino, NodeKey key, bool writable)
        : ino_(ino), key_(std::move(key)), writable_(writable) {}
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;

    Ino ino() const { return ino_; }
    const NodeKey& key() const { return key_; }
    bool writable() const { return writable_; }

  private:
    friend class PortTree;
    Ino ino_;
    NodeKey key_;
    bool writable_;
    std::string content_;
    std::shared_ptr<LedgerIndex> ledger_;  // both ledger files; null when there is no ledger
    std::size_t ledger_lines_ = 0;         // <port>/ledger: the port's lines at open
    std::uint64_t ledger_size_ = 0;        // and their size
};

class PortTree {
  public:
    PortTree(agent::Core& core, TreeOptions options);
    ~PortTree();
    PortTree(const PortTree&) = delete;
    PortTree& operator=(const PortTree&) = delete;

    // Reads.
    Result<NodeAttr> lookup(Ino parent, std::string_view name);
    // With an open file, its size is the size of what that handle reads.
    Result<NodeAttr> getattr(Ino ino, const OpenFile* file = nullptr);
    // A directory's entries including "." and "..", in a stable order.
    Result<std::vector<DirEntry>> list(Ino dir);
    Result<std::string> readlink(Ino ino);
    Result<std::unique_ptr<OpenFile>> open(Ino ino, bool write, uid_t uid);
    Result<std::string> read(const OpenFile& file, std::uint64_t offset, std::size_t size);
    // F_OK/R_OK/W_OK/X_OK against the node's mode, root may do anything mode allows to anyone
    // plus write where the tree accepts writes.
    int access(Ino ino, int mask, uid_t uid);

    // Changes.
    Result<NodeAttr> make_port(Ino parent, std::string_view name, uid_t uid);
    int remove_port(Ino parent, std::string_view name, uid_t uid);
    int unlink(Ino parent, std::string_view name, uid_t uid);
    // Each write() is a whole value (configfs style): `echo 10 > tag` sets tag 10.
    Result<std::size_t> write(const OpenFile& file, std::string_view data, uid_t uid);
    // truncate/O_TRUNC: only `tag` accepts it, and only to size 0 (a no-op before a write).
    Result<NodeAttr> truncate(Ino ino, std::uint64_t size, uid_t uid);

    // Receives what to drop from the kernel's caches after each change of a port: called on the
    // thread that made the change (possibly a FUSE worker inside mkdir or rmdir), never under
    // the tree's locks. An empty function stops the calls; once that returns, none is running.
    void set_invalidation_hook(std::function<void(const Invalidation&)> hook);

    // Changes whenever a port comes, goes or changes: a directory listing taken at one value
    // holds until it changes.
    std::uint64_t generation() const { return generation_.load(); }

    // The text last_error shows for `port` ("" when none).
    std::string last_error(const std::string& port) const;
    std::size_t inode_count() const { return inodes_.size(); }
    // Hands a failure sentence to TreeOptions::report; never throws.
    void report(const std::string& sentence) const noexcept;

  private:
    struct Resolved {
        NodeKey key;
        std::optional<agent::Port> port;  // PortDir, PortFile, VmidLink
    };
    struct ListenerLink;

    std::optional<Resolved> resolve(Ino ino);
    std::optional<Resolved> resolve_key(const NodeKey& key);
    std::optional<agent::Port> visible_port(const std::string& name) const;
    std::vector<agent::Port> visible_ports() const;
    NodeAttr attr_of(const Resolved& node, const OpenFile* file);
    Result<std::string> content_of(const Resolved& node);
    // The ledger's index brought up to date; null when there is no ledger.
    std::shared_ptr<LedgerIndex> ledger_index();
    std::string bridge_text();
    std::chrono::system_clock::time_point last_error_time(const agent::Port& port) const;
    void set_error(const std::string& port, const std::string& text);
    void fail(const std::string& what, const std::string& port, const std::string& text);
    void on_port_changed(const std::string& name, const std::optional<agent::Port>& port);

    agent::Core& core_;
    const TreeOptions options_;
    InodeTable inodes_;
    std::shared_ptr<ListenerLink> listener_;
    std::atomic<std::uint64_t> generation_{0};
    const std::chrono::system_clock::time_point mounted_ = std::chrono::system_clock::now();

    // Held while the hook runs, so clearing it waits for a call in progress.
    std::mutex hook_mutex_;
    std::function<void(const Invalidation&)> hook_;

    // Guards everything below. Never held while calling the core.
    mutable std::mutex mutex_;
    std::set<std::string> known_ports_;
    std::size_t visible_count_ = 0;                      // known_ports_ without reserved names
    std::map<std::string, std::uint32_t> vmid_;          // ports that have one
    std::chrono::system_clock::time_point set_changed_;  // a port came or went
    struct ErrorText {
        std::string text;
        std::chrono::system_clock::time_point at;
    };
    // last_error as the tree shows it: the newest of the core's errors and the tree's own
    // refusals (a bad tag write never reaches the core's last_error).
    std::map<std::string, ErrorText> errors_;
    std::map<std::string, std::string> core_errors_seen_;
    std::string bridge_text_;
    std::chrono::system_clock::time_point bridge_changed_;

    LedgerSource ledger_;
};

// Names the tree keeps for itself at the root; a port with one of these names is not shown.
bool is_reserved_name(std::string_view name);

}  // namespace opa::fs
