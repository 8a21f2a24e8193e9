// Isolated providers (ISOLATION.md) through the real ep-provider-runner and the mock provider:
// the calls, the host services across the channel, and every fault the host side handles
// (crash, deadline, restart, quarantine, shutdown). Faults are made from outside the mock: the
// runner is killed (SIGKILL) or frozen (SIGSTOP), and fake runners (shell scripts) stand in for
// runners that die while starting.
#include "fake_host.hpp"
#include "process.hpp"

#include "isolated/host_services.hpp"
#include "isolated/runner_process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using ep::loader::LoadError;
using test_support::TempDir;
using test_support::wait_until;
using ::testing::AllOf;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace json = boost::json;

namespace {

constexpr std::string_view kMessage = R"({"to":[{"address":"bob@example.org"}],"text":"hello"})";

json::object parse(std::string_view text) { return json::parse(text).as_object(); }

std::string error_code(const ep::loader::CallResult& r) {
    return std::string(parse(r.document).at("error").at("code").as_string());
}

// The live runners this test process started: children whose program is the runner (a zombie
// has no exe link, so one already dead is not counted).
std::vector<pid_t> runner_pids() {
    std::vector<pid_t> pids;
    const std::filesystem::path runner = std::filesystem::canonical(RUNNER_PATH);
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        std::getline(stat, line);
        // pid (comm) state ppid ...: comm may hold spaces, so read after its ")".
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        rest >> state >> ppid;
        std::error_code ec;
        if (ppid == ::getpid() && std::filesystem::read_symlink(entry.path() / "exe", ec) == runner)
            pids.push_back(std::stoi(name));
    }
    return pids;
}

pid_t the_runner() {
    std::vector<pid_t> pids;
    wait_until([&] { return (pids = runner_pids()).size() == 1; }, 5s);
    return pids.size() == 1 ? pids[0] : -1;
}

// Collects send outcomes from the pool threads.
struct Outcomes {
    std::mutex mutex;
    std::vector<std::string> documents;
    ep::loader::Provider::SendDone collector() {
        return [this](std::string_view result) {
            std::lock_guard lock(mutex);
            documents.emplace_back(result);
        };
    }
    std::size_t size() {
        std::lock_guard lock(mutex);
        return documents.size();
    }
    std::vector<std::string> all() {
        std::lock_guard lock(mutex);
        return documents;
    }
};

class IsolatedProviderTest : public ::testing::Test {
protected:
    IsolatedProviderTest() {
        options_.runner = RUNNER_PATH;
        options_.restart.first_backoff = 50ms;
        options_.restart.max_backoff = 200ms;
    }

    ep::loader::Manifest manifest(const std::string& library = MOCK_PROVIDER_PATH) {
        dir_.write("mock.json", R"({"file_format_version":"1.0.0","provider":{"id":"mock","display_name":"Mock Mail",)"
                                R"("library_path":")" +
                                    library + R"(","abi_version":"1.3","capabilities":["html_body"]}})");
        return ep::loader::read_manifest(dir_ / "mock.json");
    }
    std::string config(const std::string& extra = "") const {
        return R"({"outbox_dir":")" + (dir_ / "outbox").string() + "\"" + extra + "}";
    }
    // A provider with "alice" connected (the mock sends for connected accounts only).
    std::unique_ptr<ep::loader::Provider> start(const std::string& extra_config = "") {
        auto provider = ep::loader::start_isolated(manifest(), host_.api(), config(extra_config), options_);
        EXPECT_TRUE(provider->begin_connect("alice", "{}").ok());
        return provider;
    }
    std::string load_error(const std::string& library, const std::string& config_json) {
        try {
            ep::loader::start_isolated(manifest(library), host_.api(), config_json, options_);
        } catch (const LoadError& e) {
            return e.what();
        }
        return "(started without error)";
    }
    // A stand-in runner: a shell script.
    std::filesystem::path fake_runner(const std::string& body) {
        dir_.write("fake-runner.sh", "#!/bin/sh\n" + body + "\n");
        ::chmod((dir_ / "fake-runner.sh").c_str(), 0755);
        return dir_ / "fake-runner.sh";
    }

    TempDir dir_;
    test_support::FakeHost host_;
    ep::loader::IsolationOptions options_;
};

}  // namespace

