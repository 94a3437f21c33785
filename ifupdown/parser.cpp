#include "ifupdown/parser.hpp"

#include <array>

namespace opa::ifupdown {
namespace {

bool is_separator(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string_view> split_words(std::string_view content) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < content.size()) {
        while (i < content.size() && is_separator(content[i])) ++i;
        const std::size_t start = i;
        while (i < content.size() && !is_separator(content[i])) ++i;
        if (i > start) words.push_back(content.substr(start, i - start));
    }
    return words;
}

std::vector<Line> split_lines(std::string_view text) {
    std::vector<Line> lines;
    std::size_t offset = 0;
    while (offset < text.size()) {
        const std::size_t newline = text.find('\n', offset);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
        Line line;
        line.offset = offset;
        line.content = text.substr(offset, end - offset);
        line.size = (newline == std::string_view::npos ? end : end + 1) - offset;
        line.words = split_words(line.content);
        lines.push_back(std::move(line));
        offset += lines.back().size;
    }
    return lines;
}

ItemKind keyword_kind(std::string_view word) {
    if (word == "auto" || word == "allow-auto") return ItemKind::kAuto;
    if (word.starts_with("allow-")) return ItemKind::kAllow;
    if (word == "iface") return ItemKind::kIface;
    if (word == "mapping") return ItemKind::kMapping;
    if (word == "vlan" || word == "template") return ItemKind::kOtherStanza;
    if (word == "source" || word == "source-directory" || word == "source-dir") {
        return ItemKind::kSource;
    }
    return ItemKind::kOtherKeyword;
}

bool takes_options(ItemKind kind) {
    return kind == ItemKind::kIface || kind == ItemKind::kMapping || kind == ItemKind::kOtherStanza;
}

}  // namespace

bool is_keyword(std::string_view word) {
    static constexpr std::array kSingleWords{
        std::string_view{"auto"},
        std::string_view{"iface"},
        std::string_view{"mapping"},
        std::string_view{"source"},
        std::string_view{"source-directory"},
        std::string_view{"source-dir"},
        std::string_view{"vlan"},
        std::string_view{"template"},
        std::string_view{"rename"},
        std::string_view{"no-auto-down"},
        std::string_view{"no-scripts"},
    };
    if (word.starts_with("allow-")) return true;
    for (std::string_view keyword : kSingleWords) {
        if (word == keyword) return true;
    }
    return false;
}

std::string_view allow_class(std::string_view word) {
    constexpr std::string_view kPrefix = "allow-";
    if (!word.starts_with(kPrefix)) return {};
    return word.substr(kPrefix.size());
}

InterfacesText parse_interfaces(std::string_view text) {
    InterfacesText parsed;
    parsed.text = text;
    parsed.lines = split_lines(text);
    const std::vector<Line>& lines = parsed.lines;

    std::size_t index = 0;
    while (index < lines.size()) {
        const Line& line = lines[index];
        Item item;
        item.first_line = index;
        item.last_line = index;
        if (line.is_blank()) {
            item.kind = ItemKind::kBlank;
        } else if (line.is_comment()) {
            item.kind = ItemKind::kComment;
        } else if (!is_keyword(line.words.front())) {
            item.kind = ItemKind::kStrayOption;
        } else {
            item.kind = keyword_kind(line.words.front());
            if (takes_options(item.kind)) {
                // Options run until the next keyword; blank and comment lines count only when
                // another option follows them.
                std::vector<std::size_t> pending_comments;
                for (std::size_t next = index + 1; next < lines.size(); ++next) {
                    const Line& candidate = lines[next];
                    if (candidate.is_blank()) continue;
                    if (candidate.is_comment()) {
                        pending_comments.push_back(next);
                        continue;
                    }
                    if (is_keyword(candidate.words.front())) break;
                    item.option_lines.push_back(next);
                    item.interior_comment_lines.insert(item.interior_comment_lines.end(),
                                                       pending_comments.begin(),
                                                       pending_comments.end());
                    pending_comments.clear();
                    item.last_line = next;
                }
            }
        }
        parsed.items.push_back(std::move(item));
        index = parsed.items.back().last_line + 1;
    }
    return parsed;
}

}  // namespace opa::ifupdown
