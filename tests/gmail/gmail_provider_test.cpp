// Personal Gmail end to end against the Google stand-in: what a recruiter's connect, send,
// check and disconnect do, and what each of Google's refusals leaves behind.
#include "gmail_fixture.hpp"

#include <email_provider/provider_loader.hpp>

#include <gmock/gmock.h>

namespace gmail_test {
namespace {

using ::testing::HasSubstr;

class GmailProviderTest : public GmailFixture {};

TEST_F(GmailProviderTest, ConnectingWithEveryBoxTickedStoresAConnectionThatSends) {
    json::object r = connect("rita", kConsumerUser);
    ASSERT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    EXPECT_EQ(str(r, "message"), std::string("Connected as ") + kConsumerUser + ".");
    json::object s = status("rita");
    EXPECT_EQ(str(s, "state"), "connected");
    EXPECT_EQ(str(s, "email"), kConsumerUser);
    EXPECT_EQ(str(s, "provider"), "gmail");
    EXPECT_EQ(str(s, "service_name"), "Gmail");
    EXPECT_EQ(str(s, "application_id"), kClientId);
    EXPECT_EQ(str(s, "account_kind"), "personal");
    EXPECT_EQ(str(s, "revoke_url"), "https://myaccount.google.com/connections");
    // Only what the app asked for is recorded: sign-in and sending.
    EXPECT_EQ(json::serialize(s.at("scopes")), R"(["openid","email","https://www.googleapis.com/auth/gmail.send"])");

    json::object sent = send("rita", message("Following up"));
    ASSERT_EQ(str(sent, "outcome"), "sent") << json::serialize(sent);
    auto messages = sandbox_.messages(kConsumerUser);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].subject, "Following up");
    EXPECT_EQ(messages[0].from, kConsumerUser);
    EXPECT_EQ(messages[0].upload_type, "json");
    // The result names Gmail's id of the message, for support.
    EXPECT_EQ(str(sent, "request_id"), messages[0].id);
}

TEST_F(GmailProviderTest, AWorkspaceAccountNamesItsOrganisation) {
    ASSERT_EQ(str(connect("rita", kWorkspaceUser), "outcome"), "connected");
    json::object s = status("rita");
    EXPECT_EQ(str(s, "account_kind"), "workspace");
    EXPECT_EQ(str(s, "organization"), "acme.example");
}

// https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions
TEST_F(GmailProviderTest, AnUntickedSendBoxStoresNothingAndSaysWhichPermissionIsMissing) {
    json::object r = connect("rita", kConsumerUser, {kSendScope});
    EXPECT_EQ(str(r, "outcome"), "declined");
    EXPECT_EQ(str(r, "code"), "permission_not_granted");
    EXPECT_EQ(json::serialize(r.at("missing_permissions")), R"(["https://www.googleapis.com/auth/gmail.send"])");
    EXPECT_THAT(str(r, "message"), HasSubstr("Send email on your behalf"));
    EXPECT_THAT(str(r, "message"), HasSubstr("Connect again and tick the box"));
    EXPECT_EQ(str(status("rita"), "state"), "not_connected");
    for (const auto& [key, value] : host_.secrets()) EXPECT_FALSE(key.ends_with("/grant")) << key << " was stored";
    // Ticking it the next time connects.
    EXPECT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
}

TEST_F(GmailProviderTest, CancelAtGoogleIsDeclinedAndStoresNothing) {
    json::object r = connect("rita", kConsumerUser, {}, google_sandbox::Answer::deny);
    EXPECT_EQ(str(r, "outcome"), "declined");
    EXPECT_EQ(str(r, "code"), "access_denied");
    EXPECT_EQ(str(status("rita"), "state"), "not_connected");
}

TEST_F(GmailProviderTest, AStateIsSingleUseAndAnotherAccountsAnswerIsRefused) {
    const std::string url = begin("rita", json::object{{"login_hint", kConsumerUser}});
    const std::string callback = sandbox_.autopilot(url, kConsumerUser);
    EXPECT_EQ(str(complete("sam", callback), "outcome"), "forgery_suspected");
    EXPECT_EQ(str(complete("rita", callback), "outcome"), "connected");
    json::object again = complete("rita", callback);
    EXPECT_EQ(str(again, "outcome"), "forgery_suspected");
    EXPECT_EQ(str(again, "code"), "state_reused");
}

TEST_F(GmailProviderTest, AnAnswerFromAnotherIssuerIsRefused) {
    const std::string url = begin("rita", json::object{{"login_hint", kConsumerUser}});
    std::string callback = sandbox_.autopilot(url, kConsumerUser);
    const std::string iss = "iss=https%3A%2F%2Faccounts.google.com";
    ASSERT_NE(callback.find(iss), std::string::npos) << callback;
    callback.replace(callback.find(iss), iss.size(), "iss=https%3A%2F%2Fevil.example");
    json::object r = complete("rita", callback);
    EXPECT_EQ(str(r, "outcome"), "forgery_suspected");
    EXPECT_EQ(str(r, "code"), "issuer_mismatch");
}

TEST_F(GmailProviderTest, ConsentIsAskedOnlyWhileNoRefreshTokenIsStored) {
    EXPECT_THAT(begin("rita"), HasSubstr("prompt=consent"));
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    const std::string again = begin("rita", json::object{{"login_hint", kConsumerUser}});
    EXPECT_THAT(again, ::testing::Not(HasSubstr("prompt=consent")));
    // Google answers that sign-in without a refresh token: the stored one is kept and works.
    ASSERT_EQ(str(complete("rita", sandbox_.autopilot(again, kConsumerUser)), "outcome"), "connected");
    advance(std::chrono::seconds(3700));
    EXPECT_EQ(str(send("rita"), "outcome"), "sent");
}

TEST_F(GmailProviderTest, ASendForAnAccountThatNeverConnectedIsHeldNotRejected) {
    json::object r = send("nobody");
    EXPECT_EQ(str(r, "outcome"), "auth_expired");
    EXPECT_EQ(str(r, "code"), "not_connected");
}

TEST_F(GmailProviderTest, AnHourLaterTheTokenIsRefreshedOnceAndTheSendGoesOut) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    advance(std::chrono::seconds(3700));
    ASSERT_EQ(str(send("rita"), "outcome"), "sent");
    ASSERT_EQ(str(send("rita"), "outcome"), "sent");
    EXPECT_EQ(sandbox_.messages(kConsumerUser).size(), 2u);
    EXPECT_FALSE(str(status("rita"), "last_refresh").empty());
    EXPECT_EQ(host_.events(), std::vector<std::string>{"token_refresh/ok"}) << "counted once (ABI 1.3)";
}

// "Token has been expired or revoked." (https://developers.google.com/identity/protocols/oauth2#expiration)
TEST_F(GmailProviderTest, ARevokedGrantEndsTheConnectionAndHoldsTheNudge) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    sandbox_.kill_refresh_tokens(kConsumerUser, google_sandbox::DeadCause::revoked_by_user);
    advance(std::chrono::seconds(3700));
    json::object r = send("rita");
    EXPECT_EQ(str(r, "outcome"), "auth_expired");
    json::object s = status("rita");
    EXPECT_EQ(str(s, "state"), "expired");
    EXPECT_EQ(str(s, "reason"), "grant_invalid");
    EXPECT_THAT(str(s, "message"), HasSubstr("removed this app's access"));
    EXPECT_TRUE(sandbox_.messages(kConsumerUser).empty());
    EXPECT_EQ(host_.events(), std::vector<std::string>{"token_refresh/invalid_grant"}) << "counted once (ABI 1.3)";
}

