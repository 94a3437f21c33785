// VerifyLedger's work, off the bus thread: one thread of its own verifies the ledger, calls that
// arrive meanwhile wait for the next verification and share it, and a result is kept while the
// file is unchanged (same device, inode, size and mtime), so anyone calling VerifyLedger in a
// loop costs one verification per change of the file and never delays another method.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ledger/verify.hpp"

namespace opa::dbus {

class LedgerChecker {
  public:
    // (ok, report as ledger::format_report gives it). Called on the bus thread (a cached
    // answer) or the checker's thread; must not throw.
    using Reply = std::function<void(bool ok, const std::string& report)>;
    using Verify = std::function<ledger::VerifyReport(const std::filesystem::path&)>;

    // `max_waiting`: calls that may wait at once; check() refuses the ones beyond.
    explicit LedgerChecker(std::filesystem::path ledger_path, Verify verify = ledger::verify,
                           std::size_t max_waiting = 1024);
    // Answers the calls still waiting with (false, "the agent is stopping.") and joins.
    ~LedgerChecker();
    LedgerChecker(const LedgerChecker&) = delete;
    LedgerChecker& operator=(const LedgerChecker&) = delete;

    // Never blocks on a verification: answers at once when the file is unchanged since the
    // last verification, else queues `reply` for the next one. False (reply not called, not
    // kept) when `max_waiting` calls wait already.
    bool check(Reply reply);

    // Verifications run so far (for tests and the docs' figures).
    std::uint64_t verifications() const;

  private:
    struct FileKey {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        struct timespec mtime {};
        bool operator==(const FileKey& other) const;
    };
    std::optional<FileKey> key_now() const;
    void run();

    const std::filesystem::path path_;
    const Verify verify_;
    const std::size_t max_waiting_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Reply> waiting_;
    bool stopping_ = false;
    std::optional<FileKey> cached_key_;
    bool cached_ok_ = false;
    std::string cached_report_;
    std::uint64_t verifications_ = 0;
    std::thread thread_;
};

}  // namespace opa::dbus
