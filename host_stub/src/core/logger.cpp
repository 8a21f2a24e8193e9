#include "core/logger.hpp"

#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <systemd/sd-daemon.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace host {
namespace {

// The syslog priority the journal records for a level, as the prefix it reads ("<3>"):
// sd-daemon.h's SD_* macros.
const char* priority_prefix(ep_log_level level) {
    switch (level) {
        case EP_LOG_TRACE:
        case EP_LOG_DEBUG:
            return SD_DEBUG;
        case EP_LOG_INFO:
            return SD_INFO;
        case EP_LOG_WARN:
            return SD_WARNING;
        default:
            return SD_ERR;
    }
}

// RFC 3339 in UTC, to the millisecond when `millis` (JSON lines: events are often closer
// together than a second), to the second otherwise (the text format, as it always was).
std::string utc_time(std::chrono::system_clock::time_point when, bool millis) {
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[40];
    std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
    if (millis)
        std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms < 0 ? ms + 1000 : ms));
    else
        std::snprintf(stamp + n, sizeof stamp - n, "Z");
    return stamp;
}

// A JSON string must be UTF-8, and Boost.JSON writes a string's bytes as they are: text that is
// not (a plugin's message cut mid-character) has its bytes above 0x7f written as \xNN instead.
std::string json_safe(std::string_view text) {
    if (ep::sdk::is_valid_utf8(text)) return std::string(text);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : text) {
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

std::string lower_level_name(ep_log_level level) {
    std::string name = Logger::level_name(level);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

}  // namespace

Logger::Logger(ep_log_level min_level, Sink sink)
    : min_level_(min_level), sink_(std::move(sink)), journal_(is_journal_stream(std::getenv("JOURNAL_STREAM"), 2)) {}

void Logger::set_format(LogFormat format) {
    std::lock_guard lock(mutex_);
    format_ = format;
}

void Logger::log(ep_log_level level, std::string_view source, std::string_view message) {
    if (!enabled(level)) return;
    std::lock_guard lock(mutex_);
    if (sink_) {
        sink_(level, source, message);
        return;
    }
    std::string line = format_line(format_, journal_, level, source, message, std::chrono::system_clock::now());
    std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string Logger::format_line(LogFormat format, bool journal, ep_log_level level, std::string_view source,
                                std::string_view message, std::chrono::system_clock::time_point when) {
    std::string line = journal ? priority_prefix(level) : "";
    if (format == LogFormat::json) {
        // Boost.JSON escapes quotes and control characters: a message cannot end the line or
        // forge another field.
        line += boost::json::serialize(boost::json::object{{"ts", utc_time(when, true)},
                                                           {"level", lower_level_name(level)},
                                                           {"source", json_safe(source)},
                                                           {"message", json_safe(message)}});
    } else {
        // One event, one line: what a plugin or a manifest put in the text cannot forge another.
        char level_column[8];
        std::snprintf(level_column, sizeof level_column, "%-5s", level_name(level));
        if (!journal) line += utc_time(when, false) + " ";
        line += std::string(level_column) + " [" + printable(source) + "] " + printable(message);
    }
    line += '\n';
    return line;
}

bool Logger::is_journal_stream(const char* journal_stream, int fd) {
    if (journal_stream == nullptr) return false;
    std::string_view text(journal_stream);
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    unsigned long long device = 0, inode = 0;
    const char* end = text.data() + text.size();
    auto [device_end, device_error] = std::from_chars(text.data(), text.data() + colon, device);
    auto [inode_end, inode_error] = std::from_chars(text.data() + colon + 1, end, inode);
    if (device_error != std::errc() || device_end != text.data() + colon || inode_error != std::errc() ||
        inode_end != end)
        return false;
    struct stat st {};
    return ::fstat(fd, &st) == 0 && st.st_dev == device && st.st_ino == inode;
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
