// Several `host_stub serve` processes on one PostgreSQL database (a real throw-away server,
// support/pg_cluster.hpp), sending through the mock provider, whose .eml files say what
// really went out: every nudge is sent exactly once; a host SIGKILLed in the middle loses
// nothing and sends nothing twice (its claimed nudges turn needs_review after its lease, the
// others carry on); a PostgreSQL restart in the middle is survived by reconnecting. With the
// Outlook plugin and the Microsoft stand-in: a refresh storm across three processes spends
// each refresh token once, and a sign-in started on one host completes on another.
#include "pg_cluster.hpp"
#include "process.hpp"

#include <ms_sandbox/sandbox.hpp>
#include "core/host_runtime.hpp"
#include "store/pg_database.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <map>
#include <thread>

namespace json = boost::json;
using test_support::TempDir;

namespace {

constexpr int kUsers = 50;

class MultiHostTest : public ::testing::Test {
protected:
    // Writes the hosts' config (one file for all: port 0, one database, one mock outbox) and
    // connects every user to the mock provider.
    void prepare(const std::string& conninfo, int send_delay_ms, double lease_seconds) {
        conninfo_ = conninfo;
        json::array users;
        for (int u = 0; u < kUsers; ++u) users.push_back(json::object{{"id", user(u)}, {"display_name", user(u)}});
        json::object config{
            {"store", json::object{{"engine", "postgresql"},
                                   {"outbox_lease_seconds", lease_seconds},
                                   {"postgresql", json::object{{"conninfo", conninfo}}}}},
            {"log_level", "warn"},
            {"users", users},
            {"web", json::object{{"listen_address", "127.0.0.1"}, {"port", 0}}},
            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/mock.json"},
                                                   {"config", json::object{{"outbox_dir", "${config_dir}/eml"},
                                                                           {"send_delay_ms", send_delay_ms}}}}}}};
        dir_.write("host.json", json::serialize(config));
        runtime_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        for (int u = 0; u < kUsers; ++u) {
            runtime_->store->save_settings(user(u), host::CommunicationSettings{"email", "mock"});
            ASSERT_TRUE(runtime_->providers->instance("mock")->begin_connect(user(u), "{}").ok());
        }
    }

    static std::string user(int u) { return "recruiter" + std::to_string(u); }

    void enqueue(int count) {
        for (int i = 0; i < count; ++i, ++enqueued_) {
            std::string crid = "multi-" + std::to_string(enqueued_);
            json::object m{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                           {"subject", "multi " + std::to_string(enqueued_)},
                           {"text", "hello"},
                           {"client_request_id", crid}};
            runtime_->store->enqueue(user(enqueued_ % kUsers), "mock", "", json::serialize(m), crid, 0);
        }
    }

    int start_host(int n) {
        auto out = dir_ / ("host" + std::to_string(n) + ".out");
        int pid = test_support::spawn_process(
            {HOST_STUB_PATH, "--config", (dir_ / "host.json").string(), "serve", "--port", "0"}, out,
            dir_ / ("host" + std::to_string(n) + ".log"));
        EXPECT_TRUE(test_support::wait_until(
            [&] { return test_support::read_file(out).find("Settings page") != std::string::npos; },
            std::chrono::seconds(20)))
            << "host " << n
            << " did not start: " << test_support::read_file(dir_ / ("host" + std::to_string(n) + ".log"));
        return pid;
    }

    std::map<std::string, int64_t> count_by_state() {
        host::PgConnection c(conninfo_, "");
        host::PgResult r = c.exec("SELECT state, count(*) FROM outbox GROUP BY state", {}, true);
        std::map<std::string, int64_t> out;
        for (int i = 0; i < r.rows(); ++i) out[r.text(i, 0)] = r.integer(i, 1);
        return out;
    }

    int64_t open_nudges() {
        auto s = count_by_state();
        return s["queued"] + s["sending"] + s["throttled"];
    }

    // Subject -> how many .eml files carry it.
    std::map<std::string, int> delivered() {
        std::map<std::string, int> out;
        if (!std::filesystem::exists(dir_ / "eml")) return out;
        // Plain string search: gcc 12's <regex> trips -Wmaybe-uninitialized under ASan.
        const std::string header = "\r\nSubject: ";
        for (const auto& e : std::filesystem::directory_iterator(dir_ / "eml")) {
            if (e.path().extension() != ".eml") continue;
            std::string text = test_support::read_file(e.path());
            auto start = text.find(header);
            auto end = start == std::string::npos ? start : text.find("\r\n", start + header.size());
            if (end != std::string::npos)
                ++out[text.substr(start + header.size(), end - start - header.size())];
            else
                ++out["(no subject)"];
        }
        return out;
    }

    // Every nudge ever queued is in the table, in a final state; none reached the mock twice;
    // each one the outbox calls sent reached it exactly once. Returns the counts by state.
    std::map<std::string, int64_t> check_nothing_lost_nothing_twice() {
        auto states = count_by_state();
        int64_t total = 0;
        for (const auto& [state, count] : states) total += count;
        EXPECT_EQ(total, enqueued_) << "no nudge disappeared";
        auto files = delivered();
        EXPECT_EQ(files.count("(no subject)"), 0u);
        for (const auto& [subject, copies] : files)
            EXPECT_EQ(copies, 1) << subject << " was sent " << copies << " times";
        host::PgConnection c(conninfo_, "");
        host::PgResult sent = c.exec("SELECT message FROM outbox WHERE state = 'sent'", {}, true);
        for (int i = 0; i < sent.rows(); ++i) {
            std::string subject(json::parse(sent.text(i, 0)).as_object()["subject"].as_string());
            EXPECT_EQ(files[subject], 1) << subject << " is marked sent";
        }
        EXPECT_GE(static_cast<int64_t>(files.size()), states["sent"]);
        return states;
    }

    TempDir dir_;
    std::string conninfo_;
    std::unique_ptr<host::HostRuntime> runtime_;
    int enqueued_ = 0;
};

