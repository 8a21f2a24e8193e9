// The settings page's request handling, without a network: sessions, CSRF, cookie flags,
// escaping, and the routes a browser uses.
#include "process.hpp"

#include "core/host_runtime.hpp"
#include "web/web_app.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

class WebAppTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita <script>alert(1)</script>"}],
            "web":{"public_url":"http://127.0.0.1:8080","show_developer_providers":true,"product_name":"Acme <Hiring>"},
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml"}},
                         {"manifest":"missing.json"}]})");
        start("http://127.0.0.1:8080");
    }

    // The page as `serve` builds it, listening on 127.0.0.1:8080, with a clock the test moves.
    void start(const std::string& public_url, host::SessionLimits limits = {}) {
        app_.reset();
        rt_.reset();
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        limits.now = [this] { return now_; };
        app_ = std::make_unique<host::WebApp>(*rt_, public_url, 8080, std::move(limits));
        cookie_.clear();
    }

    host::WebResponse request(const std::string& method, const std::string& target, const std::string& body = {},
                              std::map<std::string, std::string> headers = {}) {
        host::WebRequest r;
        r.method = method;
        r.target = target;
        r.body = body;
        headers.try_emplace("host", "127.0.0.1:8080");
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
    std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
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
    EXPECT_THAT(page, HasSubstr("<strong id=\"product-name\">Acme &lt;Hiring&gt;</strong>"));
    // The mock needs no sign-in (no interactive_connect in its manifest): nothing to click.
    EXPECT_THAT(page, HasSubstr("id=\"no-connect-mock\""));
    EXPECT_THAT(page, Not(HasSubstr("id=\"connect-mock\"")));
}

TEST_F(WebAppTest, ConnectSaveAndNudgeThroughTheForms) {
    std::string csrf = sign_in();
    auto r = request("POST", "/settings/communication/connect", "provider=mock&csrf=" + csrf);
    EXPECT_EQ(r.status, 303);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("id=\"status-mock\" data-state=\"connected\""));
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    r = request("POST", "/settings/communication/nudge",
                "to=casey%40example.org&subject=Hi+there&text=Hello&csrf=" + csrf);
    EXPECT_EQ(r.status, 303);
    auto outbox = rt_->store->outbox("rita");
    ASSERT_EQ(outbox.size(), 1u);
    EXPECT_EQ(outbox[0].subject, "Hi there") << "'+' in a form is a space";
    EXPECT_EQ(outbox[0].to, "casey@example.org");
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("Nudge #"));
}

// The page never waits for the provider: it shows the last known state, starts a check, and
// the next load says when the connection was checked.
TEST_F(WebAppTest, ThePageShowsWhenTheConnectionWasLastCheckedAndChecksAStaleOne) {
    std::string csrf = sign_in();
    request("POST", "/settings/communication/connect", "provider=mock&csrf=" + csrf);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("id=\"checked-mock\""));
    rt_->checks->wait_idle();
    page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("Last checked with the provider: <time datetime=\"20"));
    EXPECT_THAT(request("GET", "/api/state").body, HasSubstr("\"checked_at\":\"20"));
    EXPECT_EQ(rt_->checks->checks_started(), 1) << "checked a moment ago: no second check";
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
    EXPECT_EQ(header(r, "Location"), "/signin?deleted=1");
    EXPECT_THAT(request("GET", "/signin?deleted=1").body, HasSubstr("Your account was deleted"));
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 0u);
    EXPECT_FALSE(rt_->store->user("rita"));
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
}

// ---- Issue 16: findings of an outside attack --------------------------------------------

TEST_F(WebAppTest, SessionsAreCappedSoCookielessRequestsCannotGrowMemory) {
    // Was: 20,000 cookie-less requests kept 20,000 sessions (+6.5 MB).
    for (int i = 0; i < 20000; ++i) {
        cookie_.clear();
        ASSERT_EQ(request("GET", "/signin").status, 200);
    }
    EXPECT_LE(app_->session_count(), host::SessionLimits{}.max_signed_out);
    // The newest sign-in form still works: the least recently used went first.
    auto page = request("GET", "/signin");
    EXPECT_EQ(request("POST", "/signin", "user_id=rita&csrf=" + csrf_in(page.body)).status, 303);
    EXPECT_EQ(request("GET", "/settings/communication").status, 200);
}

