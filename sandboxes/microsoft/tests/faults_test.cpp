// Scripted faults, control endpoints, counters, issued secrets and log hygiene.
#include "support.hpp"

#include <sstream>

namespace mst {
namespace {

using FaultTest = SandboxTest;
using ms_sandbox::FaultRule;

FaultRule rule(const std::string& endpoint, const std::string& action, int status = 0) {
    FaultRule r;
    r.endpoint = endpoint;
    r.action = action;
    r.status = status;
    return r;
}

TEST_F(FaultTest, Graph429WithFractionalRetryAfterThenRecovers) {
    auto at = sign_in(kAdele).access_token;
    auto f = rule("sendMail", "status", 429);
    f.retry_after = "2.128";
    f.times = 2;
    sandbox->add_fault(f);
    for (int i = 0; i < 2; ++i) {
        auto r = send_mail(at, simple_message());
        EXPECT_EQ(r.status, 429);
        EXPECT_EQ(r.header("retry-after"), "2.128");
        auto e = r.json().at("error");
        EXPECT_EQ(e.at("code"), "TooManyRequests");
        EXPECT_EQ(e.at("innerError").at("status"), "429");
        EXPECT_EQ(e.at("innerError").at("code"), "429");
    }
    EXPECT_EQ(send_mail(at, simple_message()).status, 202);
    EXPECT_EQ(sandbox->messages().size(), 1u);
    EXPECT_EQ(sandbox->faults().at("rules").at(0).at("fired").as_int64(), 2);
}

TEST_F(FaultTest, RetryAfterHttpDateAndNoRetryAfter) {
    auto at = sign_in(kAdele).access_token;
    auto f = rule("me", "status", 429);
    f.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT";
    sandbox->add_fault(f);
    sandbox->add_fault(rule("me", "status", 429));
    auto r1 = get("/v1.0/me", {"Authorization: Bearer " + at});
    EXPECT_EQ(r1.header("retry-after"), "Wed, 21 Oct 2015 07:28:00 GMT");
    auto r2 = get("/v1.0/me", {"Authorization: Bearer " + at});
    EXPECT_EQ(r2.status, 429);
    EXPECT_EQ(r2.header("retry-after"), "");
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + at}).status, 200);
}

TEST_F(FaultTest, AfterSkipsAndUserFilters) {
    auto adele = sign_in(kAdele).access_token;
    auto megan = sign_in(kMsa).access_token;
    auto f = rule("sendMail", "status", 503);
    f.after = 1;
    f.user = kAdele;
    sandbox->add_fault(f);
    EXPECT_EQ(send_mail(megan, simple_message()).status, 202);  // other user: no match
    EXPECT_EQ(send_mail(adele, simple_message()).status, 202);  // first match let through
    auto r = send_mail(adele, simple_message());
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.json().at("error").at("code"), "serviceNotAvailable");
    EXPECT_EQ(send_mail(adele, simple_message()).status, 202);
}

TEST_F(FaultTest, TokenEndpointFaultsAreAadShaped) {
    auto t = sign_in(kAdele);
    auto f = rule("token", "status", 503);
    f.grant_type = "refresh_token";
    f.user = kAdele;
    f.retry_after = "7";
    sandbox->add_fault(f);
    auto r = refresh(t.refresh_token);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("retry-after"), "7");
    EXPECT_EQ(r.json().at("error"), "temporarily_unavailable");
    EXPECT_EQ(r.json().at("error_codes").at(0).as_int64(), 90033);
    EXPECT_EQ(refresh(t.refresh_token).status, 200);
}

TEST_F(FaultTest, StatusAfterRecordSendsThenTimesOut) {
    auto at = sign_in(kAdele).access_token;
    sandbox->add_fault(rule("sendMail", "status_after_record"));
    auto r = send_mail(at, simple_message("a@example.org", "maybe sent"));
    EXPECT_EQ(r.status, 504);
    ASSERT_EQ(sandbox->messages().size(), 1u);  // ... but it was sent
    EXPECT_EQ(sandbox->messages()[0].subject, "maybe sent");
}

TEST_F(FaultTest, ConnectionLevelFaults) {
    auto at = sign_in(kAdele).access_token;
    sandbox->add_fault(rule("sendMail", "drop_before_response"));
    auto dropped = send_mail(at, simple_message());
    EXPECT_NE(dropped.curl_code, 0);
    EXPECT_EQ(dropped.status, 0);
    EXPECT_TRUE(sandbox->messages().empty());

    sandbox->add_fault(rule("sendMail", "reset_before_body"));
    auto reset = send_mail(at, simple_message());
    EXPECT_NE(reset.curl_code, 0);
    EXPECT_TRUE(sandbox->messages().empty());

    sandbox->add_fault(rule("me", "truncated_body"));
    auto truncated = get("/v1.0/me", {"Authorization: Bearer " + at});
    EXPECT_EQ(truncated.curl_code, 18);  // CURLE_PARTIAL_FILE

    sandbox->add_fault(rule("token", "malformed_json"));
    AuthorizeSpec s;
    auto broken = redeem(code_for(kMsa, s), s);
    EXPECT_EQ(broken.status, 200);
    EXPECT_THROW(broken.json(), std::exception);
}

