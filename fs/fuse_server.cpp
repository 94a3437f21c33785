#include "fs/fuse_server.hpp"

#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace opa::fs {

// Open files and directories by handle number (fuse_file_info::fh). The server owns them, so
// handles still open when the session ends (a process holding a file while the daemon stops
// never sends release) are freed with the server; an operation holds a shared_ptr, so a release
// racing with a read cannot free what the read uses. Each counts against its opener's quota.
// Directory listings are shared: every opendir of a directory between two changes of the tree
// holds the same immutable list.
struct detail::ServerContext {
    explicit ServerContext(std::size_t per_user) : quota(per_user) {}

    template <typename T>
    struct Handle {
        std::shared_ptr<T> object;
        uid_t uid;
    };
    using Listing = std::shared_ptr<const std::vector<DirEntry>>;

    PortTree* tree = nullptr;
    HandleQuota quota;
    mutable std::mutex mutex;
    std::uint64_t next_handle = 1;
    std::map<std::uint64_t, Handle<OpenFile>> files;
    std::map<std::uint64_t, Handle<const std::vector<DirEntry>>> dirs;
    std::map<Ino, std::pair<std::uint64_t, Listing>> listings;  // by directory: (generation, list)

    // The handle's number, or 0 when `uid` holds as many as it may (EMFILE).
    template <typename T>
    std::uint64_t add(std::map<std::uint64_t, Handle<T>>& table, std::shared_ptr<T> handle,
                      uid_t uid) {
        const HandleQuota::Admit admit = quota.acquire(uid);
        if (admit != HandleQuota::Admit::Yes) {
            if (admit == HandleQuota::Admit::NoFirst) {
                tree->report("open: uid " + std::to_string(uid) + " holds " +
                             std::to_string(quota.held(uid)) +
                             " files open on the tree, its limit; further opens fail with "
                             "EMFILE until it closes some");
            }
            return 0;
        }
        std::lock_guard lock(mutex);
        const std::uint64_t id = next_handle++;
        table.emplace(id, Handle<T>{std::move(handle), uid});
        return id;
    }
    template <typename T>
    std::shared_ptr<T> find(const std::map<std::uint64_t, Handle<T>>& table,
                            std::uint64_t id) const {
        std::lock_guard lock(mutex);
        auto it = table.find(id);
        return it == table.end() ? nullptr : it->second.object;
    }
    template <typename T>
    void remove(std::map<std::uint64_t, Handle<T>>& table, std::uint64_t id) {
        std::shared_ptr<T> last;  // freed outside the lock
        {
            std::lock_guard lock(mutex);
            auto it = table.find(id);
            if (it == table.end()) return;
            last = std::move(it->second.object);
            quota.release(it->second.uid);
            table.erase(it);
        }
    }
    // The directory's entries now, shared with every handle opened since the tree last changed.
    Result<Listing> listing(Ino dir) {
        const std::uint64_t generation = tree->generation();
        {
            std::lock_guard lock(mutex);
            auto it = listings.find(dir);
            if (it != listings.end() && it->second.first == generation) return it->second.second;
        }
        auto entries = tree->list(dir);
        if (!entries.ok()) return Errno{entries.error()};
        Listing shared = std::make_shared<const std::vector<DirEntry>>(std::move(*entries));
        std::lock_guard lock(mutex);
        listings[dir] = {generation, shared};
        return shared;
    }
};

