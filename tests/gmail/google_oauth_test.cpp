// Google's OAuth 2.0 pieces as pure functions: the authorization URL, the token request bodies,
// token responses, granted scopes, the redirect back and the classification of every failure
// Google documents. Sources per test; [web-server] is
// https://developers.google.com/identity/protocols/oauth2/web-server, [oauth2] is
// https://developers.google.com/identity/protocols/oauth2.
#include <google_oauth.hpp>

#include <email_provider/ep_sdk.hpp>

#include <boost/url/parse.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

using ::testing::HasSubstr;
using ::testing::Not;

namespace {

gmail::GoogleClient client() {
    gmail::GoogleClient c;
    c.client_id = "1234-abc.apps.googleusercontent.com";
    c.redirect_uri = "https://host.example/callback/";
    return c;
}

std::map<std::string, std::string> query_of(const std::string& url) {
    auto parsed = boost::urls::parse_uri(url);
    EXPECT_TRUE(parsed) << url;
    std::map<std::string, std::string> out;
    for (auto p : parsed->params()) out[p.key] = p.value;
    return out;
}

gmail::TokenResponse error_response(int status, const std::string& error, const std::string& description,
                                    const std::string& subtype = "") {
    std::string body = R"({"error":")" + error + R"(","error_description":")" + description + "\"";
    if (!subtype.empty()) body += R"(,"error_subtype":")" + subtype + "\"";
    return gmail::parse_token_response(status, body + "}");
}

}  // namespace

// [web-server] "Step 1: Set authorization parameters"; google-auth-library-nodejs generateAuthUrl.
TEST(GoogleAuthorizationUrl, CarriesEveryParameterGoogleNeedsAndAsksForConsentOnlyWithoutARefreshToken) {
    gmail::AuthorizationRequest request{"st+ate/", "n0nce", "chal", "rita@example.com", false};
    const std::string url = gmail::authorization_url(client(), request);
    EXPECT_THAT(url, ::testing::StartsWith("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&"));
    auto q = query_of(url);
    EXPECT_EQ(q["client_id"], "1234-abc.apps.googleusercontent.com");
    EXPECT_EQ(q["redirect_uri"], "https://host.example/callback/") << "exactly as registered, trailing slash kept";
    EXPECT_EQ(q["scope"], "openid email https://www.googleapis.com/auth/gmail.send");
    EXPECT_EQ(q["state"], "st+ate/");
    EXPECT_EQ(q["nonce"], "n0nce");
    EXPECT_EQ(q["code_challenge"], "chal");
    EXPECT_EQ(q["code_challenge_method"], "S256");
    EXPECT_EQ(q["access_type"], "offline");
    EXPECT_EQ(q["include_granted_scopes"], "true");
    EXPECT_EQ(q["login_hint"], "rita@example.com");
    EXPECT_EQ(q["prompt"], "consent");
    EXPECT_THAT(url, HasSubstr("state=st%2Bate%2F")) << "'+' and '/' are percent-encoded";
    EXPECT_THAT(url, Not(HasSubstr("client_secret")));

    // With a refresh token stored, forcing consent again would only add a token toward the 100 per
    // account and client [oauth2].
    request.refresh_token_stored = true;
    EXPECT_EQ(query_of(gmail::authorization_url(client(), request)).count("prompt"), 0u);
    request.login_hint = "";
    auto without_hint = query_of(gmail::authorization_url(client(), request));
    EXPECT_EQ(without_hint["prompt"], "select_account");
    EXPECT_EQ(without_hint.count("login_hint"), 0u);
}