TEST_F(WebAppTest, SignedInSessionsAreCappedTooOldestFirst) {
    host::SessionLimits limits;
    limits.max_signed_in = 3;
    start("http://127.0.0.1:8080", limits);
    std::vector<std::string> cookies;
    for (int i = 0; i < 5; ++i) {
        cookie_.clear();
        sign_in();
        cookies.push_back(cookie_);
    }
    EXPECT_EQ(app_->session_count(), 3u);
    cookie_ = cookies.front();
    EXPECT_EQ(request("GET", "/settings/communication").status, 303) << "the oldest was evicted";
    cookie_ = cookies.back();
    EXPECT_EQ(request("GET", "/settings/communication").status, 200);
}

TEST_F(WebAppTest, IdleSessionsExpire) {
    sign_in();
    now_ += host::SessionLimits{}.signed_in_idle - std::chrono::minutes(1);
    EXPECT_EQ(request("GET", "/settings/communication").status, 200) << "in use: still valid";
    now_ += host::SessionLimits{}.signed_in_idle + std::chrono::seconds(1);
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
    cookie_.clear();
    request("GET", "/signin");
    now_ += host::SessionLimits{}.signed_out_idle + std::chrono::seconds(1);
    EXPECT_EQ(app_->session_count(), 0u) << "expired sessions are dropped, not only refused";
}

TEST_F(WebAppTest, AForeignHostHeaderIsRefusedAgainstDnsRebinding) {
    sign_in();
    // A page at evil.example whose DNS name now points at 127.0.0.1 is same-origin to the browser.
    auto r = request("GET", "/api/state", {}, {{"host", "evil.example:8080"}});
    EXPECT_EQ(r.status, 421);
    EXPECT_THAT(r.body, Not(HasSubstr("rita")));
    EXPECT_EQ(request("GET", "/signin", {}, {{"host", "evil.example:8080"}}).status, 421);
    EXPECT_EQ(request("GET", "/settings/communication", {}, {{"host", ""}}).status, 421) << "no Host at all";
    // The names this server does have.
    EXPECT_EQ(request("GET", "/api/state", {}, {{"host", "127.0.0.1:8080"}}).status, 200);
    EXPECT_EQ(request("GET", "/api/state", {}, {{"host", "LOCALHOST:8080"}}).status, 200);
    EXPECT_EQ(request("GET", "/healthz", {}, {{"host", "10.0.0.7"}}).status, 200) << "health checks need no name";
}

TEST_F(WebAppTest, SignInRefusesAnotherSitesOrigin) {
    auto page = request("GET", "/signin");
    auto r =
        request("POST", "/signin", "user_id=rita&csrf=" + csrf_in(page.body), {{"origin", "http://evil.example:8080"}});
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
}

TEST_F(WebAppTest, ThePublicUrlsHostIsAcceptedAndHttpsMakesTheCookieSecure) {
    start("https://host.example");
    auto page = request("GET", "/signin", {}, {{"host", "host.example"}});
    EXPECT_EQ(page.status, 200);
    EXPECT_THAT(header(page, "Set-Cookie"), HasSubstr("; Secure"));
    EXPECT_EQ(request("GET", "/signin", {}, {{"host", "host.example:443"}}).status, 200);
    EXPECT_EQ(request("GET", "/signin", {}, {{"host", "host.example:8443"}}).status, 421);
    start("http://127.0.0.1:8080");
    EXPECT_THAT(header(request("GET", "/signin"), "Set-Cookie"), Not(HasSubstr("Secure")));
}

TEST_F(WebAppTest, EveryAnswerSaysNosniffAndAReferrerPolicy) {
    for (const char* path : {"/signin", "/settings/communication", "/healthz", "/favicon.ico"}) {
        auto r = request("GET", path);
        EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff") << path;
        EXPECT_EQ(header(r, "Referrer-Policy"), "same-origin") << path;
    }
}

