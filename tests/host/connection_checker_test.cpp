// The host's connection checks through the real runtime and the mock provider: the keep-alive
// sweep checks each connected account once per interval, at its own offset, never faster than
// its rate, skipping grants that already ended; and held nudges go out again only after a check.
#include "process.hpp"

#include "core/host_runtime.hpp"

#include <gtest/gtest.h>

#include <map>

namespace {

class ConnectionCheckerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "keep_alive":{"enabled":false,"interval_days":0.01,"max_checks_per_second":2,"max_in_flight":1000},
            "providers":[{"manifest":")" EP_BUILD_DIR
                                R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})");
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
    }

    void add_user(const std::string& id, bool connected) {
        rt_->store->upsert_user(host::User{id, id});
        rt_->store->save_settings(id, host::CommunicationSettings{"email", "mock"});
        if (connected) {
            ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect(id, "{}").ok());
        }
    }

    test_support::TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

TEST_F(ConnectionCheckerTest, TheSweepChecksEachConnectedAccountOncePerIntervalEvenlyAndWithinItsRate) {
    constexpr int kUsers = 300;
    for (int i = 0; i < kUsers; ++i) add_user("u" + std::to_string(i), i % 10 != 0);  // every 10th never connected
    host::ConnectionChecks& checks = *rt_->checks;
    const int64_t interval = rt_->keep_alive->settings().interval_ms;
    const int64_t start = int64_t{1'800'000'000'000};
    std::map<int64_t, int> per_second, per_tenth;
    // Two intervals (864 s each) in 100 ms steps of a simulated clock.
    for (int64_t t = start; t < start + 2 * interval; t += 100) {
        int n = rt_->keep_alive->sweep_once(t);
        per_second[t / 1000] += n;
        per_tenth[(t - start) % interval * 10 / interval] += n;
    }
    const int connected = kUsers - kUsers / 10;
    EXPECT_EQ(checks.checks_started(), 2 * connected) << "each connected account exactly once per interval";
    for (const auto& [second, n] : per_second) ASSERT_LE(n, 2) << "second " << second;
    // Spread: no tenth of the interval holds more than twice its share.
    for (const auto& [tenth, n] : per_tenth) EXPECT_LE(n, 2 * 2 * connected / 10) << "tenth " << tenth;
    checks.wait_idle();
    // Every check was answered, stamped with the host's time.
    auto known = rt_->checks->last_known("u1", "mock");
    ASSERT_TRUE(known);
    EXPECT_GT(known->checked_at_ms, 0);
    EXPECT_FALSE(rt_->checks->last_known("u0", "mock")) << "a grant that is not connected is not kept alive";
}

TEST_F(ConnectionCheckerTest, AStartingHostNeverChecksEveryoneAtOnce) {
    for (int i = 0; i < 100; ++i) add_user("u" + std::to_string(i), true);
    EXPECT_LE(rt_->keep_alive->sweep_once(int64_t{1'800'000'000'000}), 1);
}

// Two hosts on one database share the sweep: every connected account is checked once per
// interval in all, not once per host.
TEST_F(ConnectionCheckerTest, TwoHostsOnOneDatabaseCheckEachAccountOncePerInterval) {
    constexpr int kUsers = 60;
    for (int i = 0; i < kUsers; ++i) add_user("u" + std::to_string(i), true);
    host::HostRuntime second(dir_ / "host.json");
    const int64_t interval = rt_->keep_alive->settings().interval_ms;
    const int64_t start = int64_t{1'800'000'000'000};
    for (int64_t t = start; t < start + interval; t += 100) {
        rt_->keep_alive->sweep_once(t);
        second.keep_alive->sweep_once(t + 50);
    }
    rt_->checks->wait_idle();
    second.checks->wait_idle();
    EXPECT_EQ(rt_->checks->checks_started() + second.checks->checks_started(), kUsers);
    EXPECT_GT(rt_->checks->checks_started(), 0) << "the first host to reach an account checks it";
}

// A host that restarts knows when each connection was last checked (the page says so and does
// not check again at once).
TEST_F(ConnectionCheckerTest, TheLastCheckSurvivesARestart) {
    add_user("rita", true);
    rt_->checks->check_now("rita", "mock");
    int64_t checked = rt_->checks->last_known("rita", "mock")->checked_at_ms;
    ASSERT_GT(checked, 0);
    rt_.reset();
    rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
    auto known = rt_->checks->last_known("rita", "mock");
    ASSERT_TRUE(known) << "the store remembers the check";
    EXPECT_EQ(known->checked_at_ms, checked);
    rt_->checks->check_if_stale("rita", "mock");
    EXPECT_EQ(rt_->checks->checks_started(), 0) << "checked a moment ago, before the restart";
}

TEST_F(ConnectionCheckerTest, ThePageChecksOnlyWhenTheLastCheckIsStale) {
    add_user("rita", true);
    host::ConnectionChecks& checks = *rt_->checks;
    checks.check_if_stale("rita", "mock");
    checks.wait_idle();
    EXPECT_EQ(checks.checks_started(), 1);
    checks.check_if_stale("rita", "mock");
    EXPECT_EQ(checks.checks_started(), 1) << "checked a moment ago";
    rt_->clock.advance(checks.page_check_after_ms() + 1);
    checks.check_if_stale("rita", "mock");
    checks.wait_idle();
    EXPECT_EQ(checks.checks_started(), 2);
}

}  // namespace
