// POST /token: success shape, code rules, client authentication, refresh rotation, dead grants.
#include "support.hpp"

#include <fstream>
#include <iterator>

namespace mst {
namespace {

using TokenTest = SandboxTest;
using ms_sandbox::RevokeReason;

void expect_aad_error(const HttpResult& r, long status, const std::string& error, int code,
                      const std::string& suberror = "") {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = r.json().as_object();
    EXPECT_EQ(j.at("error"), error) << r.body;
    EXPECT_EQ(j.at("error_codes").as_array().at(0).as_int64(), code) << r.body;
    const std::string desc(j.at("error_description").as_string());
    EXPECT_EQ(desc.rfind("AADSTS" + std::to_string(code) + ": ", 0), 0u) << desc;
    EXPECT_NE(desc.find("\r\nTrace ID: " + std::string(j.at("trace_id").as_string())), std::string::npos);
    EXPECT_NE(desc.find("\r\nCorrelation ID: " + std::string(j.at("correlation_id").as_string())), std::string::npos);
    EXPECT_NE(desc.find("\r\nTimestamp: " + std::string(j.at("timestamp").as_string())), std::string::npos);
    EXPECT_EQ(j.at("error_uri"), "https://login.microsoftonline.com/error?code=" + std::to_string(code));
    EXPECT_EQ(j.at("timestamp").as_string().size(), 20u);  // "2021-10-29 17:16:31Z"
    if (suberror.empty())
        EXPECT_FALSE(j.contains("suberror")) << r.body;
    else
        EXPECT_EQ(j.at("suberror"), suberror);
    EXPECT_EQ(r.header("x-ms-request-id"), std::string(j.at("trace_id").as_string()));
}

TEST_F(TokenTest, CodeFlowWithPkceReturnsMicrosoftShapedTokens) {
    auto t = sign_in(kAdele);
    auto j = t.response.json().as_object();
    std::vector<std::string> keys;
    for (auto& kv : j) keys.emplace_back(kv.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"token_type", "scope", "expires_in", "ext_expires_in", "access_token",
                                              "refresh_token"}));
    EXPECT_EQ(j.at("token_type"), "Bearer");
    // Short names asked, short names answered (outlook_plugin/docs/microsoft-behaviour.md §9).
    EXPECT_EQ(j.at("scope"), "Mail.Send User.Read");
    EXPECT_EQ(j.at("expires_in").as_int64(), 3599);
    EXPECT_EQ(j.at("ext_expires_in").as_int64(), 3599);
    EXPECT_GE(t.access_token.size(), 64u);
    EXPECT_GE(t.refresh_token.size(), 64u);
    EXPECT_EQ(t.response.header("cache-control"), "no-store, no-cache");
}

