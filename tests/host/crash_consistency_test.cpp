// Crash consistency: the real host process (`host_stub serve`) with the Outlook plugin works
// an outbox of nudges for accounts whose tokens are refreshed every second (the stand-in
// issues 301-second access tokens, refreshed 300 s early, and invalidates each old refresh
// token), and is SIGKILLed at random moments 200 times, restarting each time. Afterwards:
// every account still has a usable refresh token (or is expired for a reason the stand-in
// gave), every nudge is in exactly one state, none disappeared, and none was sent twice.
#include "process.hpp"

#include <ms_sandbox/sandbox.hpp>
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_host_store.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include <csignal>

namespace json = boost::json;
using test_support::TempDir;

namespace {

constexpr int kUsers = 5;
constexpr int kKills = 200;
constexpr const char* kClientId = "11111111-2222-4333-8444-555555555555";

std::string scenario() {
    json::value v = json::parse(test_support::read_file(ms_sandbox::default_scenario_file()));
    auto& settings = v.as_object()["settings"].as_object();
    settings["access_token_lifetime_seconds"] = 301;  // with the 300 s skew: a refresh every second
    settings["old_refresh_token_stays_valid"] = false;
    settings["mailbox_limits"] = json::object{{"concurrent_requests", 4}, {"messages_per_minute", 0}};
    auto& users = v.as_object()["users"].as_array();
    for (int i = 0; i < kUsers; ++i) {
        std::string upn = "crash" + std::to_string(i) + "@contoso.example";
        users.push_back(
            json::object{{"upn", upn}, {"display_name", upn}, {"tenant", "contoso.example"}, {"mail", upn}});
    }
    return json::serialize(v);
}

class CrashConsistency : public ::testing::Test {
protected:
    CrashConsistency() : sandbox_(options()) {}

    static ms_sandbox::Options options() {
        ms_sandbox::Options o;
        o.scenario_json = scenario();
        o.log_requests = false;
        return o;
    }

    void SetUp() override {
        dir_.write("token.key", std::string(64, '7'));
        json::array users;
        for (int i = 0; i < kUsers; ++i) users.push_back(json::object{{"id", user(i)}, {"display_name", user(i)}});
        json::object outlook{
            {"client_id", kClientId},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"redirect_uri", "http://127.0.0.1/callback"},
            {"timeouts", json::object{{"request_ms", 5000}}},
            {"token_encryption",
             json::object{{"active_key", "k"},
                          {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
        json::object config{{"store", json::object{{"path", "host.db"}}},
                            {"log_level", "warn"},
                            {"users", users},
                            {"web", json::object{{"listen_address", "127.0.0.1"}, {"port", 0}}},
                            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                                   {"config", outlook}}}}};
        dir_.write("host.json", json::serialize(config));
    }

    static std::string user(int i) { return "u" + std::to_string(i); }
    static std::string upn(int i) { return "crash" + std::to_string(i) + "@contoso.example"; }

    test_support::ProcessResult host(std::vector<std::string> args) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", (dir_ / "host.json").string()});
        return test_support::run_process(args);
    }

    void connect(int i) {
        auto begin = host({"connect", "--provider", "outlook", "--account", user(i)});
        std::string url = begin.out.substr(0, begin.out.find('\n'));
        ASSERT_EQ(url.rfind(sandbox_.base_url(), 0), 0u) << begin.out << begin.err;
        std::string callback = sandbox_.autopilot(url, upn(i));
        auto done = host({"complete", "--provider", "outlook", "--account", user(i), "--callback", callback});
        ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
        ASSERT_EQ(host({"settings", "--user", user(i), "--channel", "email", "--email-provider", "outlook"}).exit_code,
                  0);
    }

    int start_host() {
        return test_support::spawn_process(
            {HOST_STUB_PATH, "--config", (dir_ / "host.json").string(), "serve", "--port", "0"}, dir_ / "host.out",
            dir_ / "host.log");
    }

    TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
};

}  // namespace

