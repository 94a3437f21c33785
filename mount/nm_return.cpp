#include "mount/nm_return.hpp"

#include <utility>

namespace opa::mount {

NmReturn::NmReturn(NmReturnSteps steps, std::chrono::milliseconds retry,
                   std::chrono::milliseconds patience)
    : steps_(std::move(steps)), retry_(retry), patience_(patience), thread_([this] { run(); }) {}

NmReturn::~NmReturn() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

void NmReturn::nm_returned() {
    {
        std::lock_guard lock(mutex_);
        ++returned_;
    }
    changed_.notify_all();
}

void NmReturn::refresh_bridge() {
    {
        std::lock_guard lock(mutex_);
        refresh_wanted_ = true;
    }
    changed_.notify_all();
}

bool NmReturn::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(
        lock, timeout, [this] { return !busy_ && returned_ == followed_ && !refresh_wanted_; });
}

bool NmReturn::superseded(std::uint64_t generation) { return stopping_ || returned_ != generation; }

void NmReturn::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        changed_.wait(lock,
                      [this] { return stopping_ || returned_ != followed_ || refresh_wanted_; });
        if (stopping_) return;
        busy_ = true;
        if (returned_ != followed_) {
            followed_ = returned_;
            const std::uint64_t generation = followed_;
            lock.unlock();
            bool finished = true;
            try {
                finished = follow(generation);
            } catch (...) {
                // The steps catch what they expect; nothing else may end this thread.
            }
            lock.lock();
            // The sequence ends with a refresh; a refresh asked meanwhile is that one.
            if (finished) refresh_wanted_ = false;
        } else {
            refresh_wanted_ = false;
            lock.unlock();
            try {
                steps_.refresh_bridge();
            } catch (...) {
                // As above.
            }
            lock.lock();
        }
        busy_ = false;
        changed_.notify_all();
    }
}

bool NmReturn::follow(std::uint64_t generation) {
    const auto deadline = std::chrono::steady_clock::now() + patience_;
    bool replugged = false;
    while (true) {
        const bool last = std::chrono::steady_clock::now() >= deadline;
        const bool answering = steps_.answering();
        if (answering && !replugged) {
            replugged = true;
            steps_.replug();
        }
        if ((answering && steps_.reconcile(last)) || last) {
            steps_.refresh_bridge();
            return true;
        }
        std::unique_lock lock(mutex_);
        if (changed_.wait_for(lock, retry_, [&] { return superseded(generation); })) return false;
    }
}

}  // namespace opa::mount
