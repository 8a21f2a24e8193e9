// Issue 26, the service: `host_stub serve` tells a service manager where it is (sd_notify(3):
// READY=1, RELOADING=1 then READY=1 around a SIGHUP reload, WATCHDOG=1, STOPPING=1), checked
// against a real serve process with this test in the service manager's place; and the log's
// formats (JSON lines; the syslog priority prefix when stderr is the journal's stream).
#include "process.hpp"

#include "core/logger.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {
const auto kWhen = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'767'323'045'678));  // 2026-01-02
}

TEST(Logger, JsonLinesAreOneObjectPerLineWithTimeLevelSourceAndMessage) {
    std::string line = host::Logger::format_line(host::LogFormat::json, false, EP_LOG_WARN, "outlook",
                                                 "a \"quoted\"\nsecond line\t\x1b[31m", kWhen);
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << "a message's line break must not end the line";
    json::object o = json::parse(line).as_object();
    EXPECT_EQ(o.at("ts").as_string(), "2026-01-02T03:04:05.678Z");
    EXPECT_EQ(o.at("level").as_string(), "warn");
    EXPECT_EQ(o.at("source").as_string(), "outlook");
    EXPECT_EQ(o.at("message").as_string(), "a \"quoted\"\nsecond line\t\x1b[31m");
    EXPECT_EQ(o.size(), 4u);
}

TEST(Logger, JsonLinesStayJsonWhenAMessageIsNotUtf8) {
    std::string line =
        host::Logger::format_line(host::LogFormat::json, false, EP_LOG_ERROR, "p", "cut \xe2\x82 here", kWhen);
    json::error_code ec;
    json::value v = json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    EXPECT_EQ(v.at("message").as_string(), "cut \\xe2\\x82 here");
}

TEST(Logger, TextLinesKeepTheirFormatAndEscapeControlCharacters) {
    EXPECT_EQ(host::Logger::format_line(host::LogFormat::text, false, EP_LOG_INFO, "host", "two\nlines", kWhen),
              "2026-01-02T03:04:05Z INFO  [host] two\\x0alines\n");
}

TEST(Logger, UnderTheJournalEachLineStartsWithItsSyslogPriority) {
    using host::LogFormat;
    auto text = [](ep_log_level level) {
        return host::Logger::format_line(LogFormat::text, true, level, "host", "m", kWhen);
    };
    EXPECT_EQ(text(EP_LOG_ERROR), "<3>ERROR [host] m\n") << "the journal stamps the time itself";
    EXPECT_THAT(text(EP_LOG_WARN), StartsWith("<4>"));
    EXPECT_THAT(text(EP_LOG_INFO), StartsWith("<6>"));
    EXPECT_THAT(text(EP_LOG_DEBUG), StartsWith("<7>"));
    EXPECT_THAT(text(EP_LOG_TRACE), StartsWith("<7>"));
    std::string line = host::Logger::format_line(LogFormat::json, true, EP_LOG_WARN, "host", "m", kWhen);
    ASSERT_THAT(line, StartsWith("<4>{"));
    EXPECT_EQ(json::parse(line.substr(3)).at("level").as_string(), "warn") << "the journal strips the prefix";
}

TEST(Logger, TheJournalStreamIsRecognisedOnlyWhenItIsThisDescriptor) {
    TempDir dir;
    dir.write("stream", "");
    int fd = ::open((dir / "stream").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    std::string matching = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    EXPECT_TRUE(host::Logger::is_journal_stream(matching.c_str(), fd));
    std::string other_inode = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
    EXPECT_FALSE(host::Logger::is_journal_stream(other_inode.c_str(), fd))
        << "stderr was redirected after the service manager set the variable";
    for (const char* bad : {"", "12", "12:", ":34", "12:34x", "a:b", "12:34:56"})
        EXPECT_FALSE(host::Logger::is_journal_stream(bad, fd)) << bad;
    EXPECT_FALSE(host::Logger::is_journal_stream(nullptr, fd));
    ::close(fd);
}