TEST_F(GmailProviderTest, ACheckRefreshesAndAsksGoogleWhoTheUserIs) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    json::object checked = parse(gmail_->check_blocking("rita").document);
    EXPECT_EQ(str(checked, "state"), "connected");
    EXPECT_FALSE(str(checked, "checked_at").empty()) << json::serialize(checked);

    sandbox_.kill_refresh_tokens(kConsumerUser, google_sandbox::DeadCause::password_change);
    json::object dead = parse(gmail_->check_blocking("rita").document);
    EXPECT_EQ(str(dead, "state"), "expired");
    EXPECT_FALSE(str(dead, "checked_at").empty());
}

TEST_F(GmailProviderTest, ACheckThatCannotReachGoogleChangesNothing) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    google_sandbox::FaultRule fault;
    fault.endpoint = "userinfo";
    fault.status = 503;
    sandbox_.add_fault(fault);
    json::object checked = parse(gmail_->check_blocking("rita").document);
    EXPECT_EQ(str(checked, "state"), "connected");
    ASSERT_TRUE(checked.contains("check_failed")) << json::serialize(checked);
    EXPECT_EQ(str(checked.at("check_failed").as_object(), "code"), "userinfo_unavailable");
}

TEST_F(GmailProviderTest, DisconnectRevokesAtGoogleAndDeletesEverything) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    ASSERT_FALSE(host_.secrets().empty());
    json::object r = parse(gmail_->disconnect("rita").document);
    EXPECT_TRUE(r.at("revoked_at_provider").as_bool());
    EXPECT_THAT(str(r, "message"), HasSubstr("Google withdrew the app's access"));
    EXPECT_EQ(str(r.at("status").as_object(), "state"), "not_connected");
    EXPECT_TRUE(host_.secrets().empty());
    // Google forgot the grant: the next sign-in shows the consent screen again.
    google_sandbox::AutopilotRequest req;
    req.authorize_url = begin("rita", json::object{{"login_hint", kConsumerUser}});
    req.user = kConsumerUser;
    EXPECT_TRUE(sandbox_.autopilot(req).consent_page_shown);
}

