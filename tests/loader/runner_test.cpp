// ep-provider-runner driven as a host drives it (ISOLATION.md): raw JSON-RPC 2.0 lines over a
// socketpair whose other end is the runner's descriptor 3, the host services answered from a
// FakeHost. The runner is started with fork/exec here; the host's own spawner is tested apart.
#include "runner.hpp"
#include "channel/channel.hpp"
#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
namespace channel = ep::loader::channel;
using namespace std::chrono_literals;
using test_support::FakeHost;
using test_support::TempDir;
using ::testing::HasSubstr;

// What the runner finds on descriptor 3.
enum class Descriptor3 { Channel, Closed, NotASocket };

// Answers the runner's host-service requests (ISOLATION.md, "Runner to host") from a FakeHost's
// ep_host_api, as a host's side of the channel does.
json::object answer_host_request(const ep_host_api& host, std::string_view method, const json::object& params) {
    auto str = [&](std::string_view key) {
        std::string_view s = channel::string_member(params, key);
        return ep_str{s.data(), s.size()};
    };
    auto version = [&](std::string_view key) { return static_cast<uint64_t>(channel::integer_member(params, key)); };
    if (method == "secret_get") {
        json::object result;
        auto receiver = [](void* ctx, ep_bytes blob, uint64_t v) {
            auto& r = *static_cast<json::object*>(ctx);
            r["value"] = ep::message::base64_encode({reinterpret_cast<const char*>(blob.data), blob.len});
            r["version"] = v;
        };
        result["status"] = host.secret_get(host.host_ctx, str("key"), receiver, &result);
        return result;
    }
    if (method == "secret_put") {
        std::string value = ep::message::base64_decode(channel::string_member(params, "value")).value();
        uint64_t new_version = 0;
        ep_status status = host.secret_put(host.host_ctx, str("key"),
                                           ep_bytes{reinterpret_cast<const uint8_t*>(value.data()), value.size()},
                                           version("expected_version"), &new_version);
        json::object result{{"status", status}};
        if (status == EP_OK) result["version"] = new_version;
        return result;
    }
    if (method == "secret_delete")
        return {{"status", host.secret_delete(host.host_ctx, str("key"), version("expected_version"))}};
    if (method == "secret_delete_prefix") return {{"status", host.secret_delete_prefix(host.host_ctx, str("prefix"))}};
    throw std::runtime_error("the runner asked for an unknown host service: " + std::string(method));
}

