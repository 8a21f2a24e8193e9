// The stand-in's behaviours that were checked against real Microsoft traffic and Microsoft's
// own client libraries (outlook_plugin/docs/microsoft-behaviour.md §9; README "Guesses" says which source confirmed
// what): token shapes and sizes, the token "scope" forms and additive consent, suberrors, the Cancel shapes,
// correlation ids, continuous access evaluation, removed permissions and '#' redirects.
#include "support.hpp"

using namespace mst;
using ms_sandbox::Answer;

namespace {

class RealismTest : public SandboxTest {
protected:
    json::value settings(json::object patch) {
        return sandbox->control("POST", "/_sandbox/settings", std::move(patch));
    }
    json::object claims_of(const std::string& jwt) {
        auto keys = get("/common/discovery/v2.0/keys").json().at("keys").as_array();
        auto claims = verify_rs256(jwt, keys.at(0).as_object());
        EXPECT_TRUE(claims.is_object()) << "access token signature does not verify against the JWKS";
        return claims.is_object() ? claims.as_object() : json::object{};
    }
    std::string scope_of(const HttpResult& r) {
        auto o = r.json().as_object();
        return o.contains("scope") ? std::string(o.at("scope").as_string()) : "<absent>";
    }
};

// Work-account Graph tokens are signed JWTs of 1.5-2.5 KB with Graph's claims (access-tokens
// doc https://learn.microsoft.com/entra/identity-platform/access-tokens;
// outlook_plugin/docs/microsoft-behaviour.md §9).
TEST_F(RealismTest, WorkAccessTokenIsASignedJwtOfRealSize) {
    auto t = sign_in(kAdele);
    EXPECT_GE(t.access_token.size(), 1500u);
    EXPECT_LE(t.access_token.size(), 2500u);
    auto c = claims_of(t.access_token);
    EXPECT_EQ(c.at("aud"), "https://graph.microsoft.com");
    EXPECT_EQ(c.at("iss"), "https://sts.windows.net/" + kContosoId + "/");
    EXPECT_EQ(c.at("tid"), kContosoId);
    EXPECT_EQ(c.at("upn"), kAdele);
    EXPECT_EQ(c.at("scp"), "User.Read Mail.Send");
    EXPECT_EQ(c.at("appid"), kPublicApp);
    EXPECT_EQ(c.at("oid").as_string().size(), 36u);
    EXPECT_EQ(c.at("exp").as_int64() - c.at("iat").as_int64(), 3599);
    EXPECT_EQ(c.at("nbf").as_int64(), c.at("iat").as_int64());
    EXPECT_GE(t.refresh_token.size(), 500u);
    EXPECT_LE(t.refresh_token.size(), 1700u);
    // Graph honours what it issued, and only until it expires.
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + t.access_token}).status, 200);
    std::string forged = t.access_token;
    forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + forged}).status, 401);
    sandbox->advance_clock(std::chrono::seconds(3600));
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + t.access_token}).status, 401);
}

TEST_F(RealismTest, PersonalAccessTokenIsOpaqueAndSizesAreConfigurable) {
    auto t = sign_in(kMsa);
    EXPECT_EQ(t.access_token.find('.'), std::string::npos) << "MSA Graph tokens are not JWTs";
    EXPECT_GE(t.access_token.size(), 1000u);
    EXPECT_LE(t.access_token.size(), 1500u);
    settings(
        {{"token_sizes",
          json::object{
              {"work_access_token", 2400}, {"personal_access_token", 300}, {"refresh_token", 1700}, {"code", 400}}}});
    auto code = code_for(kAdele, {});
    EXPECT_EQ(code.size(), 400u);
    auto big = redeem(code, {});
    auto at = std::string(big.json().at("access_token").as_string());
    EXPECT_NEAR(static_cast<double>(at.size()), 2400.0, 8.0);
    EXPECT_EQ(big.json().at("refresh_token").as_string().size(), 1700u);
    EXPECT_EQ(sign_in(kMsa).access_token.size(), 300u);
    // Every form of secret is still listed for the CI log search.
    auto issued = sandbox->issued().all();
    EXPECT_NE(std::find(issued.begin(), issued.end(), at), issued.end());
    EXPECT_NE(std::find(issued.begin(), issued.end(), code), issued.end());
    EXPECT_THROW(settings({{"token_sizes", json::object{{"code", 10}}}}), std::runtime_error);
}