namespace {
using detail::ServerContext;

// The kernel keeps names and the attributes of directories and links for a second; the tree
// tells it to drop them when a port changes (PortTree::set_invalidation_hook), so `ls -l` of a
// large tree costs one request per entry, not several. Files' attributes are never cached:
// their size is what the next read returns (state, info, the ledger that grows with every
// action), and a stale size would cut a read short.
constexpr double kEntryTimeout = 1.0;
constexpr double kDirAttrTimeout = 1.0;

double attr_timeout(FileType type) { return type == FileType::Regular ? 0.0 : kDirAttrTimeout; }

ServerContext& context_of(fuse_req_t req) {
    return *static_cast<ServerContext*>(fuse_req_userdata(req));
}
PortTree& tree_of(fuse_req_t req) { return *context_of(req).tree; }
uid_t caller_uid(fuse_req_t req) { return fuse_req_ctx(req)->uid; }

// No exception crosses into libfuse: an operation that throws answers EIO and is reported once.
// Bodies reply as their last step, so a throw always happens before any reply.
template <typename Body>
void guarded(fuse_req_t req, const char* operation, Body&& body) noexcept {
    try {
        body();
        return;
    } catch (const std::exception& error) {
        tree_of(req).report(std::string(operation) + ": internal error: " + error.what());
    } catch (...) {
    }
    fuse_reply_err(req, EIO);
}

struct timespec to_timespec(std::chrono::system_clock::time_point when) {
    const auto since_epoch = when.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
    struct timespec ts {};
    ts.tv_sec = static_cast<time_t>(seconds.count());
    ts.tv_nsec = static_cast<long>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
    return ts;
}

mode_t type_bits(FileType type) {
    switch (type) {
        case FileType::Directory:
            return S_IFDIR;
        case FileType::Symlink:
            return S_IFLNK;
        case FileType::Regular:
            return S_IFREG;
    }
    return S_IFREG;
}

struct stat to_stat(const NodeAttr& attr) {
    struct stat st {};
    st.st_ino = attr.ino;
    st.st_mode = type_bits(attr.type) | attr.permissions;
    st.st_nlink = attr.nlink;
    st.st_uid = 0;
    st.st_gid = 0;
    st.st_size = static_cast<off_t>(attr.size);
    st.st_blksize = 4096;
    st.st_blocks = static_cast<blkcnt_t>((attr.size + 511) / 512);
    st.st_mtim = to_timespec(attr.mtime);
    st.st_ctim = st.st_mtim;
    st.st_atim = st.st_mtim;
    return st;
}

void reply_entry(fuse_req_t req, const NodeAttr& attr) {
    fuse_entry_param entry{};
    entry.ino = attr.ino;
    entry.generation = 1;  // numbers are never reused while mounted (inode_table.hpp)
    entry.attr = to_stat(attr);
    entry.attr_timeout = attr_timeout(attr.type);
    entry.entry_timeout = kEntryTimeout;
    fuse_reply_entry(req, &entry);
}

std::shared_ptr<OpenFile> open_file_of(fuse_req_t req, const fuse_file_info* fi) {
    return fi ? context_of(req).find(context_of(req).files, fi->fh) : nullptr;
}

// ---- operations: decode, ask the tree, reply -------------------------------------------------

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "lookup", [&] {
        auto attr = tree_of(req).lookup(parent, name);
        if (!attr.ok()) return void(fuse_reply_err(req, attr.error()));
        reply_entry(req, *attr);
    });
}

// Inode numbers stay valid for the whole mount (inode_table.hpp), so there is nothing to free.
void op_forget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
void op_forget_multi(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "getattr", [&] {
        const std::shared_ptr<OpenFile> file = open_file_of(req, fi);
        auto attr = tree_of(req).getattr(ino, file.get());
        if (!attr.ok()) return void(fuse_reply_err(req, attr.error()));
        const struct stat st = to_stat(*attr);
        fuse_reply_attr(req, &st, attr_timeout(attr->type));
    });
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    guarded(req, "setattr", [&] {
        const uid_t uid = caller_uid(req);
        if (uid != 0) return void(fuse_reply_err(req, EACCES));
        // chmod, chown, touch: the tree's modes, owners and times are its own.
        if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) ||
            !(to_set & FUSE_SET_ATTR_SIZE)) {
            return void(fuse_reply_err(req, EPERM));
        }
        auto result = tree_of(req).truncate(ino, static_cast<std::uint64_t>(attr->st_size), uid);
        if (!result.ok()) return void(fuse_reply_err(req, result.error()));
        const struct stat st = to_stat(*result);
        fuse_reply_attr(req, &st, attr_timeout(result->type));
    });
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    guarded(req, "readlink", [&] {
        auto target = tree_of(req).readlink(ino);
        if (!target.ok()) return void(fuse_reply_err(req, target.error()));
        fuse_reply_readlink(req, target->c_str());
    });
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t) {
    guarded(req, "mkdir", [&] {
        auto attr = tree_of(req).make_port(parent, name, caller_uid(req));
        if (!attr.ok()) return void(fuse_reply_err(req, attr.error()));
        reply_entry(req, *attr);
    });
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "rmdir",
            [&] { fuse_reply_err(req, tree_of(req).remove_port(parent, name, caller_uid(req))); });
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "unlink",
            [&] { fuse_reply_err(req, tree_of(req).unlink(parent, name, caller_uid(req))); });
}

