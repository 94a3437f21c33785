#include "ledger/canonical_line.hpp"

#include <cstring>

namespace opa::ledger::canonical {

void build_line(Sha256& sha, std::string_view action_json, std::string_view details_json,
                std::string_view prev_hash, std::uint64_t seq, std::string_view ts,
                std::string& line_out, std::string& hash_out) {
    std::string before_hash;
    before_hash.reserve(24 + action_json.size() + details_json.size());
    before_hash.append("{\"action\":").append(action_json);
    before_hash.append(",\"details\":").append(details_json).append(",");

    std::string after_hash;
    after_hash.reserve(64 + prev_hash.size() + ts.size());
    after_hash.append("\"prev_hash\":\"").append(prev_hash).append("\",\"seq\":");
    after_hash.append(std::to_string(seq)).append(",\"ts\":\"").append(ts).append("\"}");

    sha.update(prev_hash);
    sha.update(before_hash);
    sha.update(after_hash);
    hash_out = sha.finish_hex();

    line_out.clear();
    line_out.reserve(before_hash.size() + after_hash.size() + 76);
    line_out.append(before_hash).append("\"hash\":\"").append(hash_out).append("\",");
    line_out.append(after_hash);
}

namespace {

// Accepts only text that nlohmann::json would parse and dump() back to the same bytes.
// Anything unusual (floats, escaped keys, huge integers, deep nesting) is "not sure".
class CanonicalScanner {
  public:
    CanonicalScanner(const char* begin, const char* end) : cursor_(begin), end_(end) {}

    [[nodiscard]] const char* position() const noexcept { return cursor_; }

    bool literal(std::string_view text) noexcept {
        if (static_cast<std::size_t>(end_ - cursor_) < text.size()) return false;
        if (std::memcmp(cursor_, text.data(), text.size()) != 0) return false;
        cursor_ += text.size();
        return true;
    }

