// /authorize, the pages (driven both by HTML form posts and by the autopilot) and admin consent.
#include "support.hpp"

namespace mst {
namespace {

using AuthorizeTest = SandboxTest;
using ms_sandbox::Answer;

// Text between `before` and the next `after` (std::regex trips gcc 12 warnings under ASan).
std::string between(const std::string& html, const std::string& before, const std::string& after) {
    auto start = html.find(before);
    if (start == std::string::npos) return {};
    start += before.size();
    auto end = html.find(after, start);
    return end == std::string::npos ? std::string() : html.substr(start, end - start);
}

std::string flow_id(const std::string& html) { return between(html, "name=\"flow\" value=\"", "\""); }
std::string error_code_on_page(const std::string& html) { return between(html, "id=\"error-code\">AADSTS", "<"); }

TEST_F(AuthorizeTest, UnknownClientShowsErrorPageWithoutRedirect) {
    AuthorizeSpec s;
    s.client_id = "99999999-9999-4999-8999-999999999999";
    auto r = http(authorize_url(s), browser());
    EXPECT_EQ(r.header("location"), "");
    EXPECT_EQ(error_code_on_page(r.body), "700016");
    auto ap = sandbox->autopilot(pilot(authorize_url(s), kAdele));
    EXPECT_FALSE(ap.callback_url);
    EXPECT_EQ(ap.error_page_code, 700016);
}

TEST_F(AuthorizeTest, RedirectMismatchShowsErrorPage) {
    AuthorizeSpec s;
    s.redirect_uri = "https://evil.example/callback";
    auto ap = sandbox->autopilot(pilot(authorize_url(s), kAdele));
    EXPECT_EQ(ap.error_page_code, 50011);
    EXPECT_NE(ap.error_page_message.find("https://evil.example/callback"), std::string::npos);
    s.redirect_uri = "http://127.0.0.1/Callback";  // case-sensitive path
    EXPECT_EQ(sandbox->autopilot(pilot(authorize_url(s), kAdele)).error_page_code, 50011);
}

TEST_F(AuthorizeTest, LoopbackPortIsIgnored) {
    AuthorizeSpec s;
    s.redirect_uri = "http://127.0.0.1:51234/callback";
    const std::string cb = sandbox->autopilot(authorize_url(s), kAdele);
    EXPECT_EQ(cb.rfind("http://127.0.0.1:51234/callback?code=", 0), 0u) << cb;
    auto p = url_params(cb);
    EXPECT_EQ(p["state"], "st-123");
    EXPECT_GE(p["code"].size(), 64u);
    EXPECT_FALSE(p["session_state"].empty());
    // Path-less loopback registration: the response gets a trailing slash.
    s.redirect_uri = "http://localhost:9000";
    EXPECT_EQ(sandbox->autopilot(authorize_url(s), kAdele).rfind("http://localhost:9000/?code=", 0), 0u);
}

TEST_F(AuthorizeTest, BadParametersRedirectWithError) {
    AuthorizeSpec s;
    s.extra = "";
    s.challenge = "tooshort";
    auto p = url_params(sandbox->autopilot(authorize_url(s), kAdele));
    EXPECT_EQ(p["error"], "invalid_request");
    EXPECT_EQ(p["error_description"].rfind("AADSTS501491:", 0), 0u) << p["error_description"];
    EXPECT_NE(p["error_description"].find("\r\nTrace ID: "), std::string::npos);
    EXPECT_NE(p["error_description"].find("\r\nCorrelation ID: "), std::string::npos);
    EXPECT_NE(p["error_description"].find("\r\nTimestamp: "), std::string::npos);
    EXPECT_EQ(p["state"], "st-123");

    AuthorizeSpec bad_scope;
    bad_scope.scope = "offline_access Mail.Explode";
    p = url_params(sandbox->autopilot(authorize_url(bad_scope), kAdele));
    EXPECT_EQ(p["error"], "invalid_scope");

    auto u = url("/common/oauth2/v2.0/authorize?client_id=" + kPublicApp +
                 "&redirect_uri=" + url_escape(kLoopbackRedirect) + "&response_type=token&scope=User.Read&state=z");
    p = url_params(sandbox->autopilot(u, kAdele));
    EXPECT_EQ(p["error"], "unsupported_response_type");
    EXPECT_EQ(p["state"], "z");
}

TEST_F(AuthorizeTest, FullyQualifiedAndOidcScopesAccepted) {
    AuthorizeSpec s;
    s.scope =
        "openid profile offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send";
    auto t = sign_in(kAdele, s);
    EXPECT_EQ(std::string(t.response.json().at("scope").as_string()),
              "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read openid profile");
}

TEST_F(AuthorizeTest, DeclineAndCancel) {
    auto p = url_params(sandbox->autopilot(authorize_url({}), kAdele, Answer::decline));
    EXPECT_EQ(p["error"], "access_denied");
    EXPECT_EQ(p["error_description"].rfind("AADSTS65004:", 0), 0u);
    EXPECT_EQ(p.count("error_subcode"), 0u);
    p = url_params(sandbox->autopilot(authorize_url({}), kAdele, Answer::cancel));
    EXPECT_EQ(p["error"], "access_denied");
    EXPECT_EQ(p["error_subcode"], "cancel");
    EXPECT_EQ(p["state"], "st-123");
}

TEST_F(AuthorizeTest, ConsentIsRememberedUnlessPromptConsent) {
    auto first = sandbox->autopilot(pilot(authorize_url({}), kAdele));
    EXPECT_TRUE(first.consent_page_shown);
    auto second = sandbox->autopilot(pilot(authorize_url({}), kAdele));
    EXPECT_FALSE(second.consent_page_shown);
    ASSERT_TRUE(second.callback_url);
    AuthorizeSpec s;
    s.extra = "&prompt=consent";
    EXPECT_TRUE(sandbox->autopilot(pilot(authorize_url(s), kAdele)).consent_page_shown);
}

TEST_F(AuthorizeTest, PromptNone) {
    AuthorizeSpec s;
    s.extra = "&prompt=none";
    auto p = url_params(sandbox->autopilot(authorize_url(s), kAdele));
    EXPECT_EQ(p["error"], "login_required");
    auto req = pilot(authorize_url(s), kAdele);
    req.sso = true;  // session exists, but no consent yet
    p = url_params(*sandbox->autopilot(req).callback_url);
    EXPECT_EQ(p["error"], "consent_required");
    sandbox->autopilot(authorize_url({}), kAdele);  // consent once
    p = url_params(*sandbox->autopilot(req).callback_url);
    EXPECT_FALSE(p["code"].empty());
    sandbox->revoke_grant(kAdele, ms_sandbox::RevokeReason::mfa_required);
    p = url_params(*sandbox->autopilot(req).callback_url);
    EXPECT_EQ(p["error"], "interaction_required");
}

TEST_F(AuthorizeTest, UnknownUserAndWrongPassword) {
    auto r = sandbox->autopilot(pilot(authorize_url({}), "ghost@contoso.example"));
    EXPECT_EQ(r.error_page_code, 50034);
    auto req = pilot(authorize_url({}), kNorthwindUser);
    req.password = "wrong";
    EXPECT_EQ(sandbox->autopilot(req).error_page_code, 50126);
    AuthorizeSpec consumers;
    consumers.tenant = "consumers";
    EXPECT_EQ(sandbox->autopilot(pilot(authorize_url(consumers), kAdele)).error_page_code, 50020);
}

TEST_F(AuthorizeTest, ApprovalWorkflowRecordsRequestAndReturns90095) {
    auto stay = sandbox->autopilot(pilot(authorize_url({}), kFabrikamUser));
    EXPECT_FALSE(stay.callback_url);
    EXPECT_EQ(stay.interrupt_code, 90095);
    EXPECT_EQ(stay.page, "approval_required");

    auto req = pilot(authorize_url({}), kFabrikamUser, Answer::request_approval, "Needed for recruiting");
    auto r = sandbox->autopilot(req);
    ASSERT_TRUE(r.callback_url);
    auto p = url_params(*r.callback_url);
    EXPECT_EQ(p["error"], "access_denied");
    EXPECT_EQ(p["error_description"].rfind("AADSTS90095:", 0), 0u);
    auto requests = sandbox->approval_requests().as_array();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].at("justification"), "Needed for recruiting");
    EXPECT_EQ(requests[0].at("user"), kFabrikamUser);
    EXPECT_EQ(requests[0].at("client_id"), kPublicApp);

