// What the agent does once NetworkManager is back on the bus, off the event loop: NM takes its
// bus name before it answers (and a stuck NM may never answer), so asking it on the loop would
// stop link events and the watchdog for as long as NM takes.
//
// The sequence: ask NM a cheap question until it answers; the first answer re-plugs the ports NM
// does not restore itself; then reconcile until it succeeds or `patience` has passed (the last
// try records its failure); then refresh the bridge's device. NM returning again meanwhile
// starts the sequence over. A bridge refresh can also be asked for on its own (the bridge may
// have been set up after the agent started). Daemon code: the steps log and record.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace opa::mount {

struct NmReturnSteps {
    std::function<bool()> answering;           // NM answers a cheap question
    std::function<void()> replug;              // once per return, at its first answer
    std::function<bool(bool last)> reconcile;  // true when done; `last`: record a failure
    std::function<void()> refresh_bridge;      // after the sequence, or when asked
};

class NmReturn {
  public:
    NmReturn(NmReturnSteps steps, std::chrono::milliseconds retry,
             std::chrono::milliseconds patience);
    // Ends the step in progress (a D-Bus call ends by its own timeout) and stops.
    ~NmReturn();
    NmReturn(const NmReturn&) = delete;
    NmReturn& operator=(const NmReturn&) = delete;

    void nm_returned();
    void refresh_bridge();
    // Waits until nothing is pending or running (tests). False on timeout.
    bool wait_idle(std::chrono::milliseconds timeout);

  private:
    void run();
    // One return's sequence; false when it was cut short (stopping, or NM returned again).
    bool follow(std::uint64_t generation);
    bool superseded(std::uint64_t generation);  // mutex_ held

    const NmReturnSteps steps_;
    const std::chrono::milliseconds retry_;
    const std::chrono::milliseconds patience_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::uint64_t returned_ = 0;  // NM's returns so far
    std::uint64_t followed_ = 0;  // the last one whose sequence started
    bool refresh_wanted_ = false;
    bool busy_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace opa::mount
