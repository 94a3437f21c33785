#include "mount/block_writer.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "ifupdown/interfaces_file.hpp"

namespace opa::mount {

namespace {
// A held lock is tried again this soon after a try ran out (news may come meanwhile).
constexpr auto kBusyPause = std::chrono::milliseconds(200);
}  // namespace

BlockWriter::BlockWriter(const config::Config& config, agent::Journal& journal, Timing timing)
    : sync_(config, journal),
      journal_(journal),
      lock_path_(ifupdown::InterfacesFile::default_lock_path(config.interfaces_path).string()),
      timing_(timing),
      thread_([this](std::stop_token stop) { run(stop); }) {}

BlockWriter::~BlockWriter() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
}

void BlockWriter::submit(std::vector<agent::Port> ports) {
    {
        std::lock_guard lock(mutex_);
        wanted_ = std::move(ports);
    }
    news_.notify_one();
}

std::uint64_t BlockWriter::writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
}

bool BlockWriter::waiting_for_lock() const {
    std::lock_guard lock(mutex_);
    return busy_since_.has_value();
}

void BlockWriter::run(std::stop_token stop) {
    std::vector<agent::Port> ports;
    std::optional<std::chrono::steady_clock::time_point> again;  // a try due without news
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            const auto news = [this] { return wanted_.has_value(); };
            if (again) {
                news_.wait_until(lock, stop, *again, news);
            } else {
                news_.wait(lock, stop, news);
            }
            if (stop.stop_requested()) {
                // The last ports asked for are written once more before the agent goes.
                if (!wanted_ && !again) return;
                if (wanted_) ports = std::move(*wanted_);
                wanted_.reset();
                lock.unlock();
                write(ports);
                return;
            }
            if (wanted_) {
                ports = std::move(*wanted_);
                wanted_.reset();
            } else if (!again || std::chrono::steady_clock::now() < *again) {
                continue;
            }
        }
        again = write(ports);
    }
}

std::optional<std::chrono::steady_clock::time_point> BlockWriter::write(
    const std::vector<agent::Port>& ports) {
    std::vector<pid_t> holders;
    const BlockSync::Outcome outcome = sync_.sync(ports, timing_.lock_wait, &holders);
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    writes_ = sync_.writes();
    switch (outcome) {
        case BlockSync::Outcome::Done:
            if (busy_since_) {
                const auto waited =
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - *busy_since_);
                spdlog::info("{}: free again after {} ms; the block is up to date", lock_path_,
                             waited.count());
                journal_.record("interfaces_lock_free",
                                {{"lock", lock_path_}, {"waited_ms", waited.count()}});
                busy_since_.reset();
            }
            return std::nullopt;
        case BlockSync::Outcome::LockBusy:
            if (!busy_since_) {
                // Once per spell: the loop goes on serving ports meanwhile.
                busy_since_ = now;
                spdlog::warn(
                    "{}: held by {}; the interfaces block waits for the lock, ports are served "
                    "meanwhile",
                    lock_path_,
                    holders.empty() ? std::string("another process")
                                    : fmt::format("pid {}", fmt::join(holders, ", ")));
                journal_.record("interfaces_lock_busy",
                                {{"lock", lock_path_}, {"holders", holders}});
            }
            return now + kBusyPause;
        case BlockSync::Outcome::Failed:
            return now + timing_.retry;
    }
    return std::nullopt;
}

}  // namespace opa::mount
