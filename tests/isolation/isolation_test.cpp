// Issue 22's faults, through the real host: the mock provider and a provider that crashes,
// hangs or leaks on purpose (fault_provider.c), both isolated ("process", the default), in one
// HostRuntime. In every case the host (this test binary) survives, the mock keeps sending, the
// faulty provider's outcomes are honest (plugin_api/ISOLATION.md's fault table) and every call
// answers within its deadline. Deadlines, backoffs and limits are shortened so that the whole
// binary runs in well under a minute. "in_process" is never tested here: nothing protects the
// host then, and the first fault would end this binary.
#include "process.hpp"

#include "core/host_runtime.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::TempDir;
using ::testing::AnyOf;
using ::testing::HasSubstr;

namespace {

// AddressSanitizer and ThreadSanitizer reserve terabytes of address space for their shadow
// memory, so a sanitized runner cannot start under an address-space limit
// (https://github.com/google/sanitizers/wiki/AddressSanitizer, "ulimit -v").
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kShadowMemory = true;
#elif defined(__has_feature)
constexpr bool kShadowMemory = __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
constexpr bool kShadowMemory = false;
#endif

// The test deadlines (seconds), in the host config's "isolation" block.
constexpr double kQuick = 1.0, kCheck = 1.0, kSendCompletion = 2.0;
const std::string kDeadlines =
    R"("deadline_seconds":{"load":5,"quick":1,"slow":2,"check":1,"send_completion":2,"shutdown":2})";

// One nudge's JSON, as the outbox takes it.
json::object nudge(const std::string& subject) {
    return json::object{
        {"to", json::array{json::object{{"address", "casey@example.org"}}}}, {"subject", subject}, {"text", "hello"}};
}

std::string error_code(const ep::loader::CallResult& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.document, ec);
    if (ec || !v.is_object()) return "";
    const json::value* code = v.as_object().if_contains("error");
    code = code && code->is_object() ? code->as_object().if_contains("code") : nullptr;
    return code && code->is_string() ? std::string(code->as_string()) : "";
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The pids of the runners started so far, from the "created_pid" lines the provider traced.
std::vector<pid_t> runner_pids(const std::filesystem::path& trace) {
    std::vector<pid_t> pids;
    for (const auto& line : lines_of(trace))
        if (line.rfind("created_pid ", 0) == 0) pids.push_back(std::stoi(line.substr(12)));
    return pids;
}

int open_descriptors() {
    return static_cast<int>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
}

class IsolationTest : public ::testing::Test {
protected:
    // Starts the host with the mock and the fault provider (`library`, configured with
    // `fault_config`'s extra members); `isolation` adds members to the "isolation" block.
    void start(const std::string& fault_config, const std::string& isolation = "",
               const std::string& library = FAULT_PROVIDER_PATH) {
        dir_.write("fault.json", R"({"file_format_version":"1.0.0","provider":{"id":"fault",
            "display_name":"Faulty provider","library_path":")" +
                                     library + R"(","abi_version":"1.3","capabilities":[]}})");
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],
            "isolation":{)" + kDeadlines +
                                    isolation +
                                    R"(,"quarantine_crashes":3,"quarantine_window_seconds":60},
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml","address":"rita@example.com"}},
                         {"manifest":"fault.json","config":{"fault_account":"sam",
                          "sent_log":"${config_dir}/sent.log","trace_log":"${config_dir}/trace.log")" +
                                    fault_config + "}}]}");
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        rt_->start_outbox();
    }

    void choose(const std::string& user, const std::string& provider) {
        rt_->store->upsert_user(host::User{user, user});
        rt_->store->save_settings(user, host::CommunicationSettings{"email", provider});
        ASSERT_TRUE(rt_->providers->instance(provider)->begin_connect(user, "{}").ok()) << user << " via " << provider;
    }

    std::optional<host::Nudge> settled(int64_t id, std::chrono::milliseconds timeout = 8s) {
        test_support::wait_until(
            [&] {
                auto n = rt_->store->nudge(id);
                return n && n->state != host::NudgeState::queued && n->state != host::NudgeState::sending;
            },
            timeout);
        return rt_->store->nudge(id);
    }

    // The other provider is untouched by the fault: Rita's nudge through the mock goes out.
    void expect_mock_still_sends() {
        choose("rita", "mock");
        auto n = settled(rt_->outbox->enqueue("rita", nudge("through the mock")));
        ASSERT_TRUE(n);
        EXPECT_EQ(n->state, host::NudgeState::sent) << n->last_code << ": " << n->last_message;
    }

    bool fault_available() { return rt_->providers->find("fault")->available(); }
    // After a crash the runner is started again: back once the provider answers for an account
    // the fault spares (meanwhile its calls answer provider_restarting).
    bool comes_back() {
        return test_support::wait_until([&] { return fault()->status("rita").ok(); }, 10s, 50ms);
    }
    std::size_t runner_starts() { return runner_pids(dir_ / "trace.log").size(); }
    // The fault provider's instance, whether or not it is available (restarting, quarantined).
    std::shared_ptr<ep::loader::Provider> fault() {
        for (const auto& e : rt_->providers->entries())
            if (e.id == "fault" && e.instance) return e.instance;
        throw std::runtime_error("the fault provider did not load");  // the test fails, the binary runs on
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

// What the caller or user was shown, printed for the fault table (plugin_api/ISOLATION.md).
void saw(const std::string& fault, const std::string& text) {
    std::cout << "[ saw      ] " << fault << ": " << text << "\n";
}

// How long `call` took.
template <typename F>
std::chrono::milliseconds timed(F&& call) {
    auto start = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace

// ---- Crashes while sending: the nudge may have gone (send_started was read) -----------------

TEST_F(IsolationTest, SegfaultInSendIsIndeterminateNeverLostAndTheMockKeepsSending) {
    start(R"(,"fault":"segv_in_send")");
    choose("sam", "fault");
    auto n = settled(rt_->outbox->enqueue("sam", nudge("crashes the runner")));
    ASSERT_TRUE(n);
    EXPECT_EQ(n->state, host::NudgeState::needs_review) << "the runner had started it: it may have gone";
    EXPECT_EQ(n->last_outcome, "indeterminate");
    EXPECT_EQ(n->last_code, "provider_crashed");
    saw("segv_in_send", n->last_message);
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back());
    EXPECT_EQ(runner_starts(), 2u);
    EXPECT_TRUE(fault()->status("sam").ok()) << "the restarted runner answers";
}

TEST_F(IsolationTest, SegfaultOnTheCompletionThreadIsIndeterminate) {
    start(R"(,"fault":"segv_on_completion_thread")");
    choose("sam", "fault");
    auto n = settled(rt_->outbox->enqueue("sam", nudge("crashes while sending")));
    ASSERT_TRUE(n);
    EXPECT_EQ(n->state, host::NudgeState::needs_review);
    EXPECT_EQ(n->last_outcome, "indeterminate");
    EXPECT_EQ(n->last_code, "provider_crashed");
    EXPECT_TRUE(lines_of(dir_ / "sent.log").empty()) << "it crashed before reporting anything sent";
    saw("segv_on_completion_thread", n->last_message);
    expect_mock_still_sends();
    EXPECT_TRUE(comes_back());
}

// A runner that stops reading (SIGSTOP: a hang the plugin cannot cause itself) never wrote
// send_started: the send certainly had not started, so it ends transient, and the same
// message sent again goes out once. (Through the outbox the host's get_status before a send
// meets the stopped runner first, so the provider's send is asked directly.)
TEST_F(IsolationTest, ASendTheRunnerNeverStartedIsTransientAndGoesOutOnceWhenRetried) {
    start(R"(,"fault":"none")");
    choose("sam", "fault");
    pid_t runner = runner_pids(dir_ / "trace.log").back();
    ASSERT_NE(runner, ::getpid()) << "the provider runs in this process: it is not isolated";
    ASSERT_EQ(::kill(runner, SIGSTOP), 0);
    json::object message = nudge("not started");
    message["client_request_id"] = "not-started-1";
    // An isolated send is not waited for: its outcome comes through the callback.
    std::promise<std::string> outcome;
    auto took = timed([&] {
        ASSERT_EQ(fault()->send("sam", json::serialize(message),
                                [&](std::string_view r) { outcome.set_value(std::string(r)); }),
                  std::nullopt);
        std::future<std::string> f = outcome.get_future();
        ASSERT_EQ(f.wait_for(std::chrono::duration<double>(kQuick + 2)), std::future_status::ready);
        const std::string document = f.get();
        json::object r = json::parse(document).as_object();
        EXPECT_EQ(r["outcome"], "transient") << document;
        EXPECT_THAT(document, HasSubstr("send did not answer within"));
        saw("runner stopped before send_started", document);
    });
    EXPECT_LT(took.count(), kQuick * 1000 + 1500);
    ASSERT_TRUE(comes_back());
    auto sent = fault()->send_blocking("sam", json::serialize(message));
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));
    EXPECT_EQ(lines_of(dir_ / "sent.log"), std::vector<std::string>{"not-started-1"});
    EXPECT_EQ(runner_starts(), 2u);
}

