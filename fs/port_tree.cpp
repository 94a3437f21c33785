#include "fs/port_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "agent/naming.hpp"
#include "fs/render.hpp"

namespace opa::fs {
namespace {

using SystemClock = std::chrono::system_clock;

constexpr std::string_view kLedgerName = "ledger";
constexpr std::string_view kBridgeName = "bridge";
constexpr std::string_view kByVmidName = "by-vmid";

struct PortFileName {
    std::string_view name;
    PortFile file;
};
// Listed in this (alphabetical) order.
constexpr std::array<PortFileName, 5> kPortFiles{{
    {"info", PortFile::Info},
    {"last_error", PortFile::LastError},
    {"ledger", PortFile::Ledger},
    {"state", PortFile::State},
    {"tag", PortFile::Tag},
}};

std::optional<PortFile> port_file_named(std::string_view name) {
    for (const PortFileName& entry : kPortFiles) {
        if (entry.name == name) return entry.file;
    }
    return std::nullopt;
}

// Canonical decimal only ("100", not "0100" or "+100"), so each VMID has one directory name.
std::optional<std::uint32_t> parse_vmid(std::string_view text) {
    if (text.empty() || (text.size() > 1 && text.front() == '0')) return std::nullopt;
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

bool is_directory(NodeKind kind) {
    return kind == NodeKind::Root || kind == NodeKind::ByVmid || kind == NodeKind::PortDir ||
           kind == NodeKind::VmidDir;
}

SystemClock::time_point to_time_point(const struct timespec& ts) {
    return SystemClock::time_point(std::chrono::duration_cast<SystemClock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

std::string link_target(const std::string& port) { return "../../" + port; }

}  // namespace

bool is_reserved_name(std::string_view name) {
    return name == kLedgerName || name == kBridgeName || name == kByVmidName;
}

// The core has no remove_listener: the tree unhooks itself by clearing `tree` under the mutex.
struct PortTree::ListenerLink {
    std::mutex mutex;
    PortTree* tree = nullptr;
};

PortTree::PortTree(agent::Core& core, TreeOptions options)
    : core_(core),
      options_(std::move(options)),
      listener_(std::make_shared<ListenerLink>()),
      ledger_(options_.ledger_path) {
    set_changed_ = mounted_;
    bridge_changed_ = mounted_;
    listener_->tree = this;
    core_.add_listener(
        [link = listener_](const std::string& name, const std::optional<agent::Port>& port) {
            std::lock_guard lock(link->mutex);
            if (link->tree) link->tree->on_port_changed(name, port);
        });
    const std::vector<agent::Port> ports = core_.ports();
    std::lock_guard lock(mutex_);
    for (const agent::Port& port : ports) {
        if (known_ports_.insert(port.name).second && !is_reserved_name(port.name)) {
            ++visible_count_;
        }
        if (port.options.vmid) vmid_[port.name] = *port.options.vmid;
        core_errors_seen_[port.name] = port.last_error;
    }
}

void PortTree::set_invalidation_hook(std::function<void(const Invalidation&)> hook) {
    std::lock_guard lock(hook_mutex_);
    hook_ = std::move(hook);
}

PortTree::~PortTree() {
    std::lock_guard lock(listener_->mutex);
    listener_->tree = nullptr;
}

void PortTree::on_port_changed(const std::string& name, const std::optional<agent::Port>& port) {
    const auto now = SystemClock::now();
    ++generation_;
    bool set_changed = false;
    // -1: none (plain integers: GCC 12 warns falsely about comparing optionals here).
    std::int64_t old_vmid = -1;
    const std::int64_t new_vmid =
        port && port->options.vmid ? static_cast<std::int64_t>(*port->options.vmid) : -1;
    std::set<std::uint32_t> vmids;
    {
        std::lock_guard lock(mutex_);
        if (auto it = vmid_.find(name); it != vmid_.end()) old_vmid = it->second;
        if (new_vmid >= 0) {
            vmid_[name] = static_cast<std::uint32_t>(new_vmid);
        } else {
            vmid_.erase(name);
        }
        if (!port) {
            set_changed = known_ports_.erase(name) > 0;
            errors_.erase(name);
            core_errors_seen_.erase(name);
        } else {
            set_changed = known_ports_.insert(name).second;
            std::string& seen = core_errors_seen_[name];
            if (port->last_error != seen) {
                seen = port->last_error;
                errors_[name] = {port->last_error, now};
            }
        }
        if (set_changed) {
            set_changed_ = now;
            if (is_reserved_name(name)) {
                // Never shown, never counted.
            } else if (port) {
                ++visible_count_;
            } else {
                --visible_count_;
            }
            for (const auto& [_, vmid] : vmid_) vmids.insert(vmid);
        }
    }
    std::lock_guard hook_lock(hook_mutex_);
    if (!hook_) return;
    // Files are never cached (fuse_server.cpp), so only directories, links and names matter.
    Invalidation drop;
    auto inode = [&](const NodeKey& key) {
        if (auto ino = inodes_.find(key)) drop.inodes.push_back(*ino);
    };
    auto entry = [&](const NodeKey& parent, std::string child) {
        if (auto ino = inodes_.find(parent)) drop.entries.emplace_back(*ino, std::move(child));
    };
    const NodeKey by_vmid{NodeKind::ByVmid, {}, 0, PortFile::State};
    auto vmid_dir = [](std::int64_t vmid) {
        return NodeKey{NodeKind::VmidDir, {}, static_cast<std::uint32_t>(vmid), PortFile::State};
    };
    inode(NodeKey{NodeKind::PortDir, name, 0, PortFile::State});
    if (set_changed) {
        // nlink and mtime of the root, by-vmid and every vmid directory follow the set.
        drop.inodes.push_back(kRootIno);
        inode(by_vmid);
        if (old_vmid >= 0) vmids.insert(static_cast<std::uint32_t>(old_vmid));
        for (std::uint32_t vmid : vmids) inode(vmid_dir(vmid));
    }
    if (!port) entry(NodeKey{NodeKind::Root, {}, 0, PortFile::State}, name);
    if (old_vmid >= 0 && old_vmid != new_vmid) {
        entry(vmid_dir(old_vmid), name);
        entry(by_vmid, std::to_string(old_vmid));
        inode(by_vmid);
        inode(vmid_dir(old_vmid));
    }
    if (new_vmid >= 0 && old_vmid != new_vmid) {
        inode(by_vmid);
        inode(vmid_dir(new_vmid));
    }
    try {
        hook_(drop);
    } catch (...) {
        // The hook reports its own failures; the change itself has happened.
    }
}

std::optional<agent::Port> PortTree::visible_port(const std::string& name) const {
    if (is_reserved_name(name)) return std::nullopt;
    return core_.port(name);
}

std::vector<agent::Port> PortTree::visible_ports() const {
    std::vector<agent::Port> ports = core_.ports();
    std::erase_if(ports, [](const agent::Port& port) { return is_reserved_name(port.name); });
    return ports;
}

std::optional<PortTree::Resolved> PortTree::resolve_key(const NodeKey& key) {
    switch (key.kind) {
        case NodeKind::Root:
        case NodeKind::RootLedger:
        case NodeKind::RootBridge:
        case NodeKind::ByVmid:
            return Resolved{key, std::nullopt};
        case NodeKind::PortDir:
        case NodeKind::PortFile: {
            auto port = visible_port(key.port);
            if (!port) return std::nullopt;
            return Resolved{key, std::move(port)};
        }
        case NodeKind::VmidDir: {
            for (const agent::Port& port : visible_ports()) {
                if (port.options.vmid == key.vmid) return Resolved{key, std::nullopt};
            }
            return std::nullopt;
        }
        case NodeKind::VmidLink: {
            auto port = visible_port(key.port);
            if (!port || port->options.vmid != key.vmid) return std::nullopt;
            return Resolved{key, std::move(port)};
        }
    }
    return std::nullopt;
}

std::optional<PortTree::Resolved> PortTree::resolve(Ino ino) {
    auto key = inodes_.key_for(ino);
    if (!key) return std::nullopt;
    return resolve_key(*key);
}

std::string PortTree::bridge_text() {
    std::string state;
    try {
        if (options_.bridge_state) state = options_.bridge_state();
    } catch (...) {
        state = "unknown";
    }
    std::string text = render_bridge(core_.bridge(), state);
    std::lock_guard lock(mutex_);
    if (text != bridge_text_) {
        if (!bridge_text_.empty()) bridge_changed_ = SystemClock::now();
        bridge_text_ = text;
    }
    return text;
}

std::shared_ptr<LedgerIndex> PortTree::ledger_index() {
    int error = 0;
    std::shared_ptr<LedgerIndex> index = ledger_.current(error);
    if (!index && error != ENOENT) {
        report("read ledger: " + options_.ledger_path.string() + ": " + std::strerror(error));
    }
    return index;
}

std::string PortTree::last_error(const std::string& port) const {
    {
        std::lock_guard lock(mutex_);
        auto it = errors_.find(port);
        if (it != errors_.end()) return it->second.text;
    }
    auto snapshot = core_.port(port);
    return snapshot ? snapshot->last_error : std::string();
}

SystemClock::time_point PortTree::last_error_time(const agent::Port& port) const {
    std::lock_guard lock(mutex_);
    auto it = errors_.find(port.name);
    return it == errors_.end() ? port.changed : std::max(port.changed, it->second.at);
}

Result<std::string> PortTree::content_of(const Resolved& node) {
    switch (node.key.kind) {
        case NodeKind::RootBridge:
            return bridge_text();
        case NodeKind::PortFile: {
            const agent::Port& port = *node.port;
            switch (node.key.file) {
                case PortFile::State:
                    return render_state(port);
                case PortFile::Info:
                    return render_info(port, core_.bridge());
                case PortFile::Tag:
                    return render_tag(port);
                case PortFile::LastError:
                    return render_last_error(last_error(port.name));
                case PortFile::Ledger: {
                    const std::shared_ptr<LedgerIndex> index = ledger_index();
                    if (!index) return std::string();
                    std::string text;
                    const auto lines = index->port_text(port.name);
                    if (const int error =
                            index->read_port(port.name, lines.lines, 0, lines.size, text)) {
                        fail("read " + port.name + "/ledger", "", index->error());
                        return Errno{error};
                    }
                    return text;
                }
            }
            return Errno{EIO};
        }
        default:
            return Errno{EISDIR};
    }
}

NodeAttr PortTree::attr_of(const Resolved& node, const OpenFile* file) {
    NodeAttr attr;
    attr.ino = inodes_.ino_for(node.key);
    SystemClock::time_point set_changed;
    {
        std::lock_guard lock(mutex_);
        set_changed = set_changed_;
    }
    auto stat_ledger = [&](const LedgerIndex* index) {
        struct stat st {};
        const int rc =
            index ? ::fstat(index->fd(), &st)
                  : (options_.ledger_path.empty() ? -1 : ::stat(options_.ledger_path.c_str(), &st));
        if (rc == 0) {
            attr.size = static_cast<std::uint64_t>(st.st_size);
            attr.mtime = to_time_point(st.st_mtim);
        } else {
            attr.size = 0;
            attr.mtime = mounted_;
        }
    };
    const bool own_handle = file && file->key() == node.key;
    switch (node.key.kind) {
        case NodeKind::Root: {
            attr.type = FileType::Directory;
            attr.permissions = 0755;
            {
                std::lock_guard lock(mutex_);
                attr.nlink = static_cast<std::uint32_t>(3 + visible_count_);
            }
            attr.mtime = set_changed;
            break;
        }
        case NodeKind::ByVmid: {
            std::set<std::uint32_t> vmids;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [name, vmid] : vmid_) {
                    if (!is_reserved_name(name)) vmids.insert(vmid);
                }
            }
            attr.type = FileType::Directory;
            attr.permissions = 0555;
            attr.nlink = static_cast<std::uint32_t>(2 + vmids.size());
            attr.mtime = set_changed;
            break;
        }
        case NodeKind::VmidDir:
            attr.type = FileType::Directory;
            attr.permissions = 0555;
            attr.nlink = 2;
            attr.mtime = set_changed;
            break;
        case NodeKind::PortDir:
            attr.type = FileType::Directory;
            attr.permissions = 0755;
            attr.nlink = 2;
            attr.mtime = node.port->changed;
            break;
        case NodeKind::VmidLink:
            attr.type = FileType::Symlink;
            attr.permissions = 0777;
            attr.size = link_target(node.key.port).size();
            attr.mtime = node.port->created;
            break;
        case NodeKind::RootLedger:
            attr.permissions = 0444;
            stat_ledger(own_handle ? file->ledger_.get() : nullptr);
            break;
        case NodeKind::RootBridge: {
            attr.permissions = 0444;
            const std::string text = own_handle ? file->content_ : bridge_text();
            attr.size = text.size();
            std::lock_guard lock(mutex_);
            attr.mtime = bridge_changed_;
            break;
        }
        case NodeKind::PortFile: {
            attr.permissions = node.key.file == PortFile::Tag ? 0644 : 0444;
            if (node.key.file == PortFile::Ledger) {
                stat_ledger(nullptr);
                if (own_handle) {
                    attr.size = file->ledger_size_;
                } else if (const auto index = ledger_index()) {
                    attr.size = index->port_text(node.key.port).size;
                }
                break;
            }
            attr.mtime = node.key.file == PortFile::LastError ? last_error_time(*node.port)
                                                              : node.port->changed;
            if (own_handle) {
                attr.size = file->content_.size();
            } else {
                auto text = content_of(node);
                attr.size = text.ok() ? text->size() : 0;
            }
            break;
        }
    }
    return attr;
}

Result<NodeAttr> PortTree::lookup(Ino parent, std::string_view name) {
    auto dir = resolve(parent);
    if (!dir) return Errno{ENOENT};
    if (!is_directory(dir->key.kind)) return Errno{ENOTDIR};
    NodeKey key;
    switch (dir->key.kind) {
        case NodeKind::Root:
            if (name == kLedgerName) {
                key.kind = NodeKind::RootLedger;
            } else if (name == kBridgeName) {
                key.kind = NodeKind::RootBridge;
            } else if (name == kByVmidName) {
                key.kind = NodeKind::ByVmid;
            } else {
                key.kind = NodeKind::PortDir;
                key.port = std::string(name);
            }
            break;
        case NodeKind::PortDir: {
            auto file = port_file_named(name);
            if (!file) return Errno{ENOENT};
            key.kind = NodeKind::PortFile;
            key.port = dir->key.port;
            key.file = *file;
            break;
        }
        case NodeKind::ByVmid: {
            auto vmid = parse_vmid(name);
            if (!vmid) return Errno{ENOENT};
            key.kind = NodeKind::VmidDir;
            key.vmid = *vmid;
            break;
        }
        case NodeKind::VmidDir:
            key.kind = NodeKind::VmidLink;
            key.vmid = dir->key.vmid;
            key.port = std::string(name);
            break;
        default:
            return Errno{ENOTDIR};
    }
    auto node = resolve_key(key);
    if (!node) return Errno{ENOENT};
    return attr_of(*node, nullptr);
}

Result<NodeAttr> PortTree::getattr(Ino ino, const OpenFile* file) {
    auto node = resolve(ino);
    if (!node) return Errno{ENOENT};
    return attr_of(*node, file);
}

Result<std::vector<DirEntry>> PortTree::list(Ino dir_ino) {
    auto dir = resolve(dir_ino);
    if (!dir) return Errno{ENOENT};
    if (!is_directory(dir->key.kind)) return Errno{ENOTDIR};
    std::vector<DirEntry> entries;
    auto add = [&](std::string name, const NodeKey& key) {
        FileType type = is_directory(key.kind)           ? FileType::Directory
                        : key.kind == NodeKind::VmidLink ? FileType::Symlink
                                                         : FileType::Regular;
        entries.push_back({std::move(name), inodes_.ino_for(key), type});
    };
    const NodeKey root{NodeKind::Root, {}, 0, PortFile::State};
    const NodeKey by_vmid{NodeKind::ByVmid, {}, 0, PortFile::State};
    switch (dir->key.kind) {
        case NodeKind::Root:
            add(".", root);
            add("..", root);  // the mountpoint's parent is outside the tree; the kernel fixes it
            add(std::string(kBridgeName), {NodeKind::RootBridge, {}, 0, PortFile::State});
            add(std::string(kByVmidName), by_vmid);
            add(std::string(kLedgerName), {NodeKind::RootLedger, {}, 0, PortFile::State});
            for (const agent::Port& port : visible_ports()) {
                add(port.name, {NodeKind::PortDir, port.name, 0, PortFile::State});
            }
            break;
        case NodeKind::PortDir:
            add(".", dir->key);
            add("..", root);
            for (const PortFileName& file : kPortFiles) {
                add(std::string(file.name), {NodeKind::PortFile, dir->key.port, 0, file.file});
            }
            break;
        case NodeKind::ByVmid: {
            add(".", by_vmid);
            add("..", root);
            std::set<std::uint32_t> vmids;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [name, vmid] : vmid_) {
                    if (!is_reserved_name(name)) vmids.insert(vmid);
                }
            }
            for (std::uint32_t vmid : vmids) {
                add(std::to_string(vmid), {NodeKind::VmidDir, {}, vmid, PortFile::State});
            }
            break;
        }
        case NodeKind::VmidDir:
            add(".", dir->key);
            add("..", by_vmid);
            for (const agent::Port& port : visible_ports()) {
                if (port.options.vmid != dir->key.vmid) continue;
                add(port.name, {NodeKind::VmidLink, port.name, dir->key.vmid, PortFile::State});
            }
            break;
        default:
            return Errno{ENOTDIR};
    }
    return entries;
}