void print_states(const std::string& what, const std::map<std::string, int64_t>& states) {
    std::cout << what << ":";
    for (const auto& [state, count] : states) std::cout << " " << state << " " << count;
    std::cout << "\n";
}

}  // namespace

TEST_F(MultiHostTest, ThreeHostsSendAThousandNudgesForFiftyUsersEachExactlyOnce) {
    ASSERT_NO_FATAL_FAILURE(prepare(test_support::PgCluster::shared().create_database(), 0, 30));
    std::vector<int> hosts;
    for (int h = 0; h < 3; ++h) hosts.push_back(start_host(h));
    enqueue(1000);
    EXPECT_TRUE(test_support::wait_until([&] { return count_by_state()["sent"] == 1000; }, std::chrono::seconds(90),
                                         std::chrono::milliseconds(200)));
    for (int pid : hosts) EXPECT_EQ(test_support::stop_process(pid, SIGTERM), 0) << "a host did not stop cleanly";
    auto states = check_nothing_lost_nothing_twice();
    EXPECT_EQ(states["sent"], 1000);
    EXPECT_EQ(delivered().size(), 1000u);
    host::PgConnection c(conninfo_, "");
    host::PgResult by_host =
        c.exec("SELECT lease_owner, count(*) FROM outbox GROUP BY lease_owner ORDER BY 1", {}, true);
    std::cout << "nudges sent per host:";
    for (int i = 0; i < by_host.rows(); ++i) std::cout << " " << by_host.integer(i, 1);
    std::cout << "\n";
    EXPECT_GE(by_host.rows(), 2) << "the hosts shared the work";
}