TEST_F(TokenTest, IdTokenAndClientInfoOnlyWhenAsked) {
    AuthorizeSpec s;
    s.scope = "openid profile email User.Read Mail.Send";  // no offline_access
    const std::string code = code_for(kAdele, s);
    auto r = redeem(code, s, {{"client_info", "1"}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = r.json().as_object();
    EXPECT_FALSE(j.contains("refresh_token"));
    ASSERT_TRUE(j.contains("id_token"));
    auto ci = json::parse(b64url_decode(std::string(j.at("client_info").as_string())));
    EXPECT_EQ(ci.at("utid"), kContosoId);

    auto keys = get("/common/discovery/v2.0/keys").json().at("keys").as_array();
    ASSERT_EQ(keys.size(), 1u);
    auto claims = verify_rs256(std::string(j.at("id_token").as_string()), keys[0].as_object());
    ASSERT_TRUE(claims.is_object()) << "id_token signature does not verify against the JWKS";
    EXPECT_EQ(claims.at("aud"), kPublicApp);
    EXPECT_EQ(claims.at("preferred_username"), kAdele);
    EXPECT_EQ(claims.at("tid"), kContosoId);
    EXPECT_EQ(claims.at("email"), kAdele);
    EXPECT_EQ(claims.at("iss"), sandbox->base_url() + "/" + kContosoId + "/v2.0");

    // Without openid / client_info: neither comes back.
    auto t = sign_in(kAdele);
    EXPECT_FALSE(t.response.json().as_object().contains("id_token"));
    EXPECT_FALSE(t.response.json().as_object().contains("client_info"));
}

TEST_F(TokenTest, CodeIsSingleUseAndExpires) {
    AuthorizeSpec s;
    const std::string code = code_for(kAdele, s);
    EXPECT_EQ(redeem(code, s).status, 200);
    expect_aad_error(redeem(code, s), 400, "invalid_grant", 54005);
    const std::string late = code_for(kAdele, s);
    sandbox->advance_clock(std::chrono::seconds(601));
    expect_aad_error(redeem(late, s), 400, "invalid_grant", 70008, "bad_token");
    expect_aad_error(redeem("garbage", s), 400, "invalid_grant", 9002313);
}

TEST_F(TokenTest, PkceRedirectAndTenantMustMatch) {
    AuthorizeSpec s;
    const std::string code = code_for(kAdele, s);
    expect_aad_error(redeem(code, s, {{"code_verifier", make_pkce().verifier}}), 400, "invalid_grant", 501481);
    expect_aad_error(redeem(code, s, {{"code_verifier", "<omit>"}}), 400, "invalid_grant", 501481);
    expect_aad_error(redeem(code, s, {{"redirect_uri", "http://127.0.0.1/other"}}), 400, "invalid_grant", 500112);
    AuthorizeSpec other = s;
    other.tenant = kContosoId;
    expect_aad_error(redeem(code, other), 400, "invalid_grant", 700005);
    EXPECT_EQ(redeem(code, s).status, 200);  // the failures did not burn the code

    AuthorizeSpec plain = s;
    plain.method = "plain";
    plain.challenge = pkce.verifier;
    EXPECT_EQ(redeem(code_for(kAdele, plain), plain).status, 200);
}

TEST_F(TokenTest, MissingParametersAndBadBodies) {
    expect_aad_error(post_form("/common/oauth2/v2.0/token", {{"client_id", kPublicApp}}), 400, "invalid_request",
                     900144);
    expect_aad_error(post_json("/common/oauth2/v2.0/token", "{\"grant_type\":\"authorization_code\"}"), 400,
                     "invalid_request", 900144);
    expect_aad_error(
        post_form("/common/oauth2/v2.0/token", {{"grant_type", "authorization_code"}, {"client_id", kPublicApp}}), 400,
        "invalid_request", 900144);
    expect_aad_error(post_form("/common/oauth2/v2.0/token", {{"grant_type", "password"}, {"client_id", kPublicApp}}),
                     400, "unsupported_grant_type", 70003);
    expect_aad_error(get("/common/oauth2/v2.0/token"), 400, "invalid_request", 900561);
    expect_aad_error(post_form("/common/oauth2/v2.0/token", {{"grant_type", "refresh_token"},
                                                             {"client_id", "99999999-9999-4999-8999-999999999999"},
                                                             {"refresh_token", "x"}}),
                     400, "unauthorized_client", 700016);
    expect_aad_error(post_form("/%25%25/oauth2/v2.0/token", {{"grant_type", "refresh_token"}}), 400, "invalid_request",
                     90002);
    auto r = post_form("/common/oauth2/v2.0/token", {{"client_id", kPublicApp}},
                       {"client-request-id: 12345678-aaaa-bbbb-cccc-1234567890ab"});
    EXPECT_EQ(r.header("client-request-id"), "12345678-aaaa-bbbb-cccc-1234567890ab");
    EXPECT_EQ(r.json().at("correlation_id"), "12345678-aaaa-bbbb-cccc-1234567890ab");
}

TEST_F(TokenTest, ClientSecretRules) {
    AuthorizeSpec s;
    s.client_id = kSecretApp;
    // Public client must not send a secret.
    AuthorizeSpec pub;
    expect_aad_error(redeem(code_for(kAdele, pub), pub, {{"client_secret", "x"}}), 401, "invalid_client", 700025);
    const std::string code = code_for(kAdele, s);
    expect_aad_error(redeem(code, s), 401, "invalid_client", 7000218);
    expect_aad_error(redeem(code, s, {{"client_secret", "a1b2c3d4-0000-4000-8000-000000000001"}}), 401,
                     "invalid_client", 7000215);
    expect_aad_error(redeem(code, s, {{"client_secret", kExpiredSecret}}), 401, "invalid_client", 7000222);
    auto ok = redeem(code, s, {{"client_secret", kSecret}});
    EXPECT_EQ(ok.status, 200) << ok.body;

    // HTTP Basic (RFC 6749 2.3.1) works too; the secret contains '~' and '.', so encode it.
    const std::string basic = b64url(kSecretApp + ":" + url_escape(kSecret));
    std::string std_b64 = basic;
    for (auto& c : std_b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (std_b64.size() % 4) std_b64 += '=';
    auto viaBasic = post_form("/common/oauth2/v2.0/token",
                              {{"grant_type", "authorization_code"},
                               {"code", code_for(kAdele, s)},
                               {"redirect_uri", s.redirect_uri},
                               {"code_verifier", pkce.verifier}},
                              {"Authorization: Basic " + std_b64});
    EXPECT_EQ(viaBasic.status, 200) << viaBasic.body;

    sandbox->set_secret_state(kSecretApp, ms_sandbox::SecretState::expired);
    expect_aad_error(redeem(code_for(kAdele, s), s, {{"client_secret", kSecret}}), 401, "invalid_client", 7000222);
    sandbox->set_secret_state(kSecretApp, ms_sandbox::SecretState::invalid);
    expect_aad_error(redeem(code_for(kAdele, s), s, {{"client_secret", kSecret}}), 401, "invalid_client", 7000215);
}

class AssertionTest : public SandboxTest {
protected:
    AssertionSpec spec(const std::string& alg = "PS256") {
        AssertionSpec a;
        a.alg = alg;
        a.client_id = kCertApp;
        a.audience = sandbox->base_url() + "/common/oauth2/v2.0/token";
        a.now = std::chrono::duration_cast<std::chrono::seconds>(sandbox->now().time_since_epoch()).count();
        a.cert_file = (sandbox->tls_dir() / "client-cert.pem").string();
        a.key_file = (sandbox->tls_dir() / "client-key.pem").string();
        return a;
    }
    HttpResult redeem_with(const AssertionSpec& a) {
        AuthorizeSpec s;
        s.client_id = kCertApp;
        return redeem(code_for(kAdele, s), s,
                      {{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                       {"client_assertion", make_assertion(a)}});
    }
};

TEST_F(AssertionTest, Ps256WithX5tS256Succeeds) {
    auto r = redeem_with(spec("PS256"));
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AssertionTest, Rs256WithX5tSucceeds) {
    auto r = redeem_with(spec("RS256"));
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AssertionTest, Failures) {
    auto bad_sig = spec();
    bad_sig.corrupt_signature = true;
    expect_aad_error(redeem_with(bad_sig), 401, "invalid_client", 700027);

    auto unknown = spec();
    unknown.cert_file = (sandbox->tls_dir() / "other-client-cert.pem").string();
    unknown.key_file = (sandbox->tls_dir() / "other-client-key.pem").string();
    expect_aad_error(redeem_with(unknown), 401, "invalid_client", 700027);

    auto wrong_aud = spec();
    wrong_aud.audience = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
    expect_aad_error(redeem_with(wrong_aud), 401, "invalid_client", 50012);

    auto expired = spec();
    expired.now -= 3600;
    expect_aad_error(redeem_with(expired), 401, "invalid_client", 700024);

    auto once = spec();
    once.jti = "fixed-jti-1";
    EXPECT_EQ(redeem_with(once).status, 200);
    expect_aad_error(redeem_with(once), 401, "invalid_client", 50012);

    // Assertion made now, used after the sandbox clock moved 20 minutes on.
    auto later = spec();
    AuthorizeSpec s;
    s.client_id = kCertApp;
    const std::string code = code_for(kAdele, s);
    const std::string jwt = make_assertion(later);
    sandbox->advance_clock(std::chrono::minutes(20));
    expect_aad_error(redeem(code, s,
                            {{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                             {"client_assertion", jwt}}),
                     401, "invalid_client", 700024);
}

TEST_F(TokenTest, RefreshRotatesAndOldTokenStaysValid) {
    auto t = sign_in(kAdele);
    auto r1 = refresh(t.refresh_token);
    ASSERT_EQ(r1.status, 200) << r1.body;
    const std::string rt2(r1.json().at("refresh_token").as_string());
    EXPECT_NE(rt2, t.refresh_token);
    EXPECT_EQ(refresh(t.refresh_token).status, 200);  // Microsoft: old RT still valid
    EXPECT_EQ(refresh(rt2).status, 200);
    EXPECT_EQ(sandbox->token_requests("refresh_token", kAdele), 3);
    EXPECT_EQ(sandbox->token_requests("authorization_code"), 1);
}

class RotatingTokenTest : public SandboxTest {
    ms_sandbox::Options options() override {
        ms_sandbox::Options o;
        std::ifstream in(ms_sandbox::default_scenario_file());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto doc = json::parse(text);
        doc.at("settings").as_object()["old_refresh_token_stays_valid"] = false;
        doc.at("settings").as_object()["pkce_mismatch_code"] = 50148;
        o.scenario_json = json::serialize(doc);
        return o;
    }
};

TEST_F(RotatingTokenTest, OldRefreshTokenIsInvalidatedOnUse) {
    auto t = sign_in(kAdele);
    auto r1 = refresh(t.refresh_token);
    ASSERT_EQ(r1.status, 200);
    expect_aad_error(refresh(t.refresh_token), 400, "invalid_grant", 70008, "bad_token");
    EXPECT_EQ(refresh(std::string(r1.json().at("refresh_token").as_string())).status, 200);
    AuthorizeSpec s;
    expect_aad_error(redeem(code_for(kAdele, s), s, {{"code_verifier", make_pkce().verifier}}), 400, "invalid_grant",
                     50148);
}

TEST_F(TokenTest, RefreshTokenInactivityExpiry) {
    auto t = sign_in(kAdele);
    sandbox->advance_clock(std::chrono::hours(24 * 89));
    auto r = refresh(t.refresh_token);
    ASSERT_EQ(r.status, 200);
    sandbox->advance_clock(std::chrono::hours(24 * 91));
    expect_aad_error(refresh(t.refresh_token), 400, "invalid_grant", 700082, "bad_token");
    EXPECT_EQ(refresh(std::string(r.json().at("refresh_token").as_string())).status, 400);
}

struct RevokeCase {
    RevokeReason reason;
    std::string error;
    int code;
    std::string suberror;
};

class RevokeTest : public SandboxTest, public ::testing::WithParamInterface<RevokeCase> {};

TEST_P(RevokeTest, DeadGrantFailsNextRefresh) {
    const auto& c = GetParam();
    auto t = sign_in(kAdele);
    sandbox->revoke_grant(kAdele, c.reason);
    expect_aad_error(refresh(t.refresh_token), 400, c.error, c.code, c.suberror);
    // A fresh interactive sign-in produces a working grant again.
    auto again = sign_in(kAdele);
    EXPECT_EQ(refresh(again.refresh_token).status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Reasons, RevokeTest,
    ::testing::Values(RevokeCase{RevokeReason::inactivity, "invalid_grant", 700082, "bad_token"},
                      RevokeCase{RevokeReason::password_change, "invalid_grant", 50173, "bad_token"},
                      RevokeCase{RevokeReason::consent_revoked, "invalid_grant", 65001, "consent_required"},
                      RevokeCase{RevokeReason::mfa_required, "interaction_required", 50076, "basic_action"},
                      RevokeCase{RevokeReason::signin_frequency, "invalid_grant", 70043, "token_expired"}),
    [](const ::testing::TestParamInfo<RevokeCase>& i) { return "Code" + std::to_string(i.param.code); });

TEST_F(TokenTest, RefreshScopeMustBeConsented) {
    auto t = sign_in(kAdele);
    auto narrow = refresh(t.refresh_token, kPublicApp, {{"scope", "https://graph.microsoft.com/User.Read"}});
    ASSERT_EQ(narrow.status, 200);
    // Additive consent: Mail.Send was consented, so it is listed although only User.Read was asked.
    EXPECT_EQ(narrow.json().at("scope"), "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read");
    expect_aad_error(refresh(t.refresh_token, kPublicApp, {{"scope", "Mail.ReadWrite"}}), 400, "invalid_grant", 65001,
                     "consent_required");
    expect_aad_error(refresh(t.refresh_token, kSecretApp, {{"client_secret", kSecret}}), 400, "invalid_grant", 70000);
}

TEST_F(TokenTest, PersonalAccountTokens) {
    auto t = sign_in(kMsa);
    auto me = get("/v1.0/me", {"Authorization: Bearer " + t.access_token}).json();
    EXPECT_EQ(me.at("mail"), nullptr);
    EXPECT_EQ(me.at("userPrincipalName"), kMsa);
    EXPECT_EQ(me.at("id"), "4a3f9c2e81b7d605");
}

}  // namespace
}  // namespace mst