// ---- Through a runner ---------------------------------------------------------------------

TEST_F(IsolatedProviderTest, StartsARunnerAndReportsWhatHelloSaid) {
    const auto started = std::chrono::steady_clock::now();
    auto provider = start();
    const auto cold_start = std::chrono::steady_clock::now() - started;
    const ep::loader::ProviderInfo& info = provider->info();
    EXPECT_EQ(info.manifest.id, "mock");
    EXPECT_EQ(info.provider_name, "Mock provider");
    EXPECT_EQ(info.abi_major, 1);
    EXPECT_EQ(info.abi_minor, 3);
    EXPECT_TRUE(info.can_check);
    EXPECT_NE(info.capabilities & EP_CAP_HTML_BODY, 0u);
    EXPECT_EQ(provider->unavailable_reason(), std::nullopt);
    EXPECT_GT(the_runner(), 0);
    std::printf("cold start (spawn, hello, create): %.2f ms\n",
                std::chrono::duration<double, std::milli>(cold_start).count());
}

TEST_F(IsolatedProviderTest, ConnectsAndSendsThroughTheRunnerWithSecretsInTheHostsStore) {
    auto provider = start();
    // The mock keeps the connection in the secret store: it is the host's, not the runner's.
    EXPECT_EQ(host_.secrets().size(), 1u);
    ep::loader::CallResult status = provider->status("alice");
    ASSERT_TRUE(status.ok()) << status.document;
    EXPECT_EQ(parse(status.document).at("state"), "connected");

    ep::loader::CallResult sent = provider->send_blocking("alice", kMessage);
    EXPECT_EQ(parse(sent.document).at("outcome"), "sent") << sent.document;
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "outbox"), {}), 1);
    EXPECT_EQ(parse(provider->check_blocking("alice", 5s).document).at("state"), "connected");

    ASSERT_TRUE(provider->disconnect("alice").ok());
    EXPECT_TRUE(host_.secrets().empty());
}

TEST_F(IsolatedProviderTest, RefusesAnInvalidMessageWithTheSharedModelNamingTheField) {
    auto provider = start();
    auto refusal = provider->send("alice", R"({"to":[{"address":"not an address"}],"text":"x"})",
                                  [](std::string_view) { ADD_FAILURE() << "a refused send called back"; });
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->status, EP_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(parse(refusal->document).at("outcome"), "rejected");
    EXPECT_EQ(parse(refusal->document).at("field"), "to[0].address");
}

// ---- Starting ---------------------------------------------------------------------------

TEST_F(IsolatedProviderTest, ACreateFailureIsALoadErrorNamingTheField) {
    EXPECT_THAT(load_error(MOCK_PROVIDER_PATH, R"({"outbox_dir":"relative"})"),
                AllOf(HasSubstr("mock"), HasSubstr("outbox_dir"), HasSubstr("absolute")));
    EXPECT_THAT(load_error(MOCK_CREATE_FAILS_PATH, config()), HasSubstr("mock provider built to fail at create"));
}

TEST_F(IsolatedProviderTest, ALibraryWithoutEntryPointIsALoadError) {
    EXPECT_THAT(load_error(MOCK_NO_ENTRY_PATH, config()), HasSubstr("entry point"));
}

TEST_F(IsolatedProviderTest, AMissingRunnerIsALoadErrorNamingWhereItLooked) {
    options_.runner = dir_ / "no-such-runner";
    EXPECT_THAT(load_error(MOCK_PROVIDER_PATH, config()),
                AllOf(HasSubstr("provider 'mock'"), HasSubstr("no-such-runner (isolation.runner)")));
}

