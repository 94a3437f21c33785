// The daemon's logging: journald with structured fields when systemd runs the daemon (its
// stderr is the journal stream), stderr otherwise. Port events carry PORT=, VMID= and BRIDGE=
// so `journalctl -u ovs-port-agent PORT=vi100` finds everything about one port.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

namespace opa::mount {

// True when stderr is the journal stream systemd set up for this service: JOURNAL_STREAM
// ("device:inode") names stderr's device and inode.
bool stderr_is_journal();

// Sets spdlog's default logger: journald (with priorities) or stderr.
void setup_logging(bool verbose);

// The journal fields of one port event, "KEY=value" each (pure; the order is fixed).
std::vector<std::string> port_event_fields(spdlog::level::level_enum level,
                                           const std::string& bridge, const std::string& port,
                                           std::optional<std::uint32_t> vmid,
                                           const std::string& message);

// Logs one event about a port, with its fields when logging to journald.
void log_port_event(spdlog::level::level_enum level, const std::string& bridge,
                    const std::string& port, std::optional<std::uint32_t> vmid,
                    const std::string& message);

}  // namespace opa::mount
