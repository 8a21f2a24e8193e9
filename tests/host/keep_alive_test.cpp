// The keep-alive sweep in the host runtime, with the Outlook plugin against the stand-in, whose
// refresh tokens die after 90 days unused (AADSTS700082) and whose clock moves with the host's:
// with the sweep on, a grant nobody sends with survives 92 days; with it off it expires with
// the inactivity reason; and a password change shows as expired after one interval, before
// any nudge was tried.
#include "process.hpp"

#include <ms_sandbox/sandbox.hpp>
#include "core/host_runtime.hpp"
#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace json = boost::json;

namespace {

constexpr const char* kClientId = "11111111-2222-4333-8444-555555555555";
constexpr const char* kUpn = "adele@contoso.example";
constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;

class KeepAliveTest : public ::testing::Test {
protected:
    KeepAliveTest() : sandbox_(options()) {}

    static ms_sandbox::Options options() {
        ms_sandbox::Options o;
        o.scenario_json = test_support::read_file(ms_sandbox::default_scenario_file());
        o.log_requests = false;
        return o;
    }

    void SetUp() override {
        dir_.write("token.key", std::string(64, '7'));
        json::object outlook{
            {"client_id", kClientId},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"redirect_uri", "http://127.0.0.1/callback"},
            {"token_encryption",
             json::object{{"active_key", "k"},
                          {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
        json::object config{{"store", json::object{{"path", "host.db"}}},
                            {"log_level", "error"},
                            {"users", json::array{json::object{{"id", "rita"}, {"display_name", "Rita"}}}},
                            {"keep_alive", json::object{{"enabled", false}, {"interval_days", 7}}},
                            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                                   {"config", outlook}}}}};
        dir_.write("host.json", json::serialize(config));
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        // The host's clock starts where the stand-in's is.
        int64_t sandbox_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(sandbox_.now().time_since_epoch()).count();
        ASSERT_TRUE(rt_->clock.advance(sandbox_ms - rt_->clock.now_ms()));
        rt_->store->save_settings("rita", host::CommunicationSettings{"email", "outlook"});
        auto& outlook_instance = *rt_->providers->instance("outlook");
        auto start = json::parse(outlook_instance.begin_connect("rita", "{}").document).as_object();
        std::string callback = sandbox_.autopilot(host::json_str(start, "authorization_url"), kUpn);
        auto done =
            outlook_instance.complete_connect("rita", json::serialize(json::object{{"callback_url", callback}}));
        ASSERT_EQ(host::json_str(json::parse(done.document), "outcome"), "connected") << done.document;
    }

    // Moves both clocks by whole days, sweeping after each day when `sweep`.
    void live_days(int days, bool sweep) {
        for (int d = 0; d < days; ++d) {
            sandbox_.advance_clock(std::chrono::hours(24));
            ASSERT_TRUE(rt_->clock.advance(kDayMs));
            if (sweep) rt_->keep_alive->sweep_once(rt_->clock.now_ms());
            rt_->checks->wait_idle();
        }
    }

    std::string state_now() { return host::json_str(rt_->checks->check_now("rita", "outlook"), "state"); }

    ms_sandbox::Sandbox sandbox_;
    test_support::TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

TEST_F(KeepAliveTest, WithTheSweepOnAGrantNobodyUsesSurvives92Days) {
    live_days(92, true);
    EXPECT_GE(sandbox_.token_requests("refresh_token", kUpn), 13) << "about one refresh a week";
    EXPECT_EQ(state_now(), "connected");
}

TEST_F(KeepAliveTest, WithTheSweepOffItExpiresWithTheInactivityReason) {
    live_days(92, false);
    EXPECT_EQ(sandbox_.token_requests("refresh_token", kUpn), 0);
    auto s = rt_->checks->check_now("rita", "outlook");
    EXPECT_EQ(host::json_str(s, "state"), "expired") << json::serialize(s);
    EXPECT_EQ(host::json_str(s, "reason"), "inactivity");
}

TEST_F(KeepAliveTest, APasswordChangeShowsAsExpiredWithinOneIntervalBeforeAnyNudge) {
    sandbox_.revoke_grant(kUpn, ms_sandbox::RevokeReason::password_change);
    live_days(8, true);
    auto status = json::parse(rt_->providers->instance("outlook")->status("rita").document);
    EXPECT_EQ(host::json_str(status, "state"), "expired") << json::serialize(status);
    EXPECT_EQ(host::json_str(status, "reason"), "password_changed");
    EXPECT_EQ(sandbox_.counters().requests["sendMail"], 0);
}

// Held nudges go out again only after a check confirms the connection: a continuous access
// evaluation event after the reconnect is found by the check, and no nudge is tried.
TEST_F(KeepAliveTest, HeldNudgesAreReleasedOnlyAfterACheckConfirmsTheConnection) {
    rt_->start_outbox();
    auto cae = [&] {
        sandbox_.control("POST", std::string("/_sandbox/users/") + kUpn + "/cae-event",
                         json::object{{"event", "session_revoked"}});
    };
    cae();
    int64_t id =
        rt_->outbox->enqueue("rita", json::object{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                                                  {"subject", "Nudge"},
                                                  {"text", "hello"}});
    ASSERT_TRUE(test_support::wait_until([&] { return rt_->store->nudge(id)->state == host::NudgeState::held; },
                                         std::chrono::seconds(10)));
    // Reconnect (the sign-in carries the challenge's claims), then another event at once:
    // the last known state says connected, a send would be refused.
    auto& outlook_instance = *rt_->providers->instance("outlook");
    auto start = json::parse(outlook_instance.begin_connect("rita", "{}").document).as_object();
    std::string callback = sandbox_.autopilot(host::json_str(start, "authorization_url"), kUpn);
    ASSERT_EQ(host::json_str(
                  json::parse(outlook_instance
                                  .complete_connect("rita", json::serialize(json::object{{"callback_url", callback}}))
                                  .document),
                  "outcome"),
              "connected");
    sandbox_.advance_clock(std::chrono::seconds(1));
    cae();
    sandbox_.reset_counters();
    ASSERT_TRUE(rt_->clock.advance(6000));  // past the outbox's look at held users
    ASSERT_TRUE(test_support::wait_until(
        [&] { return host::json_str(json::parse(outlook_instance.status("rita").document), "state") == "expired"; },
        std::chrono::seconds(10)));
    EXPECT_EQ(rt_->store->nudge(id)->state, host::NudgeState::held);
    EXPECT_EQ(sandbox_.counters().requests["sendMail"], 0) << "no nudge tried on a connection the check found dead";
}

}  // namespace
