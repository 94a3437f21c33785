// One thread running posted jobs in order: work that may wait on a peer (NetworkManager, a
// rename waiting for NM) is done here so that the event loop never waits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace opa::mount {

class SerialWorker {
  public:
    // `failed` is told what a job threw (jobs should not throw; none ends the thread).
    explicit SerialWorker(std::function<void(const std::string& what)> failed);
    // Runs the job in progress to its end, drops the queued ones.
    ~SerialWorker();
    SerialWorker(const SerialWorker&) = delete;
    SerialWorker& operator=(const SerialWorker&) = delete;

    void post(std::function<void()> job);
    // Waits until no job is queued or running (tests). False on timeout.
    bool wait_idle(std::chrono::milliseconds timeout);

  private:
    void run();
    std::function<void(const std::string&)> failed_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::function<void()>> jobs_;
    bool busy_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace opa::mount
