#include "vlan/vlan.hpp"

namespace opa::vlan {

std::optional<std::string> tag_error(std::uint64_t tag) {
    if (tag > kMaxId) {
        return "VLAN tag " + std::to_string(tag) + " is out of range (0.." +
               std::to_string(kMaxId) + ")";
    }
    return std::nullopt;
}

std::optional<std::string> trunk_range_error(std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t id : {first, last}) {
        if (id < kMinTrunk || id > kMaxId) {
            return "trunk VLAN " + std::to_string(id) + " is out of range (1.." +
                   std::to_string(kMaxId) + ")";
        }
    }
    if (first > last) {
        return "trunk range " + std::to_string(first) + "-" + std::to_string(last) +
               " ends before it starts";
    }
    return std::nullopt;
}

bool Trunks::add(std::uint64_t first, std::uint64_t last) {
    if (trunk_range_error(first, last)) return false;
    for (std::uint64_t id = first; id <= last; ++id) ids_.set(static_cast<std::size_t>(id));
    return true;
}

std::vector<Range> Trunks::ranges() const {
    std::vector<Range> result;
    for (std::uint16_t id = kMinTrunk; id <= kMaxId; ++id) {
        if (!ids_.test(id)) continue;
        if (!result.empty() && result.back().last + 1 == id) {
            result.back().last = id;
        } else {
            result.push_back({id, id});
        }
    }
    return result;
}

std::vector<std::uint16_t> Trunks::ids() const {
    std::vector<std::uint16_t> result;
    result.reserve(count());
    for (std::uint16_t id = kMinTrunk; id <= kMaxId; ++id) {
        if (ids_.test(id)) result.push_back(id);
    }
    return result;
}

std::string Trunks::to_string() const {
    std::string text;
    for (const Range& range : ranges()) {
        if (!text.empty()) text += ',';
        text += std::to_string(range.first);
        if (range.last != range.first) text += "-" + std::to_string(range.last);
    }
    return text;
}

std::optional<Trunks> trunks_of(const std::vector<std::uint16_t>& ids) {
    Trunks trunks;
    for (std::uint16_t id : ids) {
        if (!trunks.add(id)) return std::nullopt;
    }
    return trunks;
}

}  // namespace opa::vlan
