// A read-only client of ovsdb-server's JSON-RPC socket: one `monitor` of the Bridge and Port
// tables, kept current from the server's `update` notifications. It never sends a transaction;
// the only other thing it writes is the reply to the server's `echo` keep-alive.
//
// Not thread-safe: one loop owns it. The daemon polls fd() and calls process_pending() when it is
// readable; after a disconnect (ovsdb-server restarted) it calls connect() again.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "agent/unique_fd.hpp"
#include "netwatch/ovsdb.hpp"

namespace opa::netwatch {

// $OVS_RUNDIR/db.sock when OVS_RUNDIR is set (as ovs-vsctl does), else /run/openvswitch/db.sock.
std::filesystem::path default_ovsdb_socket();

class OvsdbMonitor {
  public:
    explicit OvsdbMonitor(std::filesystem::path socket);

    // Connects and sends the monitor request. False, with last_error(), when ovsdb-server cannot
    // be reached (it may be down or restarting: not an exception).
    bool connect();
    void disconnect();
    bool connected() const { return fd_.get() >= 0; }
    int fd() const { return fd_.get(); }
    // Reads everything queued, never blocking. True when the tables changed (or were received
    // for the first time). On end of stream or a protocol error the monitor disconnects and
    // last_error() says why.
    bool process_pending();
    // True once the monitor's first reply (the whole tables) arrived on this connection.
    bool synced() const { return synced_; }
    const OvsdbTables& tables() const { return tables_; }
    const std::string& last_error() const { return last_error_; }
    const std::filesystem::path& socket() const { return socket_; }

    // Connects, waits up to `timeout` for the first reply and returns; for the CLI and tests.
    bool sync_once(std::chrono::milliseconds timeout);

  private:
    bool handle_message(const std::string& text);  // true: tables changed
    bool send(const std::string& text);

    std::filesystem::path socket_;
    UniqueFd fd_;
    JsonStreamSplitter splitter_;
    OvsdbTables tables_;
    bool synced_ = false;
    std::string last_error_;
};

}  // namespace opa::netwatch