// Without isolation.runner: $EP_PROVIDER_RUNNER, then next to the program, then the installed one
// relative to the program (an installed tree extracted elsewhere, as the package test does, finds
// its own runner), then the installed one at its absolute path.
TEST(IsolatedRunnerLookup, TriesTheEnvironmentThenNextToTheProgramThenTheInstalledOnes) {
    const char* before = std::getenv("EP_PROVIDER_RUNNER");
    const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
    ::setenv("EP_PROVIDER_RUNNER", "/nowhere/runner", 1);
    const auto candidates = ep::loader::isolated::runner_candidates({});
    if (saved)
        ::setenv("EP_PROVIDER_RUNNER", saved->c_str(), 1);
    else
        ::unsetenv("EP_PROVIDER_RUNNER");
    ASSERT_EQ(candidates.size(), 4u);
    EXPECT_EQ(candidates[0].path, "/nowhere/runner");
    EXPECT_EQ(candidates[0].source, "$EP_PROVIDER_RUNNER");
    const std::filesystem::path program_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    EXPECT_EQ(candidates[1].path, program_dir / "ep-provider-runner");
    EXPECT_EQ(candidates[2].source, "installed, relative to this program");
    EXPECT_EQ(candidates[2].path, program_dir.parent_path() / "libexec/email-provider/ep-provider-runner");
    EXPECT_EQ(candidates[3].source, "installed");
    EXPECT_THAT(candidates[3].path.string(), HasSubstr("/email-provider/ep-provider-runner"));
}

TEST_F(IsolatedProviderTest, ARunnerThatDiesDuringHelloIsALoadErrorSayingHow) {
    options_.runner = fake_runner("kill -ABRT $$");
    EXPECT_THAT(load_error(MOCK_PROVIDER_PATH, config()),
                AllOf(HasSubstr("died while loading"), HasSubstr("killed by signal 6, SIGABRT")));
    options_.runner = fake_runner("exit 0");
    EXPECT_THAT(load_error(MOCK_PROVIDER_PATH, config()), HasSubstr("exited with status 0"));
}

// A process the runner started still holds the channel open: the runner's death is seen by its
// pidfd, not by an end of stream that never comes.
TEST_F(IsolatedProviderTest, ARunnerThatDiesWhileItsChildHoldsTheChannelIsSeenDeadAtOnce) {
    options_.runner = fake_runner("sleep 3 >/dev/null 2>&1 & kill -SEGV $$");  // not holding the test's output
    const auto asked = std::chrono::steady_clock::now();
    EXPECT_THAT(load_error(MOCK_PROVIDER_PATH, config()), HasSubstr("killed by signal 11, SIGSEGV"));
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
}

// The runner inherits descriptor 3 and nothing else, a scrubbed environment, and its limits
// as arguments.
TEST_F(IsolatedProviderTest, TheRunnerGetsOnlyItsChannelAnAllowListedEnvironmentAndItsLimits) {
    const auto report = dir_ / "report.txt";
    options_.runner = fake_runner("exec > " + report.string() + "; echo \"args: $*\"; env; echo FDS; ls /proc/self/fd");
    options_.address_space_bytes = 1u << 30;
    options_.open_files = 64;
    options_.pass_environment = {"EP_TEST_PASSED"};
    ::setenv("EP_TEST_SECRET", "leaked", 1);
    ::setenv("EP_TEST_PASSED", "kept", 1);
    ::setenv("TSAN_OPTIONS_X", "not a sanitizer's", 1);
    load_error(MOCK_PROVIDER_PATH, config());
    ::unsetenv("EP_TEST_SECRET");
    ::unsetenv("EP_TEST_PASSED");
    ::unsetenv("TSAN_OPTIONS_X");
    const std::string seen = test_support::read_file(report);
    EXPECT_THAT(seen, AllOf(HasSubstr("args: --address-space-bytes 1073741824 --open-files 64"),
                            HasSubstr("EP_TEST_PASSED=kept"), HasSubstr("PATH=")));
    EXPECT_THAT(seen, AllOf(::testing::Not(HasSubstr("EP_TEST_SECRET")), ::testing::Not(HasSubstr("TSAN_OPTIONS_X"))));
    // ls lists 0 1 2 3 and the descriptor it reads the directory with: nothing else.
    std::istringstream lines(seen.substr(seen.rfind("FDS\n")));
    std::vector<std::string> fds;
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) fds.push_back(line);
    EXPECT_EQ(fds.size(), 5u) << seen;
    EXPECT_THAT(fds, ::testing::IsSupersetOf({"0", "1", "2", "3"}));
}