TEST(GoogleAuthorizationUrl, PkceFromTheKitIsS256OfTheVerifier) {
    // RFC 7636 appendix B.
    EXPECT_EQ(ep::kit::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    EXPECT_EQ(ep::kit::make_pkce().verifier.size(), 86u);
}

// [web-server] "Step 5: Exchange authorization code for refresh and access tokens" and
// "Refreshing an access token"; the secret in the body is google-auth-library-nodejs's default
// (ClientAuthentication.ClientSecretPost).
TEST(GoogleTokenRequests, BodiesAreFormEncodedWithTheSecretInTheBody) {
    auto code = gmail::code_exchange_body(client(), "s3cr+t", "4/0AbC-d_e", "verif");
    EXPECT_EQ(code.view(),
              "grant_type=authorization_code&code=4%2F0AbC-d_e&redirect_uri=https%3A%2F%2Fhost.example%2Fcallback%2F"
              "&client_id=1234-abc.apps.googleusercontent.com&client_secret=s3cr%2Bt&code_verifier=verif");
    auto refresh = gmail::refresh_body(client(), "s3cr+t", "1//0gRefresh");
    EXPECT_EQ(refresh.view(),
              "grant_type=refresh_token&refresh_token=1%2F%2F0gRefresh&client_id=1234-abc.apps.googleusercontent.com"
              "&client_secret=s3cr%2Bt");
    EXPECT_EQ(gmail::revoke_body("ya29.a/b").view(), "token=ya29.a%2Fb");
}

// 200 revoked; 400 invalid_token, the token already dead, counts as revoked
// (googleapis/google-api-ruby-client#796); any other error leaves the grant possibly alive.
TEST(GoogleTokenRequests, RevokeAnswersSayWhetherAnythingIsLeftToRevoke) {
    using gmail::RevokeResult;
    EXPECT_EQ(gmail::classify_revoke_response(200, "{}"), RevokeResult::revoked);
    EXPECT_EQ(gmail::classify_revoke_response(
                  400, R"({"error":"invalid_token","error_description":"Token expired or revoked"})"),
              RevokeResult::revoked);
    EXPECT_EQ(gmail::classify_revoke_response(400, R"({"error":"invalid_request"})"), RevokeResult::not_revoked);
    EXPECT_EQ(gmail::classify_revoke_response(400, "<html>Bad Request</html>"), RevokeResult::not_revoked);
    for (int status : {0, 401, 429, 500, 503})
        EXPECT_EQ(gmail::classify_revoke_response(status, R"({"error":"invalid_token"})"), RevokeResult::not_revoked)
            << status;
}

// The success shape of [web-server] and google/oauth2l integration/fixtures/mock-token-response.json.
TEST(GoogleTokenResponse, ReadsEverythingGoogleReturns) {
    auto r = gmail::parse_token_response(
        200, R"({"access_token":"ya29.a0Af","expires_in":3599,"refresh_token":"1//0gXyz","scope":
        "https://www.googleapis.com/auth/gmail.send openid https://www.googleapis.com/auth/userinfo.email",
        "token_type":"Bearer","id_token":"eyJ.x.y","refresh_token_expires_in":604799})");
    ASSERT_TRUE(r.success) << r.problem;
    EXPECT_EQ(r.success->access_token.view(), "ya29.a0Af");
    EXPECT_EQ(r.success->refresh_token.view(), "1//0gXyz");
    EXPECT_EQ(r.success->id_token.view(), "eyJ.x.y");
    EXPECT_EQ(r.success->expires_in_s, 3599);
    EXPECT_EQ(r.success->refresh_token_expires_in_s, 604799);
    EXPECT_THAT(*r.success->scope, HasSubstr("gmail.send"));

    // A refresh answer normally has no refresh token [web-server]: that is not a failure.
    r = gmail::parse_token_response(200, R"({"access_token":"ya29.b","expires_in":3920,"token_type":"Bearer"})");
    ASSERT_TRUE(r.success);
    EXPECT_TRUE(r.success->refresh_token.empty());
    EXPECT_FALSE(r.success->scope);
}

TEST(GoogleTokenResponse, RefusesWhatIsNotAUsableTokenAndNeverThrows) {
    EXPECT_FALSE(gmail::parse_token_response(200, R"({"access_token":"a","expires_in":1,"token_type":"mac"})").success);
    EXPECT_FALSE(gmail::parse_token_response(200, R"({"access_token":"a","token_type":"Bearer"})").success);
    EXPECT_FALSE(
        gmail::parse_token_response(200, R"({"access_token":"a","expires_in":"x","token_type":"Bearer"})").success);
    for (const char* body : {"", "{", "[]", "null", "\xff", R"({"error":5})"}) {
        auto r = gmail::parse_token_response(400, body);
        EXPECT_FALSE(r.success || r.error) << body;
        EXPECT_FALSE(r.problem.empty()) << body;
    }
    auto r = error_response(400, "invalid_grant", "Token has been expired or revoked.");
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->description, "Token has been expired or revoked.");
}

// A secret never reaches a problem text.
TEST(GoogleTokenResponse, ProblemsNeverQuoteTheBody) {
    auto r = gmail::parse_token_response(200, R"({"access_token":"ya29.SECRET","token_type":"mac","expires_in":1})");
    EXPECT_THAT(r.problem, Not(HasSubstr("SECRET")));
    r = gmail::parse_token_response(502, "<html>ya29.SECRET</html>");
    EXPECT_THAT(r.problem, Not(HasSubstr("SECRET")));
    EXPECT_THAT(r.problem, HasSubstr("HTTP 502"));
}

