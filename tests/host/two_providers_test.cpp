// Two real providers behind one settings page (Personal Outlook against the Microsoft stand-in,
// Personal Gmail against the Google stand-in): a recruiter who starts both sign-ins in one
// browser gets each answer to its own provider, by path (<callback_path>/<provider id>) or, at
// the plain callback path, to the latest sign-in.
#include "process.hpp"

#include "core/host_runtime.hpp"
#include "web/web_app.hpp"

#include <google_sandbox/sandbox.hpp>
#include <ms_sandbox/sandbox.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr const char* kPublicUrl = "http://127.0.0.1:8080";
constexpr const char* kGoogleClient = "1234567890-recruiting.apps.googleusercontent.com";

// The Google stand-in's default scenario, with this host's Gmail callback registered exactly.
std::string google_scenario() {
    std::ifstream in(google_sandbox::default_scenario_file());
    std::stringstream text;
    text << in.rdbuf();
    json::value v = json::parse(text.str());
    for (auto& c : v.as_object()["clients"].as_array())
        if (c.as_object()["client_id"] == kGoogleClient)
            c.as_object()["redirect_uris"].as_array().emplace_back(std::string(kPublicUrl) + "/callback/gmail");
    return json::serialize(v);
}

google_sandbox::Options google_options() {
    google_sandbox::Options o;
    o.scenario_json = google_scenario();
    o.log_requests = false;
    return o;
}

ms_sandbox::Options microsoft_options() {
    ms_sandbox::Options o;
    o.log_requests = false;
    return o;
}

class TwoProvidersTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("k1.key", std::string(64, 'a'));
        dir_.write("google-secret.txt", google_.client_secret(kGoogleClient));
        json::object keys{{"active_key", "k1"},
                          {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}};
        json::object outlook{
            {"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
            {"config", json::object{{"client_id", "11111111-2222-4333-8444-555555555555"},
                                    {"endpoints", json::object{{"login", microsoft_.base_url()},
                                                               {"graph", microsoft_.base_url() + "/v1.0"}}},
                                    {"tls", json::object{{"ca_file", microsoft_.ca_file().string()}}},
                                    {"redirect_uri", std::string(kPublicUrl) + "/callback"},
                                    {"token_encryption", keys}}}};
        const std::string g = google_.base_url();
        json::object gmail{
            {"manifest", EP_BUILD_DIR "/manifests/gmail.json"},
            {"config",
             json::object{
                 {"client_id", kGoogleClient},
                 {"client_secret", json::object{{"file", (dir_ / "google-secret.txt").string()}}},
                 {"redirect_uri", std::string(kPublicUrl) + "/callback/gmail"},
                 {"endpoints",
                  json::object{{"accounts", g}, {"oauth2", g}, {"openidconnect", g}, {"googleapis", g}, {"gmail", g}}},
                 {"tls", json::object{{"ca_file", google_.ca_file().string()}}},
                 {"token_encryption", keys}}}};
        json::object config{{"store", json::object{{"path", "host.db"}}},
                            {"log_level", "error"},
                            {"users", json::array{json::object{{"id", "rita"}, {"display_name", "Rita"}}}},
                            {"web", json::object{{"public_url", kPublicUrl}}},
                            {"providers", json::array{outlook, gmail}}};
        dir_.write("host.json", json::serialize(config));
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        app_ = std::make_unique<host::WebApp>(*rt_, kPublicUrl, 8080);
    }

    host::WebResponse request(const std::string& method, const std::string& target, const std::string& body = {}) {
        host::WebRequest r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.headers["host"] = "127.0.0.1:8080";
        if (!cookie_.empty()) r.headers["cookie"] = "ep_session=" + cookie_;
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
        request("POST", "/signin", "user_id=rita&csrf=" + csrf_in(page.body));
        return csrf_in(request("GET", "/settings/communication").body);
    }

    // Starts a connect on the page; returns the provider's sign-in URL.
    std::string start_connect(const std::string& csrf, const std::string& provider) {
        auto r = request("POST", "/settings/communication/connect", "provider=" + provider + "&csrf=" + csrf);
        EXPECT_EQ(r.status, 303);
        return header(r, "Location");
    }

    // The browser coming back from the provider: the callback URL's path and query on this host.
    host::WebResponse come_back(const std::string& callback_url) {
        EXPECT_TRUE(callback_url.starts_with(kPublicUrl)) << callback_url;
        return request("GET", callback_url.substr(std::string(kPublicUrl).size()));
    }

    std::string state_of(const std::string& provider) {
        auto page = request("GET", "/settings/communication").body;
        const std::string marker = "id=\"status-" + provider + "\" data-state=\"";
        auto at = page.find(marker);
        if (at == std::string::npos) return {};
        at += marker.size();
        return page.substr(at, page.find('"', at) - at);
    }

    test_support::TempDir dir_;
    ms_sandbox::Sandbox microsoft_{microsoft_options()};
    google_sandbox::Sandbox google_{google_options()};
    std::unique_ptr<host::HostRuntime> rt_;
    std::unique_ptr<host::WebApp> app_;
    std::string cookie_;
};

TEST_F(TwoProvidersTest, EachSignInStartedInOneBrowserComesBackToItsOwnProvider) {
    std::string csrf = sign_in();
    const std::string google_url = start_connect(csrf, "gmail");
    const std::string microsoft_url = start_connect(csrf, "outlook");  // the latest
    ASSERT_TRUE(google_url.starts_with(google_.base_url())) << google_url;
    ASSERT_TRUE(microsoft_url.starts_with(microsoft_.base_url())) << microsoft_url;

    // Gmail's answer names its provider in the path, though Outlook's sign-in is the latest.
    come_back(google_.autopilot(google_url, "grace@gmail.example"));
    EXPECT_EQ(state_of("gmail"), "connected");
    EXPECT_EQ(state_of("outlook"), "not_connected");

    // The plain callback path goes to the sign-in still in progress.
    come_back(microsoft_.autopilot(microsoft_url, "adele@contoso.example"));
    EXPECT_EQ(state_of("outlook"), "connected");
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("grace@gmail.example"));
}

TEST_F(TwoProvidersTest, AnAnswerForAProviderWithNoSignInHereIsIgnoredWithAnExplanation) {
    std::string csrf = sign_in();
    start_connect(csrf, "outlook");
    auto r = request("GET", "/callback/gmail?state=abc&code=4%2F0Axyz&iss=https%3A%2F%2Faccounts.google.com");
    EXPECT_EQ(r.status, 303);
    EXPECT_THAT(request("GET", "/settings/communication").body, HasSubstr("No sign-in was in progress"));
    EXPECT_EQ(state_of("gmail"), "not_connected");
    // A path below a provider's id is no callback at all.
    EXPECT_EQ(request("GET", "/callback/gmail/extra?state=abc").status, 404);
}

}  // namespace
