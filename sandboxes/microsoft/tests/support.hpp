// Test helpers: a small libcurl client, PKCE, JWT client assertions built with OpenSSL
// (independently of the sandbox's own crypto code), and a fixture that runs the full flow.
#pragma once

#include "ms_sandbox/sandbox.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mst {

namespace json = boost::json;

struct HttpResult {
    int curl_code = 0;
    long status = 0;
    std::string body;
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::string header(const std::string& name) const;
    json::value json() const;  // throws on invalid JSON
};

struct Request {
    std::string method = "GET";
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
    std::string ca_file;  // empty = use the system store (i.e. the sandbox CA is NOT trusted)
    bool verify = true;
    long timeout_ms = 20000;
    std::string cookie;  // "ESTSAUTH=..."
};

HttpResult http(const std::string& url, const Request& req);

inline ms_sandbox::AutopilotRequest pilot(std::string url, std::string user,
                                          ms_sandbox::Answer answer = ms_sandbox::Answer::accept,
                                          std::string justification = {}) {
    ms_sandbox::AutopilotRequest r;
    r.authorize_url = std::move(url);
    r.user = std::move(user);
    r.answer = answer;
    r.justification = std::move(justification);
    return r;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
std::string url_escape(const std::string& s);
// Query (or fragment) parameters of a URL, decoded.
std::map<std::string, std::string> url_params(const std::string& url);
std::string b64url(const std::string& raw);
std::string b64url_decode(const std::string& text);
std::string sha256(const std::string& data);

struct Pkce {
    std::string verifier, challenge;
};
Pkce make_pkce();  // 64-char verifier, S256 challenge

// Client assertion JWT signed with a PEM key. alg "PS256" uses x5t#S256, "RS256" uses x5t.
struct AssertionSpec {
    std::string alg = "PS256";
    std::string client_id, audience;
    std::int64_t now = 0;  // unix seconds (sandbox clock)
    std::int64_t lifetime = 600;
    std::string jti;  // empty = random
    std::string cert_file, key_file;
    bool corrupt_signature = false;
};
std::string make_assertion(const AssertionSpec& spec);

// Verifies an RS256 JWT against an RSA JWK (n, e). Returns the decoded payload or null.
json::value verify_rs256(const std::string& jwt, const json::object& jwk);

// The default scenario's well-known ids.
inline const std::string kPublicApp = "11111111-2222-4333-8444-555555555555";
inline const std::string kSecretApp = "22222222-3333-4444-8555-666666666666";
inline const std::string kCertApp = "33333333-4444-4555-8666-777777777777";
// Generated at build time into the TLS dir (never committed).
std::string read_generated_secret(const std::string& file_name);
inline const std::string kSecret = read_generated_secret("client-secret.txt");
inline const std::string kExpiredSecret = read_generated_secret("expired-client-secret.txt");
inline const std::string kLoopbackRedirect = "http://127.0.0.1/callback";
inline const std::string kAdele = "adele@contoso.example";
inline const std::string kNoMailbox = "noah@contoso.example";
inline const std::string kFabrikamUser = "ben@fabrikam.example";     // tenant with the approval workflow
inline const std::string kNorthwindUser = "nora@northwind.example";  // tenant without it (90094)
inline const std::string kMsa = "megan.personal@outlook.com";
inline const std::string kMsaNoMailbox = "sam.gmail@gmail.com";
inline const std::string kContosoId = "6f1c7c1e-3d2a-4c5b-9a8e-2b1d0c9e8f71";
inline const std::string kFabrikamId = "0b2e4f6a-8c1d-4e3f-a5b7-c9d1e3f5a7b9";
inline const std::string kScopes = "offline_access User.Read Mail.Send";

struct Tokens {
    HttpResult response;
    std::string access_token, refresh_token;
};

struct AuthorizeSpec {
    std::string tenant = "common";
    std::string client_id = kPublicApp;
    std::string redirect_uri = kLoopbackRedirect;
    std::string scope = kScopes;
    std::string state = "st-123";
    std::string challenge;  // empty = from pkce
    std::string method = "S256";
    std::string extra;  // appended raw ("&prompt=none")
};

class SandboxTest : public ::testing::Test {
protected:
    void SetUp() override;
    virtual ms_sandbox::Options options();

    std::string url(const std::string& path) const { return sandbox->base_url() + path; }
    Request browser() const {  // a GET that trusts the sandbox CA
        Request r;
        r.ca_file = sandbox->ca_file().string();
        return r;
    }
    HttpResult get(const std::string& path, std::vector<std::string> headers = {});
    HttpResult post_form(const std::string& path, const std::vector<std::pair<std::string, std::string>>& fields,
                         std::vector<std::string> headers = {});
    HttpResult post_json(const std::string& path, const std::string& body, std::vector<std::string> headers = {});

    using AuthorizeSpec = mst::AuthorizeSpec;
    std::string authorize_url(const AuthorizeSpec& spec);
    // Signs `user` in via the autopilot (accept) and returns the code.
    std::string code_for(const std::string& user, const AuthorizeSpec& spec);
    HttpResult redeem(const std::string& code, const AuthorizeSpec& spec,
                      std::vector<std::pair<std::string, std::string>> extra = {});
    Tokens sign_in(const std::string& user, AuthorizeSpec spec = {});
    HttpResult refresh(const std::string& rt, const std::string& client_id = kPublicApp,
                       std::vector<std::pair<std::string, std::string>> extra = {});
    HttpResult send_mail(const std::string& at, const std::string& body, std::vector<std::string> headers = {});

    static std::string simple_message(const std::string& to = "candidate@example.org",
                                      const std::string& subject = "Hello");

    std::unique_ptr<ms_sandbox::Sandbox> sandbox;
    Pkce pkce;
};

}  // namespace mst

// Lets EXPECT_EQ compare a JSON string value with a std::string (test-only convenience).
namespace boost::json {
inline bool operator==(const value& v, const std::string& s) { return v.is_string() && v.get_string() == s; }
inline bool operator==(const value& v, const char* s) { return v.is_string() && v.get_string() == s; }
inline bool operator==(const value& v, std::nullptr_t) { return v.is_null(); }
}  // namespace boost::json
