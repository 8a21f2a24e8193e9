// Tells the service manager where `serve` is in its life (sd_notify(3), libsystemd): ready,
// reloading, stopping, and alive for the watchdog. Every call does nothing when the process was
// not started with a notification socket ($NOTIFY_SOCKET unset: a terminal, a test, Docker).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace host::service_manager {

// READY=1 with a STATUS= line that `systemctl status` shows. Also ends a reload.
void ready(std::string_view status);
// RELOADING=1 (with MONOTONIC_USEC=, which systemd 253+ asks of it): until the next ready().
void reloading();
void stopping();
void watchdog();
// How often to send watchdog(): half the WatchdogSec= the manager set for this process (so one
// late tick is not yet a miss), or nullopt when it watches nothing.
std::optional<std::chrono::microseconds> watchdog_ping_interval();

}  // namespace host::service_manager
