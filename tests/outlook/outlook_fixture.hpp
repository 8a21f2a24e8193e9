// The Personal Outlook plugin, loaded from its real .so by the real loader, against the
// local Microsoft stand-in over HTTPS. The host services are an in-memory FakeHost whose
// clock starts at the stand-in's clock; tests move both together.
#pragma once

#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>
#include <ms_sandbox/sandbox.hpp>

#include <boost/json.hpp>

#include <curl/curl.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace outlook_test {

namespace json = boost::json;

// The stand-in's default scenario (sandboxes/microsoft/scenarios/default.json).
inline constexpr const char* kPublicClientId = "11111111-2222-4333-8444-555555555555";
inline constexpr const char* kSecretClientId = "22222222-3333-4444-8555-666666666666";
inline constexpr const char* kCertClientId = "33333333-4444-4555-8666-777777777777";
inline constexpr const char* kRedirectUri = "http://127.0.0.1/callback";
inline constexpr const char* kWorkUser = "adele@contoso.example";
inline constexpr const char* kNoMailboxUser = "noah@contoso.example";
inline constexpr const char* kApprovalWorkflowUser = "ben@fabrikam.example";
inline constexpr const char* kApprovalNoWorkflowUser = "nora@northwind.example";
inline constexpr const char* kPersonalUser = "megan.personal@outlook.com";
inline constexpr const char* kContosoTenantId = "6f1c7c1e-3d2a-4c5b-9a8e-2b1d0c9e8f71";
inline constexpr const char* kPersonalTenantId = "9188040d-6c67-4c5b-b112-36a304b66dad";

inline std::string hex_key(char fill) { return std::string(64, fill); }

inline json::object parse(const std::string& text) {
    json::value v = json::parse(text);
    return v.as_object();
}

