#include "agent/guest_config_reader.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace opa::proxmox {

// Shared with the threads, which may outlive the reader (stuck in a read).
struct GuestConfigReader::State {
    ReadFn read;
    unsigned max_threads = 1;
    mutable std::mutex mutex;
    bool stopped = false;
    unsigned threads = 0;
    std::deque<GuestKey> queue;
    // The waiters of every guest queued or in flight.
    std::map<GuestKey, std::vector<Done>> waiters;
};

GuestConfigReader::GuestConfigReader(ReadFn read, unsigned max_threads)
    : state_(std::make_shared<State>()) {
    state_->read = std::move(read);
    state_->max_threads = max_threads == 0 ? 1 : max_threads;
}

GuestConfigReader::~GuestConfigReader() {
    std::lock_guard lock(state_->mutex);
    state_->stopped = true;
    state_->queue.clear();
    state_->waiters.clear();
}

void GuestConfigReader::request(const GuestKey& key, Done done) {
    bool start_thread = false;
    {
        std::lock_guard lock(state_->mutex);
        auto [it, fresh] = state_->waiters.try_emplace(key);
        it->second.push_back(std::move(done));
        if (!fresh) return;  // joins the read queued or in flight
        state_->queue.push_back(key);
        if (state_->threads < state_->max_threads) {
            ++state_->threads;
            start_thread = true;
        }
    }
    if (!start_thread) return;
    try {
        std::thread(run, state_).detach();
    } catch (const std::system_error&) {
        // No thread now: the queue waits for the next one a request or a finished read starts.
        std::lock_guard lock(state_->mutex);
        --state_->threads;
    }
}

void GuestConfigReader::run(std::shared_ptr<State> state) {
    std::unique_lock lock(state->mutex);
    while (!state->stopped && !state->queue.empty()) {
        const GuestKey key = state->queue.front();
        state->queue.pop_front();
        lock.unlock();
        std::optional<GuestConfig> config;
        try {
            config = state->read(key);
        } catch (...) {
            // read_guest_config does not throw; a config nobody could read is no config.
        }
        lock.lock();
        auto it = state->waiters.find(key);
        if (it == state->waiters.end()) continue;  // the reader is gone
        std::vector<Done> waiters = std::move(it->second);
        state->waiters.erase(it);
        // Called under the lock, so the destructor (which takes it) never returns while one runs.
        for (Done& done : waiters) done(config);
    }
    --state->threads;
}

std::optional<std::optional<GuestConfig>> GuestConfigReader::read_within(
    const GuestKey& key, std::chrono::milliseconds deadline) {
    struct Outcome {
        std::mutex mutex;
        std::condition_variable ended;
        std::optional<std::optional<GuestConfig>> value;
    };
    auto outcome = std::make_shared<Outcome>();
    request(key, [outcome](const std::optional<GuestConfig>& config) {
        std::lock_guard lock(outcome->mutex);
        outcome->value = config;
        outcome->ended.notify_all();
    });
    std::unique_lock lock(outcome->mutex);
    outcome->ended.wait_for(lock, deadline, [&] { return outcome->value.has_value(); });
    return outcome->value;
}

std::optional<bool> is_directory_within(const std::filesystem::path& path,
                                        std::chrono::milliseconds deadline) {
    struct Outcome {
        std::mutex mutex;
        std::condition_variable ended;
        std::optional<bool> value;
    };
    auto outcome = std::make_shared<Outcome>();
    try {
        std::thread([outcome, path] {
            std::error_code error;
            const bool directory = std::filesystem::is_directory(path, error);
            std::lock_guard lock(outcome->mutex);
            outcome->value = directory;
            outcome->ended.notify_all();
        }).detach();
    } catch (const std::system_error&) {
        return std::nullopt;
    }
    std::unique_lock lock(outcome->mutex);
    outcome->ended.wait_for(lock, deadline, [&] { return outcome->value.has_value(); });
    return outcome->value;
}

std::size_t GuestConfigReader::reads_pending() const {
    std::lock_guard lock(state_->mutex);
    return state_->waiters.size();
}

}  // namespace opa::proxmox