// ---- Faults -------------------------------------------------------------------------------

// Every send the runner had taken was handed to the plugin (send_started came first), so after
// the kill each one may have gone: indeterminate, never resent. Then the runner restarts.
TEST_F(IsolatedProviderTest, SendsInFlightWhenTheRunnerIsKilledAreIndeterminateThenItRestarts) {
    auto provider = start(R"(,"send_delay_ms":5000)");
    Outcomes outcomes;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(provider->send("alice", kMessage, outcomes.collector()), std::nullopt);
    // send() does not wait for the runner to take the message; these are taken within
    // milliseconds, and then held by the mock for 5 s.
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(::kill(the_runner(), SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] { return outcomes.size() == 3; }, 5s));
    for (const std::string& d : outcomes.all()) {
        EXPECT_EQ(parse(d).at("outcome"), "indeterminate") << d;
        EXPECT_EQ(parse(d).at("code"), "provider_crashed") << d;
        EXPECT_THAT(d, HasSubstr("Mock Mail stopped unexpectedly (killed by signal 9, SIGKILL) while sending"));
    }
    // Restarting: calls are answered at once, saying so; then it works again.
    ASSERT_TRUE(wait_until([&] { return provider->restarting().has_value(); }, 2s));
    EXPECT_THAT(*provider->restarting(),
                HasSubstr("restarting after it stopped unexpectedly (killed by signal 9, SIGKILL)"));
    EXPECT_EQ(provider->unavailable_reason(), std::nullopt) << "a restart is a moment: still available";
    ASSERT_TRUE(wait_until([&] { return !provider->restarting(); }, 5s));
    EXPECT_TRUE(provider->status("alice").ok());
}

TEST_F(IsolatedProviderTest, ASyncCallWhoseRunnerIsKilledAnswersProviderCrashedInWordsForPeople) {
    auto provider = start();
    const pid_t runner = the_runner();
    ASSERT_EQ(::kill(runner, SIGSTOP), 0);  // so that the call is surely waiting when it dies
    auto status = std::async(std::launch::async, [&] { return provider->begin_connect("bob", "{}"); });
    std::this_thread::sleep_for(100ms);
    ASSERT_EQ(::kill(runner, SIGKILL), 0);
    ep::loader::CallResult r = status.get();
    EXPECT_EQ(r.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(r), "provider_crashed");
    EXPECT_THAT(r.document, HasSubstr("Mock Mail stopped unexpectedly (killed by signal 9, SIGKILL) while connecting; "
                                      "try again in a moment."));
}

TEST_F(IsolatedProviderTest, WhileRestartingCallsAndSendsAreAnsweredAtOnce) {
    options_.restart.first_backoff = 2s;
    auto provider = start();
    ASSERT_EQ(::kill(the_runner(), SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] { return provider->restarting().has_value(); }, 2s));
    ep::loader::CallResult status = provider->status("alice");
    EXPECT_EQ(status.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(status), "provider_restarting");
    auto refusal = provider->send("alice", kMessage, [](std::string_view) { ADD_FAILURE() << "called back"; });
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(parse(refusal->document).at("outcome"), "transient");  // hosts retry it
    EXPECT_EQ(parse(refusal->document).at("code"), "provider_restarting");
    EXPECT_THAT(parse(provider->check_blocking("alice", 1s).document).at("check_failed").at("code").as_string(),
                "provider_restarting");
}