Result<std::string> PortTree::readlink(Ino ino) {
    auto node = resolve(ino);
    if (!node) return Errno{ENOENT};
    if (node->key.kind != NodeKind::VmidLink) return Errno{EINVAL};
    return link_target(node->key.port);
}

Result<std::unique_ptr<OpenFile>> PortTree::open(Ino ino, bool write, uid_t uid) {
    auto node = resolve(ino);
    if (!node) return Errno{ENOENT};
    if (is_directory(node->key.kind)) return Errno{EISDIR};
    if (node->key.kind == NodeKind::VmidLink) return Errno{ELOOP};
    const bool writable = node->key.kind == NodeKind::PortFile && node->key.file == PortFile::Tag;
    if (write && (uid != 0 || !writable)) return Errno{EACCES};
    auto file = std::make_unique<OpenFile>(ino, node->key, write);
    if (node->key.kind == NodeKind::RootLedger) {
        int error = 0;
        file->ledger_ = ledger_.current(error);
        if (!file->ledger_ && error != ENOENT) {
            fail("open ledger", "", options_.ledger_path.string() + ": " + std::strerror(error));
            return Errno{error};
        }
        return file;
    }
    if (node->key.kind == NodeKind::PortFile && node->key.file == PortFile::Ledger) {
        file->ledger_ = ledger_index();
        if (file->ledger_) {
            if (const std::string error = file->ledger_->error(); !error.empty()) {
                fail("read " + node->key.port + "/ledger", "", error);
                return Errno{EIO};
            }
            const auto text = file->ledger_->port_text(node->key.port);
            file->ledger_lines_ = text.lines;
            file->ledger_size_ = text.size;
        }
        return file;
    }
    auto content = content_of(*node);
    if (!content.ok()) return Errno{content.error()};
    file->content_ = std::move(*content);
    return file;
}

