// Microsoft conformance (issue 12): the Outlook plugin against answers shaped exactly like
// what real Microsoft sends, each case citing where its shape comes from. Most cases are
// served by a canned server (canned_server.hpp) standing in for both login.microsoftonline.com
// and graph.microsoft.com, because the stand-in cannot send those shapes (a claims challenge
// header, additive or URL-encoded scopes, a /me without userPrincipalName). Every case asserts
// the outcome, the status afterwards and how many requests it cost: nothing may loop.
// The last case drives the plugin through the real host (HostRuntime and its outbox).
#include "canned_server.hpp"
#include "outlook_fixture.hpp"

#include "core/host_runtime.hpp"
#include "web/web_app.hpp"

#include <boost/url/parse.hpp>

#include <thread>

using namespace outlook_test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr const char* kTokenPath = "/common/oauth2/v2.0/token";
constexpr const char* kMePath = "/v1.0/me";
constexpr const char* kSendPath = "/v1.0/me/sendMail";

// Sizes as measured on real traffic (outlook_plugin/docs/microsoft-behaviour.md §9): work-account access tokens are
// JWTs of about 1.5-2.5 KB, refresh tokens several hundred bytes to 1.7 KB.
std::string fake_access_token(char fill) {
    return "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImNhbm5lZCIsImFsZyI6IlJTMjU2In0." + std::string(1800, fill) + ".c2lnbmF0dXJl";
}
std::string fake_refresh_token(char fill) { return "1.AXoA" + std::string(1100, fill); }

// The /token success shape of Microsoft identity platform v2.0 (token_type first, no
// offline_access in `scope`); `scope` absent when nullopt.
CannedResponse token_answer(const std::string& access, const std::string& refresh, std::optional<std::string> scope) {
    json::object o{{"token_type", "Bearer"}};
    if (scope) o["scope"] = *scope;
    o["expires_in"] = 4372;
    o["ext_expires_in"] = 4372;
    o["access_token"] = access;
    o["refresh_token"] = refresh;
    return {200,
            {{"Content-Type", "application/json; charset=utf-8"}, {"Cache-Control", "no-store, no-cache"}},
            json::serialize(o)};
}

CannedResponse me_answer(json::object profile) {
    profile["@odata.context"] =
        "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,mail,userPrincipalName)/$entity";
    return {200,
            {{"Content-Type",
              "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"}},
            json::serialize(profile)};
}