    bool hex_hash(std::string_view& out) noexcept {
        if (end_ - cursor_ < 64) return false;
        for (int i = 0; i < 64; ++i) {
            char c = cursor_[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        }
        out = std::string_view(cursor_, 64);
        cursor_ += 64;
        return true;
    }

    bool unsigned_integer(std::uint64_t& out) noexcept {
        const char* start = cursor_;
        std::uint64_t value = 0;
        while (cursor_ < end_ && *cursor_ >= '0' && *cursor_ <= '9') {
            value = value * 10 + static_cast<std::uint64_t>(*cursor_ - '0');
            ++cursor_;
        }
        std::size_t digits = static_cast<std::size_t>(cursor_ - start);
        if (digits == 0 || digits > 18) return false;  // 18 digits never overflow
        if (digits > 1 && *start == '0') return false;
        out = value;
        return true;
    }

    bool string(bool& has_escape) noexcept {
        has_escape = false;
        if (cursor_ == end_ || *cursor_ != '"') return false;
        ++cursor_;
        while (cursor_ < end_) {
            auto byte = static_cast<unsigned char>(*cursor_);
            if (byte == '"') {
                ++cursor_;
                return true;
            }
            if (byte == '\\') {
                has_escape = true;
                if (!escape()) return false;
            } else if (byte < 0x20) {
                return false;  // control characters must be escaped
            } else if (byte < 0x80) {
                ++cursor_;
            } else if (!utf8_sequence()) {
                return false;
            }
        }
        return false;
    }

    bool value(int depth) noexcept {
        if (cursor_ == end_ || depth > kMaxDepth) return false;
        switch (*cursor_) {
            case '"': {
                bool has_escape = false;
                return string(has_escape);
            }
            case '{':
                return object(depth + 1);
            case '[':
                return array(depth + 1);
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }

    bool object(int depth) noexcept {
        if (depth > kMaxDepth || !literal("{")) return false;
        if (literal("}")) return true;
        std::string_view previous_key;
        for (bool first = true;; first = false) {
            const char* key_begin = cursor_;
            bool has_escape = false;
            if (!string(has_escape) || has_escape) return false;
            std::string_view key(key_begin + 1, static_cast<std::size_t>(cursor_ - key_begin - 2));
            // std::string's operator< compares bytes as unsigned char, as does this.
            if (!first && !(previous_key < key)) return false;
            previous_key = key;
            if (!literal(":") || !value(depth)) return false;
            if (literal("}")) return true;
            if (!literal(",")) return false;
        }
    }

  private:
    static constexpr int kMaxDepth = 32;

    bool array(int depth) noexcept {
        if (!literal("[")) return false;
        if (literal("]")) return true;
        for (;;) {
            if (!value(depth)) return false;
            if (literal("]")) return true;
            if (!literal(",")) return false;
        }
    }

    bool number() noexcept {
        const char* start = cursor_;
        bool negative = literal("-");
        std::uint64_t magnitude = 0;
        if (!unsigned_integer(magnitude)) return false;
        if (negative && magnitude == 0) return false;  // "-0" dumps as "0"
        if (cursor_ < end_ && (*cursor_ == '.' || *cursor_ == 'e' || *cursor_ == 'E'))
            return false;  // floats: let nlohmann decide
        return cursor_ > start;
    }

    // The escapes nlohmann's dump() emits with ensure_ascii=false, and no others.
    bool escape() noexcept {
        if (end_ - cursor_ < 2) return false;
        switch (cursor_[1]) {
            case '"':
            case '\\':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                cursor_ += 2;
                return true;
            case 'u':
                break;
            default:
                return false;
        }
        if (end_ - cursor_ < 6 || cursor_[2] != '0' || cursor_[3] != '0') return false;
        int value = 0;
        for (int i = 4; i < 6; ++i) {
            char c = cursor_[i];
            int digit = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                 : -1;
            if (digit < 0) return false;
            value = value * 16 + digit;
        }
        if (value >= 0x20) return false;
        if (value == 0x08 || value == 0x09 || value == 0x0a || value == 0x0c || value == 0x0d)
            return false;  // these have short escapes
        cursor_ += 6;
        return true;
    }

    // One well-formed UTF-8 sequence (RFC 3629: no overlongs, surrogates or > U+10FFFF).
    bool utf8_sequence() noexcept {
        auto byte_at = [this](std::ptrdiff_t i) { return static_cast<unsigned char>(cursor_[i]); };
        unsigned char lead = byte_at(0);
        int continuation_count = 0;
        unsigned char second_min = 0x80, second_max = 0xbf;
        if (lead >= 0xc2 && lead <= 0xdf) {
            continuation_count = 1;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            continuation_count = 2;
            if (lead == 0xe0) second_min = 0xa0;
            if (lead == 0xed) second_max = 0x9f;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            continuation_count = 3;
            if (lead == 0xf0) second_min = 0x90;
            if (lead == 0xf4) second_max = 0x8f;
        } else {
            return false;
        }
        if (end_ - cursor_ <= continuation_count) return false;
        if (byte_at(1) < second_min || byte_at(1) > second_max) return false;
        for (int i = 2; i <= continuation_count; ++i) {
            if ((byte_at(i) & 0xc0) != 0x80) return false;
        }
        cursor_ += continuation_count + 1;
        return true;
    }

    const char* cursor_;
    const char* end_;
};

}  // namespace

bool split_canonical_line(std::string_view line, LineParts& parts) noexcept {
    CanonicalScanner scanner(line.data(), line.data() + line.size());
    bool has_escape = false;
    if (!scanner.literal("{\"action\":") || !scanner.string(has_escape)) return false;
    if (!scanner.literal(",\"details\":") || !scanner.object(1)) return false;
    if (!scanner.literal(",")) return false;
    auto before_hash_size = static_cast<std::size_t>(scanner.position() - line.data());
    if (!scanner.literal("\"hash\":\"") || !scanner.hex_hash(parts.hash)) return false;
    if (!scanner.literal("\",")) return false;
    auto after_hash_offset = static_cast<std::size_t>(scanner.position() - line.data());
    if (!scanner.literal("\"prev_hash\":\"") || !scanner.hex_hash(parts.prev_hash)) return false;
    if (!scanner.literal("\",\"seq\":") || !scanner.unsigned_integer(parts.seq)) return false;
    if (!scanner.literal(",\"ts\":") || !scanner.string(has_escape)) return false;
    if (!scanner.literal("}") || scanner.position() != line.data() + line.size()) return false;
    parts.before_hash = line.substr(0, before_hash_size);
    parts.after_hash = line.substr(after_hash_offset);
    return true;
}

bool nesting_deeper_than(std::string_view json_text, int limit) noexcept {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < json_text.size(); ++i) {
        char c = json_text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > limit) return true;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return false;
}

void hash_line(Sha256& sha, const LineParts& parts, char (&hex_out)[64]) {
    sha.update(parts.prev_hash);
    sha.update(parts.before_hash);
    sha.update(parts.after_hash);
    sha.finish_hex(hex_out);
}

}  // namespace opa::ledger::canonical
