// The ledger as the tree serves it: one descriptor of the ledger file, shared by every open
// handle of `ledger`, and where each port's lines are (`<port>/ledger`), as offsets into that
// file, not copies of its text. catch_up() reads only what was appended since it last ran.
//
// A port's lines are only ever added, so "the first N lines of port P" never changes: that is
// the immutable snapshot an open <port>/ledger handle keeps (PortLedgerView), whatever is
// appended later and however many handles are open.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/unique_fd.hpp"

namespace opa::fs {

class LedgerIndex {
  public:
    // Opens `path` (read only) and indexes it. Returns nullptr with `error` (an errno) when it
    // cannot be opened; ENOENT means there is no ledger yet.
    static std::shared_ptr<LedgerIndex> open(const std::filesystem::path& path, int& error);
    LedgerIndex(const LedgerIndex&) = delete;
    LedgerIndex& operator=(const LedgerIndex&) = delete;

    // Indexes the lines appended since the last call. False when the file is now shorter than
    // what was indexed (rewritten, not appended to): the caller needs a new index.
    bool catch_up();

    int fd() const { return fd_.get(); }
    dev_t dev() const { return dev_; }
    ino_t ino() const { return ino_; }

    // The text of a port's ledger file: its lines, each as the ledger's canonical line + '\n'.
    struct PortText {
        std::size_t lines = 0;
        std::uint64_t size = 0;
    };
    PortText port_text(const std::string& port) const;
    // Bytes [offset, offset + size) of the first `lines` lines of `port`'s text. Returns an
    // errno (EIO) when the file no longer holds what was indexed there.
    int read_port(const std::string& port, std::size_t lines, std::uint64_t offset,
                  std::size_t size, std::string& out) const;

    // Why the last catch_up stopped at a line that is not an entry ("" when it did not). While
    // set, no port's ledger can be read (a broken chain shows nothing rather than a part).
    std::string error() const;
    // Bytes read from the file so far (for tests: an append costs what was appended).
    std::uint64_t bytes_scanned() const;
    // Lines indexed, over all ports.
    std::uint64_t lines_indexed() const;

  private:
    LedgerIndex(std::filesystem::path path, UniqueFd fd, dev_t dev, ino_t ino);

    // Where one line of a port sits in the file and in the port's text.
    struct LineRef {
        std::uint64_t file_offset;
        std::uint64_t text_offset;
        // 0 when the line is canonical already (every v2 line) and served as it is; else its
        // line number, for the entry (a v1 entry's seq) rendered from it.
        std::uint64_t render_as_line;
        std::uint32_t raw_length;   // without '\n'
        std::uint32_t text_length;  // with '\n'
    };
    struct PortLines {
        std::vector<LineRef> lines;
        std::uint64_t size = 0;
    };

    const std::filesystem::path path_;
    const UniqueFd fd_;
    const dev_t dev_;
    const ino_t ino_;

    mutable std::mutex mutex_;
    std::map<std::string, PortLines, std::less<>> ports_;
    std::uint64_t indexed_end_ = 0;   // end of the last complete line indexed
    std::uint64_t lines_before_ = 0;  // lines before indexed_end_ (a v1 entry's seq)
    std::uint64_t scanned_size_ = 0;  // the file's size when catch_up last read it
    std::uint64_t bytes_scanned_ = 0;
    std::uint64_t lines_indexed_ = 0;
    std::string error_;
};

// The index of the file at a path now: a new one when the file was replaced or rewritten,
// the same one caught up when it was appended to. Thread-safe.
class LedgerSource {
  public:
    explicit LedgerSource(std::filesystem::path path) : path_(std::move(path)) {}
    // nullptr with `error` = ENOENT when there is no ledger (or no path), another errno when it
    // cannot be opened.
    std::shared_ptr<LedgerIndex> current(int& error);

  private:
    const std::filesystem::path path_;
    std::mutex mutex_;
    std::shared_ptr<LedgerIndex> index_;
};

}  // namespace opa::fs