// Short names asked -> short names answered; URIs asked -> URIs (outlook_plugin/docs/microsoft-behaviour.md §9,
// msal-common test kit StringConstants.ts answers "openid profile User.Read email" to short requests).
TEST_F(RealismTest, ScopeFormFollowsTheRequestAndTheSwitches) {
    AuthorizeSpec q;
    q.scope = "offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send";
    auto t = sign_in(kAdele, q);
    EXPECT_EQ(scope_of(t.response), "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read");
    // The refresh keeps the grant's form, or takes the form of its own scope parameter.
    EXPECT_EQ(scope_of(refresh(t.refresh_token)),
              "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read");
    EXPECT_EQ(scope_of(refresh(t.refresh_token, kPublicApp, {{"scope", "User.Read Mail.Send"}})),
              "Mail.Send User.Read");

    settings({{"token_scope_form", "qualified"}});
    EXPECT_EQ(scope_of(sign_in(kAdele).response),
              "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read");
    settings({{"token_scope_form", "short"}, {"token_scope_url_encoded", true}});
    EXPECT_EQ(scope_of(sign_in(kAdele, q).response), "Mail.Send%20User.Read");
    settings({{"token_scope_form", "qualified"}});
    EXPECT_EQ(scope_of(sign_in(kAdele).response),
              "https%3A%2F%2Fgraph.microsoft.com%2FMail.Send%20https%3A%2F%2Fgraph.microsoft.com%2FUser.Read");
    settings({{"token_scope_omitted", true}});
    EXPECT_EQ(scope_of(sign_in(kAdele).response), "<absent>");
    EXPECT_THROW(settings({{"token_scope_form", "long"}}), std::runtime_error);
}

// Additive consent (Microsoft Q&A 78683; outlook_plugin/docs/microsoft-behaviour.md §9): earlier consents of the tenant
// or user appear in every token, and sendMail works with them.
TEST_F(RealismTest, EarlierConsentsAppearInEveryToken) {
    sandbox->control("POST", "/_sandbox/tenants/contoso.example/consents",
                     json::object{{"add", json::array{"Calendars.Read"}}});
    sandbox->control("POST", "/_sandbox/users/" + kAdele + "/consents",
                     json::object{{"add", json::array{"mail.read"}}});
    auto t = sign_in(kAdele);
    EXPECT_EQ(scope_of(t.response), "Calendars.Read Mail.Read Mail.Send User.Read");
    EXPECT_EQ(claims_of(t.access_token).at("scp"), "User.Read Mail.Send Mail.Read Calendars.Read");
    EXPECT_EQ(scope_of(refresh(t.refresh_token, kPublicApp, {{"scope", "User.Read"}})),
              "Calendars.Read Mail.Read Mail.Send User.Read");
    EXPECT_EQ(send_mail(t.access_token, simple_message()).status, 202);
    // Another tenant's user is unaffected.
    EXPECT_EQ(scope_of(sign_in(kMsa).response), "Mail.Send User.Read");
    EXPECT_THROW(sandbox->control("POST", "/_sandbox/users/" + kAdele + "/consents",
                                  json::object{{"add", json::array{"Files.Everything"}}}),
                 std::runtime_error);
}

