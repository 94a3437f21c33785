#include "ledger/ledger.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <utility>

#include "ledger/canonical_line.hpp"
#include "ledger/posix_file.hpp"

namespace opa::ledger {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path head_path_for(const fs::path& ledger_path) {
    fs::path head = ledger_path;
    head += ".head";
    return head;
}

struct Ledger::PendingAppend {
    std::string action_json;   // canonical JSON text, prepared by the caller's thread
    std::string details_json;  // idem
    Entry written;             // action/details set by the caller, the rest by the leader
    std::exception_ptr error;
    bool done = false;  // guarded by queue_mutex_
};

// What the end of the file says about the chain, and what (if anything) is torn.
struct Ledger::TailState {
    off_t good_end = 0;  // offset just past the last good line
    std::uint64_t last_seq = 0;
    std::string last_hash{kGenesisPrevHash};
    bool torn = false;
    std::string torn_reason;
};

namespace {

// True if `line` is a v2 entry good enough to continue the chain from. A v1 line (no "seq",
// integer "ts") is an error: the old format is verifiable but we do not extend it.
bool read_chain_position(std::string_view line, const fs::path& path, std::uint64_t& seq,
                         std::string& hash, std::string& why_not) {
    if (canonical::nesting_deeper_than(line, canonical::kMaxNesting)) {
        why_not = "nested too deeply";
        return false;
    }
    json object = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded() || !object.is_object()) {
        why_not = "not a JSON object";
        return false;
    }
    auto seq_it = object.find("seq");
    if (seq_it == object.end()) {
        auto ts_it = object.find("ts");
        if (ts_it != object.end() && ts_it->is_number_integer())
            throw LedgerError("ledger: " + path.string() +
                              " is in the original agent's v1 format; it can be verified but "
                              "not appended to");
        why_not = "missing field \"seq\"";
        return false;
    }
    auto hash_it = object.find("hash");
    if (!seq_it->is_number_unsigned() || hash_it == object.end() || !hash_it->is_string() ||
        !is_lowercase_hex_hash(hash_it->get_ref<const std::string&>())) {
        why_not = "no usable \"seq\"/\"hash\"";
        return false;
    }
    seq = seq_it->get<std::uint64_t>();
    hash = hash_it->get<std::string>();
    return true;
}

std::int64_t unix_milliseconds_now() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void truncate_file(int fd, off_t size, const fs::path& path) {
    while (::ftruncate(fd, size) != 0) {
        if (errno != EINTR) posix::throw_errno("cannot truncate", path, errno);
    }
}

}  // namespace

Ledger::Ledger(fs::path path) : path_(std::move(path)), head_path_(head_path_for(path_)) {
    if (path_.empty()) throw LedgerError("ledger: empty path");
    posix::create_directories(path_.parent_path());
    fd_ = posix::open_if_exists(path_, O_RDWR | O_APPEND);
    if (!fd_) {
        int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd >= 0) {
            fd_.reset(fd);
            // The umask may have narrowed the mode; the ledger is meant to be group-readable.
            if (::fchmod(fd_.get(), 0640) != 0) posix::throw_errno("cannot chmod", path_, errno);
            posix::sync_directory_of(path_);
        } else if (errno == EEXIST) {  // another process created it just now
            fd_ = posix::open_file(path_, O_RDWR | O_APPEND);
        } else {
            posix::throw_errno("cannot create", path_, errno);
        }
    }
    recovery_ = commit({});
    published_head_ = ChainHead{last_seq_, last_hash_};
    published_head_error_ = head_error_;
}

Ledger::~Ledger() = default;

ChainHead Ledger::head() const {
    std::lock_guard lock(queue_mutex_);
    return published_head_;
}

std::string Ledger::head_error() const {
    std::lock_guard lock(queue_mutex_);
    return published_head_error_;
}

Entry Ledger::append(std::string_view action, json details) {
    std::vector<NewEntry> one;
    one.push_back(NewEntry{std::string(action), std::move(details)});
    return std::move(append_all(std::move(one)).front());
}