TEST_F(IsolationTest, ASendThatNeverCallsBackTurnsIndeterminateAtItsDeadlineAndTheRunnerLives) {
    start(R"(,"fault":"send_never_calls_back")");
    choose("sam", "fault");
    auto took = timed([&] {
        auto n = settled(rt_->outbox->enqueue("sam", nudge("never answered")));
        ASSERT_TRUE(n);
        EXPECT_EQ(n->state, host::NudgeState::needs_review);
        EXPECT_EQ(n->last_outcome, "indeterminate");
        EXPECT_EQ(n->last_code, "deadline_exceeded");
        saw("send_never_calls_back", n->last_message);
    });
    EXPECT_LT(took.count(), (kSendCompletion + 3) * 1000);
    EXPECT_EQ(runner_starts(), 1u) << "a late send does not kill the runner";
    EXPECT_TRUE(fault()->status("sam").ok());
    expect_mock_still_sends();
}

// ---- Crashes and hangs in calls --------------------------------------------------------------

TEST_F(IsolationTest, AbortInBeginConnectFailsTheConnectWithAMessageAPersonUnderstands) {
    start(R"(,"fault":"abort_in_begin_connect")");
    host::ProviderAnswer a = rt_->providers->require("fault")->begin_connect("sam", "{}");
    EXPECT_FALSE(a.ok());
    EXPECT_EQ(a.result.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(a.result), "provider_crashed");
    EXPECT_THAT(a.reason(), HasSubstr("Faulty provider")) << "names the provider: " << a.reason();
    saw("abort_in_begin_connect", a.reason());
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back());
    EXPECT_TRUE(fault()->begin_connect("someone_else", "{}").ok()) << "the restarted runner connects other accounts";
}