// An administrator removes Mail.Send: the next refresh succeeds without it and sendMail is
// 403 ErrorAccessDenied (outlook_plugin/docs/microsoft-behaviour.md §9); consenting again brings it back.
TEST_F(RealismTest, RemovedPermissionIsMissingFromTheNextRefresh) {
    auto t = sign_in(kAdele);
    sandbox->control("POST", "/_sandbox/users/" + kAdele + "/consents",
                     json::object{{"remove", json::array{"Mail.Send"}}});
    EXPECT_EQ(send_mail(t.access_token, simple_message()).status, 202) << "issued tokens keep their scopes";
    auto r = refresh(t.refresh_token, kPublicApp, {{"scope", kScopes}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(scope_of(r), "User.Read");
    auto denied = send_mail(std::string(r.json().at("access_token").as_string()), simple_message());
    EXPECT_EQ(denied.status, 403);
    EXPECT_EQ(denied.json().at("error").at("code"), "ErrorAccessDenied");
    // Interactive sign-in shows the consent page again; accepting restores it.
    ms_sandbox::AutopilotRequest again = pilot(authorize_url({}), kAdele);
    auto res = sandbox->autopilot(again);
    EXPECT_TRUE(res.consent_page_shown);
    auto back = redeem(url_params(*res.callback_url)["code"], {});
    EXPECT_EQ(scope_of(back), "Mail.Send User.Read");

    // Tenant-wide removal reaches users who consented themselves.
    auto m = sign_in(kAdele);
    sandbox->control("POST", "/_sandbox/tenants/" + kContosoId + "/consents",
                     json::object{{"remove", json::array{"Mail.Send"}}});
    EXPECT_EQ(scope_of(refresh(m.refresh_token)), "User.Read");
}

// outlook_plugin/docs/microsoft-behaviour.md §9: suberror on every invalid_grant that has one; MSAL drops bad_token
// refresh tokens.
TEST_F(RealismTest, DeadGrantsCarrySuberrors) {
    auto t = sign_in(kAdele);
    sandbox->control("POST", "/_sandbox/settings", json::object{{"old_refresh_token_stays_valid", false}});
    ASSERT_EQ(refresh(t.refresh_token).status, 200);
    auto r = refresh(t.refresh_token);
    EXPECT_EQ(r.json().at("error_codes").at(0).as_int64(), 70008);
    EXPECT_EQ(r.json().at("suberror"), "bad_token");
    auto t2 = sign_in(kAdele);
    sandbox->revoke_grant(kAdele, ms_sandbox::RevokeReason::signin_frequency);
    auto f = refresh(t2.refresh_token);
    EXPECT_EQ(f.json().at("error_codes").at(0).as_int64(), 70043);
    EXPECT_EQ(f.json().at("suberror"), "token_expired");
}

// MSAL sends client-request-id as a query parameter of the token URL (msal-common
// RequestParameterBuilder / createTokenQueryParameters); Microsoft echoes it as correlation_id.
TEST_F(RealismTest, CorrelationIdFromTheQuery) {
    auto r = post_form("/common/oauth2/v2.0/token?client-request-id=6d0a52a4-1e8d-4b0f-9b5b-3c7f2f1a9e01",
                       {{"client_id", kPublicApp}, {"grant_type", "refresh_token"}, {"refresh_token", "nope"}});
    EXPECT_EQ(r.json().at("correlation_id"), "6d0a52a4-1e8d-4b0f-9b5b-3c7f2f1a9e01");
    auto h = post_form("/common/oauth2/v2.0/token?client-request-id=aaaa",
                       {{"client_id", kPublicApp}, {"grant_type", "refresh_token"}, {"refresh_token", "nope"}},
                       {"client-request-id: 11111111-0000-4000-8000-000000000000"});
    EXPECT_EQ(h.json().at("correlation_id"), "11111111-0000-4000-8000-000000000000") << "the header wins";
}

// Cancel shapes (outlook_plugin/docs/microsoft-behaviour.md §9; MSAL.NET AuthorizationResult tests): consent Cancel
// with AADSTS65004, Back without a description, and tenants that say consent_required.
TEST_F(RealismTest, CancelShapes) {
    auto consent_cancel = url_params(sandbox->autopilot(authorize_url({}), kAdele, Answer::cancel));
    EXPECT_EQ(consent_cancel["error"], "access_denied");
    EXPECT_EQ(consent_cancel["error_subcode"], "cancel");
    EXPECT_EQ(consent_cancel["error_description"].rfind("AADSTS65004:", 0), 0u);

    auto back = url_params(sandbox->autopilot(authorize_url({}), kAdele, Answer::back));
    EXPECT_EQ(back["error"], "access_denied");
    EXPECT_EQ(back["error_subcode"], "cancel");
    EXPECT_EQ(back.count("error_description"), 0u);
    EXPECT_EQ(back["state"], "st-123");
    // The sign-in page's Back button is the same.
    auto page = get(authorize_url({}).substr(sandbox->base_url().size()));
    const auto flow_at = page.body.find("name=\"flow\" value=\"");
    ASSERT_NE(flow_at, std::string::npos);
    const auto start = flow_at + 19;
    auto posted = post_form(
        "/common/login", {{"flow", page.body.substr(start, page.body.find('"', start) - start)}, {"action", "cancel"}});
    EXPECT_EQ(posted.status, 302);
    EXPECT_EQ(url_params(posted.header("location")).count("error_description"), 0u);

    sandbox->control("POST", "/_sandbox/tenants/contoso.example/options",
                     json::object{{"cancel_as_consent_required", true}});
    auto tenant = url_params(sandbox->autopilot(authorize_url({}), kAdele, Answer::cancel));
    EXPECT_EQ(tenant["error"], "consent_required");
    EXPECT_EQ(tenant.count("error_subcode"), 0u);
    EXPECT_EQ(tenant["error_description"].find("AADSTS"), std::string::npos);
}

// Redirects as the address bar shows them may end in '#' (outlook_plugin/docs/microsoft-behaviour.md §9).
TEST_F(RealismTest, RedirectMayEndInHash) {
    ms_sandbox::AutopilotRequest plain = pilot(authorize_url({}), kAdele);
    EXPECT_NE(sandbox->autopilot(plain).callback_url->back(), '#');
    plain.address_bar = true;
    auto hashed = *sandbox->autopilot(plain).callback_url;
    EXPECT_EQ(hashed.back(), '#');
    EXPECT_EQ(redeem(url_params(hashed.substr(0, hashed.size() - 1))["code"], {}).status, 200);

    settings({{"redirect_trailing_hash", true}});
    ms_sandbox::AutopilotRequest by_setting = pilot(authorize_url({}), kAdele);
    EXPECT_EQ(sandbox->autopilot(by_setting).callback_url->back(), '#');
}

// CAE (claims-challenge doc, MicrosoftDocs azure-docs claims-challenge.md; azure-sdk-for-js
// identity CAE recordings): tokens from before the event, and refreshed ones, get 401 +
// insufficient_claims until a sign-in carries the claims.
TEST_F(RealismTest, ContinuousAccessEvaluation) {
    auto t = sign_in(kAdele);
    ASSERT_EQ(get("/v1.0/me", {"Authorization: Bearer " + t.access_token}).status, 200);
    sandbox->control("POST", "/_sandbox/users/" + kAdele + "/cae-event", json::object{{"event", "password_reset"}});
    auto r = get("/v1.0/me", {"Authorization: Bearer " + t.access_token});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json().at("error").at("code"), "InvalidAuthenticationToken");
    const std::string www = r.header("www-authenticate");
    EXPECT_NE(www.find("error=\"insufficient_claims\""), std::string::npos) << www;
    const auto c = www.find("claims=\"");
    ASSERT_NE(c, std::string::npos) << www;
    const std::string claims_b64 = www.substr(c + 8, www.find('"', c + 8) - c - 8);
    std::string claims;
    {
        // Standard base64 (padded), as in the doc's example.
        std::string s = claims_b64;
        for (auto& ch : s) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
        while (!s.empty() && s.back() == '=') s.pop_back();
        claims = b64url_decode(s);
    }
    auto cj = json::parse(claims);
    EXPECT_TRUE(cj.at("access_token").at("nbf").at("essential").as_bool());

    // A refresh does not cure it.
    auto refreshed = refresh(t.refresh_token);
    ASSERT_EQ(refreshed.status, 200);
    auto fresh_at = std::string(refreshed.json().at("access_token").as_string());
    EXPECT_EQ(send_mail(fresh_at, simple_message()).status, 401);
    // Nor does a sign-in without the claims.
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + sign_in(kAdele).access_token}).status, 401);
    // A sign-in carrying them does, for the new token only; other users were never affected.
    AuthorizeSpec with_claims;
    with_claims.extra = "&claims=" + url_escape(claims);
    auto cured = sign_in(kAdele, with_claims);
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + cured.access_token}).status, 200);
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + t.access_token}).status, 401);
    auto after = refresh(cured.refresh_token);
    EXPECT_EQ(
        get("/v1.0/me", {"Authorization: Bearer " + std::string(after.json().at("access_token").as_string())}).status,
        200);
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + sign_in(kMsa).access_token}).status, 200);
    EXPECT_THROW(sandbox->control("POST", "/_sandbox/users/" + kAdele + "/cae-event", json::object{{"event", "lunch"}}),
                 std::runtime_error);
}