TEST_F(MultiHostTest, AHostKilledInTheMiddleLosesNothingAndTheOthersCarryOn) {
    ASSERT_NO_FATAL_FAILURE(prepare(test_support::PgCluster::shared().create_database(), 15, 2));
    std::vector<int> hosts;
    for (int h = 0; h < 3; ++h) hosts.push_back(start_host(h));
    enqueue(600);
    ASSERT_TRUE(test_support::wait_until([&] { return count_by_state()["sent"] >= 150; }, std::chrono::seconds(60),
                                         std::chrono::milliseconds(50)));
    int victim = hosts[0];
    EXPECT_EQ(test_support::stop_process(victim, SIGKILL), -SIGKILL);
    EXPECT_TRUE(test_support::wait_until([&] { return open_nudges() == 0; }, std::chrono::seconds(90),
                                         std::chrono::milliseconds(200)))
        << "the surviving hosts drain the outbox";
    for (std::size_t h = 1; h < hosts.size(); ++h) EXPECT_EQ(test_support::stop_process(hosts[h], SIGTERM), 0);
    auto states = check_nothing_lost_nothing_twice();
    print_states("after a SIGKILL", states);
    EXPECT_EQ(states["sent"] + states["needs_review"], 600) << "every nudge is sent, or waits for a person";
    // Only what the dead host held may need review, and only because its lease ran out.
    host::PgConnection c(conninfo_, "");
    host::PgResult review = c.exec("SELECT lease_owner, last_code FROM outbox WHERE state = 'needs_review'", {}, true);
    for (int i = 0; i < review.rows(); ++i) {
        EXPECT_NE(review.text(i, 0).find(":" + std::to_string(victim) + ":"), std::string::npos) << review.text(i, 0);
        EXPECT_EQ(review.text(i, 1), "lease_expired");
    }
    EXPECT_LE(states["needs_review"], 4 * kUsers) << "at most what the cap let one host hold";
}

// Two host runtimes on one database pace one mailbox together: the pacing's count is taken in
// the claim's transaction, under the claimed user's row lock, so the two never both use the
// minute's last slot.
TEST(MultiHostPacing, TwoHostsTogetherSendNoMoreThanTheMailboxesLimitPerMinute) {
    constexpr int kLimit = 5, kNudges = 12;
    TempDir dir;
    json::object config{
        {"store",
         json::object{{"engine", "postgresql"},
                      {"postgresql", json::object{{"conninfo", test_support::PgCluster::shared().create_database()}}}}},
        {"log_level", "error"},
        {"users", json::array{json::object{{"id", "rita"}, {"display_name", "Rita"}}}},
        {"providers",
         json::array{json::object{
             {"manifest", EP_BUILD_DIR "/manifests/mock.json"},
             {"config", json::object{{"outbox_dir", "${config_dir}/eml"},
                                     {"sending_limits", json::object{{"messages_per_minute", kLimit}}}}}}}}};
    dir.write("host.json", json::serialize(config));
    std::vector<std::unique_ptr<host::HostRuntime>> hosts;
    for (int h = 0; h < 2; ++h) hosts.push_back(std::make_unique<host::HostRuntime>(dir / "host.json"));
    hosts[0]->store->save_settings("rita", host::CommunicationSettings{"email", "mock"});
    ASSERT_TRUE(hosts[0]->providers->instance("mock")->begin_connect("rita", "{}").ok());
    for (int i = 0; i < kNudges; ++i)
        hosts[i % 2]->outbox->enqueue("rita",
                                      json::object{{"to", json::array{json::object{{"address", "c@example.org"}}}},
                                                   {"subject", "paced " + std::to_string(i)},
                                                   {"text", "hello"}});
    for (auto& h : hosts) h->start_outbox();
    auto count = [&](host::NudgeState state) {
        int n = 0;
        for (const auto& nudge : hosts[0]->store->outbox("rita", 100)) n += nudge.state == state;
        return n;
    };
    // None queued or sending, and every paced one due later: nothing more goes out this minute.
    auto settled = [&] {
        for (const auto& n : hosts[0]->store->outbox("rita", 100))
            if (n.state == host::NudgeState::queued || n.state == host::NudgeState::sending ||
                (n.state == host::NudgeState::paced && n.not_before_ms <= hosts[0]->clock.now_ms()))
                return false;
        return true;
    };
    for (int minute = 1; minute <= 3; ++minute) {
        ASSERT_TRUE(test_support::wait_until(settled, std::chrono::seconds(10))) << "minute " << minute;
        EXPECT_EQ(count(host::NudgeState::sent), std::min(kNudges, kLimit * minute)) << "minute " << minute;
        for (auto& h : hosts) {
            h->clock.advance(61000);
            h->outbox->wake();
        }
    }
    EXPECT_EQ(count(host::NudgeState::failed), 0);
    EXPECT_EQ(count(host::NudgeState::throttled), 0);
}

