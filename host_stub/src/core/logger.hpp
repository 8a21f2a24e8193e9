// The host's log: one line per event on stderr (or a test sink), with a level filter.
// Callers never pass secrets; plugins redact before calling the host's log service.
//
// Two formats (host config "log_format"): "text" ("2026-01-02T03:04:05Z INFO  [source] message")
// and "json" (one object per line: ts, level, source, message). Under systemd, stderr is a
// stream to the journal: each line then starts with its syslog priority ("<3>" for an error),
// which the journal strips and records as the entry's PRIORITY, and the text format leaves the
// time to the journal.
#pragma once

#include <email_provider/ep_abi.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace host {

enum class LogFormat { text, json };

class Logger {
public:
    using Sink = std::function<void(ep_log_level, std::string_view source, std::string_view message)>;

    // Without a sink, lines go to stderr, with the priority prefix when stderr is the journal.
    explicit Logger(ep_log_level min_level = EP_LOG_INFO, Sink sink = {});
    void log(ep_log_level level, std::string_view source, std::string_view message);
    bool enabled(ep_log_level level) const { return level >= min_level_; }
    void set_level(ep_log_level level) { min_level_ = level; }
    void set_format(LogFormat format);

    static std::optional<ep_log_level> parse_level(std::string_view name);
    static const char* level_name(ep_log_level level);

    // One event as one line, its newline included. `journal`: start with the syslog priority
    // and, in text, leave out the time (the journal stamps each entry itself).
    static std::string format_line(LogFormat format, bool journal, ep_log_level level, std::string_view source,
                                   std::string_view message, std::chrono::system_clock::time_point when);
    // Whether `fd` is the stream that $JOURNAL_STREAM ("device:inode") names: systemd sets the
    // variable for a service whose stderr goes to the journal, and a child that redirects
    // stderr keeps the variable but not the stream (systemd.exec(5), "JOURNAL_STREAM").
    static bool is_journal_stream(const char* journal_stream, int fd);

private:
    ep_log_level min_level_;
    Sink sink_;
    std::mutex mutex_;
    LogFormat format_ = LogFormat::text;  // under mutex_
    bool journal_ = false;                // stderr is the journal's stream
};

}  // namespace host
