// Google's token endpoint for the kit's token manager: the refresh request (client_secret_post)
// and its answers, read with the rules of google_oauth.hpp. Google normally does not rotate
// refresh tokens: a refresh answer without one keeps the stored token, and one that brings a
// new token replaces it.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/secret_string.hpp"
#include "ep_kit/token_protocol.hpp"
#include "google_oauth.hpp"
#include "uses_kit.hpp"

#include <string>
#include <vector>

namespace gmail {

struct GoogleTokenSettings {
    GoogleClient client;
    SecretString client_secret;
    // The consent screen's publishing status is "Testing": refresh tokens for gmail.send last
    // 7 days (https://developers.google.com/identity/protocols/oauth2, "Refresh token expiration").
    bool app_in_testing = false;
    long connect_timeout_ms = 10'000;
    long request_timeout_ms = 30'000;
};

class GoogleTokens final : public TokenProtocol {
public:
    explicit GoogleTokens(GoogleTokenSettings settings) : settings_(std::move(settings)) {}

    HttpRequest refresh_request(std::string_view refresh_token) const override;
    // The sign-in's code for tokens (PKCE), and a revocation (of a refresh or access token).
    HttpRequest code_exchange_request(std::string_view code, std::string_view code_verifier) const;
    HttpRequest revoke_request(std::string_view token) const;
    const GoogleTokenSettings& settings() const { return settings_; }
    RefreshAnswer read_refresh(const HttpResponse& response, const GrantRecord& grant,
                               int64_t now_unix_ms) const override;
    std::string service_name() const override { return "Google"; }
    std::string not_connected_message() const override { return "This account has not connected Gmail."; }
    std::string permission_denied_message() const override;
    std::string least_privilege_notice(const std::vector<std::string>& extras) const override;

private:
    HttpRequest form_post(std::string url, SecretString body) const;

    GoogleTokenSettings settings_;
};

}  // namespace gmail