TEST_F(IsolationTest, AnEndlessGetStatusAnswersWithinItsDeadline) {
    start(R"(,"fault":"loop_in_get_status")");
    ep::loader::CallResult r;
    auto took = timed([&] { r = fault()->status("sam"); });
    EXPECT_EQ(r.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(r), "deadline_exceeded");
    EXPECT_GE(took.count(), kQuick * 1000 - 50);
    EXPECT_LT(took.count(), kQuick * 1000 + 1500);
    saw("loop_in_get_status", r.document);
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back()) << "the hung runner was killed and started again";
    EXPECT_TRUE(fault()->status("rita").ok());
}

TEST_F(IsolationTest, AnEndlessCheckConnectionAnswersWithinItsDeadline) {
    start(R"(,"fault":"loop_in_check_connection")");
    ep::loader::CallResult r;
    auto took = timed([&] { r = fault()->check_blocking("sam", 30s); });
    json::object s = json::parse(r.document).as_object();
    ASSERT_TRUE(s.contains("check_failed")) << r.document;
    EXPECT_THAT(std::string(s["check_failed"].at("code").as_string()), AnyOf("deadline_exceeded", "provider_crashed"));
    EXPECT_LT(took.count(), kCheck * 1000 + 1500);
    saw("loop_in_check_connection", r.document);
    expect_mock_still_sends();
    EXPECT_TRUE(comes_back());
}

