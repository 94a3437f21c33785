#include "nm/external_ids.hpp"

#include <charconv>

namespace opa::nm {

std::optional<std::uint32_t> parse_vmid(std::string_view text) {
    // from_chars never throws (std::stoul did, on a worker thread: std::terminate).
    if (text.empty() || text.size() > 9 || text.front() == '0') return std::nullopt;
    std::uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace opa::nm