    sandbox->approve_request(std::string(requests[0].at("id").as_string()));
    EXPECT_EQ(sandbox->approval_requests().as_array()[0].at("status"), "approved");
    auto after = sandbox->autopilot(pilot(authorize_url({}), kFabrikamUser));
    ASSERT_TRUE(after.callback_url);
    EXPECT_FALSE(url_params(*after.callback_url)["code"].empty());
    EXPECT_FALSE(after.consent_page_shown);
}

TEST_F(AuthorizeTest, NoWorkflowTenantReturns90094) {
    auto req = pilot(authorize_url({}), kNorthwindUser, Answer::return_from_approval);
    req.password = "Passw0rd!";
    auto p = url_params(*sandbox->autopilot(req).callback_url);
    EXPECT_EQ(p["error"], "access_denied");
    EXPECT_EQ(p["error_description"].rfind("AADSTS90094:", 0), 0u);
    sandbox->set_admin_consent("northwind.example", true);
    req.answer = Answer::accept;
    EXPECT_FALSE(url_params(*sandbox->autopilot(req).callback_url)["code"].empty());
}

TEST_F(AuthorizeTest, BrowserFlowThroughHtmlForms) {
    Request req = browser();
    auto page = http(authorize_url({}), req);
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("id=\"i0116\""), std::string::npos);
    EXPECT_NE(page.body.find("id=\"idSIButton9\""), std::string::npos);
    const std::string flow = flow_id(page.body);
    ASSERT_FALSE(flow.empty());

    auto consent =
        post_form("/common/login", {{"flow", flow}, {"login", kAdele}, {"passwd", ""}, {"action", "signin"}});
    ASSERT_EQ(consent.status, 200);
    EXPECT_NE(consent.body.find("id=\"idBtn_Accept\""), std::string::npos);
    EXPECT_NE(consent.body.find("Send mail as you"), std::string::npos);
    EXPECT_NE(consent.body.find("Maintain access to data you have given it access to"), std::string::npos);
    const std::string cookie = consent.header("set-cookie");
    EXPECT_EQ(cookie.rfind("ESTSAUTH=", 0), 0u);

    auto done = post_form("/common/Consent/Set", {{"flow", flow}, {"action", "accept"}});
    EXPECT_EQ(done.status, 302);
    auto p = url_params(done.header("location"));
    EXPECT_FALSE(p["code"].empty());
    EXPECT_EQ(p["state"], "st-123");
    EXPECT_EQ(redeem(p["code"], {}).status, 200);

    // SSO: with the cookie and consent on record, /authorize redirects straight away.
    req.cookie = cookie.substr(0, cookie.find(';'));
    auto sso = http(authorize_url({}), req);
    EXPECT_EQ(sso.status, 302);
    EXPECT_FALSE(url_params(sso.header("location"))["code"].empty());
    // A stale flow id is an error page, not a crash.
    EXPECT_EQ(error_code_on_page(post_form("/common/Consent/Set", {{"flow", flow}, {"action", "accept"}}).body),
              "90100");
}