// One runner process and the host's end of its channel.
class RunnerProcess {
public:
    explicit RunnerProcess(const std::vector<std::string>& args = {}, Descriptor3 fd3 = Descriptor3::Channel) {
        const char* runner = std::getenv("EP_PROVIDER_RUNNER");
        if (runner == nullptr) throw std::runtime_error("EP_PROVIDER_RUNNER is not set (ctest sets it)");
        std::vector<std::string> argv{runner};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> c_argv;
        for (auto& a : argv) c_argv.push_back(a.data());
        c_argv.push_back(nullptr);

        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) throw std::runtime_error("socketpair");
        const int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        const int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        pid_ = ::fork();
        if (pid_ == 0) {  // only async-signal-safe calls until exec
            ::dup2(err, 2);
            const int target = fd3 == Descriptor3::Channel ? ends[1] : dev_null;
            if (fd3 == Descriptor3::Closed)
                ::close(3);
            else if (target == 3)
                ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
            else
                ::dup2(target, 3);
            ::execv(c_argv[0], c_argv.data());
            ::_exit(127);
        }
        ::close(ends[1]);
        ::close(dev_null);
        ::close(err);
        fd_ = ends[0];
    }
    ~RunnerProcess() {
        if (pid_ > 0 && exit_code_ == kRunning) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(fd_);
    }
    RunnerProcess(const RunnerProcess&) = delete;
    RunnerProcess& operator=(const RunnerProcess&) = delete;

    pid_t pid() const { return pid_; }
    FakeHost& host() { return host_; }
    // The host services the runner asked for, as "method key" lines.
    const std::vector<std::string>& host_calls() const { return host_calls_; }
    std::string stderr_text() const { return test_support::read_file(dir_ / "stderr"); }

    void write_line(const std::string& line) const {
        ASSERT_EQ(::send(fd_, line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    }
    void request(uint64_t id, std::string_view method, json::object params = {}) const {
        write_line(channel::frame(channel::request(id, method, std::move(params))));
    }
    void close_channel() const { ::shutdown(fd_, SHUT_RDWR); }
    // From now on the runner's host-service requests get JSON-RPC errors.
    void answer_with_errors() { answer_with_errors_ = true; }
    // From now on next() returns the runner's host-service requests unanswered.
    void return_host_requests() { return_host_requests_ = true; }

    // The next message that is not a host-service request (those are answered on the way).
    json::object next(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            while (auto message = reader_.next()) {
                const auto method = channel::method_of(*message);
                const auto id = channel::id_of(*message);
                if (!method || !id || return_host_requests_) return std::move(*message);
                const json::object& params = channel::params_of(*message);
                const json::value* key = params.if_contains("key");
                host_calls_.push_back(std::string(*method) + " " + (key ? std::string(key->as_string()) : ""));
                write_line(channel::frame(
                    answer_with_errors_ ? channel::error_response(*id, -32603, "the host's store is down")
                                        : channel::response(*id, answer_host_request(*host_.api(), *method, params))));
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                throw std::runtime_error("no message from the runner in time");
            const std::string bytes = channel::read_some(fd_);
            if (bytes.empty()) throw std::runtime_error("the runner closed the channel");
            reader_.feed(bytes);
        }
    }
    // The response to request `id`, its result; fails the test on an error response.
    json::object result_of(uint64_t id) {
        json::object message = next();
        EXPECT_EQ(channel::id_of(message), id) << json::serialize(message);
        if (!message.contains("result")) throw std::runtime_error("not a result: " + json::serialize(message));
        return message.at("result").as_object();
    }
    json::object error_of(uint64_t id) {
        json::object message = next();
        EXPECT_EQ(channel::id_of(message), id) << json::serialize(message);
        if (!message.contains("error")) throw std::runtime_error("not an error: " + json::serialize(message));
        return message.at("error").as_object();
    }

    // The exit code, -signal when killed; kRunning when it did not exit within `timeout`.
    int wait_exit(std::chrono::milliseconds timeout = 10s) {
        test_support::wait_until(
            [&] {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
                return true;
            },
            timeout);
        return exit_code_;
    }
    static constexpr int kRunning = 1000;

private:
    TempDir dir_;
    FakeHost host_;
    pid_t pid_ = -1;
    int fd_ = -1;
    int exit_code_ = kRunning;
    channel::LineReader reader_;
    std::vector<std::string> host_calls_;
    bool answer_with_errors_ = false;
    bool return_host_requests_ = false;
};

class RunnerTest : public ::testing::Test {
protected:
    std::string manifest(const std::string& library = MOCK_PROVIDER_PATH) {
        dir_.write("mock.json", R"({"file_format_version":"1.0.0","provider":{"id":"mock","display_name":"Mock",)"
                                R"("library_path":")" +
                                    library + R"(","abi_version":"1.3","capabilities":["html_body"]}})");
        return (dir_ / "mock.json").string();
    }
    std::string config(const std::string& extra = "") {
        return R"({"outbox_dir":")" + (dir_ / "outbox").string() + "\"" + extra + "}";
    }
    json::object hello_params(const std::string& manifest_path, const std::string& config_json,
                              int minor = EP_ABI_VERSION_MINOR) {
        return {{"manifest", manifest_path}, {"config", config_json}, {"host_abi_minor", minor}, {"log_levels", 0x1f}};
    }
    // A runner serving the mock provider.
    void start(const std::string& extra_config = "") {
        runner_.request(1, "hello", hello_params(manifest(), config(extra_config)));
        ASSERT_EQ(runner_.result_of(1).at("provider_name"), "Mock provider");
    }
    void connect(uint64_t id, const std::string& account) {
        runner_.request(id, "begin_connect", {{"account", account}, {"document", "{}"}});
        ASSERT_EQ(runner_.result_of(id).at("status"), EP_OK);
    }

    TempDir dir_;
    RunnerProcess runner_;
};