json::object adele() {
    return json::object{{"id", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"},
                        {"displayName", "Adele Vance"},
                        {"mail", kWorkUser},
                        {"userPrincipalName", kWorkUser}};
}

// Graph's error document: {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
CannedResponse graph_error(int status, const std::string& code, const std::string& message,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    headers.emplace_back("request-id", "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f");
    json::object body{
        {"error",
         json::object{{"code", code},
                      {"message", message},
                      {"innerError", json::object{{"date", "2026-11-30T10:00:00"},
                                                  {"request-id", "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"},
                                                  {"client-request-id", "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"}}}}}};
    return {status, std::move(headers), json::serialize(body)};
}

const CannedResponse kSent{202, {{"request-id", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}}, ""};

// A CAE claims challenge as the Graph SDK test kits record it ("standard" case of the
// Kiota/msgraph core CAE tests; shape also in MicrosoftDocs/azure-docs claims-challenge.md);
// the body is Graph's InvalidAuthenticationToken with the CAE wording.
const char* kCaeClaims =
    R"({"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_caeerror":{"value":"10012"}}})";
CannedResponse cae_challenge() {
    return graph_error(
        401, "InvalidAuthenticationToken",
        "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: "
        "TokenIssuedBeforeRevocationTimestamp",
        {{"WWW-Authenticate",
          R"(Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
          R"(client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", )"
          R"(claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In0sInhtc19jYWVlcnJvciI6eyJ2YWx1ZSI6IjEwMDEyIn19fQ==")"}});
}

std::string query_param(const std::string& url, std::string_view name) {
    auto u = boost::urls::parse_uri(url);
    if (!u) return {};
    auto it = u->params().find(name);
    return it == u->params().end() ? std::string() : std::string((*it).value);
}

class Conformance : public OutlookFixture {
protected:
    Conformance() {
        for (char c : {'A', 'B', 'C', 'D'}) {
            extra_secrets_.push_back(fake_access_token(c));
            extra_secrets_.push_back(fake_refresh_token(c));
        }
    }

    void SetUp() override { outlook_ = create(canned_config()); }

    json::object canned_config() {
        json::object c = base_config();
        c["endpoints"] = json::object{{"login", ms_.base_url()}, {"graph", ms_.base_url() + "/v1.0"}};
        c["allow_insecure_loopback_http"] = true;
        c.erase("tls");
        return c;
    }

    // Microsoft's redirect back to us, for the sign-in `url` began, in Microsoft's order:
    // `params`, state, and session_state after a code (an error ends with state), then `tail`
    // (e.g. "#").
    static std::string callback_for(const std::string& url, const std::string& params, const std::string& tail = "") {
        std::string out = std::string(kRedirectUri) + "?" + params + "&state=" + query_param(url, "state");
        if (params.starts_with("code=")) out += "&session_state=7c1c2c3e-0a1b-4c2d-8e3f-4a5b6c7d8e9f";
        return out + tail;
    }

    json::object connect_with(CannedResponse token, CannedResponse me = me_answer(adele())) {
        ms_.script(kTokenPath, {std::move(token)});
        ms_.script(kMePath, {std::move(me)});
        std::string url = begin("alice", kWorkUser);
        return complete("alice", callback_for(url, "code=0.AXoAcannedAuthorizationCode"));
    }

    // A host (store in dir_) whose Outlook provider talks to the canned server; the fixture's
    // own instance is closed so that only the host's is left.
    std::unique_ptr<host::HostRuntime> start_host() {
        json::object host_config{
            {"store", json::object{{"path", (dir_ / "host.db").string()}}},
            {"log_level", "error"},
            {"users", json::array{json::object{{"id", "rita"}, {"display_name", "Rita"}}}},
            {"web", json::object{{"public_url", "http://127.0.0.1:8080"}}},
            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                   {"config", canned_config()}}}}};
        dir_.write("host.json", json::serialize(host_config));
        outlook_.reset();
        return std::make_unique<host::HostRuntime>(dir_ / "host.json");
    }

    // Connects the host user "rita" with a token granting `scope`.
    void connect_in_host(host::HostRuntime& rt, const std::string& scope) {
        auto& outlook = *rt.providers->instance("outlook");
        ms_.script(kTokenPath, {token_answer(fake_access_token('A'), fake_refresh_token('A'), scope)});
        ms_.script(kMePath, {me_answer(adele())});
        auto start = parse(outlook.begin_connect("rita", R"({"login_hint":"adele@contoso.example"})").document);
        std::string callback = callback_for(str(start, "authorization_url"), "code=0.AXoAcannedAuthorizationCode");
        auto done =
            parse(outlook.complete_connect("rita", json::serialize(json::object{{"callback_url", callback}})).document);
        ASSERT_EQ(str(done, "outcome"), "connected") << json::serialize(done);
        rt.store->save_settings("rita", host::CommunicationSettings{"email", "outlook"});
    }

    json::object connect_work(char token_fill = 'A') {
        return connect_with(token_answer(fake_access_token(token_fill), fake_refresh_token(token_fill),
                                         std::string("Mail.Send User.Read openid profile email")));
    }

    CannedServer ms_;
};

}  // namespace

// ---- 1. a refused fresh token, a CAE claims challenge ------------------------------------------

TEST_F(Conformance, CaeClaimsChallengeEndsTheConnectionAndTheNextSignInCarriesTheClaims) {
    ASSERT_EQ(str(connect_work(), "outcome"), "connected");
    ms_.script(kSendPath, {cae_challenge()});
    ms_.script(kTokenPath, {token_answer(fake_access_token('B'), fake_refresh_token('B'), std::nullopt)});

    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "insufficient_claims");
    EXPECT_EQ(ms_.count(kSendPath), 1) << "a claims challenge is not retried";
    EXPECT_EQ(ms_.count(kTokenPath), 0) << "a refresh cannot satisfy a claims challenge";
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "expired") << json::serialize(s);
    EXPECT_EQ(str(s, "reason"), "signin_required");
    EXPECT_THAT(str(s, "message"), HasSubstr("sign in again"));

    // The grant is not used again until the user reconnects: no request at all.
    r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired");
    EXPECT_EQ(ms_.count(kSendPath), 1);
    EXPECT_EQ(ms_.count(kTokenPath), 0);

    // The next sign-in carries the claims, so that it satisfies the challenge.
    std::string url = begin("alice", kWorkUser);
    EXPECT_EQ(query_param(url, "claims"), kCaeClaims);
    ms_.script(kSendPath, {kSent});
    EXPECT_EQ(str(complete("alice", callback_for(url, "code=0.AXoAsecondCode")), "outcome"), "connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(query_param(begin("alice", kWorkUser), "claims"), "") << "claims are used once";
}

