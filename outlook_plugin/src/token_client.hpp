// Builds requests to the token endpoint (authorization_code and refresh_token grants) with
// the configured client authentication: none (public client + PKCE), a client secret, or a
// signed client assertion.
#pragma once

#include "client_assertion.hpp"
#include "config.hpp"
#include "ep_kit/http_engine.hpp"
#include "uses_kit.hpp"

#include <functional>
#include <memory>

namespace outlook {

class TokenClient {
public:
    using Clock = std::function<int64_t()>;  // Unix ms (the host's clock)
    TokenClient(const OutlookConfig& config, Clock clock);

    HttpRequest code_redemption(std::string_view code, std::string_view verifier) const;
    HttpRequest refresh(std::string_view refresh_token) const;

private:
    HttpRequest post(std::vector<std::pair<std::string, std::string_view>> fields) const;

    const OutlookConfig& config_;
    Clock clock_;
    std::unique_ptr<ClientAssertionSigner> signer_;  // certificate credentials only
};

}  // namespace outlook