// Nothing is created, renamed or linked by hand: ports come from mkdir only.
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
    fuse_reply_err(req, caller_uid(req) == 0 ? EPERM : EACCES);
}
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
    fuse_reply_err(req, caller_uid(req) == 0 ? EPERM : EACCES);
}
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
    fuse_reply_err(req, caller_uid(req) == 0 ? EPERM : EACCES);
}
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
    fuse_reply_err(req, caller_uid(req) == 0 ? EPERM : EACCES);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "open", [&] {
        const bool write = (fi->flags & O_ACCMODE) != O_RDONLY;
        auto file = tree_of(req).open(ino, write, caller_uid(req));
        if (!file.ok()) return void(fuse_reply_err(req, file.error()));
        // The page cache is dropped at each open (keep_cache = 0) so a new open reads the new
        // text; sizes are exact, so no direct_io is needed and mmap keeps working.
        fi->keep_cache = 0;
        fi->direct_io = 0;
        ServerContext& context = context_of(req);
        fi->fh = context.add(context.files, std::shared_ptr<OpenFile>(std::move(*file)),
                             caller_uid(req));
        if (fi->fh == 0) return void(fuse_reply_err(req, EMFILE));
        // Interrupted meanwhile: the kernel will send no release for it.
        if (fuse_reply_open(req, fi) != 0) context.remove(context.files, fi->fh);
    });
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    guarded(req, "read", [&] {
        const std::shared_ptr<OpenFile> file = open_file_of(req, fi);
        if (!file) return void(fuse_reply_err(req, EBADF));
        auto data = tree_of(req).read(*file, static_cast<std::uint64_t>(offset), size);
        if (!data.ok()) return void(fuse_reply_err(req, data.error()));
        fuse_reply_buf(req, data->data(), data->size());
    });
}

void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info* fi) {
    guarded(req, "write", [&] {
        const std::shared_ptr<OpenFile> file = open_file_of(req, fi);
        if (!file) return void(fuse_reply_err(req, EBADF));
        auto written = tree_of(req).write(*file, std::string_view(buf, size), caller_uid(req));
        if (!written.ok()) return void(fuse_reply_err(req, written.error()));
        fuse_reply_write(req, *written);
    });
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    context_of(req).remove(context_of(req).files, fi->fh);
    fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "opendir", [&] {
        // Taken once at opendir, so readdir offsets keep meaning the same entries.
        ServerContext& context = context_of(req);
        auto entries = context.listing(ino);
        if (!entries.ok()) return void(fuse_reply_err(req, entries.error()));
        fi->fh = context.add(context.dirs, std::move(*entries), caller_uid(req));
        if (fi->fh == 0) return void(fuse_reply_err(req, EMFILE));
        if (fuse_reply_open(req, fi) != 0) context.remove(context.dirs, fi->fh);
    });
}

// Offsets are positions in the list taken at opendir: entry i carries offset i + 1, the place
// to go on from.
void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    guarded(req, "readdir", [&] {
        const auto handle = context_of(req).find(context_of(req).dirs, fi->fh);
        if (!handle) return void(fuse_reply_err(req, EBADF));
        const std::vector<DirEntry>& entries = *handle;
        std::vector<char> buffer(size);
        size_t used = 0;
        for (size_t i = static_cast<size_t>(std::max<off_t>(offset, 0)); i < entries.size(); ++i) {
            struct stat st {};
            st.st_ino = entries[i].ino;
            st.st_mode = type_bits(entries[i].type);
            const size_t needed =
                fuse_add_direntry(req, buffer.data() + used, size - used, entries[i].name.c_str(),
                                  &st, static_cast<off_t>(i + 1));
            if (needed > size - used) break;
            used += needed;
        }
        fuse_reply_buf(req, buffer.data(), used);
    });
}

