#include "dbus/ledger_checker.hpp"

#include <sys/stat.h>

#include <exception>

namespace opa::dbus {

bool LedgerChecker::FileKey::operator==(const FileKey& other) const {
    return dev == other.dev && ino == other.ino && size == other.size &&
           mtime.tv_sec == other.mtime.tv_sec && mtime.tv_nsec == other.mtime.tv_nsec;
}

LedgerChecker::LedgerChecker(std::filesystem::path ledger_path, Verify verify,
                             std::size_t max_waiting)
    : path_(std::move(ledger_path)), verify_(std::move(verify)), max_waiting_(max_waiting) {
    thread_ = std::thread([this] { run(); });
}

LedgerChecker::~LedgerChecker() {
    std::vector<Reply> left;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        left.swap(waiting_);
        wake_.notify_all();
    }
    for (Reply& reply : left) reply(false, "the agent is stopping.");
    thread_.join();
}

std::optional<LedgerChecker::FileKey> LedgerChecker::key_now() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return std::nullopt;
    return FileKey{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

bool LedgerChecker::check(Reply reply) {
    const std::optional<FileKey> key = key_now();
    std::unique_lock lock(mutex_);
    if (key && cached_key_ && *key == *cached_key_) {
        const bool ok = cached_ok_;
        const std::string report = cached_report_;
        lock.unlock();
        reply(ok, report);
        return true;
    }
    if (stopping_ || waiting_.size() >= max_waiting_) return false;
    waiting_.push_back(std::move(reply));
    wake_.notify_one();
    return true;
}

std::uint64_t LedgerChecker::verifications() const {
    std::lock_guard lock(mutex_);
    return verifications_;
}

void LedgerChecker::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
        if (stopping_) return;
        // Everyone waiting now shares this verification; later calls wait for the next one.
        std::vector<Reply> batch;
        batch.swap(waiting_);
        lock.unlock();
        // Taken before reading: an append while verifying makes the next call verify again.
        const std::optional<FileKey> key = key_now();
        bool ok = false;
        std::string report;
        try {
            const ledger::VerifyReport result = verify_(path_);
            ok = result.ok;
            report = ledger::format_report(result);
        } catch (const std::exception& error) {
            report = std::string("verifying the ledger failed: ") + error.what() + ".";
        }
        for (Reply& reply : batch) reply(ok, report);
        lock.lock();
        ++verifications_;
        cached_key_ = key;
        cached_ok_ = ok;
        cached_report_ = std::move(report);
    }
}

}  // namespace opa::dbus