// Granular consent: https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions;
// sign-in scopes come back expanded (email -> .../auth/userinfo.email) [web-server].
TEST(GoogleScopes, GmailSendIsASetTestAndExtrasAreRecordedNeverRefused) {
    auto g = gmail::read_granted_scopes(std::string(
        "https://www.googleapis.com/auth/userinfo.email openid https://www.googleapis.com/auth/gmail.send"));
    EXPECT_TRUE(g.can_send());
    EXPECT_TRUE(g.extras.empty());
    EXPECT_EQ(g.scopes, "openid email https://www.googleapis.com/auth/gmail.send");

    g = gmail::read_granted_scopes(std::string("email https://www.googleapis.com/auth/gmail.send"));
    EXPECT_TRUE(g.can_send()) << "the short and the long name of email count alike";

    // include_granted_scopes=true joins earlier grants: recorded, sorted, once each.
    g = gmail::read_granted_scopes(
        std::string("https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/drive.file email "
                    "https://www.googleapis.com/auth/calendar https://www.googleapis.com/auth/drive.file"));
    EXPECT_TRUE(g.can_send());
    EXPECT_THAT(g.extras, ::testing::ElementsAre("https://www.googleapis.com/auth/calendar",
                                                 "https://www.googleapis.com/auth/drive.file"));
    EXPECT_EQ(g.scopes, "email https://www.googleapis.com/auth/gmail.send");
}

TEST(GoogleScopes, AnUntickedGmailSendBoxIsNamedWithTheFix) {
    auto g = gmail::read_granted_scopes(std::string("openid https://www.googleapis.com/auth/userinfo.email"));
    EXPECT_FALSE(g.can_send());
    EXPECT_THAT(g.missing, ::testing::ElementsAre("https://www.googleapis.com/auth/gmail.send"));
    const std::string message = gmail::missing_permission_message(g);
    EXPECT_THAT(message, HasSubstr("Send email on your behalf"));
    EXPECT_THAT(message, HasSubstr("tick the box"));

    // A lookalike is not the scope.
    g = gmail::read_granted_scopes(std::string("email https://www.googleapis.com/auth/gmail.sendx"));
    EXPECT_FALSE(g.can_send());
    // Absent proves nothing: nothing is granted.
    g = gmail::read_granted_scopes(std::nullopt);
    EXPECT_THAT(g.missing, ::testing::ElementsAre("https://www.googleapis.com/auth/gmail.send", "email"));
    EXPECT_THAT(gmail::missing_permission_message(g), HasSubstr("tick both boxes"));
    EXPECT_EQ(gmail::missing_permission_message(
                  gmail::read_granted_scopes(std::string("email https://www.googleapis.com/auth/gmail.send"))),
              "");
}

// The redirect back, as in davido/gerrit-oauth-provider#141: state, iss (RFC 9207), code, scope,
// authuser, hd, prompt.
TEST(GoogleCallback, ReadsTheCodeDecodedOnceWithItsState) {
    auto cb = gmail::read_authorization_callback(
        R"({"callback_url":"https://host.example/callback/?state=S1&iss=https%3A%2F%2Faccounts.google.com&code=4%2F0AeanS0b-x_Y&scope=email%20openid%20https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.send%20https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fuserinfo.email&authuser=0&hd=example.com&prompt=consent"})",
        gmail::kGoogleIssuer);
    EXPECT_EQ(cb.code.view(), "4/0AeanS0b-x_Y");
    EXPECT_EQ(cb.state, "S1");
    EXPECT_EQ(cb.hosted_domain, "example.com");
    EXPECT_TRUE(cb.error.empty());
    ASSERT_TRUE(cb.scope);
    EXPECT_TRUE(gmail::read_granted_scopes(cb.scope).can_send());

    // No iss (an older redirect) is accepted.
    cb = gmail::read_authorization_callback(R"({"query":"code=4%2F0Ab&state=S2"})", gmail::kGoogleIssuer);
    EXPECT_EQ(cb.code.view(), "4/0Ab");
}

// Cancel or Deny: ?error=access_denied&state=... [web-server] (mozilla/persona-gmail-bridge#127).
TEST(GoogleCallback, AnErrorComesBackWithItsState) {
    auto cb = gmail::read_authorization_callback(R"({"query":"error=access_denied&state=S3"})", gmail::kGoogleIssuer);
    EXPECT_EQ(cb.error, "access_denied");
    EXPECT_EQ(cb.state, "S3");
    EXPECT_TRUE(cb.code.empty());
    EXPECT_EQ(gmail::classify_callback_error(cb.error).outcome, "declined");
}