TEST_F(CrashConsistency, TwoHundredKillsLoseNothingAndSendNothingTwice) {
    for (int i = 0; i < kUsers; ++i) ASSERT_NO_FATAL_FAILURE(connect(i));

    auto db = host::SqliteHostDatabase::open(dir_ / "host.db");
    host::SqliteHostStore store(db);
    std::mt19937 random(20261129);
    std::map<int64_t, std::string> nudges;  // id -> client request id
    auto enqueue = [&](int n) {
        for (int k = 0; k < n; ++k) {
            int64_t serial = static_cast<int64_t>(nudges.size());
            std::string crid = "crash-nudge-" + std::to_string(serial);
            json::object m{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                           {"subject", "crash test " + std::to_string(serial)},
                           {"text", "hello"},
                           {"client_request_id", crid}};
            int64_t id =
                store.enqueue(user(static_cast<int>(serial % kUsers)), "outlook", "", json::serialize(m), crid, 0);
            nudges[id] = crid;
        }
    };

    enqueue(20);
    std::uniform_int_distribution<int> delay_ms(20, 600);
    for (int round = 0; round < kKills; ++round) {
        enqueue(2);
        int pid = start_host();
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
        EXPECT_EQ(test_support::stop_process(pid, SIGKILL), -SIGKILL)
            << "round " << round << ": the host died by itself";
    }

    // A last, clean run drains the outbox (once it is up: a SIGTERM before `serve` blocks the
    // signal would just kill it).
    auto starts = [&] {
        std::string out = test_support::read_file(dir_ / "host.out");
        return std::count(out.begin(), out.end(), '\n');
    };
    auto before = starts();
    int pid = start_host();
    test_support::wait_until([&] { return starts() != before; }, std::chrono::seconds(10),
                             std::chrono::milliseconds(50));
    auto open_nudges = [&] {
        int open = 0;
        for (int i = 0; i < kUsers; ++i)
            for (const auto& n : store.outbox(user(i), 1000))
                open += n.state == host::NudgeState::queued || n.state == host::NudgeState::sending ||
                        n.state == host::NudgeState::throttled;
        return open;
    };
    test_support::wait_until([&] { return open_nudges() == 0; }, std::chrono::seconds(60),
                             std::chrono::milliseconds(100));
    EXPECT_EQ(test_support::stop_process(pid, SIGTERM), 0);
    EXPECT_EQ(open_nudges(), 0) << "the outbox drained after the last restart";

    // Every nudge is still there, in exactly one known state.
    std::map<host::NudgeState, int> by_state;
    std::size_t found = 0;
    for (int i = 0; i < kUsers; ++i)
        for (const auto& n : store.outbox(user(i), 1000)) {
            ++found;
            ++by_state[n.state];
            EXPECT_TRUE(nudges.count(n.id)) << "an unknown nudge appeared";
        }
    EXPECT_EQ(found, nudges.size()) << "no nudge disappeared";

    // None was sent twice: each client request id reached the stand-in at most once, and
    // every nudge the outbox calls sent reached it exactly once.
    std::map<std::string, int> recorded;
    for (const auto& m : sandbox_.messages()) ++recorded[m.client_request_id.value_or("")];
    for (const auto& [id, crid] : nudges) {
        EXPECT_LE(recorded[crid], 1) << "nudge " << id << " was sent twice";
        auto n = store.nudge(id);
        if (n && n->state == host::NudgeState::sent) {
            EXPECT_EQ(recorded[crid], 1) << "nudge " << id << " marked sent";
        }
    }

    // Every account still works, or ended for a reason the stand-in gave.
    int connected = 0, lost_to_rotation = 0;
    for (int i = 0; i < kUsers; ++i) {
        auto send = host({"--json", "send", "--provider", "outlook", "--account", user(i), "--to", "casey@example.org",
                          "--subject", "after the crashes", "--text", "still working?"});
        auto status = host({"--json", "status", "--provider", "outlook", "--account", user(i)});
        json::object s = json::parse(status.out).as_object();
        std::string state(s["state"].as_string());
        if (state == "connected") {
            ++connected;
            EXPECT_EQ(send.exit_code, 0) << user(i) << ": " << send.out << send.err;
        } else {
            // The only way to lose a grant here: a process killed after the stand-in rotated the
            // refresh token and before the new one was written. The stand-in then refuses the
            // old one (AADSTS70008); the account is expired with that reason, not broken.
            EXPECT_EQ(state, "expired") << status.out;
            EXPECT_EQ(std::string(s["code"].as_string()), "AADSTS70008") << status.out;
            ++lost_to_rotation;
        }
    }
    auto counters = sandbox_.counters();
    std::cout << "crash consistency: " << kKills << " kills survived; " << nudges.size() << " nudges: ";
    for (const auto& [state, count] : by_state) std::cout << host::to_string(state) << " " << count << ", ";
    std::cout << "\n  " << sandbox_.messages().size() << " messages recorded by the stand-in (each at most once); "
              << counters.token_by_grant["refresh_token"] << " refreshes; accounts connected " << connected << "/"
              << kUsers << ", lost to a kill between rotation and write: " << lost_to_rotation << "\n";
}