// A reader stops at a line past its limit, but not before the whole messages read with it: a
// runner's last send_done ahead of garbage still reaches the host (fuzz finding
// runner_channel-message-before-overlong-line).
TEST(LineReader, DeliversTheMessagesBeforeALineThatIsTooLongThenRefusesIt) {
    channel::LineReader reader(32);
    reader.feed("{\"jsonrpc\":\"2.0\",\"id\":7}\n" + std::string(40, 'x'));
    reader.feed("{\"jsonrpc\":\"2.0\",\"id\":8}\n");  // after the broken line: never read
    const std::optional<json::object> first = reader.next();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(channel::id_of(*first), 7u);
    EXPECT_THROW(reader.next(), channel::ProtocolError);
}

TEST_F(RunnerTest, HelloReportsWhatTheLibraryNegotiated) {
    runner_.request(1, "hello", hello_params(manifest(), config()));
    json::object info = runner_.result_of(1);
    EXPECT_EQ(info.at("provider_name"), "Mock provider");
    EXPECT_EQ(info.at("abi_major"), 1);
    EXPECT_EQ(info.at("abi_minor"), 3);
    EXPECT_EQ(info.at("plugin_abi_minor"), 3);
    EXPECT_EQ(info.at("can_check"), true);
    EXPECT_EQ(info.at("threads_messages"), true);
    EXPECT_NE(info.at("capabilities").to_number<uint64_t>() & EP_CAP_HTML_BODY, 0u);
    // The manifest lists fewer capabilities than the library advertises: a warning, as in process.
    ASSERT_FALSE(info.at("warnings").as_array().empty());
    EXPECT_THAT(std::string(info.at("warnings").as_array()[0].as_string()), HasSubstr("capabilities"));
}

TEST_F(RunnerTest, HelloOffersTheHostsMinor) {
    runner_.request(1, "hello", hello_params(manifest(), config(), 1));
    json::object info = runner_.result_of(1);
    EXPECT_EQ(info.at("abi_minor"), 1);
    EXPECT_EQ(info.at("threads_messages"), false);  // threading is 1.2
}

TEST_F(RunnerTest, ConnectAndStatusGoThroughTheHostsSecretStore) {
    start();
    connect(2, "alice");
    // The runner put the record into the host's store, base64 on the channel, bytes in the store.
    auto secrets = runner_.host().secrets();
    ASSERT_EQ(secrets.count("account/alice"), 1u);
    const std::string stored(secrets["account/alice"].begin(), secrets["account/alice"].end());
    EXPECT_THAT(stored, HasSubstr("mock.sender@example.com"));
    EXPECT_THAT(runner_.host_calls(), ::testing::Contains("secret_put account/alice"));

    runner_.request(3, "get_status", {{"account", "alice"}});
    json::object status = runner_.result_of(3);
    EXPECT_EQ(status.at("status"), EP_OK);
    EXPECT_THAT(std::string(status.at("document").as_string()), HasSubstr(R"("state":"connected")"));

    runner_.request(4, "disconnect", {{"account", "alice"}});
    EXPECT_EQ(runner_.result_of(4).at("status"), EP_OK);
    EXPECT_FALSE(runner_.host().has_key("account/alice"));
}

TEST_F(RunnerTest, SendStartsThenIsAcceptedThenReportsDone) {
    start();
    connect(2, "alice");
    runner_.request(3, "send",
                    {{"account", "alice"}, {"document", R"({"to":[{"address":"bob@example.org"}],"text":"x"})"}});
    json::object started = runner_.next();
    EXPECT_EQ(channel::method_of(started), "send_started");
    EXPECT_EQ(channel::params_of(started).at("id"), 3);
    EXPECT_EQ(runner_.result_of(3).at("status"), EP_OK);
    json::object done = runner_.next();
    ASSERT_EQ(channel::method_of(done), "send_done") << json::serialize(done);
    EXPECT_EQ(channel::params_of(done).at("id"), 3);
    EXPECT_THAT(std::string(channel::string_member(channel::params_of(done), "document")),
                HasSubstr(R"("outcome":"sent")"));
}

