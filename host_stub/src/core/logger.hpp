// The host's log: one line per event on stderr (or a test sink), with a level filter.
// Callers never pass secrets; plugins redact before calling the host's log service.
#pragma once

#include <email_provider/ep_abi.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace host {

class Logger {
public:
    using Sink = std::function<void(ep_log_level, std::string_view source, std::string_view message)>;

    explicit Logger(ep_log_level min_level = EP_LOG_INFO, Sink sink = {});
    void log(ep_log_level level, std::string_view source, std::string_view message);
    bool enabled(ep_log_level level) const { return level >= min_level_; }
    void set_level(ep_log_level level) { min_level_ = level; }

    static std::optional<ep_log_level> parse_level(std::string_view name);
    static const char* level_name(ep_log_level level);

private:
    ep_log_level min_level_;
    Sink sink_;
    std::mutex mutex_;
};

}  // namespace host
