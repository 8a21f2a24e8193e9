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

// The service manager's end: a datagram socket that NOTIFY_SOCKET names for the child.
class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string p = path.string();
        if (fd_ < 0 || p.size() >= sizeof addr.sun_path) throw std::runtime_error("cannot make the notify socket");
        std::copy(p.begin(), p.end(), addr.sun_path);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("cannot bind the notify socket " + p);
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    // Receives until a message from index `from` on contains `text` (true) or `timeout` passed.
    bool wait_for(const std::string& text, std::chrono::milliseconds timeout, std::size_t from = 0) {
        return receive_until([&] { return index_of(text, from) < messages.size(); }, timeout);
    }
    // Receives everything that arrives within `duration`.
    void collect_for(std::chrono::milliseconds duration) {
        receive_until([] { return false; }, duration);
    }
    std::size_t count(const std::string& text) const {
        return static_cast<std::size_t>(std::count_if(
            messages.begin(), messages.end(), [&](const std::string& m) { return m.find(text) != std::string::npos; }));
    }
    // The index of the first message from `from` on that contains `text`, or messages.size().
    std::size_t index_of(const std::string& text, std::size_t from = 0) const {
        for (std::size_t i = from; i < messages.size(); ++i)
            if (messages[i].find(text) != std::string::npos) return i;
        return messages.size();
    }

    std::vector<std::string> messages;

private:
    bool receive_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) messages.emplace_back(buf, static_cast<std::size_t>(n));
        }
        return true;
    }

    int fd_ = -1;
};

class ServeNotifyTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"warn",
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml"}}]})");
        ::setenv("NOTIFY_SOCKET", (dir_ / "notify").c_str(), 1);
    }
    void TearDown() override {
        ::unsetenv("NOTIFY_SOCKET");
        ::unsetenv("WATCHDOG_USEC");
    }
    // serve through a shell that sets WATCHDOG_PID to its own pid and execs host_stub, so the
    // variable names serve's pid as systemd's would (sd_watchdog_enabled(3) checks it).
    int start_serve(const std::string& watchdog_pid) {
        return test_support::spawn_process(
            {"/bin/sh", "-c", "WATCHDOG_PID=" + watchdog_pid + " exec \"$0\" \"$@\"", HOST_STUB_PATH, "--config",
             (dir_ / "host.json").string(), "serve", "--port", "0"},
            dir_ / "serve.out", dir_ / "serve.err");
    }
    std::string log() const { return test_support::read_file(dir_ / "serve.err"); }

    TempDir dir_;
};

}  // namespace

TEST_F(ServeNotifyTest, ReadyReloadWatchdogAndStoppingReachTheServiceManager) {
    NotifySocket manager(dir_ / "notify");
    ::setenv("WATCHDOG_USEC", "400000", 1);  // a ping every 200 ms
    int pid = start_serve("$$");
    ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << log();
    std::size_t ready = manager.index_of("READY=1");
    EXPECT_THAT(manager.messages[ready], HasSubstr("STATUS=Serving http://127.0.0.1:"));
    EXPECT_THAT(manager.messages[ready], HasSubstr("1 of 1 enabled providers loaded"));

    // Several pings, from the page's event loop, while nothing else happens.
    auto pings_before = manager.count("WATCHDOG=1");
    manager.collect_for(1s);
    EXPECT_GE(manager.count("WATCHDOG=1") - pings_before, 3u) << "expected a ping every 200 ms";

    ASSERT_EQ(::kill(pid, SIGHUP), 0);
    ASSERT_TRUE(manager.wait_for("RELOADING=1", 10s)) << log();
    std::size_t reloading = manager.index_of("RELOADING=1");
    EXPECT_THAT(manager.messages[reloading], HasSubstr("MONOTONIC_USEC="));
    EXPECT_TRUE(manager.wait_for("READY=1", 10s, reloading + 1)) << "no READY=1 after the reload\n" << log();

    int exit_code = test_support::stop_process(pid, SIGTERM);
    EXPECT_EQ(exit_code, 0) << log();
    EXPECT_TRUE(manager.wait_for("STOPPING=1", 1s, manager.index_of("READY=1", reloading + 1)));
}

// WATCHDOG_PID naming another process (a watchdog meant for serve's parent) is not serve's.
TEST_F(ServeNotifyTest, NoWatchdogPingsWhenTheWatchdogIsForAnotherProcess) {
    NotifySocket manager(dir_ / "notify");
    ::setenv("WATCHDOG_USEC", "200000", 1);
    int pid = start_serve(std::to_string(::getpid()));
    ASSERT_TRUE(manager.wait_for("READY=1", 20s)) << log();
    manager.collect_for(700ms);
    EXPECT_EQ(manager.count("WATCHDOG=1"), 0u);
    EXPECT_EQ(test_support::stop_process(pid, SIGTERM), 0) << log();
}

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
