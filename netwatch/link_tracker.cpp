#include "netwatch/link_tracker.hpp"

#include <utility>

namespace opa::netwatch {

LinkTracker::LinkTracker(ClassifyRules rules) : rules_(std::move(rules)) {}

std::vector<LinkEvent> LinkTracker::apply(const LinkMessage& message) {
    std::vector<LinkEvent> events;
    const LinkSnapshot& link = message.link;
    auto known = links_.find(link.ifindex);

    if (message.deleted) {
        confirmed_.erase(link.ifindex);
        if (known == links_.end()) return events;  // never reported, nothing to take back
        if (known->second.included) {
            // The last state we reported, under the name we reported it with.
            LinkSnapshot last = known->second.link;
            events.push_back({LinkChange::Gone, std::move(last), false});
        }
        links_.erase(known);
        return events;
    }

    if (resyncing_) confirmed_.insert(link.ifindex);
    const bool included = classify(link, rules_).included;
    if (known == links_.end()) {
        links_.emplace(link.ifindex, Known{link, included});
        if (included) events.push_back({LinkChange::Appeared, link, false});
        return events;
    }

    Known& entry = known->second;
    const bool renamed = entry.link.name != link.name;
    if (renamed || entry.included != included) {
        if (entry.included) events.push_back({LinkChange::Gone, entry.link, false});
        if (included) events.push_back({LinkChange::Appeared, link, false});
    } else if (included && !entry.link.same_state(link)) {
        events.push_back({LinkChange::Changed, link, false});
    }
    // A dump reply repeating what an earlier event said falls through here with no event.
    entry = Known{link, included};
    return events;
}

void LinkTracker::begin_resync() {
    resyncing_ = true;
    confirmed_.clear();
}

std::vector<LinkEvent> LinkTracker::end_resync() {
    std::vector<LinkEvent> events;
    if (!resyncing_) return events;
    resyncing_ = false;
    for (auto it = links_.begin(); it != links_.end();) {
        if (confirmed_.contains(it->first)) {
            ++it;
            continue;
        }
        if (it->second.included) events.push_back({LinkChange::Gone, it->second.link, false});
        it = links_.erase(it);
    }
    confirmed_.clear();
    return events;
}

void LinkTracker::cancel_resync() {
    resyncing_ = false;
    confirmed_.clear();
}

std::vector<LinkEvent> LinkTracker::watch_name(const std::string& name) {
    rules_.watched_names.insert(name);
    return reclassify_all();
}

std::vector<LinkEvent> LinkTracker::unwatch_name(const std::string& name) {
    rules_.watched_names.erase(name);
    return reclassify_all();
}

std::vector<LinkEvent> LinkTracker::reclassify_all() {
    std::vector<LinkEvent> events;
    for (auto& [ifindex, entry] : links_) {
        const bool included = classify(entry.link, rules_).included;
        if (included == entry.included) continue;
        entry.included = included;
        events.push_back({included ? LinkChange::Appeared : LinkChange::Gone, entry.link, false});
    }
    return events;
}

std::vector<LinkSnapshot> LinkTracker::included_links() const {
    std::vector<LinkSnapshot> links;
    for (const auto& [ifindex, entry] : links_) {
        if (entry.included) links.push_back(entry.link);
    }
    return links;
}

}  // namespace opa::netwatch
