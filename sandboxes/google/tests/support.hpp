// Test helpers for the Google stand-in: a small libcurl client, PKCE, JWT checks made with
// OpenSSL independently of the stand-in's own code, and a fixture that signs a user in.
#pragma once

#include "google_sandbox/sandbox.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gst {

namespace json = boost::json;

struct HttpResult {
    long status = 0;
    std::string body;
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::string header(const std::string& name) const;
    json::value json() const;  // throws on invalid JSON
};

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string url_escape(const std::string& s);
std::string form_encode(const Fields& fields);
std::map<std::string, std::string> query_params(const std::string& url);  // decoded
std::string b64url(const std::string& raw);
std::string b64url_decode(const std::string& text);
std::string sha256(const std::string& data);
std::string default_scenario_text();
// The JWT's payload when its RS256 signature verifies against the PEM certificate, else null.
json::value verify_with_pem(const std::string& jwt, const std::string& pem_certificate);

inline const std::string kClient = "1234567890-recruiting.apps.googleusercontent.com";
inline const std::string kTestingClient = "2234567890-testing.apps.googleusercontent.com";
inline const std::string kInternalClient = "3234567890-internal.apps.googleusercontent.com";
inline const std::string kDeletedClient = "4234567890-deleted.apps.googleusercontent.com";
inline const std::string kRedirect = "http://127.0.0.1/callback";
inline const std::string kGrace = "grace@gmail.example";     // consumer account, a test user
inline const std::string kAlan = "alan@acme.example";        // Workspace account (acme.example)
inline const std::string kBea = "bea@strict.example";        // Workspace whose admin blocks unverified apps
inline const std::string kNoGmail = "nomail@gmail.example";  // an account without Gmail
inline const std::string kGmailSend = "https://www.googleapis.com/auth/gmail.send";
inline const std::string kUserinfoEmail = "https://www.googleapis.com/auth/userinfo.email";
inline const std::string kScopes = "openid email " + kGmailSend;

struct AuthorizeSpec {
    std::string client_id = kClient;
    std::string redirect_uri = kRedirect;
    std::string scope = kScopes;
    std::string extra = "&access_type=offline";  // appended raw
};

class GoogleSandboxTest : public ::testing::Test {
protected:
    void SetUp() override;
    std::string url(const std::string& path) const { return sandbox->base_url() + path; }
    HttpResult request(const std::string& method, const std::string& path, const std::string& body = {},
                       std::vector<std::string> headers = {});
    HttpResult get(const std::string& path, std::vector<std::string> headers = {}) {
        return request("GET", path, {}, std::move(headers));
    }
    HttpResult post_form(const std::string& path, const Fields& fields, std::vector<std::string> headers = {});

    std::string authorize_path(const AuthorizeSpec& spec = {});
    // Autopilot sign-in, returning the callback's parameters.
    std::map<std::string, std::string> callback_for(const std::string& user, const AuthorizeSpec& spec = {},
                                                    std::set<std::string> untick = {});
    HttpResult redeem(const std::string& code, Fields extra = {});
    // Sign-in plus code exchange: the token response's JSON.
    json::object sign_in(const std::string& user, const AuthorizeSpec& spec = {}, std::set<std::string> untick = {});
    HttpResult refresh(const std::string& refresh_token, const std::string& client_id = kClient);
    HttpResult send_raw(const std::string& access_token, const std::string& message);

    static std::string message(const std::string& to = "candidate@example.org", const std::string& subject = "Hello");

    std::unique_ptr<google_sandbox::Sandbox> sandbox;
    std::string secret;
    std::string verifier;
};

}  // namespace gst