TEST_F(IsolatedProviderTest, ThreeCrashesWithinTheWindowQuarantineTheProvider) {
    auto provider = start();
    for (int crash = 1; crash <= 3; ++crash) {
        ASSERT_TRUE(wait_until([&] { return !provider->restarting(); }, 5s)) << "crash " << crash;
        ASSERT_EQ(::kill(the_runner(), SIGKILL), 0);
        ASSERT_TRUE(wait_until([&] { return provider->restarting() || provider->unavailable_reason(); }, 2s));
    }
    EXPECT_EQ(*provider->unavailable_reason(),
              "quarantined: stopped unexpectedly 3 times in 5 minutes (last: killed by signal 9, SIGKILL)");
    EXPECT_THAT(host_.log_text(), HasSubstr("provider 'mock' restarting after it stopped unexpectedly"));
    EXPECT_THAT(host_.log_text(), HasSubstr("provider 'mock' quarantined: stopped unexpectedly 3 times"));
    std::this_thread::sleep_for(300ms);  // longer than any backoff: it stays quarantined
    EXPECT_TRUE(provider->unavailable_reason().has_value());
    EXPECT_TRUE(runner_pids().empty());
    ep::loader::CallResult status = provider->status("alice");
    EXPECT_EQ(error_code(status), "provider_quarantined");
    EXPECT_THAT(status.document, HasSubstr("Mock Mail is unavailable: quarantined"));
}

// A call past its deadline: the runner is killed, the call says which deadline, the runner
// restarts. SIGSTOP makes it hang without any help from the mock.
TEST_F(IsolatedProviderTest, ACallPastItsDeadlineKillsTheHungRunnerWhichThenRestarts) {
    options_.deadlines.quick = 300ms;
    auto provider = start();
    const pid_t hung = the_runner();
    ASSERT_EQ(::kill(hung, SIGSTOP), 0);
    const auto asked = std::chrono::steady_clock::now();
    ep::loader::CallResult status = provider->status("alice");
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
    EXPECT_EQ(status.status, EP_ERR_INTERNAL);
    EXPECT_EQ(error_code(status), "deadline_exceeded");
    EXPECT_THAT(status.document, HasSubstr("get_status did not answer within 300 ms"));
    ASSERT_TRUE(wait_until([&] { return provider->restarting().has_value(); }, 2s));
    ASSERT_TRUE(wait_until([&] { return !provider->restarting(); }, 5s));
    EXPECT_NE(the_runner(), hung);
    EXPECT_TRUE(provider->status("alice").ok());
}

// A send taken by a runner that then hangs before reading it: send() does not wait (so it
// returns at once), the runner is killed when the send is not taken within the deadline, and
// send_started never came, so it certainly was not sent.
TEST_F(IsolatedProviderTest, ASendTheHungRunnerNeverStartedIsTransient) {
    options_.deadlines.quick = 300ms;
    auto provider = start();
    const pid_t hung = the_runner();
    ASSERT_EQ(::kill(hung, SIGSTOP), 0);
    Outcomes outcomes;
    ASSERT_EQ(provider->send("alice", kMessage, outcomes.collector()), std::nullopt) << "not waited for";
    ASSERT_TRUE(wait_until([&] { return outcomes.size() == 1; }, 3s));
    EXPECT_EQ(parse(outcomes.all()[0]).at("outcome"), "transient") << outcomes.all()[0];
    EXPECT_THAT(outcomes.all()[0], HasSubstr("send did not answer within 300 ms"));
    ASSERT_TRUE(wait_until([&] { return !provider->restarting() && the_runner() != hung; }, 5s));
}

TEST_F(IsolatedProviderTest, ASendThatDoesNotCallBackInTimeIsIndeterminateAndItsLateAnswerDropped) {
    options_.deadlines.send_completion = 200ms;
    auto provider = start(R"(,"send_delay_ms":1000)");
    const pid_t runner = the_runner();
    Outcomes outcomes;
    ASSERT_EQ(provider->send("alice", kMessage, outcomes.collector()), std::nullopt);
    ASSERT_TRUE(wait_until([&] { return outcomes.size() == 1; }, 2s));
    EXPECT_EQ(parse(outcomes.all()[0]).at("outcome"), "indeterminate");
    EXPECT_EQ(parse(outcomes.all()[0]).at("code"), "deadline_exceeded");
    std::this_thread::sleep_for(1500ms);  // the mock's late send_done came and went
    EXPECT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(the_runner(), runner);  // a slow send does not cost the runner
    EXPECT_EQ(provider->unavailable_reason(), std::nullopt);
}