// Many sends at once to the C example provider, which calls back at once on a thread of its
// own, while workers still write responses: for each, send_started, its response, send_done.
TEST_F(RunnerTest, EverySendsDoneFollowsItsResponse) {
    runner_.request(1, "hello", hello_params(manifest(C_PROVIDER_PATH), "{}"));
    runner_.result_of(1);
    connect(2, "alice");
    constexpr uint64_t kFirst = 10, kSends = 40;
    for (uint64_t id = kFirst; id < kFirst + kSends; ++id)
        runner_.request(id, "send",
                        {{"account", "alice"}, {"document", R"({"to":[{"address":"bob@example.org"}],"text":"x"})"}});
    std::map<uint64_t, std::string> seen;  // id -> what came so far, in order
    for (uint64_t n = 0; n < 3 * kSends; ++n) {
        json::object m = runner_.next();
        const auto method = channel::method_of(m);
        const uint64_t id = method ? channel::params_of(m).at("id").to_number<uint64_t>() : *channel::id_of(m);
        seen[id] += method ? std::string(*method) + " " : "response ";
    }
    ASSERT_EQ(seen.size(), kSends);
    for (const auto& [id, order] : seen) EXPECT_EQ(order, "send_started response send_done ") << "send " << id;
}

TEST_F(RunnerTest, RefusedSendIsAnsweredWithoutSendDone) {
    start();
    runner_.request(2, "send",
                    {{"account", "alice"}, {"document", R"({"to":[{"address":"not an address"}],"text":"x"})"}});
    EXPECT_EQ(channel::method_of(runner_.next()), "send_started");
    json::object refusal = runner_.result_of(2);
    EXPECT_EQ(refusal.at("status"), EP_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(std::string(refusal.at("document").as_string()), HasSubstr("to[0].address"));
    runner_.request(3, "get_status", {{"account", "alice"}});
    EXPECT_EQ(runner_.result_of(3).at("status"), EP_OK);  // the next message: no send_done came
}

// A host that answers a secret request with an error is a store failure to the plugin
// (EP_ERR_STORAGE), exactly as a store that fails in process.
TEST_F(RunnerTest, HostServiceErrorsReachThePluginAsStoreFailures) {
    start();
    connect(2, "alice");
    runner_.answer_with_errors();
    runner_.request(3, "get_status", {{"account", "alice"}});
    const json::object over_the_channel = runner_.result_of(3);

    RunnerProcess failing_store;
    failing_store.request(1, "hello", hello_params(manifest(), config()));
    failing_store.result_of(1);
    failing_store.host().fail_store(true);
    failing_store.request(2, "get_status", {{"account", "alice"}});
    EXPECT_EQ(over_the_channel, failing_store.result_of(2));
    EXPECT_THAT(std::string(over_the_channel.at("document").as_string()), HasSubstr("storage"));
}

TEST_F(RunnerTest, CheckConnectionIsAnsweredWhenTheCheckIsDone) {
    start(R"(,"check_delay_ms":200)");
    connect(2, "alice");
    runner_.request(3, "check_connection", {{"account", "alice"}});
    json::object status = runner_.result_of(3);
    EXPECT_EQ(status.at("status"), EP_OK);
    EXPECT_THAT(std::string(status.at("document").as_string()), HasSubstr(R"("schema":"ep.status/1")"));
}

TEST_F(RunnerTest, SendingLimitsAndForgetAccountReachThePlugin) {
    start(R"(,"sending_limits":{"messages_per_minute":3})");
    connect(2, "alice");
    runner_.request(3, "get_sending_limits", {{"account", "alice"}});
    json::object limits = runner_.result_of(3);
    EXPECT_EQ(limits.at("status"), EP_OK);
    EXPECT_THAT(std::string(limits.at("document").as_string()), HasSubstr(R"("messages_per_minute":3)"));
    runner_.request(4, "complete_connect", {{"account", "alice"}, {"document", "{}"}});
    EXPECT_EQ(runner_.result_of(4).at("status"), EP_OK);
    runner_.request(5, "forget_account", {{"account", "alice"}});
    EXPECT_EQ(runner_.result_of(5).at("status"), EP_OK);
    EXPECT_FALSE(runner_.host().has_key("account/alice"));
}

// The plugin's log crosses only at the levels hello enabled, and log_enabled answers from that
// mask: Personal Outlook logs "ready" at INFO when created.
TEST_F(RunnerTest, LogsCrossOnlyAtTheLevelsTheHostEnabled) {
    dir_.write("k1.key", std::string(64, 'a') + "\n");
    const std::string outlook_config =
        R"({"client_id":"11111111-2222-4333-8444-555555555555","redirect_uri":"https://host.example/callback",)"
        R"("token_encryption":{"active_key":"k1","keys":[{"id":"k1","file":")" +
        (dir_ / "k1.key").string() + R"("}]}})";
    json::object params = hello_params(manifest(OUTLOOK_PLUGIN_PATH), outlook_config);
    params["log_levels"] = 1 << EP_LOG_INFO;
    runner_.request(1, "hello", params);
    json::object log = runner_.next();
    ASSERT_EQ(channel::method_of(log), "log") << json::serialize(log);
    EXPECT_EQ(channel::params_of(log).at("level"), EP_LOG_INFO);
    EXPECT_THAT(std::string(channel::string_member(channel::params_of(log), "message")),
                HasSubstr("Personal Outlook ready"));
    runner_.result_of(1);

    RunnerProcess quiet;
    params["log_levels"] = 1 << EP_LOG_ERROR;
    quiet.request(1, "hello", params);
    quiet.result_of(1);  // the next message: no log line came before it
}