// A plugin that writes garbage to, or closes, a descriptor it does not own: in a runner, the
// channel. The host reads the garbage as a protocol error (or the channel's end) and treats
// the runner as crashed.
class ChannelFaultTest : public IsolationTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ChannelFaultTest, TheHostTreatsTheRunnerAsCrashedAndStartsAnother) {
    start(std::string(R"(,"fault":")") + GetParam() + "\"");
    ep::loader::CallResult r;
    auto took = timed([&] { r = fault()->status("sam"); });
    EXPECT_EQ(r.status, EP_ERR_INTERNAL);
    EXPECT_THAT(error_code(r), AnyOf("provider_crashed", "deadline_exceeded")) << r.document;
    EXPECT_LT(took.count(), kQuick * 1000 + 1500);
    saw(GetParam(), r.document);
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back());
    EXPECT_EQ(runner_starts(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Faults, ChannelFaultTest, ::testing::Values("garbage_on_channel", "closes_channel"),
                         [](const auto& test) { return std::string(test.param); });

// ---- Leaks: stopped by the runner's limits, not by the machine running out -------------------

TEST_F(IsolationTest, AMemoryHogIsStoppedByTheAddressSpaceLimit) {
    if (kShadowMemory) GTEST_SKIP() << "a sanitized runner cannot run under an address-space limit";
    start(R"(,"fault":"memory_hog")", R"(,"address_space_mb":512)");
    auto r = fault()->status("sam");
    EXPECT_EQ(r.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(r), "provider_crashed");
    auto trace = lines_of(dir_ / "trace.log");
    ASSERT_FALSE(trace.empty());
    int mib = 0;
    for (const auto& line : trace)
        if (line.rfind("memory_hog_mib ", 0) == 0) mib = std::stoi(line.substr(15));
    EXPECT_GT(mib, 0) << "malloc failed under the limit, before the provider's own 2 GiB stop";
    EXPECT_LT(mib, 512);
    saw("memory_hog", r.document + " after " + std::to_string(mib) + " MiB");
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back());
    EXPECT_TRUE(fault()->status("rita").ok());
}

TEST_F(IsolationTest, ADescriptorLeakIsStoppedByTheOpenFilesLimit) {
    start(R"(,"fault":"fd_leak")", R"(,"open_files":64)");
    int before = open_descriptors();
    auto r = fault()->status("sam");
    EXPECT_EQ(error_code(r), "provider_crashed");
    int leaked = -1;
    for (const auto& line : lines_of(dir_ / "trace.log"))
        if (line.rfind("fd_leak_emfile ", 0) == 0) leaked = std::stoi(line.substr(15));
    EXPECT_GT(leaked, 0);
    EXPECT_LT(leaked, 64) << "the runner's RLIMIT_NOFILE, not the host's, stopped it";
    saw("fd_leak", r.document + " after " + std::to_string(leaked) + " descriptors");
    expect_mock_still_sends();
    ASSERT_TRUE(comes_back());
    EXPECT_LE(open_descriptors(), before + 4) << "the leak stayed in the runner";
}

// ---- Crash loops: quarantined, with the reason everywhere the host shows providers ----------

