// Reads Proxmox guest configs off the caller's thread. /etc/pve is pmxcfs, a FUSE file system
// that can stall (a cluster losing quorum): a read stuck there must delay only the decisions that
// need that guest's config, never the event loop or another guest's.
//
// Reads run on at most `max_threads` threads started on demand; a thread stuck in a read stays
// stuck (a FUSE read cannot be cancelled) and counts against that bound, so a stalled pmxcfs
// costs a fixed number of threads, however many links arrive. Requests for a guest whose read is
// queued or in flight join it. The reader never waits for a stuck read: its destructor leaves
// such a thread to end on its own, and results that come after it are dropped.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "agent/naming.hpp"
#include "agent/proxmox_config.hpp"

namespace opa::proxmox {

struct GuestKey {
    naming::GuestKind kind = naming::GuestKind::kContainer;
    std::uint32_t vmid = 0;
    auto operator<=>(const GuestKey&) const = default;
};

class GuestConfigReader {
  public:
    // What a read gives: the parsed config, or nullopt when the guest has none (read_guest_config).
    using ReadFn = std::function<std::optional<GuestConfig>(const GuestKey&)>;
    using Done = std::function<void(const std::optional<GuestConfig>&)>;

    GuestConfigReader(ReadFn read, unsigned max_threads);
    ~GuestConfigReader();
    GuestConfigReader(const GuestConfigReader&) = delete;
    GuestConfigReader& operator=(const GuestConfigReader&) = delete;

    // `done` runs once, on a reader thread, when the guest's read ends, however late; never after
    // the reader is destroyed. It must not throw or call back into the reader.
    void request(const GuestKey& key, Done done);
    // Waits at most `deadline` for the guest's config: the outer nullopt when the read did not
    // end in time (it goes on; a later call joins it).
    std::optional<std::optional<GuestConfig>> read_within(const GuestKey& key,
                                                          std::chrono::milliseconds deadline);
    // Reads queued or in flight, for tests and the log.
    std::size_t reads_pending() const;

  private:
    struct State;
    static void run(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

// Whether `path` is a directory, asked on a thread of its own and waited for at most `deadline`:
// nullopt when the file system did not answer in time (the thread is left to its read).
std::optional<bool> is_directory_within(const std::filesystem::path& path,
                                        std::chrono::milliseconds deadline);

}  // namespace opa::proxmox
