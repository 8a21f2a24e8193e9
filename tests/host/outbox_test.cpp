// The durable outbox through the real host runtime and the mock provider: every outcome
// lands in its state, nothing is lost across a restart, nothing is resent behind a person's
// back, and deleting a user makes every provider forget the account.
#include "process.hpp"

#include <host_runtime.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

class OutboxTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml","retry_after_seconds":1}}]})");
        start();
    }

    void start() {
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        rt_->start_outbox();
    }

    void choose_mock(const std::string& user) {
        rt_->store->save_settings(user, host::CommunicationSettings{"email", "mock"});
        ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect(user, "{}").ok());
    }

    static json::object nudge(const std::string& subject, const std::string& forced_outcome = "") {
        json::object m{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                       {"subject", subject},
                       {"text", "hello"}};
        if (!forced_outcome.empty())
            m["headers"] = json::array{json::object{{"name", "x-mock-outcome"}, {"value", forced_outcome}}};
        return m;
    }

    host::NudgeState wait_state(int64_t id, std::function<bool(host::NudgeState)> done) {
        test_support::wait_until(
            [&] {
                auto n = rt_->store->nudge(id);
                return n && done(n->state);
            },
            std::chrono::seconds(4));
        return rt_->store->nudge(id)->state;
    }

    host::NudgeState settle(int64_t id) {
        return wait_state(id, [](host::NudgeState s) {
            return s != host::NudgeState::queued && s != host::NudgeState::sending;
        });
    }

    int eml_count() {
        int n = 0;
        if (!std::filesystem::exists(dir_ / "eml")) return 0;
        for (const auto& e : std::filesystem::directory_iterator(dir_ / "eml")) n += e.path().extension() == ".eml";
        return n;
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

}  // namespace

TEST_F(OutboxTest, EachOutcomeLandsInItsState) {
    choose_mock("rita");
    const std::pair<const char*, host::NudgeState> cases[] = {
        {"sent", host::NudgeState::sent},           {"rejected", host::NudgeState::failed},
        {"auth_expired", host::NudgeState::held},   {"throttled", host::NudgeState::throttled},
        {"indeterminate", host::NudgeState::needs_review},
    };
    for (const auto& [outcome, state] : cases) {
        int64_t id = rt_->outbox->enqueue("rita", nudge(std::string("nudge ") + outcome, outcome));
        EXPECT_EQ(settle(id), state) << outcome;
        auto n = rt_->store->nudge(id);
        EXPECT_EQ(n->last_outcome, outcome);
    }
    EXPECT_EQ(eml_count(), 1);
}

TEST_F(OutboxTest, ThrottledAndTransientNudgesAreRescheduledNotFailed) {
    choose_mock("rita");
    int64_t throttled = rt_->outbox->enqueue("rita", nudge("t", "throttled"));
    EXPECT_EQ(settle(throttled), host::NudgeState::throttled);
    auto n = rt_->store->nudge(throttled);
    EXPECT_GT(n->not_before_ms, n->updated_ms - 1) << "rescheduled at the provider's retry-after";
    int64_t transient = rt_->outbox->enqueue("rita", nudge("x", "transient"));
    // A transient failure goes back to queued with a backoff (it certainly was not sent).
    test_support::wait_until([&] { return !rt_->store->nudge(transient)->last_outcome.empty(); },
                             std::chrono::seconds(4));
    auto t = rt_->store->nudge(transient);
    EXPECT_EQ(t->last_outcome, "transient");
    EXPECT_EQ(t->state, host::NudgeState::queued);
    EXPECT_EQ(t->attempts, 1);
    EXPECT_GT(t->not_before_ms, t->updated_ms) << "retried later, not at once";
}