// Entries with their attributes, so `ls -l` needs no LOOKUP per entry: one request fills a
// page with about twenty. "." and ".." go without attributes (ino 0 there: the kernel makes no
// dentry and counts no lookup for them).
void op_readdirplus(fuse_req_t req, fuse_ino_t dir, size_t size, off_t offset, fuse_file_info* fi) {
    guarded(req, "readdirplus", [&] {
        const auto handle = context_of(req).find(context_of(req).dirs, fi->fh);
        if (!handle) return void(fuse_reply_err(req, EBADF));
        const std::vector<DirEntry>& entries = *handle;
        std::vector<char> buffer(size);
        size_t used = 0;
        for (size_t i = static_cast<size_t>(std::max<off_t>(offset, 0)); i < entries.size(); ++i) {
            const DirEntry& item = entries[i];
            fuse_entry_param entry{};
            if (item.name == "." || item.name == "..") {
                entry.attr.st_ino = item.ino;
                entry.attr.st_mode = type_bits(item.type);
            } else {
                auto attr = tree_of(req).lookup(dir, item.name);
                if (!attr.ok()) continue;  // gone since opendir
                entry.ino = attr->ino;
                entry.generation = 1;
                entry.attr = to_stat(*attr);
                entry.attr_timeout = attr_timeout(attr->type);
                entry.entry_timeout = kEntryTimeout;
            }
            const size_t needed =
                fuse_add_direntry_plus(req, buffer.data() + used, size - used, item.name.c_str(),
                                       &entry, static_cast<off_t>(i + 1));
            if (needed > size - used) break;
            used += needed;
        }
        fuse_reply_buf(req, buffer.data(), used);
    });
}

// Every readdir is a READDIRPLUS (not only the first, as the kernel's "auto" mode would do):
// a reader of a large directory gets all its attributes in a few requests.
void op_init(void*, fuse_conn_info* conn) {
    if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_READDIRPLUS_AUTO);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    context_of(req).remove(context_of(req).dirs, fi->fh);
    fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
    guarded(req, "statfs", [&] {
        struct statvfs sv {};
        sv.f_bsize = 4096;
        sv.f_frsize = 4096;
        sv.f_files = tree_of(req).inode_count();
        sv.f_namemax = 255;
        fuse_reply_statfs(req, &sv);
    });
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
    guarded(req, "access",
            [&] { fuse_reply_err(req, tree_of(req).access(ino, mask, caller_uid(req))); });
}

const fuse_lowlevel_ops& operations() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.lookup = op_lookup;
        o.forget = op_forget;
        o.forget_multi = op_forget_multi;
        o.getattr = op_getattr;
        o.setattr = op_setattr;
        o.readlink = op_readlink;
        o.mknod = op_mknod;
        o.mkdir = op_mkdir;
        o.unlink = op_unlink;
        o.rmdir = op_rmdir;
        o.symlink = op_symlink;
        o.rename = op_rename;
        o.link = op_link;
        o.open = op_open;
        o.read = op_read;
        o.write = op_write;
        o.release = op_release;
        o.opendir = op_opendir;
        o.readdir = op_readdir;
        o.readdirplus = op_readdirplus;
        o.init = op_init;
        o.releasedir = op_releasedir;
        o.statfs = op_statfs;
        o.access = op_access;
        return o;
    }();
    return ops;
}

struct FuseArgsDeleter {
    void operator()(fuse_args* args) const { fuse_opt_free_args(args); }
};
struct LoopConfigDeleter {
    void operator()(fuse_loop_config* config) const { fuse_loop_cfg_destroy(config); }
};

// Octal escapes (\040 for a space) of /proc/self/mountinfo.
std::string unescape_mountinfo(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string digits = field.substr(i + 1, 3);
            if (digits.find_first_not_of("01234567") == std::string::npos) {
                const int value =
                    (digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0');
                out.push_back(static_cast<char>(value));
                i += 3;
                continue;
            }
        }
        out.push_back(field[i]);
    }
    return out;
}

// The filesystem type mounted exactly at `path` (the topmost one), or "" when none.
std::string mounted_fstype(const std::filesystem::path& path) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line, found;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mountpoint, word;
        fields >> id >> parent >> device >> root >> mountpoint;
        while (fields >> word && word != "-") {
        }
        std::string fstype;
        fields >> fstype;
        if (unescape_mountinfo(mountpoint) == path.string()) found = fstype;
    }
    return found;
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

void FuseServer::SessionDeleter::operator()(fuse_session* session) const {
    fuse_session_destroy(session);
}