TEST_F(IsolationTest, ThreeCrashesQuarantineTheProviderAndEveryViewSaysWhy) {
    start(R"(,"fault":"abort_in_begin_connect")");
    rt_->store->save_settings("sam", host::CommunicationSettings{"email", "fault"});
    int64_t held = rt_->outbox->enqueue("sam", nudge("waits for a connection"));
    ASSERT_EQ(settled(held)->state, host::NudgeState::held);
    for (int crash = 0; crash < 3; ++crash) {
        ASSERT_TRUE(comes_back()) << "before crash " << crash;
        EXPECT_EQ(error_code(fault()->begin_connect("sam", "{}")), "provider_crashed");
    }
    EXPECT_TRUE(test_support::wait_until([&] { return !fault_available(); }, 3s)) << "quarantined, not restarting";
    std::string why;
    for (const auto& e : rt_->providers->entries())
        if (e.id == "fault") {
            EXPECT_FALSE(e.available());
            why = e.reason();
        }
    EXPECT_THAT(why, HasSubstr("quarantined"));
    // The supervisor told the host's metrics (IsolationOptions::on_runner_event), just after
    // the state changed.
    const std::vector<std::string> counted{R"(ep_host_provider_runner_crashes_total{provider="fault"} 3)",
                                           R"(ep_host_provider_runner_restarts_total{provider="fault"} 2)",
                                           R"(ep_host_provider_runner_quarantines_total{provider="fault"} 1)"};
    std::string metrics;
    EXPECT_TRUE(test_support::wait_until(
        [&] {
            metrics = rt_->metrics->text();
            return std::all_of(counted.begin(), counted.end(),
                               [&](const std::string& line) { return metrics.find(line + "\n") != std::string::npos; });
        },
        3s))
        << metrics;
    EXPECT_EQ(metrics.find(R"(ep_host_provider_runner_crashes_total{provider="mock"})"), std::string::npos);
    rt_->outbox->recheck_held();
    ASSERT_TRUE(test_support::wait_until([&] { return host::is_stranded(*rt_->store->nudge(held)); }, 8s));
    auto n = rt_->store->nudge(held);
    EXPECT_EQ(n->last_code, host::stranded::provider_unavailable);
    EXPECT_THAT(n->last_message, HasSubstr("quarantined")) << "the stranded-nudge view says why";
    saw("3 crashes (provider)", why);
    saw("3 crashes (stranded nudge)", n->last_message);
    expect_mock_still_sends();
}

// ---- Faults while loading: the provider is unavailable, with how its runner died ------------

TEST_F(IsolationTest, AbortInCreateLeavesTheProviderUnavailableWithTheReason) {
    start(R"(,"fault":"abort_in_create")");
    auto entries = rt_->providers->entries();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_TRUE(entries[0].available()) << entries[0].reason();
    EXPECT_FALSE(entries[1].available());
    EXPECT_THAT(entries[1].reason(), AnyOf(HasSubstr("SIGABRT"), HasSubstr("signal 6"), HasSubstr("abort")));
    saw("abort_in_create", entries[1].reason());
    expect_mock_still_sends();
}

struct LoadFault {
    const char* name;
    const char* library;
    const char* death;  // how the runner's end is named in the reason
};

void PrintTo(const LoadFault& fault, std::ostream* os) { *os << fault.name; }

class LoadTimeFaultTest : public IsolationTest, public ::testing::WithParamInterface<LoadFault> {};

TEST_P(LoadTimeFaultTest, TheProviderIsUnavailableWithHowItsRunnerDiedAndTheHostIsUp) {
    start("", "", GetParam().library);
    auto entries = rt_->providers->entries();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_TRUE(entries[0].available()) << entries[0].reason();
    EXPECT_FALSE(entries[1].available());
    // A sanitizer's own SEGV handler reports the crash, then ends the runner its own way (ASan
    // aborts, TSan exits with 66): there the death is only known to be one.
    const std::string death = kShadowMemory && std::string_view(GetParam().death) == "SIGSEGV"
                                  ? "its runner died while loading the provider ("
                                  : GetParam().death;
    EXPECT_THAT(entries[1].reason(), HasSubstr(death));
    saw(GetParam().name, entries[1].reason());
    expect_mock_still_sends();
}

INSTANTIATE_TEST_SUITE_P(Libraries, LoadTimeFaultTest,
                         ::testing::Values(LoadFault{"ConstructorAborts", FAULT_CTOR_ABORTS_PATH, "SIGABRT"},
                                           LoadFault{"ConstructorExits", FAULT_CTOR_EXITS_PATH, "exit"},
                                           LoadFault{"NegotiateSegfaults", FAULT_NEGOTIATE_SEGV_PATH, "SIGSEGV"}),
                         [](const auto& test) { return std::string(test.param.name); });

