#include "core/logger.hpp"

#include "core/host_util.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace host {

Logger::Logger(ep_log_level min_level, Sink sink) : min_level_(min_level), sink_(std::move(sink)) {}

void Logger::log(ep_log_level level, std::string_view source, std::string_view message) {
    if (!enabled(level)) return;
    std::lock_guard lock(mutex_);
    if (sink_) {
        sink_(level, source, message);
        return;
    }
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    // One event, one line: what a plugin or a manifest put in the text cannot forge another.
    std::string safe_source = printable(source), safe_message = printable(message);
    std::fprintf(stderr, "%s %-5s [%s] %s\n", stamp, level_name(level), safe_source.c_str(), safe_message.c_str());
}

std::optional<ep_log_level> Logger::parse_level(std::string_view name) {
    if (name == "trace") return EP_LOG_TRACE;
    if (name == "debug") return EP_LOG_DEBUG;
    if (name == "info") return EP_LOG_INFO;
    if (name == "warn") return EP_LOG_WARN;
    if (name == "error") return EP_LOG_ERROR;
    return std::nullopt;
}

const char* Logger::level_name(ep_log_level level) {
    switch (level) {
        case EP_LOG_TRACE:
            return "TRACE";
        case EP_LOG_DEBUG:
            return "DEBUG";
        case EP_LOG_INFO:
            return "INFO";
        case EP_LOG_WARN:
            return "WARN";
        default:
            return "ERROR";
    }
}

}  // namespace host