FuseServer::FuseServer(agent::Core& core, TreeOptions tree_options, MountOptions mount_options)
    : mount_options_(std::move(mount_options)) {
    tree_ = std::make_unique<PortTree>(core, std::move(tree_options));
    context_ = std::make_unique<detail::ServerContext>(mount_options_.max_handles_per_user);
    context_->tree = tree_.get();

    std::vector<std::string> argv_text = {
        "ovs-port-agent", "-o",
        "allow_other,default_permissions,fsname=ovs-port-agent,subtype=ovs-ports"};
    if (mount_options_.debug) argv_text.push_back("-d");
    std::vector<char*> argv;
    for (std::string& arg : argv_text) argv.push_back(arg.data());
    fuse_args args_storage = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    // Frees what libfuse allocates inside the (stack) fuse_args when it rewrites them.
    std::unique_ptr<fuse_args, FuseArgsDeleter> args(&args_storage);

    const fuse_lowlevel_ops& ops = operations();
    session_.reset(fuse_session_new(args.get(), &ops, sizeof ops, context_.get()));
    if (!session_) throw FsError("fuse: cannot create a session (bad mount options?)");
    const std::string where = mount_options_.mountpoint.string();
    if (fuse_session_mount(session_.get(), where.c_str()) != 0) {
        session_.reset();
        throw FsError("fuse: cannot mount the port tree on " + where +
                      " (is /dev/fuse there and are we root?)");
    }
    mounted_ = true;

    try {
        notifier_ = std::thread([this] { run_notifier(); });
        tree_->set_invalidation_hook([this](const Invalidation& drop) { invalidate(drop); });
        start_loop();
    } catch (...) {
        stop_notifier();
        fuse_session_unmount(session_.get());  // leave no mount without a server behind
        session_.reset();
        throw;
    }

    // The mount's device number names its connection in /sys/fs/fuse/connections, the last
    // resort of stop(). The stat is answered by the loop just started.
    struct stat st {};
    if (::stat(where.c_str(), &st) == 0) device_ = st.st_dev;
}

void FuseServer::start_loop() {
    loop_thread_ = std::thread([this] {
        // The daemon handles signals on its own thread; libfuse's workers inherit this mask.
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        std::unique_ptr<fuse_loop_config, LoopConfigDeleter> config(fuse_loop_cfg_create());
        if (config) {
            fuse_loop_cfg_set_max_threads(config.get(), std::max(1u, mount_options_.max_threads));
            fuse_loop_cfg_set_clone_fd(config.get(), 0);
            fuse_session_loop_mt(session_.get(), config.get());
        }
        std::lock_guard lock(loop_mutex_);
        loop_done_ = true;
        loop_done_changed_.notify_all();
    });
}

// Attributes are dropped at once: that takes no lock the kernel could hold for our request
// (offset -1: the page cache stays, and files have none worth keeping: keep_cache is off).
void FuseServer::invalidate(const Invalidation& drop) {
    for (Ino ino : drop.inodes) {
        fuse_lowlevel_notify_inval_inode(session_.get(), ino, -1, 0);  // ENOENT: not cached
    }
    if (drop.entries.empty()) return;
    std::lock_guard lock(notify_mutex_);
    pending_entries_.insert(pending_entries_.end(), drop.entries.begin(), drop.entries.end());
    notify_changed_.notify_one();
}

void FuseServer::run_notifier() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock lock(notify_mutex_);
    for (;;) {
        notify_changed_.wait(lock,
                             [this] { return notifier_stopping_ || !pending_entries_.empty(); });
        if (notifier_stopping_) return;
        const auto [parent, name] = std::move(pending_entries_.front());
        pending_entries_.pop_front();
        lock.unlock();
        // ENOENT: the kernel had no such name cached.
        fuse_lowlevel_notify_inval_entry(session_.get(), parent, name.c_str(), name.size());
        lock.lock();
    }
}

void FuseServer::stop_notifier() {
    tree_->set_invalidation_hook({});
    {
        std::lock_guard lock(notify_mutex_);
        notifier_stopping_ = true;
        notify_changed_.notify_all();
    }
    if (notifier_.joinable()) notifier_.join();
}

FuseServer::~FuseServer() { stop(); }

std::size_t FuseServer::open_handles(uid_t uid) const { return context_->quota.held(uid); }

std::size_t FuseServer::open_handles() const {
    std::lock_guard lock(context_->mutex);
    return context_->files.size() + context_->dirs.size();
}

bool FuseServer::wait_loop_done(std::chrono::milliseconds timeout) {
    std::unique_lock lock(loop_mutex_);
    return loop_done_changed_.wait_for(lock, timeout, [this] { return loop_done_; });
}