// ---- The command line ------------------------------------------------------------------------

TEST_F(IsolationTest, CliStatusAnswersWithinTheDeadlineWhenGetStatusLoops) {
    start(R"(,"fault":"loop_in_get_status")");
    rt_.reset();  // the CLI opens the same database
    std::string config = (dir_ / "host.json").string();
    test_support::ProcessResult r;
    auto took = timed([&] {
        r = test_support::run_process(
            {HOST_STUB_PATH, "--config", config, "status", "--provider", "fault", "--account", "sam"});
    });
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("did not answer in time")) << r.err;
    saw("host_stub status, loop_in_get_status", r.err);
    EXPECT_LT(took.count(), 8000) << "start, one quick deadline, stop";
    r = test_support::run_process({HOST_STUB_PATH, "--config", config, "--json", "providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr(R"("id":"fault")"));
}

// ---- SIGKILL during 1,000 sends: 0 lost, 0 sent twice ------------------------------------------

TEST_F(IsolationTest, SigkillDuringAThousandSendsLosesNothingAndSendsNothingTwice) {
    // 250 users, 4 nudges each: the outbox keeps 4 of a user's and 256 in all with the provider.
    start(R"(,"fault":"none","send_delay_ms":300)", R"(,"quarantine_crashes":100)");
    std::vector<int64_t> ids;
    for (int u = 0; u < 250; ++u) choose("u" + std::to_string(u), "fault");
    for (int u = 0; u < 250; ++u)
        for (int i = 0; i < 4; ++i)
            ids.push_back(rt_->outbox->enqueue("u" + std::to_string(u), nudge("n" + std::to_string(i))));
    ASSERT_TRUE(test_support::wait_until([&] { return lines_of(dir_ / "sent.log").size() >= 300; }, 20s));
    ASSERT_FALSE(runner_pids(dir_ / "trace.log").empty());
    pid_t pid = runner_pids(dir_ / "trace.log").back();
    ASSERT_NE(pid, ::getpid()) << "the provider runs in this process: it is not isolated";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);

    std::map<host::NudgeState, int> states;
    auto all_settled = [&] {
        states.clear();
        for (int64_t id : ids) ++states[rt_->store->nudge(id)->state];
        if (states[host::NudgeState::held] > 0) rt_->outbox->recheck_held();
        return states[host::NudgeState::sent] + states[host::NudgeState::needs_review] == int(ids.size());
    };
    EXPECT_TRUE(test_support::wait_until(all_settled, 30s, 200ms));

    auto sent_log = lines_of(dir_ / "sent.log");
    std::set<std::string> sent_once(sent_log.begin(), sent_log.end());
    EXPECT_EQ(sent_once.size(), sent_log.size()) << "a message was sent twice";
    int indeterminate = 0, indeterminate_but_sent = 0, retried = 0;
    for (int64_t id : ids) {
        auto n = rt_->store->nudge(id);
        bool in_log = sent_once.count(n->client_request_id) > 0;
        if (n->state == host::NudgeState::sent) {
            EXPECT_TRUE(in_log) << "nudge " << id << " recorded sent, never sent";
        }
        if (n->state == host::NudgeState::needs_review) {
            ++indeterminate;
            indeterminate_but_sent += in_log;  // killed between sending and reporting it: honest
            EXPECT_EQ(n->last_outcome, "indeterminate");
        }
        retried += n->attempts > 1;
    }
    std::cout << "[ figures  ] 1000 nudges, the runner SIGKILLed once 300 were sent: " << states[host::NudgeState::sent]
              << " sent, " << indeterminate << " indeterminate (needs_review; " << indeterminate_but_sent
              << " of them had gone), " << retried << " retried after a transient outcome, " << sent_log.size()
              << " lines in the sent log\n";
    RecordProperty("indeterminate", indeterminate);
    EXPECT_GT(indeterminate, 0) << "the kill came while sends were in flight";
}
