// Personal Outlook, ABI 1.1 check_connection against the stand-in: a check finds out at
// Microsoft what a send would find (password change, administrator's revoke, a continuous
// access evaluation event, a removed Mail.Send), before any message is tried; and a grant
// that is checked regularly never dies of 90 days' inactivity, while one left alone does.
#include "outlook_fixture.hpp"

#include <atomic>
#include <functional>

using namespace outlook_test;
using ::testing::HasSubstr;

namespace {

class OutlookCheck : public OutlookFixture {
protected:
    void SetUp() override {
        OutlookFixture::SetUp();
        ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
        sandbox_.reset_counters();
    }

    json::object check(const std::string& account = "alice") {
        auto r = outlook_->check_blocking(account);
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    }

    int refreshes() { return sandbox_.token_requests("refresh_token"); }
    int sendmail_requests() { return sandbox_.counters().requests["sendMail"]; }
};

TEST_F(OutlookCheck, AHealthyConnectionIsRefreshedReadAndStampedWithWhenItWasChecked) {
    ASSERT_TRUE(outlook_->can_check());
    auto s = check();
    EXPECT_EQ(str(s, "state"), "connected") << json::serialize(s);
    EXPECT_FALSE(str(s, "checked_at").empty());
    EXPECT_FALSE(s.contains("check_failed"));
    EXPECT_EQ(refreshes(), 1) << "a check always asks the token endpoint, even with a fresh token cached";
    EXPECT_EQ(sandbox_.counters().requests["me"], 1);
    EXPECT_EQ(str(send("alice"), "outcome"), "sent") << "the token the check fetched is the one sends use";
    EXPECT_EQ(refreshes(), 1);
}

struct Revocation {
    const char* name;
    std::function<void(ms_sandbox::Sandbox&)> apply;
    const char* state;
    const char* reason;
};

class OutlookCheckRevoked : public OutlookCheck, public ::testing::WithParamInterface<Revocation> {};

TEST_P(OutlookCheckRevoked, ShowsAsTheRightStateBeforeAnyNudgeIsTried) {
    GetParam().apply(sandbox_);
    EXPECT_EQ(str(status("alice"), "state"), "connected") << "nothing has looked at Microsoft yet";
    auto s = check();
    EXPECT_EQ(str(s, "state"), GetParam().state) << json::serialize(s);
    EXPECT_EQ(str(s, "reason"), GetParam().reason) << json::serialize(s);
    EXPECT_FALSE(str(s, "message").empty());
    EXPECT_FALSE(str(s, "checked_at").empty());
    EXPECT_EQ(str(s, "email"), kWorkUser) << "the page still says whose connection it was";
    EXPECT_EQ(str(status("alice"), "state"), GetParam().state) << "get_status reports what the check found";
    EXPECT_EQ(sendmail_requests(), 0);
    EXPECT_TRUE(sandbox_.messages(kWorkUser).empty());
}

INSTANTIATE_TEST_SUITE_P(
    AtTheStandIn, OutlookCheckRevoked,
    ::testing::Values(Revocation{"PasswordChange",
                                 [](ms_sandbox::Sandbox& sb) {
                                     sb.revoke_grant(kWorkUser, ms_sandbox::RevokeReason::password_change);
                                 },
                                 "expired", "password_changed"},
                      Revocation{"AdminRevoke",
                                 [](ms_sandbox::Sandbox& sb) {
                                     sb.revoke_grant(kWorkUser, ms_sandbox::RevokeReason::consent_revoked);
                                 },
                                 "expired", "consent_revoked"},
                      Revocation{"CaeSessionRevoked",
                                 [](ms_sandbox::Sandbox& sb) {
                                     sb.control("POST", std::string("/_sandbox/users/") + kWorkUser + "/cae-event",
                                                json::object{{"event", "session_revoked"}});
                                 },
                                 "expired", "signin_required"},
                      Revocation{"MailSendRemoved",
                                 [](ms_sandbox::Sandbox& sb) {
                                     sb.control("POST", std::string("/_sandbox/users/") + kWorkUser + "/consents",
                                                json::object{{"remove", json::array{"Mail.Send"}}});
                                 },
                                 "permission_denied", "permission_removed"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(OutlookCheck, AnUnreachableMicrosoftKeepsTheLastKnownStateAndSaysTheCheckFailed) {
    sandbox_.control("POST", "/_sandbox/faults", json::object{{"endpoint", "token"}, {"status", 503}});
    auto s = check();
    EXPECT_EQ(str(s, "state"), "connected") << json::serialize(s);
    EXPECT_TRUE(str(s, "checked_at").empty()) << "nothing was confirmed";
    ASSERT_TRUE(s.contains("check_failed")) << json::serialize(s);
    EXPECT_FALSE(str(s["check_failed"], "code").empty());
}

// The check's refresh failing for a moment says nothing against the cached token: a send
// right after it goes out with that token rather than wait out the refresh's back-off.
TEST_F(OutlookCheck, ACheckWhoseRefreshFailsForAMomentLeavesSendsTheValidCachedToken) {
    sandbox_.control("POST", "/_sandbox/faults", json::object{{"endpoint", "token"}, {"status", 503}});
    auto s = check();
    ASSERT_TRUE(s.contains("check_failed")) << json::serialize(s);
    int refreshes_after_check = refreshes();
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(refreshes(), refreshes_after_check) << "the send used the cached token";
}

// Microsoft refusing the app's own credentials confirms nothing about the connection: the
// check failed, naming why, and is not stamped as checked.
TEST_F(OutlookCheck, AnInvalidClientSecretIsAFailedCheckNotAConfirmedOne) {
    std::string secret = client_secret();
    extra_secrets_.push_back(secret);
    dir_.write("secret.txt", secret);
    auto config = base_config();
    config["client_id"] = kSecretClientId;
    config["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "secret.txt").string()}};
    outlook_ = create(config);
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::invalid);
    auto s = check();
    EXPECT_TRUE(str(s, "checked_at").empty()) << json::serialize(s);
    ASSERT_TRUE(s.contains("check_failed")) << json::serialize(s);
    EXPECT_FALSE(str(s["check_failed"], "code").empty()) << json::serialize(s);
    EXPECT_THAT(str(s["check_failed"], "message"), HasSubstr("7000215"));
    EXPECT_EQ(str(s, "state"), "configuration_error") << "the operator's problem, shown as such";
}

TEST_F(OutlookCheck, NotConnectedAccountsAreAnsweredWithoutAsking) {
    auto s = check("nobody");
    EXPECT_EQ(str(s, "state"), "not_connected");
    EXPECT_EQ(refreshes(), 0);
}

// The stand-in ends a refresh token unused for 90 days (AADSTS700082); each refresh issues a
// new one. Checked weekly the grant lives on; left alone it expires with the reason.
TEST_F(OutlookCheck, AGrantCheckedWeeklySurvives91DaysAndOneLeftAloneExpiresOfInactivity) {
    ASSERT_EQ(str(connect("bob", kWorkUser), "outcome"), "connected");
    for (int week = 0; week < 13; ++week) {
        advance(std::chrono::seconds(7 * 24 * 3600));
        ASSERT_EQ(str(check("alice"), "state"), "connected") << "week " << week + 1;
    }
    advance(std::chrono::seconds(24 * 3600));  // 92 days in all
    EXPECT_EQ(str(check("alice"), "state"), "connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");

    auto s = check("bob");
    EXPECT_EQ(str(s, "state"), "expired") << json::serialize(s);
    EXPECT_EQ(str(s, "reason"), "inactivity");
    EXPECT_THAT(str(s, "message"), HasSubstr("90 days"));
}

TEST_F(OutlookCheck, DestroyWithChecksInFlightAnswersEachOnceAndNeverAfter) {
    std::atomic<int> answered{0};
    for (int i = 0; i < 8; ++i)
        outlook_->check_connection("alice", [&](ep::loader::CallResult) { answered.fetch_add(1); });
    outlook_.reset();
    EXPECT_EQ(answered.load(), 8);
}

}  // namespace