TEST_F(AuthorizeTest, ApprovalPageHasJustificationForm) {
    Request req = browser();
    const std::string flow = flow_id(http(authorize_url({}), req).body);
    auto page = post_form("/common/login", {{"flow", flow}, {"login", kFabrikamUser}, {"action", "signin"}});
    EXPECT_NE(page.body.find("Approval required"), std::string::npos);
    EXPECT_NE(page.body.find("id=\"justification\""), std::string::npos);
    EXPECT_NE(page.body.find("id=\"idBtn_RequestApproval\""), std::string::npos);
    auto sent = post_form("/common/ConsentApproval/Request", {{"flow", flow}, {"justification", "please + thanks"}});
    EXPECT_NE(sent.body.find("id=\"request-sent\""), std::string::npos);
    EXPECT_EQ(sandbox->approval_requests().as_array()[0].at("justification"), "please + thanks");
    auto back = get("/common/oauth2/v2.0/return?flow=" + flow);
    EXPECT_EQ(back.status, 302);
    EXPECT_EQ(url_params(back.header("location"))["error_description"].rfind("AADSTS90095:", 0), 0u);
}

TEST_F(AuthorizeTest, FormPostResponseMode) {
    AuthorizeSpec s;
    s.extra = "&response_mode=form_post";
    auto r = sandbox->autopilot(pilot(authorize_url(s), kAdele));
    ASSERT_TRUE(r.raw.at("form_post").is_object());
    EXPECT_EQ(r.raw.at("form_post").at("action"), kLoopbackRedirect);
    EXPECT_FALSE(r.raw.at("form_post").at("fields").at("code").as_string().empty());
    // The browser gets an auto-submitting form.
    Request req = browser();
    const std::string flow = flow_id(http(authorize_url(s), req).body);
    auto page = post_form("/common/login", {{"flow", flow}, {"login", kAdele}, {"action", "signin"}});
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("name=\"code\""), std::string::npos);
    EXPECT_NE(page.body.find("action=\"http://127.0.0.1/callback\""), std::string::npos);
}