TEST(GoogleCallback, RefusesWhatCannotBeGooglesAnswerNamingTheField) {
    const std::pair<std::string, std::string> cases[] = {
        // RFC 9207 §2.4: another issuer's answer is a mix-up.
        {R"({"query":"code=4%2F0Ab&state=S&iss=https%3A%2F%2Fevil.example"})", "callback.iss"},
        {R"({"query":"code=4%2F0Ab"})", "callback.state"},
        {R"({"query":"state=S"})", "callback"},
        // Encoded twice: Google would answer "Malformed auth code." (google/device-access-sample-web-app#5).
        {R"({"query":"code=4%252F0Ab&state=S"})", "callback.code"},
        {R"({"query":"error=&state=S"})", "callback.error"},
        {R"({"query":5})", "query"},
    };
    for (const auto& [doc, field] : cases) {
        try {
            gmail::read_authorization_callback(doc, gmail::kGoogleIssuer);
            ADD_FAILURE() << doc << " was accepted";
        } catch (const ep::sdk::Error& e) {
            EXPECT_EQ(e.field(), field) << doc;
            EXPECT_EQ(e.status(), EP_ERR_INVALID_ARGUMENT);
            EXPECT_THAT(e.what(), Not(HasSubstr("0Ab"))) << "the code is never echoed";
        }
    }
}

// On-page and redirect errors [web-server]: GAM-team/got-your-back#284 (admin_policy_enforced),
// prasmussen/gdrive#646 (deleted_client), astrada/google-drive-ocamlfuse#484 (invalid_client);
// org_internal: https://support.google.com/cloud/answer/15549945.
TEST(GoogleCallback, ErrorsMapToTheConnectOutcomes) {
    EXPECT_EQ(gmail::classify_callback_error("admin_policy_enforced").outcome, "blocked_by_policy");
    EXPECT_EQ(gmail::classify_callback_error("org_internal").outcome, "blocked_by_policy");
    for (const char* e : {"invalid_client", "deleted_client", "redirect_uri_mismatch", "invalid_scope"})
        EXPECT_EQ(gmail::classify_callback_error(e).outcome, "configuration_error") << e;
    EXPECT_EQ(gmail::classify_callback_error("something_new").outcome, "failed");
}

// Each invalid_grant cause [oauth2] lists, as Google answers it.
TEST(GoogleTokenFailures, AGenericExpiredOrRevokedNamesEveryLikelyCauseHonestly) {
    using K = gmail::GrantFailureKind;
    // dolfim/django-gmailapi-backend#9: Google's one text for revoked, password change, 6 months
    // unused, Testing's 7 days, and the 101st token.
    auto f = gmail::classify_token_failure(error_response(400, "invalid_grant", "Token has been expired or revoked."),
                                           gmail::TokenStep::refresh);
    EXPECT_EQ(f.kind, K::dead_grant);
    EXPECT_EQ(f.reason, "grant_invalid");
    for (const char* cause : {"removed this app's access", "password", "6 months", "Testing", "100 times"})
        EXPECT_THAT(f.message, HasSubstr(cause));
    EXPECT_THAT(f.message, HasSubstr("says only"));
    // googleapis/signet#123: "Bad Request" says even less; the same causes apply.
    EXPECT_EQ(
        gmail::classify_token_failure(error_response(400, "invalid_grant", "Bad Request"), gmail::TokenStep::refresh)
            .reason,
        "grant_invalid");

    // What the plugin knows of the grant makes one cause likely.
    gmail::GrantHistory testing{true, 8 * 24 * 3600, 3600};
    f = gmail::classify_token_failure(error_response(400, "invalid_grant", "Token has been expired or revoked."),
                                      gmail::TokenStep::refresh, testing);
    EXPECT_EQ(f.reason, "app_in_testing");
    EXPECT_THAT(f.message, HasSubstr("7 days"));
    gmail::GrantHistory idle{false, 400LL * 24 * 3600, 190LL * 24 * 3600};
    f = gmail::classify_token_failure(error_response(400, "invalid_grant", "Token has been expired or revoked."),
                                      gmail::TokenStep::refresh, idle);
    EXPECT_EQ(f.reason, "inactivity");
    gmail::GrantHistory young{true, 2 * 24 * 3600, 3600};
    EXPECT_EQ(gmail::classify_token_failure(error_response(400, "invalid_grant", "Token has been expired or revoked."),
                                            gmail::TokenStep::refresh, young)
                  .reason,
              "grant_invalid")
        << "a Testing app's grant younger than 7 days did not die of its age";
}