Result<std::string> PortTree::read(const OpenFile& file, std::uint64_t offset, std::size_t size) {
    if (file.key().kind == NodeKind::PortFile && file.key().file == PortFile::Ledger) {
        if (!file.ledger_ || offset >= file.ledger_size_) return std::string();
        std::string data;
        const int error =
            file.ledger_->read_port(file.key().port, file.ledger_lines_, offset, size, data);
        if (error != 0) return Errno{error};
        return data;
    }
    if (file.key().kind == NodeKind::RootLedger) {
        if (!file.ledger_) return std::string();
        std::string data(size, '\0');
        std::size_t got = 0;
        while (got < size) {
            const ssize_t n = ::pread(file.ledger_->fd(), data.data() + got, size - got,
                                      static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return Errno{errno};
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
        }
        data.resize(got);
        return data;
    }
    if (offset >= file.content_.size()) return std::string();
    return file.content_.substr(offset, size);
}

int PortTree::access(Ino ino, int mask, uid_t uid) {
    auto node = resolve(ino);
    if (!node) return ENOENT;
    if (mask == F_OK) return 0;
    auto attr = attr_of(*node, nullptr);
    std::uint32_t allowed = attr.permissions & 07;  // "other": every caller but root is other
    if (uid == 0) {
        allowed = R_OK | ((attr.permissions & 0111) ? X_OK : 0);
        if (attr.permissions & 0200) allowed |= W_OK;
    }
    return (static_cast<std::uint32_t>(mask) & ~allowed) ? EACCES : 0;
}

void PortTree::set_error(const std::string& port, const std::string& text) {
    std::lock_guard lock(mutex_);
    errors_[port] = {text, SystemClock::now()};
}

void PortTree::report(const std::string& sentence) const noexcept {
    try {
        if (options_.report) options_.report(sentence);
    } catch (...) {
        // The daemon's logger failing is no reason to fail the operation too.
    }
}

void PortTree::fail(const std::string& what, const std::string& port, const std::string& text) {
    if (!port.empty() && visible_port(port)) set_error(port, text);
    report(what + ": " + text);
}

Result<NodeAttr> PortTree::make_port(Ino parent, std::string_view name_view, uid_t uid) {
    const std::string name(name_view);
    if (uid != 0) return Errno{EACCES};
    auto dir = resolve(parent);
    if (!dir) return Errno{ENOENT};
    if (dir->key.kind != NodeKind::Root) return Errno{EPERM};  // ports live at the root only
    if (auto error = naming::ifname_error(name)) {
        fail("mkdir " + name, "",
             "not a valid interface name: " + std::string(naming::describe(*error)));
        return Errno{naming::errno_for(*error)};
    }
    if (is_reserved_name(name)) return Errno{EEXIST};
    agent::Status status = core_.create_port(name, {}, agent::Origin::Request);
    if (!status) {
        fail("mkdir " + name, name, status.message);
        return Errno{status.to_errno()};
    }
    const NodeKey key{NodeKind::PortDir, name, 0, PortFile::State};
    if (auto node = resolve_key(key)) return attr_of(*node, nullptr);
    // Removed again in the meantime (a racing rmdir): the mkdir itself did succeed.
    NodeAttr attr;
    attr.ino = inodes_.ino_for(key);
    attr.type = FileType::Directory;
    attr.permissions = 0755;
    attr.nlink = 2;
    attr.mtime = SystemClock::now();
    return attr;
}

int PortTree::remove_port(Ino parent, std::string_view name_view, uid_t uid) {
    const std::string name(name_view);
    if (uid != 0) return EACCES;
    auto dir = resolve(parent);
    if (!dir) return ENOENT;
    if (dir->key.kind != NodeKind::Root || is_reserved_name(name)) return EPERM;
    agent::Status status = core_.remove_port(name);
    if (!status) {
        fail("rmdir " + name, name, status.message);
        return status.to_errno();
    }
    return 0;
}

int PortTree::unlink(Ino parent, std::string_view name, uid_t uid) {
    if (uid != 0) return EACCES;
    auto dir = resolve(parent);
    if (!dir) return ENOENT;
    if (dir->key.kind == NodeKind::PortDir) {
        // A port's files are part of the port and stay. Accepting the unlink (and doing
        // nothing) is what lets `rm -r vi100` work: rm unlinks the files, then rmdir removes the
        // port. `rm vi100/state` alone is harmless: the file is still there afterwards.
        return port_file_named(name) ? 0 : ENOENT;
    }
    return EPERM;
}

Result<std::size_t> PortTree::write(const OpenFile& file, std::string_view data, uid_t uid) {
    if (uid != 0) return Errno{EACCES};
    if (!file.writable() || file.key().kind != NodeKind::PortFile ||
        file.key().file != PortFile::Tag) {
        return Errno{EBADF};
    }
    const std::string& port = file.key().port;
    TagRequest request = parse_tag_write(data);
    if (!request.error.empty()) {
        fail("write " + port + "/tag", port, request.error);
        return Errno{EINVAL};
    }
    agent::Status status = core_.set_tag(port, request.tag);
    if (!status) {
        fail("write " + port + "/tag", port, status.message);
        return Errno{status.to_errno()};
    }
    set_error(port, "");
    return data.size();
}

Result<NodeAttr> PortTree::truncate(Ino ino, std::uint64_t size, uid_t uid) {
    if (uid != 0) return Errno{EACCES};
    auto node = resolve(ino);
    if (!node) return Errno{ENOENT};
    if (is_directory(node->key.kind)) return Errno{EISDIR};
    if (node->key.kind != NodeKind::PortFile || node->key.file != PortFile::Tag) {
        return Errno{EACCES};
    }
    if (size != 0) return Errno{EINVAL};
    return attr_of(*node, nullptr);
}

}  // namespace opa::fs