TEST_F(MultiHostTest, APostgresqlRestartInTheMiddleIsSurvivedByReconnecting) {
    test_support::PgCluster cluster;  // its own server, restarted below
    ASSERT_NO_FATAL_FAILURE(prepare(cluster.create_database(), 5, 30));
    std::vector<int> hosts;
    for (int h = 0; h < 2; ++h) hosts.push_back(start_host(h));
    enqueue(400);
    ASSERT_TRUE(test_support::wait_until([&] { return count_by_state()["sent"] >= 100; }, std::chrono::seconds(60),
                                         std::chrono::milliseconds(50)));
    cluster.stop(true);  // as a crash: no goodbye to the clients
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    cluster.start();
    enqueue(100);  // the test's own connection reconnects too
    EXPECT_TRUE(test_support::wait_until([&] { return open_nudges() == 0; }, std::chrono::seconds(90),
                                         std::chrono::milliseconds(200)));
    for (int pid : hosts)
        EXPECT_EQ(test_support::stop_process(pid, SIGTERM), 0) << "a host gave up instead of reconnecting";
    auto states = check_nothing_lost_nothing_twice();
    print_states("after a PostgreSQL restart", states);
    // A claim whose answer the crash swallowed ends in review (its lease is not renewed);
    // everything else is sent.
    EXPECT_EQ(states["sent"] + states["needs_review"], 500);
    EXPECT_LE(states["needs_review"], 4 * kUsers);
    EXPECT_GE(states["sent"], 500 - 4 * kUsers);
}

// ---- The Outlook plugin on several hosts, against the Microsoft stand-in ------------------

namespace {

constexpr int kAccounts = 5;
constexpr const char* kClientId = "11111111-2222-4333-8444-555555555555";

class OutlookMultiHostTest : public ::testing::Test {
protected:
    OutlookMultiHostTest() : sandbox_(options()) {}

    static ms_sandbox::Options options() {
        json::value v = json::parse(test_support::read_file(ms_sandbox::default_scenario_file()));
        auto& settings = v.as_object()["settings"].as_object();
        // With the plugin's 300 s refresh skew: an access token is good for 10 s, then every
        // process wants a new one at once (and the refreshed one outlasts the storm, even
        // under sanitizers).
        settings["access_token_lifetime_seconds"] = 310;
        settings["old_refresh_token_stays_valid"] = false;  // a refresh token spent twice fails loudly
        auto& users = v.as_object()["users"].as_array();
        for (int i = 0; i < kAccounts; ++i)
            users.push_back(json::object{
                {"upn", upn(i)}, {"display_name", upn(i)}, {"tenant", "contoso.example"}, {"mail", upn(i)}});
        ms_sandbox::Options o;
        o.scenario_json = json::serialize(v);
        o.log_requests = false;
        return o;
    }