TEST_F(IsolatedProviderTest, ACheckPastItsDeadlineFailsAndTheRunnerIsKilled) {
    options_.deadlines.check = 300ms;
    auto provider = start(R"(,"check_delay_ms":5000)");
    const pid_t runner = the_runner();
    json::object status = parse(provider->check_blocking("alice", 5s).document);
    EXPECT_EQ(status.at("check_failed").at("code"), "deadline_exceeded");
    EXPECT_THAT(std::string(status.at("check_failed").at("message").as_string()),
                HasSubstr("check_connection did not answer within 300 ms"));
    ASSERT_TRUE(wait_until([&] { return !provider->restarting() && the_runner() != runner; }, 5s));
}

// ---- Shutting down ----------------------------------------------------------------------

TEST_F(IsolatedProviderTest, DestroyingTheProviderLetsEveryAcceptedSendCallBack) {
    auto provider = start(R"(,"send_delay_ms":100)");
    Outcomes outcomes;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(provider->send("alice", kMessage, outcomes.collector()), std::nullopt);
    provider.reset();
    EXPECT_EQ(outcomes.size(), 3u);
    for (const std::string& d : outcomes.all()) EXPECT_EQ(parse(d).at("outcome"), "sent") << d;
    EXPECT_TRUE(runner_pids().empty());
}

TEST_F(IsolatedProviderTest, ARunnerThatDoesNotShutDownInTimeIsKilledAndItsSendsAnswered) {
    options_.deadlines.shutdown = 300ms;
    auto provider = start(R"(,"send_delay_ms":5000)");
    Outcomes outcomes;
    ASSERT_EQ(provider->send("alice", kMessage, outcomes.collector()), std::nullopt);
    const auto asked = std::chrono::steady_clock::now();
    provider.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 3s);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(parse(outcomes.all()[0]).at("outcome"), "indeterminate");
    EXPECT_TRUE(runner_pids().empty());
}

// A completion that drops the provider's last reference destroys it on the pool's own thread.
TEST_F(IsolatedProviderTest, TheLastReferenceMayBeDroppedInsideACompletion) {
    std::shared_ptr<ep::loader::Provider> provider = start();
    std::promise<std::string> outcome;
    auto* raw = provider.get();
    ASSERT_EQ(raw->send("alice", kMessage,
                        [keep = std::move(provider), &outcome](std::string_view result) mutable {
                            const std::string copy(result);
                            keep.reset();  // the destructor runs here, on a completion thread
                            outcome.set_value(copy);
                        }),
              std::nullopt);
    auto future = outcome.get_future();
    ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(parse(future.get()).at("outcome"), "sent");
    EXPECT_TRUE(wait_until([] { return runner_pids().empty(); }, 5s));
}

TEST_F(IsolatedProviderTest, GarbageFromTheRunnerIsAProtocolErrorAndEndsIt) {
    options_.runner = fake_runner("echo 'not json' >&3; sleep 5");
    const auto asked = std::chrono::steady_clock::now();
    EXPECT_THAT(
        load_error(MOCK_PROVIDER_PATH, config()),
        AllOf(HasSubstr("died while loading"), HasSubstr("broke the channel protocol: a line is not a JSON object")));
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
}

