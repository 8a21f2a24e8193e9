// The authorization endpoint. Facts: https://developers.google.com/identity/protocols/oauth2/web-server
// (parameters, the redirect, error=access_denied); the redirect's shape in davido/gerrit-oauth-provider#141;
// the code's "4/0" and '/' in google/device-access-sample-web-app#5; granular consent in
// https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions; the
// error pages in GAM-team/got-your-back#284 (admin_policy_enforced), prasmussen/gdrive#646
// (deleted_client), astrada/google-drive-ocamlfuse#484 (invalid_client), googleworkspace/cli#281
// (Testing app, non-tester), https://support.google.com/cloud/answer/15549945 (org_internal).
#include "support.hpp"

namespace gst {
namespace {

class AuthorizeTest : public GoogleSandboxTest {
protected:
    google_sandbox::AutopilotResult pilot(const std::string& user, const AuthorizeSpec& spec = {},
                                          google_sandbox::Answer answer = google_sandbox::Answer::allow) {
        google_sandbox::AutopilotRequest r;
        r.authorize_url = authorize_path(spec);
        r.user = user;
        r.answer = answer;
        return sandbox->autopilot(r);
    }
    void expect_error_page(const google_sandbox::AutopilotResult& r, int status, const std::string& code) {
        EXPECT_FALSE(r.callback_url) << *r.callback_url;
        EXPECT_EQ(r.error_status, status);
        EXPECT_EQ(r.error_code, code);
        EXPECT_FALSE(r.error_message.empty());
    }
};

TEST_F(AuthorizeTest, WorkspaceUserRedirectCarriesGooglesParameters) {
    auto r = pilot(kAlan);
    ASSERT_TRUE(r.callback_url);
    EXPECT_TRUE(r.consent_page_shown);
    EXPECT_EQ(r.callback_url->rfind(kRedirect + "?", 0), 0u);
    auto p = query_params(*r.callback_url);
    EXPECT_EQ(p["state"], "st-42");
    EXPECT_EQ(p["iss"], "https://accounts.google.com");
    EXPECT_EQ(p["code"].rfind("4/0", 0), 0u);
    EXPECT_NE(p["code"].find('/', 2), std::string::npos);
    EXPECT_NE(r.callback_url->find("code=4%2F0"), std::string::npos);      // encoded once in the URL
    EXPECT_EQ(p["scope"], "openid " + kUserinfoEmail + " " + kGmailSend);  // "email" comes back expanded
    EXPECT_EQ(p["authuser"], "0");
    EXPECT_EQ(p["hd"], "acme.example");
    EXPECT_EQ(p["prompt"], "consent");
}

TEST_F(AuthorizeTest, ConsumerAccountHasNoHd) {
    auto p = callback_for(kGrace);
    EXPECT_EQ(p.count("hd"), 0u);
    EXPECT_EQ(p.count("code"), 1u);
}

TEST_F(AuthorizeTest, DenyRedirectsWithAccessDenied) {
    auto r = pilot(kGrace, {}, google_sandbox::Answer::deny);
    ASSERT_TRUE(r.callback_url);
    auto p = query_params(*r.callback_url);
    EXPECT_EQ(p["error"], "access_denied");
    EXPECT_EQ(p["state"], "st-42");
    EXPECT_EQ(p.count("code"), 0u);
}

TEST_F(AuthorizeTest, UntickedGmailSendIsLeftOutOfTheGrant) {
    auto p = callback_for(kGrace, {}, {kGmailSend});
    EXPECT_EQ(p["scope"], "openid " + kUserinfoEmail);
}

TEST_F(AuthorizeTest, SecondSignInSkipsConsentUnlessPromptConsent) {
    callback_for(kGrace);
    auto again = pilot(kGrace);
    ASSERT_TRUE(again.callback_url);
    EXPECT_FALSE(again.consent_page_shown);
    EXPECT_EQ(query_params(*again.callback_url)["prompt"], "none");
    AuthorizeSpec forced;
    forced.extra += "&prompt=consent";
    EXPECT_TRUE(pilot(kGrace, forced).consent_page_shown);
}

TEST_F(AuthorizeTest, IncludeGrantedScopesAddsEarlierGrants) {
    callback_for(kGrace);  // grants gmail.send
    AuthorizeSpec spec;
    spec.scope = "openid email";
    spec.extra += "&include_granted_scopes=true";
    EXPECT_NE(callback_for(kGrace, spec)["scope"].find(kGmailSend), std::string::npos);
    spec.extra = "&include_granted_scopes=false";
    EXPECT_EQ(callback_for(kGrace, spec)["scope"].find(kGmailSend), std::string::npos);
}

TEST_F(AuthorizeTest, ClientAndRedirectProblemsShowGooglesPage) {
    AuthorizeSpec unknown;
    unknown.client_id = "999-unknown.apps.googleusercontent.com";
    expect_error_page(pilot(kGrace, unknown), 401, "invalid_client");
    AuthorizeSpec deleted;
    deleted.client_id = kDeletedClient;
    expect_error_page(pilot(kGrace, deleted), 401, "deleted_client");
    AuthorizeSpec mismatch;
    mismatch.redirect_uri = kRedirect + "/";  // a trailing slash is a different URI
    expect_error_page(pilot(kGrace, mismatch), 400, "redirect_uri_mismatch");
}

TEST_F(AuthorizeTest, ParameterProblemsShowGooglesPage) {
    AuthorizeSpec bad_scope;
    bad_scope.scope = "openid https://www.googleapis.com/auth/nonsense";
    expect_error_page(pilot(kGrace, bad_scope), 400, "invalid_scope");
    AuthorizeSpec bad_prompt;
    bad_prompt.extra = "&prompt=login";  // Google has no prompt=login
    expect_error_page(pilot(kGrace, bad_prompt), 400, "invalid_request");
    std::string bad_method = authorize_path();
    bad_method.replace(bad_method.find("code_challenge_method=S256"), 26, "code_challenge_method=S512");
    expect_error_page(sandbox->autopilot({bad_method, kGrace, google_sandbox::Answer::allow, {}}), 400,
                      "invalid_request");
    AuthorizeSpec bad_access;
    bad_access.extra = "&access_type=forever";
    expect_error_page(pilot(kGrace, bad_access), 400, "invalid_request");
    AuthorizeSpec no_scope;
    no_scope.scope = "";
    expect_error_page(pilot(kGrace, no_scope), 400, "invalid_request");
}

TEST_F(AuthorizeTest, PoliciesShowGooglesPage) {
    expect_error_page(pilot(kBea), 400, "admin_policy_enforced");  // unverified app, strict admin
    AuthorizeSpec internal;
    internal.client_id = kInternalClient;
    expect_error_page(pilot(kGrace, internal), 403, "org_internal");
    EXPECT_TRUE(pilot(kAlan, internal).callback_url);  // inside the organisation
    AuthorizeSpec testing;
    testing.client_id = kTestingClient;
    expect_error_page(pilot(kAlan, testing), 403, "access_denied");
    EXPECT_TRUE(pilot(kGrace, testing).callback_url);  // a listed test user
}

TEST_F(AuthorizeTest, HtmlFlowChooserThenConsentCheckboxes) {
    auto chooser = get(authorize_path());
    ASSERT_EQ(chooser.status, 200);
    EXPECT_NE(chooser.body.find("id=\"chooser-form\""), std::string::npos);
    const auto flow_at = chooser.body.find("name=\"flow\" value=\"") + 19;
    const std::string flow = chooser.body.substr(flow_at, chooser.body.find('"', flow_at) - flow_at);

    auto consent = post_form("/o/oauth2/v2/auth/chooser", {{"flow", flow}, {"email", kGrace}});
    ASSERT_EQ(consent.status, 200);
    EXPECT_NE(consent.body.find("data-scope=\"" + kGmailSend + "\""), std::string::npos);
    EXPECT_EQ(consent.body.find("data-scope=\"openid\""), std::string::npos);  // sign-in scopes have no box

    // Continue with the gmail.send box cleared: the form posts no "scope" field.
    auto back = post_form("/o/oauth2/v2/auth/consent", {{"flow", flow}, {"action", "allow"}});
    ASSERT_EQ(back.status, 302);
    auto p = query_params(back.header("location"));
    EXPECT_EQ(p["scope"], "openid " + kUserinfoEmail);
}

TEST_F(AuthorizeTest, HtmlErrorPageHasNoRedirect) {
    AuthorizeSpec mismatch;
    mismatch.redirect_uri = "https://evil.example/cb";
    auto r = get(authorize_path(mismatch));
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(r.header("location").empty());
    EXPECT_NE(r.body.find("Error 400: redirect_uri_mismatch"), std::string::npos);
}

TEST_F(AuthorizeTest, ControlApiAutopilot) {
    auto answer =
        sandbox->control("POST", "/_sandbox/autopilot",
                         json::object{{"authorize_url", authorize_path()}, {"user", kGrace}, {"answer", "deny"}});
    EXPECT_NE(std::string(answer.at("callback_url").as_string()).find("error=access_denied"), std::string::npos);
    EXPECT_THROW(sandbox->control("POST", "/_sandbox/autopilot", json::object{{"user", kGrace}}), std::runtime_error);
}

}  // namespace
}  // namespace gst