// ABI 1.3: the plugin's count_event crosses as a notification before the answer of the call that
// counted (the probe counts one per status read); a host that said hello with minor 2 gets none.
TEST_F(RunnerTest, CountedEventsCrossAsNotificationsOnlyToAHostOf13) {
    runner_.request(1, "hello", hello_params(manifest(EVENT_PROBE_PATH), "{}"));
    runner_.result_of(1);
    runner_.request(2, "get_status", {{"account", "alice"}});
    const json::object event = runner_.next();
    ASSERT_EQ(channel::method_of(event), "count_event") << json::serialize(event);
    EXPECT_FALSE(channel::id_of(event)) << "a notification: the plugin does not wait";
    EXPECT_EQ(channel::params_of(event), (json::object{{"event", "token_refresh"}, {"outcome", "ok"}}));
    EXPECT_EQ(runner_.result_of(2).at("status"), EP_OK);

    RunnerProcess older_host;
    older_host.request(1, "hello", hello_params(manifest(EVENT_PROBE_PATH), "{}", 2));
    older_host.result_of(1);
    older_host.request(2, "get_status", {{"account", "alice"}});
    EXPECT_EQ(older_host.result_of(2).at("status"), EP_OK);  // the next message: no count_event came
}

TEST_F(RunnerTest, BadRequestsAreErrorsTheRunnerSurvives) {
    runner_.request(1, "get_status", {{"account", "alice"}});
    EXPECT_EQ(runner_.error_of(1).at("code"), -32001);  // no hello yet
    start();
    runner_.request(2, "frobnicate");
    json::object unknown = runner_.error_of(2);
    EXPECT_EQ(unknown.at("code"), -32601);
    EXPECT_THAT(std::string(unknown.at("message").as_string()), HasSubstr("frobnicate"));
    runner_.request(3, "get_status", {{"account", 7}});
    json::object bad = runner_.error_of(3);
    EXPECT_EQ(bad.at("code"), -32602);
    EXPECT_THAT(std::string(bad.at("message").as_string()),
                ::testing::AllOf(HasSubstr("get_status"), HasSubstr("account")));
    runner_.request(4, "hello", hello_params(manifest(), config()));
    EXPECT_EQ(runner_.error_of(4).at("code"), -32001);  // one provider per runner
    runner_.request(5, "get_status", {{"account", "alice"}});
    EXPECT_EQ(runner_.result_of(5).at("status"), EP_OK);
}

TEST_F(RunnerTest, HelloWithAMissingLibraryFailsAtLoad) {
    const std::string missing = (dir_ / "no-such-library.so").string();
    runner_.request(1, "hello", hello_params(manifest(missing), config()));
    json::object error = runner_.error_of(1);
    EXPECT_EQ(error.at("code"), -32000);
    EXPECT_THAT(std::string(error.at("message").as_string()), HasSubstr(missing));
    EXPECT_EQ(error.at("data").at("stage"), "load");
}

