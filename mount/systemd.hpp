// The daemon's side of systemd's service protocol (Type=notify): READY=1 once the agent serves,
// STATUS= lines a person sees in `systemctl status`, WATCHDOG=1 keep-alives when the unit has
// WatchdogSec=. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace opa::mount {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();
void notify_watchdog();
// Half the unit's watchdog interval (how often to send WATCHDOG=1), if it has one.
std::optional<std::chrono::milliseconds> watchdog_period();

}  // namespace opa::mount
