#include "netwatch/ovsdb_monitor.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "netwatch/error.hpp"

namespace opa::netwatch {

namespace {

constexpr const char* kMonitorId = "opa-monitor";
// An unfinished JSON text larger than this is not a monitor reply: the peer is broken.
constexpr std::size_t kMaxPendingBytes = 64 * 1024 * 1024;

}  // namespace

std::filesystem::path default_ovsdb_socket() {
    if (const char* rundir = std::getenv("OVS_RUNDIR"); rundir && *rundir) {
        return std::filesystem::path(rundir) / "db.sock";
    }
    return "/run/openvswitch/db.sock";
}

OvsdbMonitor::OvsdbMonitor(std::filesystem::path socket) : socket_(std::move(socket)) {}

void OvsdbMonitor::disconnect() {
    fd_.reset();
    splitter_ = JsonStreamSplitter{};
    synced_ = false;
}

bool OvsdbMonitor::connect() {
    disconnect();
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = socket_.string();
    if (path.size() >= sizeof(address.sun_path)) {
        last_error_ = "OVSDB socket path too long: " + path;
        return false;
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        last_error_ = "socket: " + errno_text(errno);
        return false;
    }
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        last_error_ = "cannot connect to OVSDB at " + path + ": " + errno_text(errno);
        return false;
    }
    fd_ = std::move(fd);
    if (!send(OvsdbTables::monitor_request(kMonitorId).dump())) return false;
    last_error_.clear();
    return true;
}

bool OvsdbMonitor::send(const std::string& text) {
    std::size_t sent = 0;
    while (sent < text.size()) {
        const ssize_t n = ::send(fd_.get(), text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // Requests are a few hundred bytes; a full socket buffer means a stuck server.
            pollfd pfd{fd_.get(), POLLOUT, 0};
            if (::poll(&pfd, 1, 1000) > 0) continue;
        }
        last_error_ = "writing to OVSDB: " + errno_text(n < 0 ? errno : EPIPE);
        disconnect();
        return false;
    }
    return true;
}

bool OvsdbMonitor::process_pending() {
    bool changed = false;
    char buffer[65536];
    while (connected()) {
        const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
        if (n == 0) {
            last_error_ = "OVSDB closed the connection";
            disconnect();
            break;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            last_error_ = "reading from OVSDB: " + errno_text(errno);
            disconnect();
            break;
        }
        splitter_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
        while (connected()) {
            std::optional<std::string> text = splitter_.next();
            if (!text) break;
            if (handle_message(*text)) changed = true;
        }
        if (connected() && splitter_.pending_bytes() > kMaxPendingBytes) {
            last_error_ = "OVSDB sent an unterminated message";
            disconnect();
        }
    }
    return changed;
}

bool OvsdbMonitor::handle_message(const std::string& text) {
    nlohmann::json message = nlohmann::json::parse(text, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
        last_error_ = "OVSDB sent something that is not a JSON-RPC message";
        disconnect();
        return false;
    }
    try {
        auto method = message.find("method");
        if (method != message.end() && method->is_string()) {
            if (*method == "echo") {
                nlohmann::json reply = {
                    {"result", message.value("params", nlohmann::json::array())},
                    {"error", nullptr},
                    {"id", message.value("id", nlohmann::json())}};
                send(reply.dump());
                return false;
            }
            if (*method == "update") {
                const auto& params = message.at("params");
                if (!params.is_array() || params.size() != 2) {
                    throw std::invalid_argument("update without two parameters");
                }
                tables_.apply(params[1], false);
                return true;
            }
            return false;  // a notification this client did not ask for
        }
        if (message.value("id", nlohmann::json()) == kMonitorId) {
            if (auto error = message.find("error"); error != message.end() && !error->is_null()) {
                last_error_ = "OVSDB refused the monitor: " + error->dump();
                disconnect();
                return false;
            }
            tables_.apply(message.at("result"), true);
            synced_ = true;
            return true;
        }
        return false;
    } catch (const std::exception& error) {
        last_error_ = std::string("OVSDB message: ") + error.what();
        disconnect();
        return false;
    }
}

bool OvsdbMonitor::sync_once(std::chrono::milliseconds timeout) {
    if (!connect()) return false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (connected() && !synced_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            last_error_ = "OVSDB did not answer within " + std::to_string(timeout.count()) + " ms";
            disconnect();
            return false;
        }
        pollfd pfd{fd_.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) {
            last_error_ = "poll: " + errno_text(errno);
            disconnect();
            return false;
        }
        if (ready > 0) process_pending();
    }
    return synced_;
}

}  // namespace opa::netwatch