    void SetUp() override {
        dir_.write("token.key", std::string(64, '7'));
        std::string conninfo = test_support::PgCluster::shared().create_database();
        json::array users;
        for (int i = 0; i < kAccounts; ++i) users.push_back(json::object{{"id", user(i)}, {"display_name", user(i)}});
        json::object outlook{
            {"client_id", kClientId},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"redirect_uri", "http://127.0.0.1/callback"},
            {"token_encryption",
             json::object{{"active_key", "k"},
                          {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
        // Two hosts' configs: the same database, each its own file as on two machines.
        for (const char* name : {"host_a.json", "host_b.json"}) {
            json::object config{
                {"store", json::object{{"engine", "postgresql"}, {"postgresql", json::object{{"conninfo", conninfo}}}}},
                {"log_level", "warn"},
                {"users", users},
                {"providers",
                 json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"}, {"config", outlook}}}}};
            dir_.write(name, json::serialize(config));
        }
    }

    static std::string user(int i) { return "r" + std::to_string(i); }
    static std::string upn(int i) { return "storm" + std::to_string(i) + "@contoso.example"; }

    test_support::ProcessResult host(const std::string& config, std::vector<std::string> args) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", (dir_ / config).string()});
        return test_support::run_process(args);
    }

    // The sign-in starts on host A and its callback is completed on host B: the pending
    // sign-in (PKCE verifier, state) lives in the shared store, not in A's memory.
    void connect_across_hosts(int i) {
        auto begin = host("host_a.json", {"connect", "--provider", "outlook", "--account", user(i)});
        std::string url = begin.out.substr(0, begin.out.find('\n'));
        ASSERT_EQ(url.rfind(sandbox_.base_url(), 0), 0u) << begin.out << begin.err;
        std::string callback = sandbox_.autopilot(url, upn(i));
        auto done =
            host("host_b.json", {"complete", "--provider", "outlook", "--account", user(i), "--callback", callback});
        ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
        auto status = host("host_a.json", {"--json", "status", "--provider", "outlook", "--account", user(i)});
        ASSERT_EQ(std::string(json::parse(status.out).as_object()["state"].as_string()), "connected") << status.out;
    }

    TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
};

}  // namespace

TEST_F(OutlookMultiHostTest, ASignInStartedOnOneHostCompletesOnAnother) {
    ASSERT_NO_FATAL_FAILURE(connect_across_hosts(0));
    auto send = host("host_b.json", {"send", "--provider", "outlook", "--account", user(0), "--to", "casey@example.org",
                                     "--subject", "from host B", "--text", "hello"});
    EXPECT_EQ(send.exit_code, 0) << send.out << send.err;
    EXPECT_EQ(sandbox_.messages().size(), 1u);
    // The callback cannot be completed twice, on either host.
    auto again = host("host_a.json", {"complete", "--provider", "outlook", "--account", user(0), "--callback",
                                      "http://127.0.0.1/callback?code=reused&state=reused"});
    EXPECT_NE(again.exit_code, 0);
}

TEST_F(OutlookMultiHostTest, ARefreshStormAcrossThreeProcessesSpendsEachRefreshTokenOnce) {
    for (int i = 0; i < kAccounts; ++i) ASSERT_NO_FATAL_FAILURE(connect_across_hosts(i));
    auto before = sandbox_.counters();
    std::this_thread::sleep_for(std::chrono::seconds(11));  // every access token is now due for refresh
    // Three processes per account, all at once, each needing a fresh access token to send.
    std::vector<std::thread> storm;
    std::vector<test_support::ProcessResult> results(3 * kAccounts);
    for (int p = 0; p < 3; ++p)
        for (int i = 0; i < kAccounts; ++i)
            storm.emplace_back([&, p, i] {
                results[p * kAccounts + i] =
                    host(p % 2 ? "host_b.json" : "host_a.json",
                         {"send", "--provider", "outlook", "--account", user(i), "--to", "casey@example.org",
                          "--subject", "storm " + std::to_string(p), "--text", "hi"});
            });
    for (auto& t : storm) t.join();
    for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto after = sandbox_.counters();
    for (int i = 0; i < kAccounts; ++i)
        EXPECT_EQ(after.token_by_user[upn(i)]["refresh_token"] - before.token_by_user[upn(i)]["refresh_token"], 1)
            << upn(i) << ": one token request for three processes";
    EXPECT_EQ(sandbox_.messages().size(), static_cast<std::size_t>(3 * kAccounts));
}
