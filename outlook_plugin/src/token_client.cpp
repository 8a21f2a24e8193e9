#include "token_client.hpp"

#include "ep_kit/encoding.hpp"
#include "graph_mail.hpp"
#include "oauth.hpp"
#include "uses_kit.hpp"

namespace outlook {

TokenClient::TokenClient(const OutlookConfig& config, Clock clock) : config_(config), clock_(std::move(clock)) {
    if (config.credential.type == CredentialType::certificate)
        signer_ = std::make_unique<ClientAssertionSigner>(config.credential.certificate_pem,
                                                          config.credential.private_key_pem.view(),
                                                          config.credential.algorithm, "client_credential");
}

HttpRequest TokenClient::post(std::vector<std::pair<std::string, std::string_view>> fields) const {
    // Built once here; the signed assertion lives only inside the wiped request body.
    SecretString assertion;
    const std::string scopes = config_.requested_scopes();
    fields.emplace_back("client_id", config_.client_id);
    fields.emplace_back("scope", scopes);
    fields.emplace_back("client_info", "1");  // MSAL's extension: tells us the user's tenant
    switch (config_.credential.type) {
        case CredentialType::none:
            break;
        case CredentialType::secret:
            fields.emplace_back("client_secret", config_.credential.secret.view());
            break;
        case CredentialType::certificate:
            assertion = SecretString(signer_->sign(config_.client_id, config_.token_endpoint(), clock_()));
            fields.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            fields.emplace_back("client_assertion", assertion.view());
            break;
    }
    HttpRequest r;
    r.method = "POST";
    r.url = config_.token_endpoint();
    r.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
                 "client-request-id: " + random_uuid(), "return-client-request-id: true"};
    r.body = SecretString(form_encode(fields));
    r.wanted_headers = {"retry-after"};
    r.connect_timeout_ms = config_.connect_timeout_ms;
    r.timeout_ms = config_.request_timeout_ms;
    return r;
}

HttpRequest TokenClient::code_redemption(std::string_view code, std::string_view verifier) const {
    return post({{"grant_type", "authorization_code"},
                 {"code", code},
                 {"redirect_uri", config_.redirect_uri},
                 {"code_verifier", verifier}});
}

HttpRequest TokenClient::refresh_request(std::string_view refresh_token) const {
    return post({{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}});
}

RefreshAnswer TokenClient::read_refresh(const HttpResponse& response, const GrantRecord&, int64_t) const {
    TokenResponse parsed = response.failure == TransferFailure::none
                               ? parse_token_response(response.status, response.body.view())
                               : TokenResponse{};
    if (response.failure != TransferFailure::none) parsed.problem = response.error;
    RefreshAnswer answer;
    if (!parsed.success) {
        answer.failure = classify_token_failure(parsed);
        return answer;
    }
    TokenSuccess& s = *parsed.success;
    // A refreshed token without Mail.Send or User.Read: an administrator removed the permission
    // (outlook_plugin/docs/microsoft-behaviour.md §9).
    GrantedScopes granted = read_granted_scopes(s.scope, true);
    answer.tokens =
        RefreshAnswer::Tokens{std::move(s.access_token), std::move(s.refresh_token), s.expires_in_s, s.refresh_in_s};
    answer.missing = std::move(granted.missing);
    answer.extras = std::move(granted.extras);
    answer.scopes = std::move(granted.scopes);
    return answer;
}

std::string TokenClient::not_connected_message() const { return "This account has not connected Microsoft Outlook."; }

std::string TokenClient::permission_denied_message() const { return std::string(kPermissionDeniedMessage); }

std::string TokenClient::least_privilege_notice(const std::vector<std::string>& extras) const {
    return outlook::least_privilege_notice(extras);
}

}  // namespace outlook