TEST_F(RunnerTest, HelloWhoseCreateFailsSaysWhyAndMayBeRetried) {
    runner_.request(1, "hello", hello_params(manifest(), R"({"outbox_dir":"relative"})"));
    json::object error = runner_.error_of(1);
    EXPECT_EQ(error.at("data").at("stage"), "create");
    EXPECT_EQ(error.at("data").at("status"), EP_ERR_CONFIG);
    EXPECT_THAT(std::string(error.at("data").at("document").as_string()), HasSubstr("outbox_dir"));
    EXPECT_THAT(std::string(error.at("message").as_string()), HasSubstr("outbox_dir"));
    start();
}

TEST_F(RunnerTest, ShutdownWaitsForSendsInFlightThenExitsZero) {
    start(R"(,"send_delay_ms":300)");
    connect(2, "alice");
    runner_.request(3, "send",
                    {{"account", "alice"}, {"document", R"({"to":[{"address":"bob@example.org"}],"text":"x"})"}});
    EXPECT_EQ(channel::method_of(runner_.next()), "send_started");
    EXPECT_EQ(runner_.result_of(3).at("status"), EP_OK);
    runner_.request(4, "shutdown");
    json::object done = runner_.next();
    EXPECT_EQ(channel::method_of(done), "send_done") << json::serialize(done);
    EXPECT_TRUE(runner_.result_of(4).empty());
    EXPECT_EQ(runner_.wait_exit(), 0);
}

TEST_F(RunnerTest, ClosedChannelEndsTheRunner) {
    start();
    runner_.close_channel();
    EXPECT_EQ(runner_.wait_exit(), 0);
}

// A plugin thread waiting for the host's answer when the channel closes gets a store failure at
// once, so the instance can go and the runner exits.
TEST_F(RunnerTest, ClosedChannelReleasesPluginThreadsWaitingForTheHost) {
    start();
    runner_.return_host_requests();
    runner_.request(2, "get_status", {{"account", "alice"}});
    EXPECT_EQ(channel::method_of(runner_.next()), "secret_get");
    runner_.close_channel();
    EXPECT_EQ(runner_.wait_exit(), 0);
}

TEST_F(RunnerTest, GarbageFromTheHostEndsTheRunnerWithExit3) {
    start();
    runner_.write_line("this is not JSON\n");
    EXPECT_EQ(runner_.wait_exit(), 3);
    EXPECT_THAT(runner_.stderr_text(), HasSubstr("not a JSON object"));
}

TEST(Runner, AppliesItsLimitsBeforeLoading) {
    RunnerProcess runner({"--open-files", "64", "--address-space-bytes", std::to_string(uint64_t{8} << 30)});
    // The limits hold while the runner waits for hello (man 5 proc: /proc/<pid>/limits).
    runner.request(1, "frobnicate");
    runner.error_of(1);
    const std::string limits = test_support::read_file("/proc/" + std::to_string(runner.pid()) + "/limits");
    EXPECT_THAT(limits, ::testing::ContainsRegex("Max open files +64 +64 "));
    if (ep::runner::kAddressSpaceLimitApplies) {
        EXPECT_THAT(limits, ::testing::ContainsRegex("Max address space +8589934592 +8589934592 "));
    }
}

// Each worker thread's stack is address space: under a limit too tight for them the runner says
// so and exits 2, instead of aborting or hanging (as boost::asio::thread_pool would).
TEST(Runner, SaysWhenItsAddressSpaceLimitLeavesNoRoomForItsThreads) {
    if (!ep::runner::kAddressSpaceLimitApplies) GTEST_SKIP() << "sanitizer builds keep the inherited limit";
    RunnerProcess runner({"--address-space-bytes", std::to_string(uint64_t{16} << 20)});
    EXPECT_EQ(runner.wait_exit(), 2);
    EXPECT_THAT(runner.stderr_text(), HasSubstr("worker threads"));
}

TEST(Runner, RefusesBadArguments) {
    RunnerProcess runner({"--open-files", "many"});
    EXPECT_EQ(runner.wait_exit(), 2);
    EXPECT_THAT(runner.stderr_text(), HasSubstr("--open-files"));
}

TEST(Runner, IsNotMeantToBeRunByHand) {
    for (Descriptor3 fd3 : {Descriptor3::Closed, Descriptor3::NotASocket}) {
        RunnerProcess runner({}, fd3);
        EXPECT_EQ(runner.wait_exit(), 2);
        EXPECT_THAT(runner.stderr_text(), HasSubstr("descriptor 3 is not a socket"));
    }
}

}  // namespace
