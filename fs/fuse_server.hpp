// The port tree mounted with libfuse3's low-level API, served by libfuse's multi-threaded loop
// on background threads, and the start-up repair of a mountpoint a killed daemon left behind.
//
// Wiring in the daemon (mount/):
//     opa::fs::recover_mountpoint(path);                      // before mounting; log the result
//     opa::fs::FuseServer server(core, {ledger_path, bridge_state, log_failure}, {path});
//     ... run until told to stop ...
//     server.stop();                                           // before the core goes away
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "agent/core.hpp"
#include "fs/handle_quota.hpp"
#include "fs/port_tree.hpp"

struct fuse_session;

namespace opa::fs {

namespace detail {
struct ServerContext;  // what the FUSE operations reach through fuse_req_userdata()
}

struct MountOptions {
    std::filesystem::path mountpoint;
    // Upper bound of libfuse worker threads. Reads are quick; mkdir, rmdir and tag writes wait
    // for NetworkManager, so a few workers keep one slow change from holding up every `cat`.
    unsigned max_threads = 8;
    // libfuse's request trace on stderr.
    bool debug = false;
    // Files and directories one user other than root may hold open at once; beyond, EMFILE.
    // A handle costs the agent no descriptor and a few hundred bytes.
    std::size_t max_handles_per_user = 16384;
};

class FuseServer {
  public:
    // Mounts the tree (fsname=ovs-port-agent, subtype=ovs-ports, allow_other,
    // default_permissions) and starts serving. Throws FsError when it cannot mount. The core
    // must outlive the server (or at least its stop()).
    FuseServer(agent::Core& core, TreeOptions tree_options, MountOptions mount_options);
    // stop().
    ~FuseServer();
    FuseServer(const FuseServer&) = delete;
    FuseServer& operator=(const FuseServer&) = delete;

    // Ends the loop, waits for requests in flight, unmounts. Idempotent. Must not be called from
    // inside a filesystem operation, nor by a thread that holds the core's locks.
    void stop();

    const std::filesystem::path& mountpoint() const { return mount_options_.mountpoint; }
    PortTree& tree() { return *tree_; }
    // Files and directories open on the mount right now (for tests and diagnostics).
    std::size_t open_handles() const;
    // Those `uid` holds.
    std::size_t open_handles(uid_t uid) const;

  private:
    struct SessionDeleter {
        void operator()(fuse_session* session) const;
    };
    void start_loop();
    void invalidate(const Invalidation& drop);
    void run_notifier();
    void stop_notifier();
    bool wait_loop_done(std::chrono::milliseconds timeout);
    void abort_connection();

    MountOptions mount_options_;
    std::unique_ptr<PortTree> tree_;
    std::unique_ptr<detail::ServerContext> context_;
    std::unique_ptr<fuse_session, SessionDeleter> session_;
    std::thread loop_thread_;
    dev_t device_ = 0;  // the mount's st_dev: names its /sys/fs/fuse/connections entry
    bool mounted_ = false;

    // Names to drop from the kernel's dentry cache, sent by a thread of their own: the kernel
    // locks the parent directory for that, which it already holds while our mkdir or rmdir
    // (whose change caused the drop) runs.
    std::thread notifier_;
    std::mutex notify_mutex_;
    std::condition_variable notify_changed_;
    std::deque<std::pair<Ino, std::string>> pending_entries_;
    bool notifier_stopping_ = false;

    std::mutex stop_mutex_;  // serialises stop()
    std::mutex loop_mutex_;
    std::condition_variable loop_done_changed_;
    bool loop_done_ = false;
};

enum class MountpointRecovery {
    Ready,           // an existing directory, nothing mounted on it
    Created,         // the directory was missing and has been made (0755)
    StaleUnmounted,  // a dead FUSE mount (ENOTCONN) was lazily unmounted
};
std::string_view to_string(MountpointRecovery recovery);

// Makes `mountpoint` ready to mount on: creates it if missing and lazily unmounts (MNT_DETACH)
// the dead mount of a killed daemon, which otherwise answers every access with ENOTCONN
// ("Transport endpoint is not connected"). Throws FsError when the path is not a directory, is
// still served by a live ovs-ports mount (another agent is running), or cannot be repaired.
MountpointRecovery recover_mountpoint(const std::filesystem::path& mountpoint);

}  // namespace opa::fs
