// bench_ledger: how fast the ledger takes entries when every append must be on disk before it
// returns, and how fast `ledger verify` checks a large ledger compared with sha256sum.
//
//   bench_ledger [--dir=/var/tmp] [--entries=2000] [--threads=1,8,32] [--verify-mb=200]
//
// Append: for each thread count, a fresh ledger in a temporary directory under --dir (which must
// be on the real disk: on a tmpfs fsync costs nothing and the figure says nothing), and that many
// threads appending --entries entries in all through Ledger::append, each waiting for its fsync.
// Concurrent appends share one write+fsync (group commit); one writer pays for every fsync
// itself, so the one-thread row is bounded by the disk's fsync latency, measured first.
//
// Verify: a ledger of about --verify-mb MB is generated directly (canonical lines with a correct
// chain; appending them one fsync at a time would take hours), its last entry appended through
// Ledger so the head file is the real one. Then opa::ledger::verify and `sha256sum` over the same
// file, alternately, best of 3 each; the file is in the page cache for both (it was just written).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/bench_report.hpp"
#include "ledger/entry.hpp"
#include "ledger/ledger.hpp"
#include "ledger/verify.hpp"

namespace {

using namespace opa::bench;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kBench = "bench_ledger";

// Details shaped like the daemon's port_attached entries (about 300 bytes of JSON).
json port_details(long index) {
    const std::string port = "vi" + std::to_string(100 + index % 900'000);
    return json{
        {"port", port},
        {"bridge", "ovsbr0"},
        {"nm",
         {{"port_uuid", "3f0c2a9e-6d1b-4c57-9a8e-" + std::to_string(100'000'000'000 + index)},
          {"member_uuid", "b7d41e20-58aa-4f0e-8c3d-" + std::to_string(200'000'000'000 + index)},
          {"active_connection",
           "/org/freedesktop/NetworkManager/ActiveConnection/" + std::to_string(index)},
          {"device", "/org/freedesktop/NetworkManager/Devices/" + std::to_string(index)}}},
        {"vmid", 100 + index % 900'000},
        {"origin", "link"},
    };
}

// Write + fsync of a small record, as often as fits in `count`: the floor under one writer.
double fsyncs_per_second(const fs::path& dir, int count) {
    const fs::path file = dir / "fsync-probe";
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + file.string());
    const std::string record(300, 'x');
    auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
        if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) ||
            ::fsync(fd) != 0) {
            int error = errno;
            ::close(fd);
            throw std::system_error(error, std::generic_category(), "write/fsync " + file.string());
        }
    }
    double elapsed = seconds_since(start);
    ::close(fd);
    fs::remove(file);
    return count / elapsed;
}

void bench_append(const fs::path& parent, long total_entries,
                  const std::vector<int>& thread_counts) {
    {
        TempDir dir(parent, "opa-bench-fsync-");
        report(kBench, "write+fsync of 300 bytes (disk floor, 1 writer, 500 runs)",
               grouped(fsyncs_per_second(dir.path(), 500)) + " fsyncs/s", "-", Verdict::Info);
    }
    for (int threads : thread_counts) {
        TempDir dir(parent, "opa-bench-ledger-");
        opa::ledger::Ledger ledger(dir.path() / "ledger.jsonl");
        const long per_thread = total_entries / threads;
        std::atomic<bool> go{false};
        std::atomic<long> failures{0};
        std::vector<std::thread> writers;
        for (int t = 0; t < threads; ++t) {
            writers.emplace_back([&, t] {
                while (!go.load()) std::this_thread::yield();
                for (long i = 0; i < per_thread; ++i) {
                    try {
                        ledger.append("port_attached", port_details(t * per_thread + i));
                    } catch (const std::exception&) {
                        ++failures;
                    }
                }
            });
        }
        auto start = Clock::now();
        go = true;
        for (auto& writer : writers) writer.join();
        double elapsed = seconds_since(start);
        const long written = per_thread * threads;
        if (failures > 0)
            throw std::runtime_error(std::to_string(failures.load()) + " appends failed");

        auto check = opa::ledger::verify(ledger.path());
        if (!check.ok || check.lines_checked != static_cast<std::uint64_t>(written))
            throw std::runtime_error("ledger written by the benchmark does not verify: " +
                                     opa::ledger::format_report(check));
        const double rate = written / elapsed;
        const std::string what = "Ledger::append with fsync, " + std::to_string(threads) +
                                 (threads == 1 ? " thread, " : " threads, ") + grouped(written) +
                                 " entries";
        if (threads == 1) {
            // No one to share an fsync with: group commit cannot help, the disk decides.
            report(kBench, what, grouped(rate) + " entries/s", "- (no concurrency)", Verdict::Info);
        } else {
            report(kBench, what, grouped(rate) + " entries/s", ">= 1,000 entries/s",
                   verdict(rate >= 1000));
        }
    }
}

// Writes canonical v2 lines with a correct chain until the file holds about `bytes`, then
// appends one more entry through Ledger (which writes the head file). Returns the entry count.
std::uint64_t generate_ledger(const fs::path& path, std::uint64_t bytes) {
    std::uint64_t seq = 0;
    std::string prev(opa::ledger::kGenesisPrevHash);
    std::uint64_t size = 0;
    {
        std::ofstream out(path, std::ios::binary);
        const auto base = std::chrono::system_clock::now();
        while (size < bytes) {
            opa::ledger::Entry entry;
            entry.seq = ++seq;
            entry.ts = opa::ledger::format_utc_timestamp(base + std::chrono::milliseconds(seq * 7));
            entry.action = "port_attached";
            entry.details = port_details(static_cast<long>(seq));
            entry.prev_hash = prev;
            json unhashed = opa::ledger::to_json(entry);
            unhashed.erase("hash");
            entry.hash = opa::ledger::entry_hash(unhashed, prev);
            const std::string line = opa::ledger::canonical_line(entry) + "\n";
            out.write(line.data(), static_cast<std::streamsize>(line.size()));
            size += line.size();
            prev = entry.hash;
        }
        out.flush();
        if (!out) throw std::runtime_error("cannot write " + path.string());
    }
    opa::ledger::Ledger ledger(path);
    ledger.append("bench_end", json{{"entries", seq}});
    return seq + 1;
}

// Runs sha256sum on `path` and returns its wall time; throws if it fails.
double time_sha256sum(const fs::path& path) {
    const std::string command = "sha256sum '" + path.string() + "'";
    auto start = Clock::now();
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen sha256sum failed");
    char buffer[256];
    std::string output;
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    int status = ::pclose(pipe);
    double elapsed = seconds_since(start);
    if (status != 0 || output.size() < 64) throw std::runtime_error("sha256sum failed: " + output);
    return elapsed;
}

void bench_verify(const fs::path& parent, long megabytes) {
    TempDir dir(parent, "opa-bench-verify-");
    const fs::path path = dir.path() / "ledger.jsonl";
    note("generating a ledger of about " + std::to_string(megabytes) + " MB ...");
    auto start = Clock::now();
    const std::uint64_t entries =
        generate_ledger(path, static_cast<std::uint64_t>(megabytes) * 1000 * 1000);
    const double file_mb = static_cast<double>(fs::file_size(path)) / 1e6;
    note("generated " + grouped(static_cast<double>(entries)) + " entries, " + fixed(file_mb, 1) +
         " MB, in " + fixed(seconds_since(start), 1) + " s");

    double best_verify = 1e9;
    double best_sha = 1e9;
    for (int round = 0; round < 3; ++round) {
        start = Clock::now();
        auto result = opa::ledger::verify(path);
        double elapsed = seconds_since(start);
        if (!result.ok || result.lines_checked != entries)
            throw std::runtime_error("generated ledger does not verify: " +
                                     opa::ledger::format_report(result));
        best_verify = std::min(best_verify, elapsed);
        best_sha = std::min(best_sha, time_sha256sum(path));
    }
    const double verify_rate = file_mb / best_verify;
    const double sha_rate = file_mb / best_sha;
    const std::string size_text =
        fixed(file_mb, 0) + " MB, " + grouped(static_cast<double>(entries)) + " entries, best of 3";
    report(kBench, "opa::ledger::verify, " + size_text,
           fixed(verify_rate, 1) + " MB/s (" + fixed(best_verify, 2) + " s, " +
               grouped(entries / best_verify) + " entries/s)",
           "-", Verdict::Info);
    report(kBench, "sha256sum, same file, " + size_text,
           fixed(sha_rate, 1) + " MB/s (" + fixed(best_sha, 2) + " s)", "-", Verdict::Info);
    const double ratio = verify_rate / sha_rate;
    report(kBench, "verify throughput / sha256sum throughput", fixed(ratio * 100, 1) + " %",
           ">= 50 %", verdict(ratio >= 0.5));
}

std::vector<int> parse_counts(const std::string& text) {
    std::vector<int> counts;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        int count = std::stoi(item);
        if (count < 1) throw std::invalid_argument("--threads: counts must be >= 1");
        counts.push_back(count);
    }
    return counts;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Args args(argc, argv);
        const fs::path dir = args.get("dir", "/var/tmp");
        const long entries = args.number("entries", 2000);
        const auto thread_counts = parse_counts(args.get("threads", "1,8,32"));
        const long verify_mb = args.number("verify-mb", 200);
        args.finish();

        print_machine();
        note("bench_ledger --dir=" + dir.string() + " --entries=" + std::to_string(entries) +
             " --verify-mb=" + std::to_string(verify_mb));
        bench_append(dir, entries, thread_counts);
        if (verify_mb > 0) bench_verify(dir, verify_mb);
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "bench_ledger: " << error.what() << '\n';
        return 1;
    }
}
