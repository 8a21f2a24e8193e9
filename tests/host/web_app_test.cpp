// The settings page's request handling, without a network: sessions, CSRF, cookie flags,
// escaping, and the routes a browser uses.
#include "process.hpp"

#include <host_runtime.hpp>
#include <web_app.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>


using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

class WebAppTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita <script>alert(1)</script>"}],
            "web":{"public_url":"http://127.0.0.1:8080"},
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml"}},
                         {"manifest":"missing.json"}]})");
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        app_ = std::make_unique<host::WebApp>(*rt_, "http://127.0.0.1:8080");
    }

    host::WebResponse request(const std::string& method, const std::string& target, const std::string& body = {},
                              std::map<std::string, std::string> headers = {}) {
        host::WebRequest r;
        r.method = method;
        r.target = target;
        r.body = body;
        if (!cookie_.empty()) headers["cookie"] = "ep_session=" + cookie_;
        r.headers = std::move(headers);
        auto response = app_->handle(r);
        for (const auto& [name, value] : response.headers)
            if (name == "Set-Cookie") cookie_ = value.substr(11, value.find(';') - 11);
        return response;
    }

    static std::string header(const host::WebResponse& r, const std::string& name) {
        for (const auto& [n, v] : r.headers)
            if (n == name) return v;
        return {};
    }

    static std::string csrf_in(const std::string& page) {
        const std::string marker = "name=\"csrf\" value=\"";
        auto at = page.find(marker);
        if (at == std::string::npos) return {};
        at += marker.size();
        return page.substr(at, page.find('"', at) - at);
    }

    std::string sign_in() {
        auto page = request("GET", "/signin");
        auto r = request("POST", "/signin", "user_id=rita&csrf=" + csrf_in(page.body));
        EXPECT_EQ(r.status, 303);
        return csrf_in(request("GET", "/settings/communication").body);
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
    std::unique_ptr<host::WebApp> app_;
    std::string cookie_;
};

}  // namespace

TEST_F(WebAppTest, PagesNeedASignedInSession) {
    auto r = request("GET", "/settings/communication");
    EXPECT_EQ(r.status, 303);
    EXPECT_EQ(header(r, "Location"), "/signin");
}

TEST_F(WebAppTest, TheSessionCookieIsHttpOnlyLaxAndRenewedAtSignIn) {
    auto page = request("GET", "/signin");
    std::string cookie = header(page, "Set-Cookie");
    EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
    EXPECT_THAT(cookie, HasSubstr("SameSite=Lax"));
    std::string before = cookie_;
    auto r = request("POST", "/signin", "user_id=rita&csrf=" + csrf_in(page.body));
    EXPECT_EQ(r.status, 303);
    EXPECT_NE(cookie_, before) << "a session fixed before sign-in must not survive it";
    EXPECT_EQ(request("GET", "/settings/communication").status, 200);
}

TEST_F(WebAppTest, SignInRefusesAForgedForm) {
    request("GET", "/signin");
    auto r = request("POST", "/signin", "user_id=rita&csrf=0000");
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr("expired"));
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
}

TEST_F(WebAppTest, EveryFormNeedsTheSessionsCsrfTokenAndOurOrigin) {
    std::string csrf = sign_in();
    ASSERT_FALSE(csrf.empty());
    auto r = request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(rt_->store->settings("rita").email_provider, "");
    r = request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf,
                {{"origin", "https://evil.example"}});
    EXPECT_EQ(r.status, 403);
    r = request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf,
                {{"origin", "http://127.0.0.1:8080"}});
    EXPECT_EQ(r.status, 303);
    EXPECT_EQ(rt_->store->settings("rita").email_provider, "mock");
}

TEST_F(WebAppTest, ThePageEscapesWhatItShowsAndListsProvidersThatFailedToLoad) {
    sign_in();
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, Not(HasSubstr("<script>alert(1)</script>")));
    EXPECT_THAT(page, HasSubstr("Rita &lt;script&gt;"));
    EXPECT_THAT(page, HasSubstr("could not be loaded"));
    EXPECT_THAT(page, HasSubstr("missing.json"));
    EXPECT_THAT(page, HasSubstr("id=\"connect-mock\""));
}

TEST_F(WebAppTest, ConnectSaveAndNudgeThroughTheForms) {
    std::string csrf = sign_in();
    auto r = request("POST", "/settings/communication/connect", "provider=mock&csrf=" + csrf);
    EXPECT_EQ(r.status, 303);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("id=\"status-mock\" data-state=\"connected\""));
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    r = request("POST", "/settings/communication/nudge", "to=casey%40example.org&subject=Hi+there&text=Hello&csrf=" + csrf);
    EXPECT_EQ(r.status, 303);
    auto outbox = rt_->store->outbox("rita");
    ASSERT_EQ(outbox.size(), 1u);
    EXPECT_EQ(outbox[0].subject, "Hi there") << "'+' in a form is a space";
    EXPECT_EQ(outbox[0].to, "casey@example.org");
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("Nudge #"));
}

TEST_F(WebAppTest, ACallbackWithoutASignInInProgressIsIgnoredWithAnExplanation) {
    sign_in();
    auto r = request("GET", "/callback?code=abc&state=xyz");
    EXPECT_EQ(r.status, 303);
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("No sign-in was in progress"));
}

TEST_F(WebAppTest, TheAdminConsentAnswerNeedsNoSession) {
    auto r = request("GET", "/callback?admin_consent=True&tenant=6f1c7c1e-3d2a-4c5b-9a8e-2b1d0c9e8f71");
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr("approved for your organisation"));
}

TEST_F(WebAppTest, TheDebugClockIsOffUnlessConfigured) {
    auto r = request("POST", "/_debug/clock", R"({"advance_seconds":3600})", {{"content-type", "application/json"}});
    EXPECT_EQ(r.status, 404);
}

TEST_F(WebAppTest, DeletingMyAccountRemovesItAndSignsMeOut) {
    std::string csrf = sign_in();
    request("POST", "/settings/communication/connect", "provider=mock&csrf=" + csrf);
    ASSERT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 1u);
    auto r = request("POST", "/settings/account/delete", "csrf=" + csrf);
    EXPECT_EQ(header(r, "Location"), "/signin");
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 0u);
    EXPECT_FALSE(rt_->store->user("rita"));
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
}