// Issue 22: SIGKILL a runner during many in-flight sends: each gets exactly one outcome, none is
// lost, and every one reported sent was written (indeterminate ones may have been too).
TEST_F(IsolatedProviderTest, EverySendInFlightWhenTheRunnerIsKilledGetsExactlyOneOutcome) {
    constexpr int kSends = 300;
    auto provider = start(R"(,"send_delay_ms":2)");
    Outcomes outcomes;
    for (int i = 0; i < kSends; ++i) {
        const std::string message =
            R"({"to":[{"address":"bob@example.org"}],"text":"x","client_request_id":"m)" + std::to_string(i) + "\"}";
        auto refusal = provider->send("alice", message, outcomes.collector());
        if (refusal) outcomes.collector()(refusal->document);  // refused: its one outcome
    }
    std::this_thread::sleep_for(100ms);
    ASSERT_EQ(::kill(the_runner(), SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] { return outcomes.size() == kSends; }, 10s)) << outcomes.size();
    std::this_thread::sleep_for(200ms);
    std::set<std::string> ids;
    std::map<std::string, int> by_outcome;
    for (const std::string& d : outcomes.all()) {
        const json::object o = parse(d);
        ids.insert(std::string(o.at("client_request_id").as_string()));
        ++by_outcome[std::string(o.at("outcome").as_string())];
    }
    EXPECT_EQ(outcomes.size(), std::size_t{kSends});  // none twice
    EXPECT_EQ(ids.size(), std::size_t{kSends});       // none lost
    const auto written = std::distance(std::filesystem::directory_iterator(dir_ / "outbox"), {});
    EXPECT_GE(written, by_outcome["sent"]);
    EXPECT_LE(written, by_outcome["sent"] + by_outcome["indeterminate"]);
    EXPECT_GT(by_outcome["indeterminate"] + by_outcome["transient"], 0);
    std::printf("%d sends: %d sent, %d indeterminate, %d transient\n", kSends, by_outcome["sent"],
                by_outcome["indeterminate"], by_outcome["transient"]);
}

// The host services a runner asks for, answered from the host's table.
TEST(IsolatedHostServices, AnswerFromTheHostsTableAndNameWhatIsWrong) {
    test_support::FakeHost host;
    const ep_host_api& api = *host.api();
    const json::object put = ep::loader::isolated::answer_host_request(
        api, 7, "secret_put", json::object{{"key", "k"}, {"value", "c2VjcmV0"}, {"expected_version", 0}});
    EXPECT_EQ(put.at("id"), 7);
    EXPECT_EQ(put.at("result").at("status"), EP_OK);
    EXPECT_EQ(host.secrets().at("k"), std::vector<uint8_t>({'s', 'e', 'c', 'r', 'e', 't'}));
    const json::object got =
        ep::loader::isolated::answer_host_request(api, 8, "secret_get", json::object{{"key", "k"}});
    EXPECT_EQ(got.at("result").at("value"), "c2VjcmV0");
    EXPECT_EQ(ep::loader::isolated::answer_host_request(api, 9, "secret_get", json::object{{"key", "absent"}})
                  .at("result")
                  .at("status"),
              EP_ERR_NOT_FOUND);
    EXPECT_EQ(ep::loader::isolated::answer_host_request(api, 10, "now", {}).at("error").at("code"), -32601)
        << "the clock travels with every request instead";
    // JSON-RPC 2.0 section 5.1: -32602 invalid params, -32601 method not found.
    const json::object bad = ep::loader::isolated::answer_host_request(
        api, 11, "secret_put", json::object{{"key", "k"}, {"value", "not base64!"}, {"expected_version", 0}});
    EXPECT_EQ(bad.at("error").at("code"), -32602);
    EXPECT_THAT(std::string(bad.at("error").at("message").as_string()), HasSubstr("\"value\" is not base64"));
    EXPECT_EQ(ep::loader::isolated::answer_host_request(api, 12, "format_disk", {}).at("error").at("code"), -32601);
}

// ABI 1.3: what a plugin counts crosses the runner's channel as a count_event notification and
// reaches the host's own count_event, once; a host offering 1.2 lends none, so nothing is counted.
TEST_F(IsolatedProviderTest, CountedEventsCrossTheRunnerToTheHostsCountEvent) {
    for (uint16_t host_minor : {uint16_t{2}, uint16_t{EP_ABI_VERSION_MINOR}}) {
        options_.host_abi_minor = host_minor;
        test_support::FakeHost host;
        auto provider = ep::loader::start_isolated(manifest(EVENT_PROBE_PATH), host.api(), "{}", options_);
        ASSERT_TRUE(provider->status("alice").ok());
        provider.reset();  // the services pool runs what the reader posted before it stops
        EXPECT_EQ(host.events(),
                  host_minor >= 3 ? std::vector<std::string>{"token_refresh/ok"} : std::vector<std::string>{})
            << "host offering 1." << host_minor;
    }
}