TEST_F(FaultTest, MalformedAndHugeBodies) {
    auto at = sign_in(kAdele).access_token;
    sandbox->add_fault(rule("me", "malformed_json"));
    auto m = get("/v1.0/me", {"Authorization: Bearer " + at});
    EXPECT_EQ(m.status, 200);
    EXPECT_THROW(m.json(), std::exception);
    auto f = rule("me", "huge_body");
    sandbox->add_fault(f);
    auto h = get("/v1.0/me", {"Authorization: Bearer " + at});
    EXPECT_EQ(h.status, 200);
    EXPECT_GE(h.body.size(), 20u * 1024 * 1024);
    EXPECT_EQ(h.json().at("userPrincipalName"), kAdele);
}

TEST_F(FaultTest, DelayIsApplied) {
    auto at = sign_in(kAdele).access_token;
    auto f = rule("me", "delay");
    f.delay_ms = 300;
    sandbox->add_fault(f);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + at}).status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(FaultTest, AccessDeniedTokenLacksMailSend) {
    sandbox->add_fault(rule("token", "access_denied"));
    auto t = sign_in(kAdele);
    EXPECT_EQ(t.response.json().at("scope"), "User.Read");
    auto r = send_mail(t.access_token, simple_message());
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.json().at("error").at("code"), "ErrorAccessDenied");
    sandbox->add_fault(rule("sendMail", "access_denied"));
    auto good = sign_in(kAdele).access_token;
    EXPECT_EQ(send_mail(good, simple_message()).status, 403);
    EXPECT_EQ(send_mail(good, simple_message()).status, 202);
}

TEST_F(FaultTest, AuthorizeRedirectError) {
    auto f = rule("authorize", "redirect_error");
    sandbox->add_fault(f);
    Request req = browser();
    auto r = http(authorize_url({}), req);
    EXPECT_EQ(r.status, 302);
    auto p = url_params(r.header("location"));
    EXPECT_EQ(p["error"], "temporarily_unavailable");
    EXPECT_EQ(p["state"], "st-123");
}

TEST_F(FaultTest, ControlApiRejectsBadRules) {
    EXPECT_EQ(post_json("/_sandbox/faults", R"({"endpoint":"nowhere","status":500})").status, 400);
    EXPECT_EQ(post_json("/_sandbox/faults", R"({"action":"explode"})").status, 400);
    EXPECT_EQ(post_json("/_sandbox/faults", "{not json").status, 400);
    EXPECT_EQ(post_json("/_sandbox/users/nobody@x/revoke", R"({"reason":"inactivity"})").status, 404);
    EXPECT_EQ(post_json("/_sandbox/users/" + kAdele + "/revoke", R"({"reason":"boredom"})").status, 400);
    auto ok = post_json("/_sandbox/faults", R"({"endpoint":"token","status":500,"times":-1})");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.json().at("id").as_int64(), 1);
    EXPECT_EQ(get("/_sandbox/faults").json().at("rules").as_array().size(), 1u);
    Request del = browser();
    del.method = "DELETE";
    EXPECT_EQ(http(url("/_sandbox/faults"), del).status, 200);
    EXPECT_TRUE(get("/_sandbox/faults").json().at("rules").as_array().empty());
}

TEST_F(FaultTest, ClockAndCounters) {
    auto before = get("/_sandbox/clock").json().at("now_unix").as_int64();
    auto after = post_json("/_sandbox/clock", R"({"advance_seconds": 3600})").json().at("now_unix").as_int64();
    EXPECT_GE(after - before, 3600);
    EXPECT_LT(after - before, 3700);
    EXPECT_EQ(post_json("/_sandbox/clock", R"({"set_unix": 2000000000})").json().at("now_unix").as_int64(), 2000000000);

    sandbox->reset_counters();
    auto t = sign_in(kAdele);
    refresh(t.refresh_token);
    get("/v1.0/me", {"Authorization: Bearer " + t.access_token});
    auto c = sandbox->counters();
    EXPECT_EQ(c.requests["token"], 2);
    EXPECT_EQ(c.requests["me"], 1);
    EXPECT_EQ(c.requests["authorize"], 1);
    EXPECT_EQ(c.token_by_grant["authorization_code"], 1);
    EXPECT_EQ(c.token_by_user[kAdele]["refresh_token"], 1);
}

TEST(LogHygieneTest, IssuedSecretsNeverAppearInLogs) {
    std::ostringstream captured;
    auto* old = std::clog.rdbuf(captured.rdbuf());
    std::vector<std::string> secrets;
    {
        class Flow : public SandboxTest {
        public:
            void TestBody() override {}
            void run(std::vector<std::string>& out) {
                SetUp();
                AuthorizeSpec s;
                s.scope = "openid " + kScopes;
                auto t = sign_in(kAdele, s);
                refresh(t.refresh_token);
                get("/v1.0/me?$select=id", {"Authorization: Bearer " + t.access_token});
                send_mail(t.access_token, simple_message());
                redeem("not-a-code", s);
                out = sandbox->issued().all();
                EXPECT_GE(sandbox->issued().id_tokens.size(), 1u);
                sandbox.reset();
            }
        } flow;
        flow.run(secrets);
    }
    std::clog.rdbuf(old);
    const std::string log = captured.str();
    EXPECT_NE(log.find("POST /common/oauth2/v2.0/token -> 200"), std::string::npos) << log;
    ASSERT_GE(secrets.size(), 6u);
    for (const auto& s : secrets) {
        EXPECT_GE(s.size(), 64u);
        EXPECT_EQ(log.find(s), std::string::npos) << "secret leaked into the log";
        EXPECT_EQ(log.find(s.substr(0, 24)), std::string::npos);
    }
    EXPECT_EQ(log.find("code_challenge"), std::string::npos);
    EXPECT_EQ(log.find("$select"), std::string::npos);
}

}  // namespace
}  // namespace mst