void FuseServer::abort_connection() {
    if (device_ == 0 || major(device_) != 0) return;
    std::ofstream abort("/sys/fs/fuse/connections/" + std::to_string(minor(device_)) + "/abort");
    if (abort) abort << "1\n";
}

void FuseServer::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    if (!session_) return;
    // While the loop still answers: a name being dropped may wait for a request in progress.
    stop_notifier();
    fuse_session* session = session_.get();
    const std::string where = mount_options_.mountpoint.string();
    bool unmounted = false;
    std::thread poke;
    if (loop_thread_.joinable()) {
        fuse_session_exit(session);
        // libfuse's workers sit in read(/dev/fuse) and only look at the exit flag after a
        // request. One statfs (never cached by the kernel) wakes one; it ends the loop and
        // libfuse cancels the rest. The statfs runs on a thread of its own because the loop may
        // end by itself meanwhile (a late release), leaving the statfs unanswered until the
        // session is destroyed below.
        if (!wait_loop_done(std::chrono::milliseconds(0))) {
            poke = std::thread([where] {
                struct statvfs sv {};
                ::statvfs(where.c_str(), &sv);
            });
        }
        if (!wait_loop_done(std::chrono::seconds(2))) {
            // Not reachable through the path (covered by another mount?): unmounting ends the
            // connection unless files are held open; aborting it ends it regardless.
            fuse_session_unmount(session);
            unmounted = true;
            if (!wait_loop_done(std::chrono::seconds(2))) abort_connection();
        }
        loop_thread_.join();
    }
    if (mounted_ && !unmounted) fuse_session_unmount(session);
    mounted_ = false;
    // Closing /dev/fuse aborts the connection: requests still waiting (the poke, if the loop
    // ended before reading it) fail with ENOTCONN and return.
    session_.reset();
    if (poke.joinable()) poke.join();
    // No release will come for what processes still hold open: those handles end here.
    std::lock_guard lock(context_->mutex);
    context_->files.clear();
    context_->dirs.clear();
}

std::string_view to_string(MountpointRecovery recovery) {
    switch (recovery) {
        case MountpointRecovery::Ready:
            return "ready";
        case MountpointRecovery::Created:
            return "created";
        case MountpointRecovery::StaleUnmounted:
            return "stale mount removed";
    }
    return "ready";
}

MountpointRecovery recover_mountpoint(const std::filesystem::path& mountpoint) {
    const std::string where = mountpoint.string();
    bool recovered = false;
    // A daemon killed several times over may have left dead mounts stacked on each other.
    for (int attempt = 0; attempt < 16; ++attempt) {
        struct stat st {};
        if (::stat(where.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) throw FsError(where + " is not a directory");
            if (mounted_fstype(mountpoint) == "fuse.ovs-ports") {
                // The stat may have come from the kernel's attribute cache (the root's
                // attributes are kept for a second, also after the server died); statfs is
                // never cached, so it tells a dead mount by ENOTCONN.
                struct statvfs sv {};
                if (::statvfs(where.c_str(), &sv) == 0 || errno != ENOTCONN) {
                    throw FsError(where + " is already served by a running ovs-port-agent");
                }
                if (::umount2(where.c_str(), MNT_DETACH) != 0) {
                    throw FsError("cannot unmount the stale mount on " + where + ": " +
                                  errno_text(errno));
                }
                recovered = true;
                continue;
            }
            return recovered ? MountpointRecovery::StaleUnmounted : MountpointRecovery::Ready;
        }
        const int error = errno;
        if (error == ENOTCONN) {
            if (::umount2(where.c_str(), MNT_DETACH) != 0) {
                throw FsError("cannot unmount the stale mount on " + where + ": " +
                              errno_text(errno));
            }
            recovered = true;
            continue;
        }
        if (error == ENOENT) {
            std::error_code ec;
            std::filesystem::create_directories(mountpoint, ec);
            if (ec) throw FsError("cannot create " + where + ": " + ec.message());
            ::chmod(where.c_str(), 0755);
            return MountpointRecovery::Created;
        }
        throw FsError("cannot use " + where + " as mountpoint: " + errno_text(error));
    }
    throw FsError(where + " still answers ENOTCONN after unmounting 16 stale mounts");
}

}  // namespace opa::fs
