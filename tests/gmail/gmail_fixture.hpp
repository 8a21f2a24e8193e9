// The Personal Gmail plugin, loaded from its real .so by the real loader, against the local
// Google stand-in over HTTPS. The host services are an in-memory FakeHost whose clock starts at
// the stand-in's clock; tests move both together. Every code and token the stand-in issues is
// recorded (SANDBOX_ISSUED_FILE) and must never reach the host's log.
#pragma once

#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>
#include <google_sandbox/sandbox.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gmail_test {

namespace json = boost::json;

// The stand-in's default scenario (sandboxes/google/scenarios/default.json).
inline constexpr const char* kClientId = "1234567890-recruiting.apps.googleusercontent.com";
inline constexpr const char* kRedirectUri = "http://127.0.0.1/callback";
inline constexpr const char* kConsumerUser = "grace@gmail.example";
inline constexpr const char* kWorkspaceUser = "alan@acme.example";
inline constexpr const char* kNoGmailUser = "nomail@gmail.example";
inline constexpr const char* kSendScope = "https://www.googleapis.com/auth/gmail.send";

inline json::object parse(const std::string& text) { return json::parse(text).as_object(); }

inline std::string str(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// Where the stand-in records what it issues: the run's file when CI set one (its secret scan
// reads it), else one per test process. The stand-in reads the variable once.
inline std::string issued_file() {
    static const std::string path = [] {
        if (const char* set = std::getenv("SANDBOX_ISSUED_FILE"); set && *set) return std::string(set);
        std::string p = "/tmp/gmail-test-issued-" + std::to_string(::getpid()) + ".txt";
        ::setenv("SANDBOX_ISSUED_FILE", p.c_str(), 1);
        return p;
    }();
    return path;
}

inline std::string scenario_with(int daily_send_limit) {
    std::ifstream in(google_sandbox::default_scenario_file());
    std::stringstream text;
    text << in.rdbuf();
    json::value v = json::parse(text.str());
    v.as_object()["settings"].as_object()["daily_send_limit"] = daily_send_limit;
    return json::serialize(v);
}

class GmailFixture : public ::testing::Test {
protected:
    explicit GmailFixture(int daily_send_limit = 2000) : sandbox_(options(daily_send_limit)) {
        host_.set_now_ms(now_ms());
        dir_.write("k1.key", std::string(64, '1'));
        dir_.write("gmail.json", R"({"file_format_version":"1.0.0","provider":{"id":"gmail",
            "display_name":"Personal Gmail","library_path":")" GMAIL_PLUGIN_PATH R"(","abi_version":"1.1",
            "capabilities":["interactive_connect"]}})");
        loaded_ = ep::loader::load_provider(ep::loader::read_manifest(dir_ / "gmail.json"));
    }

    void SetUp() override { gmail_ = create(base_config()); }

    void TearDown() override {
        gmail_.reset();
        std::string log = host_.log_text();
        std::ifstream issued(issued_file());
        for (std::string secret; std::getline(issued, secret);) {
            if (secret.empty()) continue;
            ASSERT_EQ(log.find(secret), std::string::npos) << "an issued token or code was logged";
        }
        const std::string client_secret = sandbox_.client_secret(kClientId);
        ASSERT_EQ(log.find(client_secret), std::string::npos) << "the client secret was logged";
    }

    static google_sandbox::Options options(int daily_send_limit) {
        issued_file();
        google_sandbox::Options o;
        o.scenario_json = scenario_with(daily_send_limit);
        o.log_requests = false;
        return o;
    }

    int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(sandbox_.now().time_since_epoch()).count();
    }

    // Moves the host's and the stand-in's clocks together.
    void advance(std::chrono::seconds s) {
        sandbox_.advance_clock(s);
        host_.advance_seconds(s.count());
    }

    json::object base_config() {
        dir_.write("client-secret.txt", sandbox_.client_secret(kClientId) + "\n");
        const std::string base = sandbox_.base_url();
        return json::object{
            {"client_id", kClientId},
            {"client_secret", json::object{{"file", (dir_ / "client-secret.txt").string()}}},
            {"redirect_uri", kRedirectUri},
            {"endpoints",
             json::object{
                 {"accounts", base}, {"oauth2", base}, {"openidconnect", base}, {"googleapis", base}, {"gmail", base}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"token_encryption",
             json::object{{"active_key", "k1"},
                          {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}}},
            {"send", json::object{{"max_throttle_wait_seconds", 5}}}};
    }

    std::unique_ptr<ep::loader::ProviderInstance> create(const json::object& config) {
        return ep::loader::ProviderInstance::create(loaded_, host_.api(), json::serialize(config));
    }

    std::string begin(const std::string& account, json::object request = {}) {
        auto r = gmail_->begin_connect(account, json::serialize(request));
        EXPECT_TRUE(r.ok()) << r.document;
        return str(parse(r.document), "authorization_url");
    }

    json::object complete(const std::string& account, const std::string& callback_url) {
        auto r = gmail_->complete_connect(account, json::serialize(json::object{{"callback_url", callback_url}}));
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    }

    // Through the stand-in's chooser and consent pages; `untick` clears consent boxes.
    json::object connect(const std::string& account, const std::string& user, std::set<std::string> untick = {},
                         google_sandbox::Answer answer = google_sandbox::Answer::allow) {
        google_sandbox::AutopilotRequest req;
        req.authorize_url = begin(account, json::object{{"login_hint", user}});
        req.user = user;
        req.answer = answer;
        req.untick = std::move(untick);
        auto pilot = sandbox_.autopilot(req);
        EXPECT_TRUE(pilot.callback_url.has_value()) << json::serialize(pilot.raw);
        return complete(account, pilot.callback_url.value_or(""));
    }

    json::object status(const std::string& account) {
        auto r = gmail_->status(account);
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    }

    static std::string message(const std::string& subject = "Nudge", const std::string& to = "casey@example.org") {
        return json::serialize(json::object{{"to", json::array{json::object{{"address", to}}}},
                                            {"subject", subject},
                                            {"text", "Hello from the tests"}});
    }

    json::object send(const std::string& account, const std::string& msg = message()) {
        return parse(gmail_->send_blocking(account, msg).document);
    }

    test_support::TempDir dir_;
    google_sandbox::Sandbox sandbox_;
    test_support::FakeHost host_;
    std::shared_ptr<ep::loader::LoadedProvider> loaded_;
    std::unique_ptr<ep::loader::ProviderInstance> gmail_;
};

}  // namespace gmail_test
