// Test helpers: wait for a condition with a deadline (never a fixed sleep), run a command.
#pragma once

#include <sys/wait.h>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

namespace opa::test {

// Re-checks `condition` until it holds or `timeout` passes; returns its last value. The short
// pause between checks only paces the polling of things that send no event (a shell command's
// view of OVSDB); the deadline is what bounds the test.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return condition();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

struct CommandResult {
    int status = -1;
    std::string output;
    bool ok() const { return status == 0; }
};

// Runs a shell command, capturing stdout and stderr.
inline CommandResult run(const std::string& command) {
    CommandResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return result;
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        result.output.append(buffer.data(), n);
    }
    const int raw = ::pclose(pipe);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return result;
}

inline std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '"')) s.pop_back();
    size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '"')) i++;
    return s.substr(i);
}

}  // namespace opa::test
