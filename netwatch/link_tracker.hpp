// The watcher's memory: every link of the namespace by ifindex, with whether it is included.
// It turns raw link messages (events and dump replies, in socket order) into name-level events
// for included links: it dedupes a dump against the events that raced it, splits a rename into
// Gone(old) + Appeared(new), and after a resync dump reports the links whose deletion was lost.
// Pure: no socket, no clock.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netwatch/classify.hpp"
#include "netwatch/link.hpp"
#include "netwatch/rtnl_message.hpp"

namespace opa::netwatch {

class LinkTracker {
  public:
    explicit LinkTracker(ClassifyRules rules);

    std::vector<LinkEvent> apply(const LinkMessage& message);

    // A full dump starts: every known link stays unconfirmed until a message (dump reply or
    // event) shows it again. end_resync() reports the unconfirmed ones as Gone: their
    // RTM_DELLINK was lost (socket overflow).
    void begin_resync();
    std::vector<LinkEvent> end_resync();
    // The dump failed: forget it without sweeping (every link would look gone).
    void cancel_resync();

    // Include `name` regardless of prefix (a link the agent renamed), or stop doing so. Links
    // already known are classified again at once: the events say what that changed.
    std::vector<LinkEvent> watch_name(const std::string& name);
    std::vector<LinkEvent> unwatch_name(const std::string& name);

    const ClassifyRules& rules() const { return rules_; }
    std::vector<LinkSnapshot> included_links() const;
    std::size_t known_links() const { return links_.size(); }

  private:
    struct Known {
        LinkSnapshot link;
        bool included = false;
    };
    std::vector<LinkEvent> reclassify_all();

    ClassifyRules rules_;
    std::map<int, Known> links_;  // by ifindex
    std::set<int> confirmed_;     // ifindexes seen since begin_resync()
    bool resyncing_ = false;
};

}  // namespace opa::netwatch