TEST_F(WebAppTest, AUserRemovedFromTheConfigCannotSignIn) {
    rt_->store->upsert_user(host::User{"mallory", "Mallory"});  // in the store from an older config
    auto page = request("GET", "/signin");
    EXPECT_THAT(page.body, Not(HasSubstr("mallory")));
    auto r = request("POST", "/signin", "user_id=mallory&csrf=" + csrf_in(page.body));
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr("Unknown user"));
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
}

TEST_F(WebAppTest, ADeletedAccountsOtherSessionsCanNoLongerAct) {
    std::string other_csrf = sign_in();
    std::string other_browser = cookie_;
    cookie_.clear();
    std::string csrf = sign_in();
    ASSERT_EQ(request("POST", "/settings/account/delete", "csrf=" + csrf).status, 303);
    cookie_ = other_browser;
    EXPECT_EQ(request("GET", "/api/state").status, 303);
    auto r =
        request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + other_csrf);
    EXPECT_EQ(r.status, 303);
    EXPECT_EQ(header(r, "Location"), "/signin");
    EXPECT_EQ(rt_->store->settings("rita").email_provider, "");
}

TEST_F(WebAppTest, AUserDeletedElsewhereIsSignedOut) {
    std::string csrf = sign_in();
    ASSERT_EQ(request("POST", "/settings/communication/connect", "provider=mock&csrf=" + csrf).status, 303);
    rt_->delete_user("rita");  // as `host_stub delete-user` does, in another process
    // Not even a provider's answer coming back connects the deleted user again.
    auto r = request("GET", "/callback?code=abc&state=xyz");
    EXPECT_EQ(header(r, "Location"), "/signin");
    EXPECT_EQ(request("GET", "/settings/communication").status, 303);
    EXPECT_EQ(app_->session_count(), 0u);
}

class DebugClockTest : public WebAppTest {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"}],"web":{"debug_clock":true},
            "providers":[{"manifest":")" EP_BUILD_DIR
                                R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})");
        start("http://127.0.0.1:8080");
    }
    host::WebResponse advance(const std::string& body, const std::string& csrf,
                              const std::string& content_type = "application/json") {
        return request("POST", "/_debug/clock", body, {{"content-type", content_type}, {"x-csrf-token", csrf}});
    }
};

TEST_F(DebugClockTest, NeedsASessionAndItsCsrfToken) {
    int64_t before = rt_->clock.now_ms();
    auto r = advance(R"({"advance_seconds":3600})", "");
    EXPECT_EQ(r.status, 303) << "no session";
    std::string csrf = sign_in();
    EXPECT_EQ(advance(R"({"advance_seconds":3600})", "").status, 403) << "no token";
    EXPECT_EQ(advance(R"({"advance_seconds":3600})", std::string(csrf.size(), '0')).status, 403);
    EXPECT_LT(rt_->clock.now_ms() - before, 3600 * 1000);
    EXPECT_EQ(advance(R"({"advance_seconds":3600})", csrf).status, 200);
    EXPECT_GE(rt_->clock.now_ms() - before, 3600 * 1000);
}

TEST_F(DebugClockTest, OnlyJsonIsAccepted) {
    std::string csrf = sign_in();
    EXPECT_EQ(advance(R"({"advance_seconds":60})", csrf, "text/plain; a=application/json").status, 415);
    EXPECT_EQ(advance(R"({"advance_seconds":60})", csrf, "application/jsonx").status, 415);
    EXPECT_EQ(advance(R"({"advance_seconds":60})", csrf, "Application/JSON; charset=utf-8").status, 200);
}

TEST_F(DebugClockTest, HugeValuesAreRefusedNotOverflowed) {
    std::string csrf = sign_in();
    int64_t before = rt_->clock.now_ms();
    for (const char* v : {"9223372036854775807", "-9223372036854775807", "9223372036854776", "31708800"}) {
        auto r = advance(std::string(R"({"advance_seconds":)") + v + "}", csrf);
        EXPECT_EQ(r.status, 400) << v;
        EXPECT_THAT(r.body, HasSubstr("advance_seconds")) << v;
    }
    EXPECT_LT(std::llabs(rt_->clock.now_ms() - before), 60 * 1000) << "the clock did not move";
    // Many legal steps still cannot run the offset away.
    int refused = 0;
    for (int i = 0; i < 200; ++i) refused += advance(R"({"advance_seconds":31536000})", csrf).status == 400;
    EXPECT_GT(refused, 0) << "the total offset is bounded too";
}