TEST_F(AuthorizeTest, AdminConsentEndpoints) {
    const std::string v2 = url("/organizations/v2.0/adminconsent?client_id=" + kPublicApp +
                               "&scope=" + url_escape("https://graph.microsoft.com/.default") +
                               "&redirect_uri=" + url_escape(kLoopbackRedirect) + "&state=adm");
    auto nonadmin = sandbox->autopilot(pilot(v2, kFabrikamUser));
    EXPECT_EQ(nonadmin.error_page_code, 90094);
    auto declined = url_params(sandbox->autopilot(v2, "admin@fabrikam.example", Answer::decline));
    EXPECT_EQ(declined["error"], "consent_required");
    EXPECT_EQ(declined["admin_consent"], "True");
    EXPECT_EQ(declined["error_description"].rfind("AADSTS65004:", 0), 0u);

    auto ok = url_params(sandbox->autopilot(v2, "admin@fabrikam.example", Answer::accept));
    EXPECT_EQ(ok["admin_consent"], "True");
    EXPECT_EQ(ok["tenant"], kFabrikamId);
    EXPECT_EQ(ok["scope"], "https://graph.microsoft.com/.default");
    EXPECT_EQ(ok["state"], "adm");
    // The tenant now lets its users straight through.
    EXPECT_FALSE(url_params(sandbox->autopilot(authorize_url({}), kFabrikamUser))["code"].empty());

    const std::string legacy = url("/" + kContosoId + "/adminconsent?client_id=" + kSecretApp +
                                   "&state=L&redirect_uri=" + url_escape(kLoopbackRedirect));
    auto l = url_params(sandbox->autopilot(legacy, "admin@contoso.example", Answer::accept));
    EXPECT_EQ(l["admin_consent"], "True");
    EXPECT_EQ(l["tenant"], kContosoId);
    EXPECT_EQ(l.count("scope"), 0u);
}

}  // namespace
}  // namespace mst
