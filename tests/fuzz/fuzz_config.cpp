// Fuzz target: config::parse (TOML text -> validated Config).
// Properties: parse never throws; a config is returned exactly when there are no errors; errors
// are sorted by position; an accepted config satisfies the documented value rules; and
// to_toml() of an accepted config parses back to an equal Config.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/naming.hpp"
#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace {

void check_values(const opa::config::Config& config) {
    namespace naming = opa::naming;
    FUZZ_CHECK(naming::is_valid_ifname(config.bridge_name));
    FUZZ_CHECK(config.interfaces_path.is_absolute());
    FUZZ_CHECK(config.ledger_path.is_absolute());
    FUZZ_CHECK(config.mountpoint.is_absolute());
    FUZZ_CHECK(config.setup_log_path.is_absolute());
    FUZZ_CHECK(config.pve_root.is_absolute());
    FUZZ_CHECK(!config.include_prefixes.empty());
    for (const auto& prefix : config.include_prefixes) FUZZ_CHECK(!prefix.empty());
    FUZZ_CHECK(config.debounce_ms.count() >= 0 && config.debounce_ms.count() <= 60000);
    FUZZ_CHECK(!config.managed_block_tag.empty());
    FUZZ_CHECK(config.managed_block_tag.find_first_of("\r\n") == std::string::npos);
    FUZZ_CHECK(!naming::check_template(config.naming_template));
    FUZZ_CHECK(config.datapath_type == "system" || config.datapath_type == "netdev");
    if (config.uplink) FUZZ_CHECK(naming::is_valid_ifname(*config.uplink));
    if (config.container_name_cmd) FUZZ_CHECK(!config.container_name_cmd->empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const opa::config::LoadResult result = opa::config::parse(text, "fuzz.toml");
    FUZZ_CHECK(result.config.has_value() == result.errors.empty());
    FUZZ_CHECK(!result.used_defaults);
    FUZZ_CHECK(std::is_sorted(result.errors.begin(), result.errors.end(),
                              [](const auto& a, const auto& b) {
                                  return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                              }));
    for (const auto& error : result.errors) {
        FUZZ_CHECK(!error.message.empty());
        FUZZ_CHECK((error.line == 0) == (error.column == 0));
    }
    if (!result.config) return 0;
    check_values(*result.config);

    const std::string dumped = result.config->to_toml();
    const opa::config::LoadResult again = opa::config::parse(dumped, "dumped.toml");
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again.config == *result.config);
    return 0;
}