// ---- Issue 17: a provider-neutral page --------------------------------------------------

TEST_F(WebAppTest, TheOutboxAndTheCardsAreServedAsFragmentsForThePagesScript) {
    std::string csrf = sign_in();
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    request("POST", "/settings/communication/nudge",
            "to=casey%40example.org&subject=A+%3Cb%3Esubject&text=Hello&csrf=" + csrf);
    auto outbox = request("GET", "/settings/communication/outbox");
    EXPECT_EQ(outbox.status, 200);
    EXPECT_TRUE(outbox.body.starts_with("<table id=\"outbox\">")) << outbox.body;
    EXPECT_THAT(outbox.body, HasSubstr("A &lt;b&gt;subject"));
    EXPECT_THAT(outbox.body, Not(HasSubstr("<th></th>"))) << "no empty table headers";
    // Via: the provider and the mailbox it is connected as.
    EXPECT_THAT(
        outbox.body,
        HasSubstr("Mock provider (writes .eml files)<br><span class=\"muted mailbox\">mock.sender@example.com"));
    auto cards = request("GET", "/settings/communication/integrations");
    EXPECT_TRUE(cards.body.starts_with("<div id=\"integrations\">")) << cards.body;
    auto script = request("GET", "/settings/page.js");
    EXPECT_EQ(header(script, "Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_THAT(script.body, HasSubstr("window.confirm"));
    cookie_.clear();
    EXPECT_EQ(request("GET", "/settings/communication/outbox").status, 303) << "fragments need a session too";
}

TEST_F(WebAppTest, DisconnectAndDeleteAskFirstAndTheDisconnectSaysWhatHappened) {
    std::string csrf = sign_in();
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page,
                HasSubstr("action=\"/settings/communication/disconnect\" data-confirm=\"Disconnect Mock provider?"));
    EXPECT_THAT(page, HasSubstr("action=\"/settings/account/delete\" data-confirm=\"Delete your account?"));
    request("POST", "/settings/communication/disconnect", "provider=mock&csrf=" + csrf);
    EXPECT_THAT(request("GET", "/settings/communication").body,
                HasSubstr("Disconnected: the mock provider forgot this account."));
}

TEST_F(WebAppTest, ANudgeQueuedWhileTheProviderIsNotConnectedSaysItWaits) {
    std::string csrf = sign_in();
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    request("POST", "/settings/communication/disconnect", "provider=mock&csrf=" + csrf);
    request("GET", "/settings/communication");  // the disconnect's message
    request("POST", "/settings/communication/nudge", "to=casey%40example.org&subject=Hi&text=Hello&csrf=" + csrf);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(
        page,
        HasSubstr("class=\"flash warning\" role=\"status\">Nudge #1 is waiting: Mock provider (writes .eml files) "
                  "is not connected"));
    EXPECT_THAT(page, Not(HasSubstr("Nudge #1 queued.")));
}

// A mailbox over its daily sending limit is held for hours (Gmail names the time): the row says
// when the next attempt is, in the browser's own time format.
TEST_F(WebAppTest, AThrottledNudgeSaysWhenItIsTriedAgain) {
    dir_.write("host.json",
               R"({"store":{"path":"host.db"},"log_level":"error","users":[{"id":"rita","display_name":"Rita"}],
        "web":{"public_url":"http://127.0.0.1:8080","show_developer_providers":true},
        "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                      "config":{"outbox_dir":"${config_dir}/eml","outcome":"throttled","retry_after_seconds":7200}}]})");
    start("http://127.0.0.1:8080");
    rt_->start_outbox();
    std::string csrf = sign_in();
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    request("POST", "/settings/communication/nudge", "to=casey%40example.org&subject=Hi&text=Hello&csrf=" + csrf);
    for (int i = 0; i < 200 && rt_->store->outbox("rita").at(0).state != host::NudgeState::throttled; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const host::Nudge n = rt_->store->outbox("rita").at(0);
    ASSERT_EQ(n.state, host::NudgeState::throttled);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr(" Next attempt: <time datetime=\"" + ep::sdk::iso_time(n.not_before_ms) + "\""));
}

// A follow-up (the form's "Follows nudge #") goes out in the first nudge's conversation, and the
// outbox row says which; a number that names no nudge of the user is refused, saying so.
TEST_F(WebAppTest, AFollowUpSaysWhichThreadItIsIn) {
    rt_->start_outbox();
    std::string csrf = sign_in();
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    request("POST", "/settings/communication/nudge", "to=casey%40example.org&subject=Hi&text=Hello&csrf=" + csrf);
    request("POST", "/settings/communication/nudge",
            "to=casey%40example.org&subject=&text=Again&follows=1&csrf=" + csrf);
    request("POST", "/settings/communication/nudge", "to=casey%40example.org&subject=x&text=x&follows=42&csrf=" + csrf);
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("Nudge #2 queued."));
    EXPECT_THAT(page, HasSubstr("The nudge was not queued: nudge #42 is not one of your nudges."));
    EXPECT_THAT(page, HasSubstr("<td>Re: Hi<br><span class=\"muted thread\">in thread with #1</span></td>"));
    EXPECT_THAT(page, HasSubstr("id=\"nudge-follows\""));
    auto state = boost::json::parse(request("GET", "/api/state").body).as_object();
    auto& rows = state["outbox"].as_array();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].at("in_thread_with"), "in thread with #1");
    EXPECT_EQ(rows[0].at("follows"), 1);
}

