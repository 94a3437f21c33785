// `ovs-port-agent doctor`: checks what the agent needs, one line each with ok / warn / FAIL and,
// when not ok, what to do about it.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace opa::cli {

enum class CheckLevel { Ok, Warn, Fail };

struct CheckResult {
    CheckLevel level = CheckLevel::Ok;
    std::string what;    // "NetworkManager 1.42.4 with OVS"
    std::string advice;  // what to do, when not ok
};

std::vector<CheckResult> run_doctor(const std::string& config_path);
std::string format_check(const CheckResult& check);

}  // namespace opa::cli