TEST_F(GmailProviderTest, DisconnectWhenGoogleCannotRevokeStillDeletesAndSaysWhereToRemoveTheApp) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    google_sandbox::FaultRule fault;
    fault.endpoint = "revoke";
    fault.status = 503;
    sandbox_.add_fault(fault);
    json::object r = parse(gmail_->disconnect("rita").document);
    EXPECT_FALSE(r.at("revoked_at_provider").as_bool());
    EXPECT_THAT(str(r, "message"), HasSubstr("https://myaccount.google.com/connections"));
    EXPECT_TRUE(host_.secrets().empty());
}

TEST_F(GmailProviderTest, ALargeMessageGoesAsAMultipartUpload) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    json::object m = parse(message("With the job description"));
    m["attachments"] = json::array{json::object{
        {"name", "role.txt"}, {"content_type", "text/plain"}, {"content_base64", std::string(2'000'000, 'A')}}};
    ASSERT_EQ(str(send("rita", json::serialize(m)), "outcome"), "sent");
    auto messages = sandbox_.messages(kConsumerUser);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].upload_type, "multipart");
    EXPECT_GT(messages[0].size, 1'500'000u);
}

TEST_F(GmailProviderTest, AnAccountWithoutGmailIsRejectedWithGooglesReason) {
    ASSERT_EQ(str(connect("rita", kNoGmailUser), "outcome"), "connected");
    json::object r = send("rita");
    EXPECT_EQ(str(r, "outcome"), "rejected");
    EXPECT_THAT(str(r, "message"), HasSubstr("Gmail is not enabled"));
}

class GmailDailyLimitTest : public GmailFixture {
protected:
    GmailDailyLimitTest() : GmailFixture(2) {}
};

// "User-rate limit exceeded.  Retry after <time> (Mail sending)"
// (https://developers.google.com/workspace/gmail/api/guides/handle-errors#resolve_a_429_error_too_many_requests):
// the mailbox is held until then, not retried in a loop.
TEST_F(GmailDailyLimitTest, TheDailyLimitHoldsTheNudgeUntilGooglesResetTime) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    ASSERT_EQ(str(send("rita"), "outcome"), "sent");
    ASSERT_EQ(str(send("rita"), "outcome"), "sent");
    json::object r = send("rita");
    EXPECT_EQ(str(r, "outcome"), "throttled") << json::serialize(r);
    ASSERT_TRUE(r.contains("retry_after_ms"));
    // The window is a rolling day: the first send leaves it about 24 hours after it went out.
    EXPECT_GT(r.at("retry_after_ms").to_number<int64_t>(), 23 * 3600 * 1000LL);
    EXPECT_EQ(sandbox_.messages(kConsumerUser).size(), 2u);
    // The whole mailbox is held, not only this nudge (plugin_api/SCHEMAS.md ep.send_result/1).
    EXPECT_EQ(str(r, "sending_limit"), "daily");
}

// ---- threading and sending limits (ABI 1.2) ---------------------------------------------------

// A follow-up to the message sent before it: Re: its subject, In-Reply-To its Message-ID,
// References the thread so far, and Gmail's threadId from its sent result.
std::string follow_up(const json::object& previous_sent, const std::vector<std::string>& thread_ids,
                      const std::string& message_id) {
    json::array references(thread_ids.begin(), thread_ids.end());
    return json::serialize(json::object{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                                        {"subject", "Re: Interview on Monday"},
                                        {"text", "Just checking in"},
                                        {"message_id", message_id},
                                        {"in_reply_to", thread_ids.back()},
                                        {"references", references},
                                        {"thread_id", previous_sent.at("thread_id")}});
}