TEST_F(WebAppTest, ChoosingAProviderThatNeedsNoSignInConnectsItAndOtherChannelsAreRefused) {
    std::string csrf = sign_in();
    auto r = request("POST", "/settings/communication/preferences", "channel=sms&email_provider=mock&csrf=" + csrf);
    EXPECT_EQ(r.status, 303);
    EXPECT_EQ(rt_->store->settings("rita").email_provider, "") << "a refused form changes nothing";
    request("POST", "/settings/communication/preferences", "channel=email&email_provider=mock&csrf=" + csrf);
    EXPECT_EQ(rt_->store->settings("rita").email_provider, "mock");
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("id=\"status-mock\" data-state=\"connected\""));
    EXPECT_THAT(page, HasSubstr("<fieldset><legend>Email provider</legend>"));
    EXPECT_THAT(page, Not(HasSubstr("id=\"use-mock\""))) << "already used for nudges: no offer";
}

TEST_F(WebAppTest, DeveloperOnlyProvidersAreHiddenUnlessTheConfigShowsThem) {
    dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
        "users":[{"id":"rita","display_name":"Rita"}],"web":{"public_url":"http://127.0.0.1:8080"},
        "providers":[{"manifest":")" EP_BUILD_DIR
                            R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})");
    start("http://127.0.0.1:8080");
    sign_in();
    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, Not(HasSubstr("integration-mock")));
    EXPECT_THAT(page, Not(HasSubstr("provider-mock")));
    EXPECT_THAT(page, HasSubstr("<strong id=\"product-name\">Nudges</strong>"));
}

namespace {

host::view::Card approval_card(host::AdminRequest request) {
    host::view::Card c;
    c.id = "acme";
    c.name = "Acme Mail";
    c.available = true;
    c.interactive = true;
    c.status = host::parse_status(
        boost::json::value{{"state", "admin_approval_required"},
                           {"service_name", "Acme <Mail>"},
                           {"message", "An administrator must approve."},
                           {"user_action", "Ask IT & wait."},
                           {"admin_instructions", "Approve app \"x\" in the console."},
                           {"application_id", "1234-<id>"},
                           {"admin_consent_url", "https://login.example/consent?a=1&b=\"2\""},
                           {"admin_request", request == host::AdminRequest::sent       ? "sent"
                                             : request == host::AdminRequest::possible ? "possible"
                                                                                       : "unavailable"}});
    return c;
}

}  // namespace