std::vector<Entry> Ledger::append_all(std::vector<NewEntry> entries) {
    std::vector<PendingAppend> requests(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
        NewEntry& entry = entries[i];
        if (entry.details.is_null()) entry.details = json::object();
        if (!entry.details.is_object())
            throw InvalidEntryError("ledger: " + path_.string() + ": details of \"" + entry.action +
                                    "\" must be a JSON object");
        PendingAppend& request = requests[i];
        try {
            request.action_json = canonical_json(json(entry.action));
            request.details_json = canonical_json(entry.details);
        } catch (const LedgerError& error) {
            throw InvalidEntryError(std::string(error.what()) + " (appending to " + path_.string() +
                                    ")");
        }
        request.written.action = std::move(entry.action);
        request.written.details = std::move(entry.details);
    }
    std::vector<Entry> written;
    if (requests.empty()) return written;

    // Group commit: whoever finds no leader becomes one, takes everything queued (its own
    // requests included), writes and fsyncs it once, then wakes the followers. This caller's
    // requests are queued together under one lock, so one leader takes them all, in order.
    std::unique_lock lock(queue_mutex_);
    for (PendingAppend& request : requests) queue_.push_back(&request);
    PendingAppend& last = requests.back();
    while (!last.done) {
        if (leader_active_) {
            queue_changed_.wait(lock);
            continue;
        }
        leader_active_ = true;
        std::vector<PendingAppend*> batch;
        batch.swap(queue_);
        lock.unlock();
        std::exception_ptr error;
        try {
            commit(batch);
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        for (PendingAppend* pending : batch) {
            pending->error = error;
            pending->done = true;
        }
        published_head_ = ChainHead{last_seq_, last_hash_};
        published_head_error_ = head_error_;
        leader_active_ = false;
        queue_changed_.notify_all();
    }
    if (last.error) std::rethrow_exception(last.error);
    written.reserve(requests.size());
    for (PendingAppend& request : requests) written.push_back(std::move(request.written));
    return written;
}

std::optional<Recovery> Ledger::commit(const std::vector<PendingAppend*>& batch) {
    posix::ExclusiveFileLock file_lock(fd_.get(), path_);
    off_t size = posix::file_size(fd_.get(), path_);
    std::optional<Recovery> recovery;
    if (size != known_size_) {
        // Another process appended (or we never looked): learn the chain head from the file.
        TailState tail = scan_tail(size);
        if (tail.torn) {
            recovery = move_torn_tail_aside(tail, size);
            size = tail.good_end;
        }
        last_seq_ = tail.last_seq;
        last_hash_ = std::move(tail.last_hash);
        known_size_ = size;
    }

    std::uint64_t seq = last_seq_;
    std::string prev_hash = last_hash_;
    std::string block;
    std::string line;
    std::string hash;
    auto add_line = [&](std::string_view action_json, std::string_view details_json, Entry& entry) {
        entry.seq = ++seq;
        entry.ts = format_utc_timestamp(std::chrono::system_clock::now());
        entry.prev_hash = prev_hash;
        canonical::build_line(sha_, action_json, details_json, prev_hash, entry.seq, entry.ts, line,
                              hash);
        entry.hash = hash;
        prev_hash = hash;
        block.append(line).push_back('\n');
    };

    if (recovery) {
        Entry recovered_entry;
        recovered_entry.action = "ledger_recovered";
        json details{{"moved_bytes", recovery->moved_bytes},
                     {"moved_to", recovery->moved_to.string()},
                     {"reason", recovery->reason}};
        add_line(canonical_json(json(recovered_entry.action)), canonical_json(details),
                 recovered_entry);
        recovery->recorded_at_seq = recovered_entry.seq;
    }
    for (PendingAppend* pending : batch)
        add_line(pending->action_json, pending->details_json, pending->written);
    if (block.empty()) return recovery;

    try {
        posix::write_all(fd_.get(), block, path_);
    } catch (...) {
        // Leave no half-written line behind; if even that fails the next open repairs it.
        known_size_ = -1;
        (void)::ftruncate(fd_.get(), size);
        throw;
    }
    known_size_ = size + static_cast<off_t>(block.size());
    try {
        posix::sync_file(fd_.get(), path_);
    } catch (...) {
        // Not known to be durable: take the lines back, so that the caller may write them
        // again. If even that fails, what reached the file is learnt by the next rescan.
        known_size_ = ::ftruncate(fd_.get(), size) == 0 ? size : -1;
        throw;
    }
    last_seq_ = seq;
    last_hash_ = prev_hash;

    // The entries are on disk: a head file that cannot be replaced (the disk is full) only
    // lags behind, which verify notes; it must not make the caller write them twice.
    try {
        json head{{"hash", last_hash_}, {"seq", last_seq_}};
        posix::replace_file_atomically(head_path_, canonical_json(head) + "\n");
        head_error_.clear();
    } catch (const LedgerError& error) {
        head_error_ = error.what();
    }
    return recovery;
}

Ledger::TailState Ledger::scan_tail(off_t file_size) {
    TailState tail;
    if (file_size == 0) return tail;

    // A window [window_start, file_size) of the file's end, grown until it holds what we need.
    std::string window;
    off_t window_start = file_size;
    off_t window_want = 64 * 1024;
    auto load_window = [&] {
        window_start = std::max<off_t>(0, file_size - window_want);
        window.resize(static_cast<std::size_t>(file_size - window_start));
        posix::pread_exact(fd_.get(), window.data(), window.size(), window_start, path_);
    };
    // The line that ends at `end` (exclusive, '\n' not included) and its start offset.
    auto line_ending_at = [&](off_t end) -> std::pair<off_t, std::string_view> {
        for (;;) {
            std::string_view view(window);
            auto relative_end = static_cast<std::size_t>(end - window_start);
            std::size_t newline =
                relative_end == 0 ? std::string_view::npos : view.rfind('\n', relative_end - 1);
            if (newline != std::string_view::npos)
                return {window_start + static_cast<off_t>(newline) + 1,
                        view.substr(newline + 1, relative_end - newline - 1)};
            if (window_start == 0) return {0, view.substr(0, relative_end)};
            window_want *= 2;
            load_window();
        }
    };
    load_window();

    std::string why_not;
    if (window.back() != '\n') {
        tail.torn = true;
        tail.good_end = line_ending_at(file_size).first;
        tail.torn_reason = "last line has no trailing newline";
    } else {
        auto [start, line] = line_ending_at(file_size - 1);
        if (read_chain_position(line, path_, tail.last_seq, tail.last_hash, why_not)) {
            tail.good_end = file_size;
            return tail;
        }
        tail.torn = true;
        tail.good_end = start;
        tail.torn_reason = "last line is not a valid entry: " + why_not;
    }
    if (tail.good_end == 0) return tail;
    auto [start, line] = line_ending_at(tail.good_end - 1);
    (void)start;
    if (!read_chain_position(line, path_, tail.last_seq, tail.last_hash, why_not))
        throw LedgerError("ledger: " + path_.string() +
                          ": the line before a torn last line is bad too (" + why_not +
                          "); not guessing where the chain ends");
    return tail;
}

Recovery Ledger::move_torn_tail_aside(const TailState& tail, off_t file_size) {
    Recovery recovery;
    recovery.reason = tail.torn_reason;
    recovery.moved_bytes = static_cast<std::uint64_t>(file_size - tail.good_end);
    std::string torn_bytes(recovery.moved_bytes, '\0');
    posix::pread_exact(fd_.get(), torn_bytes.data(), torn_bytes.size(), tail.good_end, path_);

    fs::path base = path_;
    base += ".torn-";
    base += std::to_string(unix_milliseconds_now());
    UniqueFd torn_fd;
    for (int attempt = 0; !torn_fd; ++attempt) {
        recovery.moved_to = base;
        if (attempt > 0) {
            // Appended piecewise: "-" + std::to_string() trips GCC 12's bogus -Wrestrict.
            recovery.moved_to += "-";
            recovery.moved_to += std::to_string(attempt);
        }
        int fd = ::open(recovery.moved_to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd >= 0) {
            torn_fd.reset(fd);
        } else if (errno != EEXIST && errno != EINTR) {
            posix::throw_errno("cannot create", recovery.moved_to, errno);
        }
    }
    // The torn bytes are durable elsewhere before they leave the ledger.
    posix::write_all(torn_fd.get(), torn_bytes, recovery.moved_to);
    posix::sync_file(torn_fd.get(), recovery.moved_to);
    posix::sync_directory_of(recovery.moved_to);
    truncate_file(fd_.get(), tail.good_end, path_);
    posix::sync_file(fd_.get(), path_);
    return recovery;
}

}  // namespace opa::ledger
