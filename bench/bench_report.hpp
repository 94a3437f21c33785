// Shared by the benchmark programs: timing, percentiles, and one way of printing a figure.
//
// Every figure is printed as a Markdown table row
//     | bench_x | what was measured | measured | target | PASS / MISS / info |
// so that scripts/bench.sh can collect them with grep and docs/PERFORMANCE.md can quote them as
// they came out. A MISS never changes the exit status: these programs measure, they do not judge.
// The exit status is non-zero only when a benchmark could not run at all.
#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace opa::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The q-quantile (0..1) of `samples` by the nearest-rank method; 0 for no samples.
inline double quantile(std::vector<double> samples, double q) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size()) + 0.999999);
    rank = std::clamp<std::size_t>(rank, 1, samples.size());
    return samples[rank - 1];
}
inline double median(std::vector<double> samples) { return quantile(std::move(samples), 0.5); }

// "12,345" — thousands separated, so large rates read at a glance.
inline std::string grouped(double value) {
    auto whole = static_cast<long long>(value + 0.5);
    std::string digits = std::to_string(whole < 0 ? -whole : whole);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return whole < 0 ? "-" + out : out;
}

inline std::string fixed(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

enum class Verdict { Pass, Miss, Info };

inline std::string_view to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::Pass:
            return "PASS";
        case Verdict::Miss:
            return "MISS";
        case Verdict::Info:
            return "info";
    }
    return "?";
}

inline Verdict verdict(bool met) { return met ? Verdict::Pass : Verdict::Miss; }

// One figure: a Markdown row (see the top of this file), flushed at once so a long run shows
// progress and a crash later on keeps what was measured.
inline void report(std::string_view bench, std::string_view what, std::string_view measured,
                   std::string_view target, Verdict verdict) {
    std::printf("| %.*s | %.*s | %.*s | %.*s | %.*s |\n", static_cast<int>(bench.size()),
                bench.data(), static_cast<int>(what.size()), what.data(),
                static_cast<int>(measured.size()), measured.data(), static_cast<int>(target.size()),
                target.data(), static_cast<int>(to_string(verdict).size()),
                to_string(verdict).data());
    std::fflush(stdout);
}

// Progress and context, kept apart from the figures by a leading "# ".
inline void note(const std::string& text) {
    std::printf("# %s\n", text.c_str());
    std::fflush(stdout);
}

inline void print_machine() {
    utsname name{};
    ::uname(&name);
    char date[64] = "";
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    note("machine: nproc " + std::to_string(std::thread::hardware_concurrency()) + ", kernel " +
         name.release + ", " + date);
}

// A directory made with mkdtemp under `parent`, removed with everything in it at the end.
class TempDir {
  public:
    explicit TempDir(const std::filesystem::path& parent, std::string_view prefix) {
        std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// Parses "--name=value" style options with defaults; unknown options are an error so a typo
// in scripts/bench.sh does not silently measure something else.
class Args {
  public:
    Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}
    std::string get(std::string_view name, std::string fallback) {
        const std::string prefix = "--" + std::string(name) + "=";
        for (auto it = args_.begin(); it != args_.end(); ++it) {
            if (it->rfind(prefix, 0) == 0) {
                std::string value = it->substr(prefix.size());
                args_.erase(it);
                return value;
            }
        }
        return fallback;
    }
    long number(std::string_view name, long fallback) {
        const std::string text = get(name, std::to_string(fallback));
        char* end = nullptr;
        long value = std::strtol(text.c_str(), &end, 10);
        if (end == text.c_str() || *end != '\0')
            throw std::invalid_argument("--" + std::string(name) + ": not a number: " + text);
        return value;
    }
    // Call after every get(): anything left was not understood.
    void finish() const {
        if (!args_.empty()) throw std::invalid_argument("unknown option: " + args_.front());
    }

  private:
    std::vector<std::string> args_;
};

}  // namespace opa::bench