TEST_F(OutboxTest, NeedsReviewIsNeverResentUnlessAPersonChooses) {
    choose_mock("rita");
    int64_t id = rt_->outbox->enqueue("rita", nudge("maybe", "indeterminate"));
    ASSERT_EQ(settle(id), host::NudgeState::needs_review);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(rt_->store->nudge(id)->state, host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(id)->attempts, 1);
    EXPECT_FALSE(rt_->store->resend(id, "sam", 0)) << "only the nudge's own user may resend it";
    std::string first_id = rt_->store->nudge(id)->client_request_id;
    // A person decides; the mock still answers indeterminate because of the header, so the
    // nudge comes back to review with a new client request id.
    ASSERT_TRUE(rt_->store->resend(id, "rita", 0));
    rt_->outbox->wake();
    EXPECT_EQ(wait_state(id, [](host::NudgeState s) { return s == host::NudgeState::needs_review; }),
              host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(id)->attempts, 2);
    EXPECT_NE(rt_->store->nudge(id)->client_request_id, first_id);
}

TEST_F(OutboxTest, HeldNudgesResumeAfterReconnecting) {
    rt_->store->save_settings("rita", host::CommunicationSettings{"email", "mock"});
    int64_t id = rt_->outbox->enqueue("rita", nudge("before connecting"));
    ASSERT_EQ(settle(id), host::NudgeState::held) << "not connected yet: held, not failed";
    ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect("rita", "{}").ok());
    rt_->outbox->on_connected("rita", "mock");
    EXPECT_EQ(wait_state(id, [](host::NudgeState s) { return s == host::NudgeState::sent; }), host::NudgeState::sent);
    EXPECT_EQ(eml_count(), 1);
}

TEST_F(OutboxTest, EnqueueRefusesWithoutAChosenProvider) {
    try {
        rt_->outbox->enqueue("rita", nudge("x"));
        FAIL();
    } catch (const host::OutboxError& e) {
        EXPECT_THAT(std::string(e.what()), HasSubstr("no email provider is chosen"));
    }
    EXPECT_TRUE(rt_->store->outbox("rita").empty());
}

TEST_F(OutboxTest, ARestartTurnsSendingIntoNeedsReviewAndLosesNothing) {
    choose_mock("rita");
    int64_t sent = rt_->outbox->enqueue("rita", nudge("done"));
    ASSERT_EQ(settle(sent), host::NudgeState::sent);
    // Simulate a crash while a nudge was with the provider: claim it without completing.
    rt_->outbox->stop_dispatching();
    int64_t in_flight = rt_->store->enqueue("rita", "mock", "", json::serialize(nudge("crashed")), "crid-crash", 0);
    auto claimed = rt_->store->claim_due(1, 10, host::OutboxLease{"a host that crashes", 60000});
    ASSERT_EQ(claimed.size(), 1u);
    int64_t queued = rt_->store->enqueue("rita", "mock", "", json::serialize(nudge("still queued")), "crid-q", 0);
    rt_.reset();
    start();
    EXPECT_EQ(rt_->store->nudge(in_flight)->state, host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(in_flight)->last_code, "interrupted");
    EXPECT_EQ(settle(queued), host::NudgeState::sent) << "a queued nudge survives a restart and goes out";
    EXPECT_EQ(rt_->store->nudge(sent)->state, host::NudgeState::sent);
    EXPECT_EQ(rt_->store->outbox("rita").size(), 3u);
}

TEST_F(OutboxTest, DeletingAUserMakesEveryProviderForgetTheAccount) {
    choose_mock("rita");
    choose_mock("sam");
    rt_->outbox->enqueue("rita", nudge("x"));
    ASSERT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 1u);
    rt_->delete_user("rita");
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 0u);
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/sam"), 1u);
    EXPECT_FALSE(rt_->store->user("rita"));
    EXPECT_TRUE(rt_->store->outbox("rita").empty());
}

TEST_F(OutboxTest, ManyNudgesFromManyUsersAreEachSentExactlyOnce) {
    std::vector<int64_t> ids;
    for (int u = 0; u < 5; ++u) {
        std::string user = "user" + std::to_string(u);
        rt_->store->upsert_user(host::User{user, user});
        choose_mock(user);
        for (int i = 0; i < 40; ++i) ids.push_back(rt_->outbox->enqueue(user, nudge(user + "-" + std::to_string(i))));
    }
    for (int64_t id : ids) EXPECT_EQ(settle(id), host::NudgeState::sent);
    EXPECT_EQ(eml_count(), 200);
}
