// Coalesces a burst of link events into one batch: the net effect per link name. Pure: the
// caller passes `now` (the daemon's loop its clock, tests a fake one) and turns next_timeout()
// into its poll timeout; there is no timer thread.
//
// A burst ends when no event came for `quiet` (config debounce_ms), or at the latest `max_delay`
// after its first event, so a link that never stops flapping still gets reported.
//
// Net effect per name, from whether the name existed before the burst (its first event was not
// Appeared) and whether it exists at the end (its last event was not Gone):
//   absent  -> absent   nothing (created and deleted within the burst: nobody needs to act)
//   present -> absent   Gone, with the last state seen
//   absent  -> present  Appeared, with the last state
//   present -> present  Changed, with the last state; `replaced` when the name was gone in
//                       between (deleted and created again, renamed away and back): whatever
//                       was attached to the old link must be redone
// A batch lists Gone first, then Changed, then Appeared (each by name), so a name freed by one
// link can be taken by another in the same batch.
//
// Prompt names (add() with at_once): the first appearance of a link whose name says it is meant
// to be attached (a guest NIC, a requested port) is reported at once, in a batch of its own,
// instead of after the burst settles: a container's port should not wait `quiet` for nothing.
// Only its first Appeared is early: a Gone before that batch is taken cancels it (nothing to
// report, as above), and every later event of that name is coalesced as usual. A name with
// events pending in the burst already is not prompt (the burst's net effect decides).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "netwatch/link.hpp"

namespace opa::netwatch {

struct LinkBatch {
    std::vector<LinkEvent> events;
    // "..., ignoring" notes on skipped messages, resyncs after overflow: for the caller to log.
    std::vector<std::string> notes;
    bool empty() const { return events.empty() && notes.empty(); }
};

class Debouncer {
  public:
    using Clock = std::chrono::steady_clock;
    using TimePoint = Clock::time_point;

    // max_delay is raised to quiet if smaller.
    Debouncer(std::chrono::milliseconds quiet, std::chrono::milliseconds max_delay);

    void add(const LinkEvent& event, TimePoint now, bool at_once = false);
    void add_note(std::string note, TimePoint now);

    bool pending() const { return first_.has_value() || !prompt_.empty(); }
    // How long the caller may sleep before take_batch() has something: nullopt when nothing is
    // pending (sleep until the next message), zero when a batch is due. Rounded up, so a poll
    // with this timeout never wakes just before the deadline.
    std::optional<std::chrono::milliseconds> next_timeout(TimePoint now) const;
    // The batch, once its deadline has passed; nullopt before that. A burst whose events all
    // cancelled out still yields a batch when it carries notes, and none otherwise.
    std::optional<LinkBatch> take_batch(TimePoint now);
    // Everything pending now, deadline or not (shutdown, tests).
    LinkBatch flush();

  private:
    struct PerName {
        bool present_before = false;
        bool present_now = false;
        bool was_gone = false;
        LinkSnapshot last;
    };
    std::optional<TimePoint> deadline() const;
    void touch(TimePoint now);

    std::chrono::milliseconds quiet_;
    std::chrono::milliseconds max_delay_;
    std::optional<TimePoint> first_;
    TimePoint last_{};
    std::map<std::string, PerName> names_;
    std::vector<std::string> notes_;
    std::map<std::string, LinkSnapshot> prompt_;  // Appeared, due at once
};

}  // namespace opa::netwatch