TEST(SettingsView, TheApprovalCardSeparatesWhatYouDoFromWhatToSendIt) {
    std::string html = host::view::integration_card(approval_card(host::AdminRequest::unavailable), "tok");
    EXPECT_THAT(html, HasSubstr("<h3>Acme &lt;Mail&gt;</h3>"));
    EXPECT_THAT(html, HasSubstr("<h4>What you do</h4><p id=\"user-action-acme\">Ask IT &amp; wait.</p>"));
    EXPECT_THAT(html, HasSubstr("<h4>What to send your IT administrator</h4>"));
    EXPECT_THAT(html, HasSubstr("Approve app &quot;x&quot; in the console."));
    EXPECT_THAT(html, HasSubstr("<code id=\"application-id\">1234-&lt;id&gt;</code> <button type=\"button\" "
                                "class=\"secondary copy\" data-copy=\"1234-&lt;id&gt;\""));
    EXPECT_THAT(html, HasSubstr("href=\"https://login.example/consent?a=1&amp;b=&quot;2&quot;\""));
    EXPECT_THAT(html, HasSubstr("data-request=\"unavailable\">No request was sent"));
    EXPECT_THAT(html, HasSubstr("id=\"connect-acme\">Connect again after approval"));
    EXPECT_THAT(html, Not(HasSubstr("<id>")));
    EXPECT_THAT(
        host::view::integration_card(approval_card(host::AdminRequest::sent), "tok"),
        HasSubstr("data-request=\"sent\">Your request for approval was sent to your IT administrators. You will "
                  "get an email when they decide."));
    EXPECT_THAT(host::view::integration_card(approval_card(host::AdminRequest::possible), "tok"),
                HasSubstr("data-request=\"possible\">"));
}

TEST(SettingsView, AnInteractiveProviderThatIsNotConnectedCannotBeChosen) {
    host::view::Card c;
    c.id = "acme";
    c.name = "Acme Mail";
    c.available = true;
    c.interactive = true;
    c.status = host::parse_status(boost::json::value{{"state", "expired"}});
    std::string html = host::view::preferences({c}, host::CommunicationSettings{}, "tok");
    EXPECT_THAT(html, HasSubstr("id=\"provider-acme\" value=\"acme\" disabled>"));
    EXPECT_THAT(html, HasSubstr("not connected: connect it above first"));
    c.status = host::parse_status(boost::json::value{{"state", "connected"}, {"email", "a@b.example"}});
    EXPECT_THAT(host::view::preferences({c}, host::CommunicationSettings{}, "tok"), HasSubstr("value=\"acme\">"));
}

TEST(SettingsView, TimesAreReadableWithTheMachineFormForTheScript) {
    EXPECT_EQ(host::view::time_element("2026-11-29T09:05:00Z"),
              "<time datetime=\"2026-11-29T09:05:00Z\">29 Nov 2026, 09:05 UTC</time>");
    EXPECT_EQ(host::view::time_element("<not a time>"), "&lt;not a time&gt;");
}

TEST(Documents, OneVocabularyReadsAndPrintsTheProvidersWords) {
    for (auto s : {host::ConnectionState::not_connected, host::ConnectionState::connected,
                   host::ConnectionState::expired, host::ConnectionState::permission_denied,
                   host::ConnectionState::admin_approval_required, host::ConnectionState::configuration_error})
        EXPECT_EQ(host::connection_state_from(host::to_string(s)), s);
    EXPECT_EQ(host::connection_state_from("on_fire"), host::ConnectionState::unknown);
    for (auto o : {host::SendOutcome::sent, host::SendOutcome::rejected, host::SendOutcome::auth_expired,
                   host::SendOutcome::throttled, host::SendOutcome::transient, host::SendOutcome::indeterminate})
        EXPECT_EQ(host::send_outcome_from(host::to_string(o)), o);
    EXPECT_EQ(host::send_outcome_from("Sent"), host::SendOutcome::unknown) << "exact words only";
    EXPECT_EQ(host::connect_outcome_from("wrong_account"), host::ConnectOutcome::other);
    auto s = host::parse_status(boost::json::parse(
        R"({"state":"connected","email":"a@b.example","extra_permissions":["Mail.Read",7],"developer_only":true,
            "check_failed":{"code":"network","message":"unreachable"}})"));
    EXPECT_EQ(s.state, host::ConnectionState::connected);
    EXPECT_EQ(s.extra_permissions, std::vector<std::string>{"Mail.Read"});
    EXPECT_TRUE(s.developer_only);
    EXPECT_EQ(s.check_failed, "unreachable");
    EXPECT_EQ(host::parse_status(boost::json::value("connected")).state, host::ConnectionState::unknown);
}