// Discovery as MSAL reads it: cacheable documents, keys that name their issuer, no advertised
// endpoint that is missing, and instance discovery that refuses unknown hosts (AADSTS50049;
// real documents: panva/wellknown issuers/entra-common, login.microsoftonline.com).
TEST_F(RealismTest, DiscoveryAndKeys) {
    auto doc = get("/common/v2.0/.well-known/openid-configuration");
    ASSERT_EQ(doc.status, 200);
    EXPECT_EQ(doc.header("cache-control"), "max-age=86400, private");
    const json::value document = doc.json();
    for (const auto& [name, value] : document.as_object()) {
        if (!value.is_string() || !(name.ends_with("_endpoint") || name == "jwks_uri")) continue;
        const std::string target(value.as_string());
        ASSERT_EQ(target.rfind(sandbox->base_url(), 0), 0u) << name << " " << target;
        EXPECT_NE(get(target.substr(sandbox->base_url().size())).status, 404) << name << " " << target;
    }
    auto keys = get("/" + kContosoId + "/discovery/v2.0/keys");
    EXPECT_EQ(keys.header("cache-control"), "max-age=86400, private");
    EXPECT_EQ(keys.json().at("keys").at(0).at("issuer"), sandbox->base_url() + "/" + kContosoId + "/v2.0");
    EXPECT_EQ(get("/common/discovery/v2.0/keys").json().at("keys").at(0).at("issuer"),
              sandbox->base_url() + "/{tenantid}/v2.0");

    const std::string ours = url_escape(sandbox->base_url() + "/common/oauth2/v2.0/authorize");
    auto known = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + ours);
    EXPECT_EQ(known.status, 200);
    EXPECT_EQ(known.header("cache-control"), "max-age=86400, private");
    auto unknown = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" +
                       url_escape("https://login.example.invalid/common/oauth2/v2.0/authorize"));
    EXPECT_EQ(unknown.status, 400);
    EXPECT_EQ(unknown.json().at("error"), "invalid_instance");
    EXPECT_EQ(unknown.json().at("error_codes").at(0).as_int64(), 50049);

    auto out = get("/common/oauth2/v2.0/logout?post_logout_redirect_uri=" + url_escape(kLoopbackRedirect));
    EXPECT_EQ(out.status, 302);
    EXPECT_EQ(out.header("location"), kLoopbackRedirect);
}

}  // namespace
