#include "netwatch/debouncer.hpp"

#include <algorithm>
#include <utility>

namespace opa::netwatch {

Debouncer::Debouncer(std::chrono::milliseconds quiet, std::chrono::milliseconds max_delay)
    : quiet_(std::max(quiet, std::chrono::milliseconds(0))),
      max_delay_(std::max(max_delay, quiet_)) {}

void Debouncer::touch(TimePoint now) {
    if (!first_) first_ = now;
    last_ = now;
}

void Debouncer::add(const LinkEvent& event, TimePoint now, bool at_once) {
    if (auto early = prompt_.find(event.link.name); early != prompt_.end()) {
        if (event.change == LinkChange::Gone) {
            prompt_.erase(early);  // created and deleted before anyone acted: nothing
        } else {
            early->second = event.link;  // still new: reported with its latest state
        }
        return;
    }
    if (at_once && event.change == LinkChange::Appeared && !names_.count(event.link.name)) {
        prompt_.emplace(event.link.name, event.link);
        return;
    }
    touch(now);
    auto [it, fresh] = names_.try_emplace(event.link.name);
    PerName& entry = it->second;
    if (fresh) entry.present_before = event.change != LinkChange::Appeared;
    switch (event.change) {
        case LinkChange::Appeared:
        case LinkChange::Changed:
            entry.present_now = true;
            break;
        case LinkChange::Gone:
            entry.present_now = false;
            entry.was_gone = true;
            break;
    }
    entry.last = event.link;
}

void Debouncer::add_note(std::string note, TimePoint now) {
    touch(now);
    notes_.push_back(std::move(note));
}

std::optional<Debouncer::TimePoint> Debouncer::deadline() const {
    if (!first_) return std::nullopt;
    return std::min(last_ + quiet_, *first_ + max_delay_);
}

std::optional<std::chrono::milliseconds> Debouncer::next_timeout(TimePoint now) const {
    if (!prompt_.empty()) return std::chrono::milliseconds(0);
    const auto due = deadline();
    if (!due) return std::nullopt;
    if (*due <= now) return std::chrono::milliseconds(0);
    return std::chrono::ceil<std::chrono::milliseconds>(*due - now);
}

std::optional<LinkBatch> Debouncer::take_batch(TimePoint now) {
    if (!prompt_.empty()) {
        LinkBatch batch;
        for (auto& [name, link] : prompt_) {  // std::map: by name
            batch.events.push_back({LinkChange::Appeared, std::move(link), false});
        }
        prompt_.clear();
        return batch;
    }
    const auto due = deadline();
    if (!due || now < *due) return std::nullopt;
    LinkBatch batch = flush();
    if (batch.empty()) return std::nullopt;
    return batch;
}

LinkBatch Debouncer::flush() {
    LinkBatch batch;
    std::vector<LinkEvent> gone;
    std::vector<LinkEvent> changed;
    std::vector<LinkEvent> appeared;
    for (auto& [name, entry] : names_) {  // std::map: by name
        if (entry.present_before && !entry.present_now) {
            gone.push_back({LinkChange::Gone, std::move(entry.last), false});
        } else if (!entry.present_before && entry.present_now) {
            appeared.push_back({LinkChange::Appeared, std::move(entry.last), false});
        } else if (entry.present_before && entry.present_now) {
            changed.push_back({LinkChange::Changed, std::move(entry.last), entry.was_gone});
        }
    }
    for (auto& [name, link] : prompt_) {
        appeared.push_back({LinkChange::Appeared, std::move(link), false});
    }
    std::sort(appeared.begin(), appeared.end(),
              [](const LinkEvent& a, const LinkEvent& b) { return a.link.name < b.link.name; });
    batch.events = std::move(gone);
    batch.events.insert(batch.events.end(), changed.begin(), changed.end());
    batch.events.insert(batch.events.end(), appeared.begin(), appeared.end());
    prompt_.clear();
    batch.notes = std::move(notes_);
    names_.clear();
    notes_.clear();
    first_.reset();
    return batch;
}

}  // namespace opa::netwatch
