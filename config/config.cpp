#include "config/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "agent/naming.hpp"

namespace opa::config {
namespace {

// Config files are a few hundred bytes; the cap keeps `load("/dev/zero")` from eating memory.
constexpr std::size_t kMaxFileSize = 1 << 20;

// Collects errors for one source; positions are toml++'s 1-based line and column.
class Diagnostics {
  public:
    explicit Diagnostics(std::string_view file) : file_(file) {}

    void add(const toml::source_position& at, std::string message) {
        errors_.push_back(Error{file_, at.line, at.column, std::move(message)});
    }
    void add(std::string message) { errors_.push_back(Error{file_, 0, 0, std::move(message)}); }

    std::vector<Error> take() && {
        std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
            return std::pair(a.line, a.column) < std::pair(b.line, b.column);
        });
        return std::move(errors_);
    }

  private:
    std::string file_;
    std::vector<Error> errors_;
};

// TOML basic-string escaping, also used to show values in messages so that control
// characters stay visible.
std::string escape(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (byte < 0x20 || byte == 0x7f) {
                    out += "\\u00";
                    out += kHex[byte >> 4];
                    out += kHex[byte & 0xf];
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string quote(std::string_view text) { return "\"" + escape(text) + "\""; }

std::string_view type_with_article(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

void report_wrong_type(std::string_view key, const toml::node& node, std::string_view expected,
                       Diagnostics& diag) {
    diag.add(node.source().begin, std::string(key) + ": expected " + std::string(expected) +
                                      ", got " + std::string(type_with_article(node)));
}

// --- value checks -----------------------------------------------------------------------------
// Each returns the problem with `value` (the caller prefixes the key), or nullopt.

using StringCheck = std::optional<std::string> (*)(std::string_view value);

std::optional<std::string> check_ifname(std::string_view value) {
    if (const auto error = naming::ifname_error(value)) {
        return quote(value) + " is not a valid interface name: it " +
               std::string(naming::describe(*error));
    }
    return std::nullopt;
}

std::optional<std::string> check_ifname_prefix(std::string_view value) {
    if (value.empty()) return "must not be empty";
    // "." and ".." are fine as prefixes of longer names; every other rule applies.
    const auto error = naming::ifname_error(value);
    if (error && *error != naming::IfnameError::kDotName) {
        return quote(value) + " cannot start an interface name: it " +
               std::string(naming::describe(*error));
    }
    return std::nullopt;
}

std::optional<std::string> check_template(std::string_view value) {
    const auto error = naming::check_template(value);
    if (!error) return std::nullopt;
    if (error->kind == naming::TemplateError::Kind::kEmpty) return "must not be empty";
    return quote(value) + ": " + error->message();
}

std::optional<std::string> check_block_tag(std::string_view value) {
    if (value.empty()) return "must not be empty";
    if (value.find_first_of("\r\n") != std::string_view::npos) {
        return quote(value) + " must not contain a line break";
    }
    return std::nullopt;
}

std::optional<std::string> check_absolute_path(std::string_view value) {
    if (!value.starts_with('/')) return quote(value) + " is not an absolute path";
    return std::nullopt;
}

std::optional<std::string> check_non_empty(std::string_view value) {
    if (value.empty()) return "must not be empty when given";
    return std::nullopt;
}

std::optional<std::string> check_datapath_type(std::string_view value) {
    if (value == "system" || value == "netdev") return std::nullopt;
    return "must be \"system\" (the kernel datapath) or \"netdev\" (the userspace datapath)";
}

// Reads a string node and runs `check`; reports and returns nullopt on any problem.
std::optional<std::string> read_string(std::string_view key, const toml::node& node,
                                       StringCheck check, Diagnostics& diag) {
    const auto* value = node.as_string();
    if (value == nullptr) {
        report_wrong_type(key, node, "a string", diag);
        return std::nullopt;
    }
    const std::string& text = value->get();
    // Every string ends up in a C API (paths, interface names, argv) where NUL truncates.
    if (text.find('\0') != std::string::npos) {
        diag.add(node.source().begin, std::string(key) + ": must not contain a NUL character");
        return std::nullopt;
    }
    if (const auto problem = check(text)) {
        diag.add(node.source().begin, std::string(key) + ": " + *problem);
        return std::nullopt;
    }
    return text;
}

// --- the key table ----------------------------------------------------------------------------

struct KeySpec {
    std::string_view name;
    // Validates `node` and stores it in the config, or reports to `diag`.
    std::function<void(const toml::node& node, Config& config, Diagnostics& diag)> read;
    // Appends this key's TOML line(s) for Config::to_toml().
    std::function<void(const Config& config, std::string& out)> write;
};

void write_line(std::string& out, std::string_view key, std::string_view value) {
    out += key;
    out += " = ";
    out += value;
    out += '\n';
}

KeySpec string_key(std::string_view name, std::string Config::*field, StringCheck check) {
    return {name,
            [=](const toml::node& node, Config& config, Diagnostics& diag) {
                if (auto value = read_string(name, node, check, diag)) {
                    config.*field = std::move(*value);
                }
            },
            [=](const Config& config, std::string& out) {
                write_line(out, name, quote(config.*field));
            }};
}

KeySpec path_key(std::string_view name, std::filesystem::path Config::*field) {
    return {name,
            [=](const toml::node& node, Config& config, Diagnostics& diag) {
                if (auto value = read_string(name, node, check_absolute_path, diag)) {
                    config.*field = std::move(*value);
                }
            },
            [=](const Config& config, std::string& out) {
                write_line(out, name, quote((config.*field).string()));
            }};
}

KeySpec optional_string_key(std::string_view name, std::optional<std::string> Config::*field,
                            StringCheck check) {
    return {name,
            [=](const toml::node& node, Config& config, Diagnostics& diag) {
                if (auto value = read_string(name, node, check, diag)) {
                    config.*field = std::move(*value);
                }
            },
            [=](const Config& config, std::string& out) {
                if (config.*field) {
                    write_line(out, name, quote(*(config.*field)));
                } else {
                    out += "# " + std::string(name) + " is not set\n";
                }
            }};
}

KeySpec bool_key(std::string_view name, bool Config::*field) {
    return {name,
            [=](const toml::node& node, Config& config, Diagnostics& diag) {
                if (const auto* value = node.as_boolean()) {
                    config.*field = value->get();
                } else {
                    report_wrong_type(name, node, "a boolean", diag);
                }
            },
            [=](const Config& config, std::string& out) {
                write_line(out, name, config.*field ? "true" : "false");
            }};
}

KeySpec millis_key(std::string_view name, std::chrono::milliseconds Config::*field,
                   std::int64_t min, std::int64_t max) {
    return {name,
            [=](const toml::node& node, Config& config, Diagnostics& diag) {
                const auto* value = node.as_integer();
                if (value == nullptr) {
                    report_wrong_type(name, node, "an integer", diag);
                    return;
                }
                const std::int64_t ms = value->get();
                if (ms < min || ms > max) {
                    diag.add(node.source().begin, std::string(name) + ": " + std::to_string(ms) +
                                                      " is out of range " + std::to_string(min) +
                                                      ".." + std::to_string(max));
                    return;
                }
                config.*field = std::chrono::milliseconds(ms);
            },
            [=](const Config& config, std::string& out) {
                write_line(out, name, std::to_string((config.*field).count()));
            }};
}

KeySpec string_list_key(std::string_view name, std::vector<std::string> Config::*field,
                        StringCheck element_check) {
    return {
        name,
        [=](const toml::node& node, Config& config, Diagnostics& diag) {
            const auto* array = node.as_array();
            if (array == nullptr) {
                report_wrong_type(name, node, "an array of strings", diag);
                return;
            }
            if (array->empty()) {
                diag.add(node.source().begin, std::string(name) + ": must list at least one entry");
                return;
            }
            std::vector<std::string> values;
            bool all_valid = true;
            for (std::size_t i = 0; i < array->size(); ++i) {
                const std::string element_key = std::string(name) + "[" + std::to_string(i) + "]";
                if (auto value = read_string(element_key, (*array)[i], element_check, diag)) {
                    values.push_back(std::move(*value));
                } else {
                    all_valid = false;
                }
            }
            if (all_valid) config.*field = std::move(values);
        },
        [=](const Config& config, std::string& out) {
            std::string list = "[";
            for (const std::string& value : config.*field) {
                if (list.size() > 1) list += ", ";
                list += quote(value);
            }
            list += "]";
            write_line(out, name, list);
        }};
}

// The one place that knows the keys, in the order they are documented and dumped.
const std::vector<KeySpec>& key_table() {
    static const std::vector<KeySpec> table = {
        string_key("bridge_name", &Config::bridge_name, check_ifname),
        path_key("interfaces_path", &Config::interfaces_path),
        string_list_key("include_prefixes", &Config::include_prefixes, check_ifname_prefix),
        millis_key("debounce_ms", &Config::debounce_ms, 0, 60'000),
        string_key("managed_block_tag", &Config::managed_block_tag, check_block_tag),
        string_key("naming_template", &Config::naming_template, check_template),
        bool_key("enable_rename", &Config::enable_rename),
        optional_string_key("container_name_cmd", &Config::container_name_cmd, check_non_empty),
        path_key("ledger_path", &Config::ledger_path),
        path_key("ledger_spill_path", &Config::ledger_spill_path),
        path_key("mountpoint", &Config::mountpoint),
        optional_string_key("uplink", &Config::uplink, check_ifname),
        path_key("setup_log_path", &Config::setup_log_path),
        string_key("datapath_type", &Config::datapath_type, check_datapath_type),
        path_key("pve_root", &Config::pve_root),
    };
    return table;
}

const KeySpec* find_key(std::string_view name) {
    for (const KeySpec& spec : key_table()) {
        if (spec.name == name) return &spec;
    }
    return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

// The closest known key when it is plausibly a typo: within a third of the known key's length
// (at least 2 edits), compared case-insensitively.
std::optional<std::string_view> nearest_key(std::string_view unknown) {
    constexpr std::size_t kMaxComparedLength = 64;  // a long key is no typo of ours
    if (unknown.size() > kMaxComparedLength) return std::nullopt;
    std::string lowered(unknown);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    std::optional<std::string_view> best;
    std::size_t best_distance = 0;
    for (const KeySpec& spec : key_table()) {
        const std::size_t distance = edit_distance(lowered, spec.name);
        const std::size_t allowed = std::max<std::size_t>(2, spec.name.size() / 3);
        if (distance <= allowed && (!best || distance < best_distance)) {
            best = spec.name;
            best_distance = distance;
        }
    }
    return best;
}

std::string unknown_key_message(std::string_view key, const toml::node& node) {
    std::string message = "unknown key '" + escape(key) + "'";
    if (node.is_table()) message += " (tables are not supported; all keys are top-level)";
    if (const auto suggestion = nearest_key(key)) {
        message += "; did you mean '" + std::string(*suggestion) + "'?";
    }
    return message;
}

// Owns a file descriptor for the duration of load().
class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

std::string errno_text(int error) { return std::generic_category().message(error); }

}  // namespace

std::string Error::to_string() const {
    if (line == 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string Config::to_toml() const {
    std::string out;
    for (const KeySpec& spec : key_table()) spec.write(*this, out);
    return out;
}

std::vector<std::string_view> known_keys() {
    std::vector<std::string_view> names;
    for (const KeySpec& spec : key_table()) names.push_back(spec.name);
    return names;
}

LoadResult parse(std::string_view text, std::string_view source_name) {
    Diagnostics diag(source_name);
    toml::table root;
    try {
        root = toml::parse(text, std::string(source_name));
    } catch (const toml::parse_error& error) {
        // toml++ stops at the first syntax error; nothing after it is meaningful.
        diag.add(error.source().begin, std::string(error.description()));
        return LoadResult{.config = std::nullopt, .errors = std::move(diag).take()};
    }

    Config config;
    for (auto&& [key, node] : root) {
        if (const KeySpec* spec = find_key(key.str())) {
            spec->read(node, config, diag);
        } else {
            diag.add(key.source().begin, unknown_key_message(key.str(), node));
        }
    }
    std::vector<Error> errors = std::move(diag).take();
    if (!errors.empty()) return LoadResult{.config = std::nullopt, .errors = std::move(errors)};
    return LoadResult{.config = std::move(config), .errors = {}};
}

LoadResult load(const std::filesystem::path& path) {
    const std::string file = path.string();
    Diagnostics diag(file);
    const FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        const int error = errno;
        if (error == ENOENT) {
            return LoadResult{.config = Config{}, .errors = {}, .used_defaults = true};
        }
        diag.add("cannot open: " + errno_text(error));
        return LoadResult{.config = std::nullopt, .errors = std::move(diag).take()};
    }

    std::string text;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            diag.add("cannot read: " + errno_text(errno));
            return LoadResult{.config = std::nullopt, .errors = std::move(diag).take()};
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileSize) {
            diag.add("file is larger than " + std::to_string(kMaxFileSize) + " bytes");
            return LoadResult{.config = std::nullopt, .errors = std::move(diag).take()};
        }
    }
    return parse(text, file);
}

}  // namespace opa::config