inline std::string str(const json::value& v, std::string_view key) {
    if (!v.is_object()) return {};
    auto it = v.as_object().find(key);
    return it != v.as_object().end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// Waits for send completions.
class Completions {
public:
    ep::loader::ProviderInstance::SendDone callback() {
        return [this](std::string_view result) {
            std::lock_guard lock(mutex_);
            results_.push_back(parse(std::string(result)));
            cv_.notify_all();
        };
    }
    std::vector<json::object> wait(std::size_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
        return results_;
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return results_.size();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<json::object> results_;
};

struct SandboxSettings {
    bool old_refresh_token_stays_valid = true;
    int messages_per_minute = 0;  // unlimited unless a test is about the rate limit
    int concurrent_requests = 4;
    int extra_users = 0;  // user0..N-1@contoso.example, each with a mailbox
};

inline std::string scenario_json(const SandboxSettings& s) {
    std::ifstream in(ms_sandbox::default_scenario_file());
    std::stringstream text;
    text << in.rdbuf();
    json::value v = json::parse(text.str());
    auto& settings = v.as_object()["settings"].as_object();
    settings["old_refresh_token_stays_valid"] = s.old_refresh_token_stays_valid;
    settings["mailbox_limits"] =
        json::object{{"concurrent_requests", s.concurrent_requests}, {"messages_per_minute", s.messages_per_minute}};
    auto& users = v.as_object()["users"].as_array();
    for (int i = 0; i < s.extra_users; ++i) {
        std::string upn = "user" + std::to_string(i) + "@contoso.example";
        users.push_back(json::object{
            {"upn", upn}, {"display_name", "User " + std::to_string(i)}, {"tenant", "contoso.example"}, {"mail", upn}});
    }
    return json::serialize(v);
}

class OutlookFixture : public ::testing::Test {
protected:
    explicit OutlookFixture(SandboxSettings settings = {}) : sandbox_(make_options(settings)) {
        host_.set_now_ms(now_ms(sandbox_));
        dir_.write("k1.key", hex_key('1'));
        dir_.write("k2.key", hex_key('2'));
        dir_.write("outlook.json", R"({"file_format_version":"1.0.0","provider":{"id":"outlook",
            "display_name":"Personal Outlook","library_path":")" OUTLOOK_PLUGIN_PATH R"(","abi_version":"1.0",
            "capabilities":["interactive_connect"]}})");
        loaded_ = ep::loader::load_provider(ep::loader::read_manifest(dir_ / "outlook.json"));
    }

    void SetUp() override { outlook_ = create(base_config()); }

    void TearDown() override {
        outlook_.reset();
        // Nothing the stand-in issued, and no client secret, may ever reach the host's log.
        std::string log = host_.log_text();
        for (const auto& secret : sandbox_.issued().all())
            ASSERT_EQ(log.find(secret), std::string::npos) << "an issued token or code reached the log";
        for (const auto& s : extra_secrets_) ASSERT_EQ(log.find(s), std::string::npos) << "a secret reached the log";
    }

    static ms_sandbox::Options make_options(const SandboxSettings& s) {
        ms_sandbox::Options o;
        o.scenario_json = scenario_json(s);
        o.log_requests = false;
        return o;
    }

    static int64_t now_ms(ms_sandbox::Sandbox& sb) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(sb.now().time_since_epoch()).count();
    }

    // Moves the host's and the stand-in's clocks together.
    void advance(std::chrono::seconds s) {
        sandbox_.advance_clock(s);
        host_.advance_seconds(s.count());
    }

    json::object base_config() {
        return json::object{
            {"client_id", kPublicClientId},
            {"authority", "common"},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"redirect_uri", kRedirectUri},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"token_encryption",
             json::object{{"active_key", "k1"},
                          {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}}},
            {"send", json::object{{"max_throttle_wait_seconds", 5}}}};
    }

    std::unique_ptr<ep::loader::ProviderInstance> create(const json::object& config) {
        return ep::loader::ProviderInstance::create(loaded_, host_.api(), json::serialize(config));
    }

    std::string begin(const std::string& account, const std::string& login_hint = {}) {
        json::object req;
        if (!login_hint.empty()) req["login_hint"] = login_hint;
        auto r = outlook_->begin_connect(account, json::serialize(req));
        EXPECT_TRUE(r.ok()) << r.document;
        auto doc = parse(r.document);
        EXPECT_EQ(str(doc, "action"), "redirect");
        return str(doc, "authorization_url");
    }

    json::object complete(const std::string& account, const std::string& callback_url,
                          ep::loader::ProviderInstance* instance = nullptr) {
        auto r = (instance ? instance : outlook_.get())
                     ->complete_connect(account, json::serialize(json::object{{"callback_url", callback_url}}));
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    }

    // Full connect through the stand-in's sign-in and consent pages.
    json::object connect(const std::string& account, const std::string& upn,
                         ms_sandbox::Answer answer = ms_sandbox::Answer::accept) {
        std::string url = begin(account, upn);
        ms_sandbox::AutopilotRequest req;
        req.authorize_url = url;
        req.user = upn;
        req.answer = answer;
        auto pilot = sandbox_.autopilot(req);
        EXPECT_TRUE(pilot.callback_url.has_value()) << json::serialize(pilot.raw);
        return complete(account, pilot.callback_url.value_or(""));
    }

    json::object status(const std::string& account, ep::loader::ProviderInstance* instance = nullptr) {
        auto r = (instance ? instance : outlook_.get())->status(account);
        EXPECT_TRUE(r.ok()) << r.document;
        return parse(r.document);
    }

    static std::string message(const std::string& subject = "Nudge", const std::string& to = "casey@example.org") {
        return json::serialize(json::object{{"to", json::array{json::object{{"address", to}}}},
                                            {"subject", subject},
                                            {"text", "Hello from the tests"}});
    }

    json::object send(const std::string& account, const std::string& msg = message(),
                      ep::loader::ProviderInstance* instance = nullptr) {
        auto r = (instance ? instance : outlook_.get())->send_blocking(account, msg);
        return parse(r.document);
    }

    // A browser's first request to the authorize URL: returns where it is redirected (the
    // Location header), or "" when the stand-in answers with a page. Used where a scripted
    // fault acts on the authorize endpoint itself.
    std::string authorize_redirect(const std::string& url) {
        CURL* h = curl_easy_init();
        std::string location;
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_CAINFO, sandbox_.ca_file().c_str());
        curl_easy_setopt(
            h, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
        if (curl_easy_perform(h) == CURLE_OK) {
            char* loc = nullptr;
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
            if (loc) location = loc;
        }
        curl_easy_cleanup(h);
        return location;
    }

    // The confidential app's secret, generated at build time next to the test PKI.
    std::string client_secret() {
        std::string s = test_support::read_file(sandbox_.tls_dir() / "client-secret.txt");
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s;
    }

    int refreshes(const std::string& upn = {}) { return sandbox_.token_requests("refresh_token", upn); }

    test_support::TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
    test_support::FakeHost host_;
    std::shared_ptr<ep::loader::LoadedProvider> loaded_;
    std::unique_ptr<ep::loader::ProviderInstance> outlook_;
    std::vector<std::string> extra_secrets_;
};

}  // namespace outlook_test