// google-auth-library-python google/oauth2/reauth.py: "reauth related error (invalid_rapt)".
TEST(GoogleTokenFailures, AReauthenticationPolicyIsAPeriodicSignIn) {
    for (const char* subtype : {"invalid_rapt", ""}) {
        auto f = gmail::classify_token_failure(
            error_response(400, "invalid_grant", "reauth related error (invalid_rapt)", subtype),
            gmail::TokenStep::refresh);
        EXPECT_EQ(f.kind, gmail::GrantFailureKind::dead_grant);
        EXPECT_EQ(f.reason, "signin_frequency");
    }
}

TEST(GoogleTokenFailures, CodeExchangeRefusalsSayWhetherToStartAgainOrFixABug) {
    using K = gmail::GrantFailureKind;
    const auto step = gmail::TokenStep::code_exchange;
    // bitly/oauth2_proxy#368, googleworkspace/go-samples#85.
    auto f = gmail::classify_token_failure(error_response(400, "invalid_grant", "Code was already redeemed."), step);
    EXPECT_EQ(f.connect_outcome, "code_redeemed");
    f = gmail::classify_token_failure(error_response(400, "invalid_grant", "Malformed auth code."), step);
    EXPECT_EQ(f.kind, K::dead_grant);
    EXPECT_EQ(f.connect_outcome, "failed");
    // onaio/onadata#3068, googleapis/google-api-java-client#1479.
    for (const char* d : {"Missing code verifier.", "Invalid code verifier."}) {
        f = gmail::classify_token_failure(error_response(400, "invalid_grant", d), step);
        EXPECT_EQ(f.kind, K::operator_error) << d;
        EXPECT_EQ(f.connect_outcome, "configuration_error") << d;
    }
}

// [oauth2]; dust-tt/dust#31975 (admin_policy_enforced on refresh); simonrob/email-oauth2-proxy#362,
// xyou365/AutoRclone#98, googleads/googleads-php-lib#367 (the client's errors).
TEST(GoogleTokenFailures, PoliciesAreForItAndClientErrorsForTheOperator) {
    using K = gmail::GrantFailureKind;
    auto f =
        gmail::classify_token_failure(error_response(400, "admin_policy_enforced", "x"), gmail::TokenStep::refresh);
    EXPECT_EQ(f.kind, K::interaction);
    EXPECT_EQ(f.reason, "policy");
    EXPECT_EQ(f.connect_outcome, "blocked_by_policy");
    EXPECT_THAT(f.message, HasSubstr("IT administrator"));
    for (const char* e :
         {"invalid_client", "deleted_client", "unauthorized_client", "invalid_scope", "redirect_uri_mismatch"}) {
        f = gmail::classify_token_failure(error_response(401, e, "The OAuth client was not found."),
                                          gmail::TokenStep::refresh);
        EXPECT_EQ(f.kind, K::operator_error) << e;
        EXPECT_EQ(f.code, e);
        EXPECT_THAT(f.message, HasSubstr("not found")) << "Google's words reach the operator";
    }
}

// google-auth-library-python _client.py _can_retry; the HTML 403 "automated queries" page
// (googleapis/google-oauth-java-client#57, tomwalder/php-gds#19).
TEST(GoogleTokenFailures, OutagesAndRateLimitsAreTransient) {
    using K = gmail::GrantFailureKind;
    for (int status : {500, 502, 503, 504, 408, 429})
        EXPECT_EQ(
            gmail::classify_token_failure(gmail::parse_token_response(status, "<html/>"), gmail::TokenStep::refresh)
                .kind,
            K::transient)
            << status;
    for (const char* e : {"internal_failure", "server_error", "temporarily_unavailable"})
        EXPECT_EQ(gmail::classify_token_failure(error_response(400, e, "x"), gmail::TokenStep::refresh).kind,
                  K::transient)
            << e;
    EXPECT_EQ(gmail::classify_token_failure(error_response(503, "invalid_grant", "x"), gmail::TokenStep::refresh).kind,
              K::transient)
        << "the status decides first";
    auto r = gmail::parse_token_response(
        403, "<html><body>We're sorry... but your computer or network may be sending automated queries.</body></html>");
    EXPECT_TRUE(r.automated_queries);
    auto f = gmail::classify_token_failure(r, gmail::TokenStep::refresh);
    EXPECT_EQ(f.kind, K::transient);
    EXPECT_THAT(f.message, HasSubstr("automated queries"));
    EXPECT_EQ(gmail::classify_token_failure(gmail::parse_token_response(0, ""), gmail::TokenStep::refresh).code,
              "network");
}