TEST_F(Conformance, A401AfterARefreshEndsTheConnectionInsteadOfLooping) {
    ASSERT_EQ(str(connect_work(), "outcome"), "connected");
    // Graph's 401 for a token it does not accept, with its plain Bearer challenge.
    ms_.script(
        kSendPath,
        {graph_error(
            401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.",
            {{"WWW-Authenticate",
              R"(Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000")"}})});
    ms_.script(kTokenPath,
               {token_answer(fake_access_token('B'), fake_refresh_token('B'), std::string("Mail.Send User.Read"))});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired") << json::serialize(r);
    EXPECT_EQ(ms_.count(kSendPath), 2) << "one retry after one refresh";
    EXPECT_EQ(ms_.count(kTokenPath), 1);
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "expired") << json::serialize(s);
    EXPECT_EQ(str(s, "reason"), "signin_required");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    EXPECT_EQ(ms_.count(kSendPath), 2) << "nothing retries until the user reconnects";
    EXPECT_EQ(ms_.count(kTokenPath), 1);
    EXPECT_EQ(query_param(begin("alice", kWorkUser), "claims"), "") << "no claims without a challenge";
}

// ---- 2. additive scopes ------------------------------------------------------------------------

// Microsoft Q&A 78683: the token lists every permission consented for the app (here an older
// version's Calendars.Read and Mail.Read), plus the sign-in scopes.
TEST_F(Conformance, ExtraConsentedPermissionsAreReportedNeverALockOut) {
    auto r =
        connect_with(token_answer(fake_access_token('A'), fake_refresh_token('A'),
                                  std::string("Calendars.Read Mail.Read Mail.Send User.Read email openid profile")));
    ASSERT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    EXPECT_THAT(str(r, "message"), HasSubstr("Calendars.Read, Mail.Read"));
    auto s = status("alice");
    EXPECT_EQ(json::serialize(s["scopes"]), R"(["Mail.Send","User.Read","offline_access"])")
        << "the product page's three permissions, not openid/profile/email";
    EXPECT_EQ(json::serialize(s["extra_permissions"]), R"(["Calendars.Read","Mail.Read"])");
    EXPECT_THAT(host_.log_text(), HasSubstr("Least privilege")) << "the operator is told";
    EXPECT_EQ(ms_.count(kTokenPath), 1);
    EXPECT_EQ(ms_.count(kMePath), 1);

    // The same rule on refresh: still connected, still reported.
    advance(std::chrono::seconds(4400));
    ms_.script(
        kTokenPath,
        {token_answer(fake_access_token('B'), fake_refresh_token('B'),
                      std::string("https://graph.microsoft.com/Calendars.Read https://graph.microsoft.com/Mail.Read "
                                  "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read"))});
    ms_.script(kSendPath, {kSent});
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(ms_.count(kTokenPath), 1);
    s = status("alice");
    EXPECT_EQ(str(s, "state"), "connected");
    EXPECT_EQ(json::serialize(s["extra_permissions"]), R"(["Calendars.Read","Mail.Read"])");
}

TEST_F(Conformance, AbsentUrlEncodedAndQualifiedScopesAreRead) {
    const std::vector<std::pair<const char*, std::optional<std::string>>> cases = {
        // MSAL's test kit answers without `scope` in places; absent means what was requested.
        {"absent", std::nullopt},
        // Microsoft's auth-code-flow documentation shows the scope URL-encoded.
        {"url-encoded",
         std::string("https%3A%2F%2Fgraph.microsoft.com%2FMail.Send%20https%3A%2F%2Fgraph.microsoft.com%2FUser.Read")},
        // Fully qualified, in another case (tests/fuzz/findings/token_response-scope-prefix-case.bin).
        {"qualified",
         std::string("HTTPS://graph.microsoft.com/Mail.Send https://graph.microsoft.com/user.read offline_access")},
    };
    for (const auto& [name, scope] : cases) {
        SCOPED_TRACE(name);
        outlook_->disconnect("alice");
        auto r = connect_with(token_answer(fake_access_token('A'), fake_refresh_token('A'), scope));
        EXPECT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
        auto s = status("alice");
        EXPECT_EQ(json::serialize(s["scopes"]), R"(["Mail.Send","User.Read","offline_access"])");
        EXPECT_FALSE(s.contains("extra_permissions"));
        EXPECT_EQ(ms_.count(kTokenPath), 1);
    }
}

// ---- 4. permission removed by an administrator ---------------------------------------------------

TEST_F(Conformance, ARefreshWithoutMailSendIsPermissionDeniedUntilReconnected) {
    ASSERT_EQ(str(connect_work(), "outcome"), "connected");
    advance(std::chrono::seconds(4400));
    // The administrator removed Mail.Send: the refreshed token's scope lacks it
    // (outlook_plugin/docs/microsoft-behaviour.md §9).
    ms_.script(kTokenPath, {token_answer(fake_access_token('B'), fake_refresh_token('B'),
                                         std::string("User.Read openid profile email"))});
    ms_.script(kSendPath, {kSent});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "permission_denied");
    EXPECT_EQ(ms_.count(kSendPath), 0);
    EXPECT_EQ(ms_.count(kTokenPath), 1);
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "permission_denied") << json::serialize(s);
    EXPECT_THAT(str(s, "message"), HasSubstr("IT administrator"));
    EXPECT_EQ(str(s, "email"), kWorkUser);
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    EXPECT_EQ(ms_.count(kTokenPath), 1) << "nothing retries";
    // Once the permission is back, reconnecting clears it.
    EXPECT_EQ(str(connect_work('C'), "outcome"), "connected");
    EXPECT_EQ(str(status("alice"), "state"), "connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
}

TEST_F(Conformance, SendMail403ErrorAccessDeniedIsPermissionDeniedNotARejectedMessage) {
    ASSERT_EQ(str(connect_work(), "outcome"), "connected");
    ms_.script(kSendPath,
               {graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "permission_denied");
    EXPECT_EQ(ms_.count(kSendPath), 1);
    EXPECT_EQ(str(status("alice"), "state"), "permission_denied");
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    EXPECT_EQ(ms_.count(kSendPath), 1) << "not sent again until reconnected";
    EXPECT_EQ(ms_.count(kTokenPath), 1);
}

// ---- 6. /me without userPrincipalName ----------------------------------------------------------

TEST_F(Conformance, AProfileWithoutUserPrincipalNameStillConnects) {
    json::object p = adele();
    p.erase("userPrincipalName");
    auto r =
        connect_with(token_answer(fake_access_token('A'), fake_refresh_token('A'), std::string("Mail.Send User.Read")),
                     me_answer(p));
    EXPECT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    EXPECT_EQ(str(status("alice"), "email"), kWorkUser);
    r = connect_with(token_answer(fake_access_token('B'), fake_refresh_token('B'), std::string("Mail.Send User.Read")),
                     me_answer(json::object{{"id", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}, {"mail", nullptr}}));
    EXPECT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    EXPECT_EQ(str(status("alice"), "email"), "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    EXPECT_EQ(ms_.count(kMePath), 1);
}

// ---- 3, 5, 8. callbacks as Microsoft writes them ----------------------------------------------

TEST_F(Conformance, CallbacksEndingInHashKeepTheirStateAndMeaning) {
    // Each as Microsoft redirects (outlook_plugin/docs/microsoft-behaviour.md §9; the stand-in's identical shapes for
    // the AADSTS texts), copied from an address bar with the trailing '#'.
    const std::vector<std::pair<std::string, std::string>> cases = {
        // The Back button: error_subcode=cancel without a description.
        {"error=access_denied&error_subcode=cancel", "cancelled"},
        // Cancel on the consent page: with AADSTS65004, as the stand-in writes it too.
        {"error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3a+User+declined+to+consent+to+access+"
         "the+app.%0d%0aTrace+ID%3a+0d3c4b1e-8f2a-4c1d-9b7e-2a6f5c4d3e00",
         "cancelled"},
        {"error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent+to+access+the+app.%0d%0aTrace+"
         "ID%3a"
         "+0d3c4b1e-8f2a-4c1d-9b7e-2a6f5c4d3e00%0d%0aCorrelation+ID%3a+5e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b%0d%"
         "0aTimestamp%3a"
         "+2026-11-30+10%3a00%3a00Z&error_uri=https%3a%2f%2flogin.microsoftonline.com%2ferror%3fcode%3d65004",
         "declined"},
        {"error=access_denied&error_description=AADSTS90095%3a+Admin+consent+is+required+for+the+permissions+requested+"
         "by+"
         "this+application.+An+admin+consent+request+may+be+sent+to+the+admin.",
         "admin_approval_required"},
        {"code=0.AXoAcannedAuthorizationCode", "connected"},
    };
    ms_.script(kTokenPath,
               {token_answer(fake_access_token('A'), fake_refresh_token('A'), std::string("Mail.Send User.Read"))});
    ms_.script(kMePath, {me_answer(adele())});
    for (const auto& [params, outcome] : cases) {
        SCOPED_TRACE(params);
        outlook_->disconnect("alice");
        std::string url = begin("alice", kWorkUser);
        auto r = complete("alice", callback_for(url, params, "#"));
        EXPECT_EQ(str(r, "outcome"), outcome) << json::serialize(r);
    }
}

TEST_F(Conformance, ConsentRequiredWithoutACodeIsTheUsersCancel) {
    std::string url = begin("alice", kWorkUser);
    auto r = complete("alice", callback_for(url, "error=consent_required&error_description=User+cancelled+the+flow."));
    EXPECT_EQ(str(r, "outcome"), "cancelled") << json::serialize(r);
    EXPECT_EQ(str(status("alice"), "state"), "not_connected") << "nothing stored for a cancel";
    // With AADSTS65001 it is an approval Microsoft asks for.
    url = begin("alice", kWorkUser);
    r = complete("alice", callback_for(url,
                                       "error=consent_required&error_description=AADSTS65001%3a+The+user+or+"
                                       "administrator+has+not+consented+to+use+the+application."));
    EXPECT_EQ(str(r, "outcome"), "admin_approval_required") << json::serialize(r);
    EXPECT_EQ(ms_.count(kTokenPath), 0);
}

TEST_F(Conformance, OperatorMessagesNameTheCodeOnce) {
    std::string url = begin("alice", kWorkUser);
    auto r = complete("alice", callback_for(url,
                                            "error=invalid_request&error_description=AADSTS50011%3a+The+redirect+URI+"
                                            "%27http%3a%2f%2f127.0.0.1%2fcallback%27+specified+in+the+request+does+not+"
                                            "match+the+redirect+URIs+configured+for+the+application."));
    EXPECT_EQ(str(r, "outcome"), "configuration_error") << json::serialize(r);
    EXPECT_THAT(str(r, "operator_message"), HasSubstr("(AADSTS50011: The redirect URI"));
    EXPECT_THAT(str(r, "operator_message"), Not(HasSubstr("AADSTS50011: AADSTS50011")));
    EXPECT_THAT(host_.log_text(), Not(HasSubstr("AADSTS50011: AADSTS50011")));
}

// ---- 7. 503 from sendMail ---------------------------------------------------------------------

TEST_F(Conformance, A503ProvingThrottlingIsThrottledAnyOther503IsIndeterminate) {
    ASSERT_EQ(str(connect_work(), "outcome"), "connected");
    // Graph's throttling answer (its throttling guidance; the 429 body shape with
    // innerError.code "429" as the stand-in writes it), here with status 503.
    ms_.script(kSendPath, {graph_error(503, "TooManyRequests", "Too many requests.", {{"Retry-After", "120"}})});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "throttled") << json::serialize(r);
    EXPECT_EQ(r["retry_after_ms"].as_int64(), 120000);
    EXPECT_EQ(ms_.count(kSendPath), 1);
    // Microsoft Q&A 2286986: a 503/504 from sendMail with the mail delivered. Unknown stays unknown.
    outlook_ = create(canned_config());  // no mailbox pause left from the 120 s above
    ms_.script(kSendPath, {graph_error(503, "serviceNotAvailable", "Service unavailable.", {{"Retry-After", "10"}})});
    r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "indeterminate") << json::serialize(r);
    EXPECT_EQ(ms_.count(kSendPath), 1);
    EXPECT_EQ(str(status("alice"), "state"), "connected");
}

// ---- the whole loop, through the real host -------------------------------------------------------

// The measured defect: one nudge, a CAE-refused connection, and the outbox releasing the held
// nudge every few seconds (12 sendMail and 6 token requests in 30 s, without end). Now the
// nudge is held, the status says why, and the request count stays put.
TEST_F(Conformance, TheHostHoldsARefusedNudgeAndMakesNoFurtherRequests) {
    auto rt = start_host();
    ASSERT_NO_FATAL_FAILURE(connect_in_host(*rt, "Mail.Send User.Read"));
    ms_.script(kSendPath, {cae_challenge()});
    ms_.script(kTokenPath,
               {token_answer(fake_access_token('B'), fake_refresh_token('B'), std::string("Mail.Send User.Read"))});

    rt->start_outbox();
    int64_t id =
        rt->outbox->enqueue("rita", json::object{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                                                 {"subject", "Nudge"},
                                                 {"text", "Hello"}});
    // Two of the outbox's checks for reconnected users (every 5 s) pass meanwhile.
    std::this_thread::sleep_for(std::chrono::seconds(12));
    auto n = rt->store->nudge(id);
    ASSERT_TRUE(n);
    EXPECT_EQ(host::to_string(n->state), std::string("held"));
    EXPECT_EQ(ms_.count(kSendPath), 1) << "one sendMail for one nudge, not one every few seconds";
    EXPECT_EQ(ms_.count(kTokenPath), 0);
    auto s = parse(rt->providers->instance("outlook")->status("rita").document);
    EXPECT_EQ(str(s, "state"), "expired") << json::serialize(s);
    rt->outbox->stop_dispatching();
}

// The new status fields reach people: the settings page and `host_stub status` show the
// extra permissions of a connection, then the product page's "Permission denied".
TEST_F(Conformance, TheSettingsPageAndTheCliShowExtraPermissionsAndPermissionDenied) {
    auto rt = start_host();
    ASSERT_NO_FATAL_FAILURE(connect_in_host(*rt, "Calendars.Read Mail.Read Mail.Send User.Read openid profile email"));
    host::WebApp app(*rt, "http://127.0.0.1:8080", 8080);
    std::string cookie;
    auto get = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
        host::WebRequest r;
        r.method = method;
        r.target = target;
        r.body = body;
        if (!cookie.empty()) r.headers["cookie"] = "ep_session=" + cookie;
        // The page answers only its own name, and forms only from its own origin (issue 16).
        r.headers["host"] = "127.0.0.1:8080";
        if (method == "POST") r.headers["origin"] = "http://127.0.0.1:8080";
        auto response = app.handle(r);
        for (const auto& [name, value] : response.headers)
            if (name == "Set-Cookie") cookie = value.substr(11, value.find(';') - 11);
        return response.body;
    };
    auto csrf_in = [](const std::string& page) {
        const std::string marker = "name=\"csrf\" value=\"";
        auto at = page.find(marker) + marker.size();
        return page.substr(at, page.find('"', at) - at);
    };
    get("POST", "/signin", "user_id=rita&csrf=" + csrf_in(get("GET", "/signin")));
    auto cli_status = [&] {
        return test_support::run_process({HOST_STUB_PATH, "--config", (dir_ / "host.json").string(), "status",
                                          "--provider", "outlook", "--account", "rita"})
            .out;
    };

    std::string page = get("GET", "/settings/communication");
    EXPECT_THAT(page, HasSubstr("id=\"extra-permissions-outlook\""));
    EXPECT_THAT(page, HasSubstr("Calendars.Read, Mail.Read"));
    EXPECT_THAT(cli_status(), HasSubstr("also granted but unused: Calendars.Read, Mail.Read"));

    ms_.script(kSendPath,
               {graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")});
    auto sent = parse(rt->providers->instance("outlook")->send_blocking("rita", message()).document);
    EXPECT_EQ(str(sent, "outcome"), "auth_expired") << json::serialize(sent);
    page = get("GET", "/settings/communication");
    EXPECT_THAT(page, HasSubstr("data-state=\"permission_denied\""));
    EXPECT_THAT(page, HasSubstr("Permission denied"));
    EXPECT_THAT(page, HasSubstr("Contact your IT administrator"));
    EXPECT_THAT(page, HasSubstr("id=\"connect-outlook\""));
    EXPECT_THAT(cli_status(), HasSubstr("permission denied: Microsoft denied this app permission to send mail"));
}
