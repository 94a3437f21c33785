#include "mount/serial_worker.hpp"

#include <exception>
#include <utility>

namespace opa::mount {

SerialWorker::SerialWorker(std::function<void(const std::string& what)> failed)
    : failed_(std::move(failed)), thread_([this] { run(); }) {}

SerialWorker::~SerialWorker() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    changed_.notify_all();
    thread_.join();
}

void SerialWorker::post(std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        jobs_.push_back(std::move(job));
    }
    changed_.notify_all();
}

bool SerialWorker::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return jobs_.empty() && !busy_; });
}

void SerialWorker::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        changed_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        std::function<void()> job = std::move(jobs_.front());
        jobs_.pop_front();
        busy_ = true;
        lock.unlock();
        std::string what;
        try {
            job();
        } catch (const std::exception& error) {
            what = error.what();
        } catch (...) {
            what = "an unknown exception";
        }
        if (!what.empty() && failed_) {
            try {
                failed_(what);
            } catch (...) {
                // Nothing more to tell anyone.
            }
        }
        lock.lock();
        busy_ = false;
        changed_.notify_all();
    }
}

}  // namespace opa::mount