// https://developers.google.com/workspace/gmail/api/guides/threads: the threadId with matching
// References/In-Reply-To and Subject; users.messages.send answers the Message with its threadId.
TEST_F(GmailProviderTest, AFirstMessageAndTwoFollowUpsGoOutInOneThread) {
    EXPECT_TRUE(gmail_->threads_messages()) << "EP_CAP_THREADING";
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    json::object first = send("rita", message("Interview on Monday"));
    ASSERT_EQ(str(first, "outcome"), "sent") << json::serialize(first);
    const std::string first_id = str(first, "internet_message_id");
    ASSERT_THAT(first_id, ::testing::MatchesRegex("<.+@gmail\\.example>"))
        << "made by the plugin, at the sender's domain";
    json::object second = send("rita", follow_up(first, {first_id}, "<nudge.2@recruiting.example>"));
    ASSERT_EQ(str(second, "outcome"), "sent") << json::serialize(second);
    EXPECT_EQ(str(second, "internet_message_id"), "<nudge.2@recruiting.example>");
    json::object third =
        send("rita", follow_up(second, {first_id, "<nudge.2@recruiting.example>"}, "<nudge.3@recruiting.example>"));
    ASSERT_EQ(str(third, "outcome"), "sent") << json::serialize(third);

    EXPECT_EQ(str(second, "thread_id"), str(first, "thread_id"));
    EXPECT_EQ(str(third, "thread_id"), str(first, "thread_id"));
    const auto recorded = sandbox_.messages(kConsumerUser);
    ASSERT_EQ(recorded.size(), 3u);
    for (const auto& m : recorded) EXPECT_EQ(m.thread_id, str(first, "thread_id")) << m.subject;
    EXPECT_EQ(recorded[0].message_id, first_id);
    EXPECT_EQ(recorded[2].message_id, "<nudge.3@recruiting.example>");
    EXPECT_EQ(recorded[2].in_reply_to, "<nudge.2@recruiting.example>");
    EXPECT_THAT(recorded[2].references, ::testing::ElementsAre(first_id, "<nudge.2@recruiting.example>"));
    EXPECT_EQ(recorded[2].requested_thread_id, str(first, "thread_id"));
}

// A follow-up whose headers name no message of the thread is not added to it: the result reports
// the new thread Gmail answered, so the host threads the next one there.
TEST_F(GmailProviderTest, AFollowUpThatNamesNoMessageOfTheThreadReportsTheNewThread) {
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    json::object first = send("rita", message("Interview on Monday"));
    json::object stray =
        send("rita", follow_up(first, {"<unknown@elsewhere.example>"}, "<nudge.9@recruiting.example>"));
    ASSERT_EQ(str(stray, "outcome"), "sent") << json::serialize(stray);
    EXPECT_NE(str(stray, "thread_id"), str(first, "thread_id"));
    EXPECT_EQ(str(stray, "thread_id"), sandbox_.messages(kConsumerUser).back().thread_id);
}

// support.google.com/mail/answer/22839 (consumer) and support.google.com/a/answer/166852 (Workspace);
// 6,000 quota units a minute per user, 100 a send (developers.google.com/workspace/gmail/api/reference/quota).
TEST_F(GmailProviderTest, SendingLimitsFollowTheAccountKind) {
    const auto limits = [&](const std::string& account) {
        auto r = gmail_->sending_limits(account);
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    };
    json::object unknown = limits("nobody");
    EXPECT_EQ(str(unknown, "schema"), "ep.sending_limits/1");
    EXPECT_EQ(unknown.at("messages_per_day").to_number<int>(), 500) << "unknown: the lower, consumer limits";
    ASSERT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    ASSERT_EQ(str(connect("alan", kWorkspaceUser), "outcome"), "connected");
    json::object consumer = limits("rita"), workspace = limits("alan");
    EXPECT_EQ(consumer.at("messages_per_day").to_number<int>(), 500);
    EXPECT_EQ(consumer.at("recipients_per_day").to_number<int>(), 500);
    EXPECT_EQ(str(consumer, "source"), "https://support.google.com/mail/answer/22839");
    EXPECT_EQ(workspace.at("messages_per_day").to_number<int>(), 2000);
    EXPECT_EQ(workspace.at("recipients_per_day").to_number<int>(), 10000);
    EXPECT_EQ(str(workspace, "source"), "https://support.google.com/a/answer/166852");
    for (const json::object* l : {&unknown, &consumer, &workspace}) {
        EXPECT_EQ(l->at("messages_per_minute").to_number<int>(), 60);
        EXPECT_EQ(str(*l, "day"), "rolling_24h");
    }
}

TEST_F(GmailProviderTest, AConfigWithoutASecretOrWithAnInlineOneNamesTheField) {
    json::object c = base_config();
    c["client_secret"] = json::object{{"value", "GOCSPX-inline"}};
    try {
        create(c);
        FAIL() << "an inline client secret was accepted";
    } catch (const std::exception& e) {
        EXPECT_THAT(e.what(), HasSubstr("client_secret"));
        EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("GOCSPX-inline")));
    }
}

}  // namespace
}  // namespace gmail_test
