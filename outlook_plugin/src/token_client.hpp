// Microsoft's token endpoint: builds its requests (authorization_code and refresh_token grants)
// with the configured client authentication (none for a public client + PKCE, a client secret,
// or a signed client assertion), and reads its refresh answers for the kit's token manager.
#pragma once

#include "client_assertion.hpp"
#include "config.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/token_protocol.hpp"
#include "uses_kit.hpp"

#include <functional>
#include <memory>

namespace outlook {

class TokenClient final : public TokenProtocol {
public:
    using Clock = std::function<int64_t()>;  // Unix ms (the host's clock)
    TokenClient(const OutlookConfig& config, Clock clock);

    HttpRequest code_redemption(std::string_view code, std::string_view verifier) const;

    HttpRequest refresh_request(std::string_view refresh_token) const override;
    RefreshAnswer read_refresh(const HttpResponse& response, const GrantRecord& grant,
                               int64_t now_unix_ms) const override;
    std::string service_name() const override { return "Microsoft"; }
    std::string not_connected_message() const override;
    std::string permission_denied_message() const override;
    std::string least_privilege_notice(const std::vector<std::string>& extras) const override;

private:
    HttpRequest post(std::vector<std::pair<std::string, std::string_view>> fields) const;

    const OutlookConfig& config_;
    Clock clock_;
    std::unique_ptr<ClientAssertionSigner> signer_;  // certificate credentials only
};

}  // namespace outlook
