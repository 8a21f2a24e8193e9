#include "core/service_manager.hpp"

#include "core/host_util.hpp"

#include <systemd/sd-daemon.h>

#include <time.h>

#include <string>

namespace host::service_manager {
namespace {

// The manager cannot be asked again and the host runs on either way: a failed notification
// (the socket gone while systemd restarts) is not worth more than the service manager's own
// view, so its result is not looked at.
void notify(const std::string& state) { static_cast<void>(sd_notify(0, state.c_str())); }

}  // namespace

void ready(std::string_view status) {
    // A notification is newline-separated assignments: the status must stay on its line.
    notify("READY=1\nSTATUS=" + printable(status));
}

void reloading() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
    notify("RELOADING=1\nSTATUS=Reloading the config and manifests\nMONOTONIC_USEC=" + std::to_string(usec));
}

void stopping() { notify("STOPPING=1\nSTATUS=Stopping"); }

void watchdog() { notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
    uint64_t usec = 0;
    // > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, is this process.
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
    return std::chrono::microseconds(usec / 2);
}

}  // namespace host::service_manager