TEST_F(WebAppTest, AStrandedNudgeIsSentWithTheCurrentProviderOrDiscardedByForm) {
    std::string csrf = sign_in();
    // Two held nudges of a provider that is gone, as the outbox's held sweep leaves them.
    auto& store = *rt_->store;
    std::vector<int64_t> ids;
    for (const char* crid : {"c1", "c2"})
        ids.push_back(
            store.enqueue("rita", "gone", "rita@example.org",
                          R"({"to":[{"address":"casey@example.org"}],"subject":"s","text":"t","client_request_id":")" +
                              std::string(crid) + "\"}",
                          crid, 1));
    host::OutboxLease lease{"test", 60000};
    ASSERT_EQ(store.claim_due(2, 10, lease).size(), 2u);
    std::vector<host::HostStore::Outcome> held;
    for (int64_t id : ids)
        held.push_back({id, host::NudgeState::held, "auth_expired", "provider_removed", "", "", 0, "", ""});
    ASSERT_EQ(store.record_outcomes(held, lease, 3), 2);
    store.strand_held("rita", "gone", "provider_removed", "Its email provider 'gone' was removed from this host.", 4);
    const std::string send = "id=" + std::to_string(ids[0]), discard = "id=" + std::to_string(ids[1]);

    auto page = request("GET", "/settings/communication").body;
    EXPECT_THAT(page, HasSubstr("id=\"send-held-" + std::to_string(ids[0]) + "\">Send with current provider"));
    EXPECT_THAT(page, HasSubstr("id=\"discard-" + std::to_string(ids[1]) + "\""));
    EXPECT_THAT(page, HasSubstr("&#39;gone&#39; was removed")) << "the reason, not the promise to go out on reconnect";

    // The same protections as every other form.
    EXPECT_EQ(request("POST", "/settings/communication/outbox/discard", discard).status, 403);
    EXPECT_EQ(request("POST", "/settings/communication/outbox/discard", discard + "&csrf=" + csrf,
                      {{"origin", "https://evil.example"}})
                  .status,
              403);
    EXPECT_EQ(store.nudge(ids[1])->state, host::NudgeState::held);

    for (const char* bad : {"id=abc", "id=", "id=-3", "id=12x"}) {
        request("POST", "/settings/communication/outbox/send", std::string(bad) + "&csrf=" + csrf);
        EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("That is not a nudge number.")) << bad;
    }
    // No provider chosen yet: said, and the nudge stays.
    request("POST", "/settings/communication/outbox/send", send + "&csrf=" + csrf);
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("no email provider is chosen"));
    EXPECT_EQ(store.nudge(ids[0])->state, host::NudgeState::held);

    store.save_settings("rita", host::CommunicationSettings{"email", "mock"});
    ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect("rita", "{}").ok());
    EXPECT_EQ(request("POST", "/settings/communication/outbox/send", send + "&csrf=" + csrf).status, 303);
    auto sent = store.nudge(ids[0]);
    EXPECT_EQ(sent->state, host::NudgeState::queued);
    EXPECT_EQ(sent->provider, "mock");
    EXPECT_EQ(request("POST", "/settings/communication/outbox/discard", discard + "&csrf=" + csrf).status, 303);
    EXPECT_EQ(store.nudge(ids[1])->state, host::NudgeState::failed);
    EXPECT_EQ(store.nudge(ids[1])->last_code, "discarded");
    EXPECT_THAT(request("GET", "/settings/communication").body, Not(HasSubstr("id=\"discard-")));
}
