// A parser of /etc/network/interfaces good enough to find stanzas, and nothing more: it never
// rewrites a line, it only tells which bytes form which line and which lines form which stanza.
// Pure: no I/O, no logging, no exceptions.
//
// Conventions, chosen to match what Debian's ifupdown2 (networkinterfaces.py) sees:
// - A line ends at '\n'; the last line may lack it. Line bytes are kept exactly, including any
//   '\r' of a CRLF file.
// - Words are separated by spaces, tabs and '\r' (ifupdown2 strips " \t\r\n" from each line), so
//   "iface x inet manual\r" reads as the same four words as without the '\r'.
// - A line whose first non-blank character is '#' is a comment; a line of only blanks is blank.
// - A line whose first word is a keyword (auto, allow-*, iface, mapping, source,
//   source-directory, ...) starts a new item. Any other line is an option of the stanza
//   (iface/mapping/vlan/template) above it; indentation does not matter, as in ifupdown2.
// - Blank and comment lines between two option lines belong to the stanza; blank and comment
//   lines after a stanza's last option are items of their own (that is where a Proxmox GUI save
//   puts a stanza's comments, and where our END marker ends up after one).
// Backslash line continuation (ifupdown2 joins lines at '\') is not interpreted.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace opa::ifupdown {

struct Line {
    std::size_t offset = 0;               // byte offset of the line in the text
    std::size_t size = 0;                 // bytes of the line including its '\n', if any
    std::string_view content;             // the line without its '\n' (a '\r' stays)
    std::vector<std::string_view> words;  // split on spaces, tabs and '\r'
    bool is_blank() const { return words.empty(); }
    bool is_comment() const { return !words.empty() && words.front().front() == '#'; }
};

enum class ItemKind {
    kBlank,         // one blank line
    kComment,       // one comment line outside a stanza
    kAuto,          // auto a b c  (also allow-auto, which ifupdown treats the same)
    kAllow,         // allow-<class> a b c
    kIface,         // iface NAME FAMILY METHOD, with option lines
    kMapping,       // mapping PATTERN, with option lines (script, map)
    kOtherStanza,   // vlan / template: ifupdown2 keywords that take option lines
    kSource,        // source / source-directory / source-dir
    kOtherKeyword,  // rename, no-auto-down, no-scripts: single-line keywords
    kStrayOption,   // a non-keyword line with no stanza above it (ifupdown2 rejects it)
};

struct Item {
    ItemKind kind = ItemKind::kBlank;
    std::size_t first_line = 0;  // index into InterfacesText::lines
    std::size_t last_line = 0;   // inclusive
    // Lines of a stanza (kIface, kMapping, kOtherStanza) that are options, in file order.
    std::vector<std::size_t> option_lines;
    // Comment lines inside a stanza (between two of its options).
    std::vector<std::size_t> interior_comment_lines;
};

// A parsed file. Holds string_views into the parsed text: the text must outlive it.
struct InterfacesText {
    std::string_view text;
    std::vector<Line> lines;
    std::vector<Item> items;

    const Line& head(const Item& item) const { return lines[item.first_line]; }
    // Bytes [begin, end) of an item in `text`.
    std::size_t begin_offset(const Item& item) const { return lines[item.first_line].offset; }
    std::size_t end_offset(const Item& item) const {
        const Line& last = lines[item.last_line];
        return last.offset + last.size;
    }
};

InterfacesText parse_interfaces(std::string_view text);

// True for the words ifupdown or ifupdown2 treat as the start of a new item.
bool is_keyword(std::string_view word);

// The class of an allow- keyword ("allow-ovsbr0" -> "ovsbr0"); empty for other words.
std::string_view allow_class(std::string_view word);

}  // namespace opa::ifupdown
