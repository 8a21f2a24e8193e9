// POST /token. Facts: https://developers.google.com/identity/protocols/oauth2/web-server (the
// answer's members, refresh_token only on the first offline exchange or with prompt=consent,
// refresh answers without refresh_token); https://developers.google.com/identity/openid-connect/openid-connect
// (id_token claims, at_hash); https://developers.google.com/identity/protocols/oauth2 (refresh-token
// expiry causes, the 100-token limit); error texts: googleworkspace/go-samples#85, bitly/oauth2_proxy#368,
// onaio/onadata#3068, googleapis/google-api-java-client#1479, dolfim/django-gmailapi-backend#9,
// simonrob/email-oauth2-proxy#362, xyou365/AutoRclone#98, adrielcafe/AndroidOAuth#2,
// google-auth-library-python google/oauth2/reauth.py (invalid_rapt), dust-tt/dust#31975.
#include "support.hpp"

namespace gst {
namespace {

using google_sandbox::DeadCause;

class TokenTest : public GoogleSandboxTest {
protected:
    void expect_error(const HttpResult& r, long status, const std::string& error, const std::string& description) {
        EXPECT_EQ(r.status, status) << r.body;
        auto o = r.json().as_object();
        EXPECT_EQ(o.at("error").as_string(), error);
        EXPECT_EQ(o.at("error_description").as_string(), description);
    }
    std::string pem() { return std::string(get("/oauth2/v1/certs").json().as_object().begin()->value().as_string()); }
};

TEST_F(TokenTest, CodeExchangeAnswersGoogleShapedTokens) {
    auto t = sign_in(kAlan);
    const std::string at(t.at("access_token").as_string()), rt(t.at("refresh_token").as_string());
    EXPECT_EQ(at.rfind("ya29.", 0), 0u);
    EXPECT_GE(at.size(), 200u);
    EXPECT_EQ(rt.rfind("1//", 0), 0u);
    EXPECT_GE(rt.size(), 100u);
    EXPECT_EQ(t.at("expires_in").as_int64(), 3599);
    EXPECT_EQ(t.at("token_type").as_string(), "Bearer");
    EXPECT_EQ(t.at("scope").as_string(), "openid " + kUserinfoEmail + " " + kGmailSend);

    auto claims = verify_with_pem(std::string(t.at("id_token").as_string()), pem());
    ASSERT_TRUE(claims.is_object());
    auto c = claims.as_object();
    EXPECT_EQ(c.at("iss").as_string(), "https://accounts.google.com");
    EXPECT_EQ(c.at("aud").as_string(), kClient);
    EXPECT_EQ(c.at("azp").as_string(), kClient);
    EXPECT_EQ(c.at("email").as_string(), kAlan);
    EXPECT_TRUE(c.at("email_verified").as_bool());
    EXPECT_EQ(c.at("hd").as_string(), "acme.example");
    EXPECT_EQ(c.at("nonce").as_string(), "n-0S6");
    EXPECT_EQ(c.at("sub").as_string().size(), 21u);
    const std::string digest = sha256(at);
    EXPECT_EQ(c.at("at_hash").as_string(), b64url(digest.substr(0, 16)));
    EXPECT_EQ(c.at("exp").as_int64() - c.at("iat").as_int64(), 3600);
}

TEST_F(TokenTest, IssuerIsConfigurable) {
    google_sandbox::Options o;
    o.log_requests = false;
    auto text = json::parse(default_scenario_text());
    text.as_object()["settings"].as_object()["issuer"] = "accounts.google.com";
    o.scenario_json = json::serialize(text);
    sandbox = std::make_unique<google_sandbox::Sandbox>(o);
    auto t = sign_in(kGrace);
    auto claims = verify_with_pem(std::string(t.at("id_token").as_string()), pem());
    EXPECT_EQ(claims.at("iss").as_string(), "accounts.google.com");
}

TEST_F(TokenTest, BasicAuthWorksAndSecretsAreChecked) {
    auto cb = callback_for(kGrace);
    const std::string basic = "Authorization: Basic " + [&] {
        std::string raw = kClient + ":" + secret;
        std::string b = b64url(raw);
        for (char& ch : b) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
        while (b.size() % 4) b += '=';
        return b;
    }();
    auto r = post_form("/token",
                       {{"code", cb.at("code")},
                        {"redirect_uri", kRedirect},
                        {"grant_type", "authorization_code"},
                        {"code_verifier", verifier}},
                       {basic});
    EXPECT_EQ(r.status, 200) << r.body;

    expect_error(redeem("x", {{"client_secret", "GOCSPX-wrong"}}), 401, "invalid_client", "Unauthorized");
    expect_error(redeem("x", {{"client_id", "999-nobody.apps.googleusercontent.com"}}), 401, "invalid_client",
                 "The OAuth client was not found.");
    expect_error(redeem("x", {{"client_id", kDeletedClient}}), 401, "deleted_client", "The OAuth client was deleted.");
}

TEST_F(TokenTest, CodeRefusals) {
    auto cb = callback_for(kGrace);
    expect_error(redeem("4/0Anothing"), 400, "invalid_grant", "Malformed auth code.");
    expect_error(redeem(cb.at("code"), {{"code_verifier", "<omit>"}}), 400, "invalid_grant", "Missing code verifier.");
    expect_error(redeem(cb.at("code"), {{"code_verifier", std::string(43, 'a')}}), 400, "invalid_grant",
                 "Invalid code verifier.");
    expect_error(redeem(cb.at("code"), {{"redirect_uri", "http://127.0.0.1/other"}}), 400, "redirect_uri_mismatch",
                 "Bad Request");
    EXPECT_EQ(redeem(cb.at("code")).status, 200);
    expect_error(redeem(cb.at("code")), 400, "invalid_grant", "Code was already redeemed.");
    expect_error(redeem("<omit>"), 400, "invalid_request", "Missing required parameter: code");
    auto late = callback_for(kGrace);
    sandbox->advance_clock(std::chrono::minutes(11));
    expect_error(redeem(late.at("code")), 400, "invalid_grant", "Bad Request");
}

TEST_F(TokenTest, RefreshTokenOnlyOnFirstOfflineExchangeOrPromptConsent) {
    EXPECT_TRUE(sign_in(kGrace).contains("refresh_token"));
    EXPECT_FALSE(sign_in(kGrace).contains("refresh_token"));
    AuthorizeSpec consent;
    consent.extra += "&prompt=consent";
    EXPECT_TRUE(sign_in(kGrace, consent).contains("refresh_token"));
    AuthorizeSpec online;
    online.extra = "";
    online.scope = "openid email";
    EXPECT_FALSE(sign_in(kAlan, online).contains("refresh_token"));
}

TEST_F(TokenTest, RefreshOmitsRefreshTokenAndKeepsTheGrantedScope) {
    auto t = sign_in(kGrace, {}, {kGmailSend});
    EXPECT_EQ(t.at("scope").as_string(), "openid " + kUserinfoEmail);  // the unticked box
    auto r = refresh(std::string(t.at("refresh_token").as_string()));
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = r.json().as_object();
    EXPECT_FALSE(o.contains("refresh_token"));
    EXPECT_EQ(o.at("expires_in").as_int64(), 3599);
    EXPECT_EQ(o.at("scope").as_string(), "openid " + kUserinfoEmail);
    EXPECT_TRUE(o.contains("id_token"));
}

TEST_F(TokenTest, DeadRefreshTokensReadTheSameWhateverTheCause) {
    AuthorizeSpec consent;
    consent.extra += "&prompt=consent";
    for (auto cause : {DeadCause::revoked_by_user, DeadCause::password_change}) {
        const std::string rt(sign_in(kGrace, consent).at("refresh_token").as_string());
        sandbox->kill_refresh_tokens(kGrace, cause, kClient);
        expect_error(refresh(rt), 400, "invalid_grant", "Token has been expired or revoked.");
        EXPECT_EQ(sandbox->dead_cause(rt), cause);
    }
    expect_error(refresh("1//0unknown"), 400, "invalid_grant", "Bad Request");
}

TEST_F(TokenTest, PasswordChangeEndsTokensButNotTheConsent) {
    auto t = sign_in(kGrace);
    sandbox->kill_refresh_tokens(kGrace, DeadCause::password_change);
    EXPECT_EQ(get("/v1/userinfo", {"Authorization: Bearer " + std::string(t.at("access_token").as_string())}).status,
              401);
    google_sandbox::AutopilotRequest again{authorize_path(), kGrace, google_sandbox::Answer::allow, {}};
    auto r = sandbox->autopilot(again);
    ASSERT_TRUE(r.callback_url);
    EXPECT_FALSE(r.consent_page_shown);
    // No live refresh token: the offline exchange brings a new one without prompt=consent.
    EXPECT_TRUE(redeem(query_params(*r.callback_url).at("code")).json().as_object().contains("refresh_token"));
}

TEST_F(TokenTest, UnusedForSixMonthsDies) {
    const std::string rt(sign_in(kGrace).at("refresh_token").as_string());
    sandbox->advance_clock(std::chrono::hours(24 * 100));
    EXPECT_EQ(refresh(rt).status, 200);  // used: the six months start again
    sandbox->advance_clock(std::chrono::hours(24 * 184));
    expect_error(refresh(rt), 400, "invalid_grant", "Token has been expired or revoked.");
    EXPECT_EQ(sandbox->dead_cause(rt), DeadCause::unused_six_months);
}

TEST_F(TokenTest, TestingAppTokensLastSevenDays) {
    AuthorizeSpec testing;
    testing.client_id = kTestingClient;
    const std::string rt(sign_in(kGrace, testing).at("refresh_token").as_string());
    sandbox->advance_clock(std::chrono::hours(24 * 6));
    EXPECT_EQ(refresh(rt, kTestingClient).status, 200);
    sandbox->advance_clock(std::chrono::hours(24 * 2));
    expect_error(refresh(rt, kTestingClient), 400, "invalid_grant", "Token has been expired or revoked.");
    EXPECT_EQ(sandbox->dead_cause(rt), DeadCause::testing_expiry);
}

TEST_F(TokenTest, OverOneHundredTokensTheOldestIsSilentlyRevoked) {
    AuthorizeSpec consent;
    consent.extra += "&prompt=consent";
    std::vector<std::string> tokens;
    for (int i = 0; i < 101; ++i) tokens.emplace_back(sign_in(kGrace, consent).at("refresh_token").as_string());
    expect_error(refresh(tokens.front()), 400, "invalid_grant", "Token has been expired or revoked.");
    EXPECT_EQ(sandbox->dead_cause(tokens.front()), DeadCause::token_limit);
    EXPECT_EQ(refresh(tokens[1]).status, 200);
    EXPECT_EQ(refresh(tokens.back()).status, 200);
}

TEST_F(TokenTest, ReauthAndAdminPolicyAnswers) {
    const std::string rt(sign_in(kAlan).at("refresh_token").as_string());
    sandbox->control("POST", "/_sandbox/reauth", json::object{{"user", kAlan}});
    auto r = refresh(rt);
    expect_error(r, 400, "invalid_grant", "reauth related error (invalid_rapt)");
    EXPECT_EQ(r.json().at("error_subtype").as_string(), "invalid_rapt");
    sandbox->control("POST", "/_sandbox/reauth", json::object{{"user", kAlan}, {"required", false}});
    sandbox->control("POST", "/_sandbox/domains",
                     json::object{{"name", "acme.example"}, {"blocks_unverified_apps", true}});
    EXPECT_EQ(refresh(rt).json().at("error").as_string(), "admin_policy_enforced");
}

TEST_F(TokenTest, GrantTypeProblems) {
    auto r = post_form("/token", {{"client_id", kClient}, {"client_secret", secret}, {"grant_type", "password"}});
    expect_error(r, 400, "unsupported_grant_type", "Invalid grant_type: password");
}

}  // namespace
}  // namespace gst
