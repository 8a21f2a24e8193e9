#include "google_tokens.hpp"

#include <boost/algorithm/string/join.hpp>

#include <algorithm>

namespace gmail {

HttpRequest GoogleTokens::form_post(std::string url, SecretString body) const {
    HttpRequest r;
    r.method = "POST";
    r.url = std::move(url);
    r.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
    r.body = std::move(body);
    r.wanted_headers = {"retry-after"};
    r.connect_timeout_ms = settings_.connect_timeout_ms;
    r.timeout_ms = settings_.request_timeout_ms;
    return r;
}

HttpRequest GoogleTokens::refresh_request(std::string_view refresh_token) const {
    return form_post(settings_.client.token_endpoint,
                     refresh_body(settings_.client, settings_.client_secret.view(), refresh_token));
}

HttpRequest GoogleTokens::code_exchange_request(std::string_view code, std::string_view code_verifier) const {
    return form_post(settings_.client.token_endpoint,
                     code_exchange_body(settings_.client, settings_.client_secret.view(), code, code_verifier));
}

HttpRequest GoogleTokens::revoke_request(std::string_view token) const {
    return form_post(settings_.client.revoke_endpoint, revoke_body(token));
}

RefreshAnswer GoogleTokens::read_refresh(const HttpResponse& response, const GrantRecord& grant,
                                         int64_t now_unix_ms) const {
    TokenResponse parsed = response.failure == TransferFailure::none
                               ? parse_token_response(response.status, response.body.view())
                               : TokenResponse{};
    if (response.failure != TransferFailure::none) parsed.problem = response.error;
    RefreshAnswer answer;
    if (!parsed.success) {
        // What the grant's age tells about Google's one text for every dead refresh token.
        GrantHistory history;
        history.app_in_testing = settings_.app_in_testing;
        if (grant.connected_at_ms > 0) history.grant_age_s = (now_unix_ms - grant.connected_at_ms) / 1000;
        const int64_t last_use = std::max(grant.last_refresh_ms, grant.connected_at_ms);
        if (last_use > 0) history.idle_s = (now_unix_ms - last_use) / 1000;
        answer.failure = classify_token_failure(parsed, TokenStep::refresh, history);
        return answer;
    }
    TokenSuccess& s = *parsed.success;
    answer.tokens = RefreshAnswer::Tokens{std::move(s.access_token), std::move(s.refresh_token), s.expires_in_s, 0};
    if (!s.scope) {
        // Nothing said about the grant: it is what it was.
        answer.scopes = grant.scopes;
        answer.extras = grant.extra_scopes;
        return answer;
    }
    GrantedScopes granted = read_granted_scopes(s.scope);
    // Only sending matters once connected: the address was read at sign-in.
    if (std::find(granted.missing.begin(), granted.missing.end(), kGmailSendScope) != granted.missing.end())
        answer.missing.emplace_back(kGmailSendScope);
    answer.extras = std::move(granted.extras);
    answer.scopes = std::move(granted.scopes);
    return answer;
}

std::string GoogleTokens::permission_denied_message() const {
    return "Google no longer lets this app send email from your Gmail account: the permission was removed, in your "
           "Google Account's third-party access or by your Workspace administrator. Connect again and tick \"Send "
           "email on your behalf\"; if Google does not offer that box, ask your IT administrator. Nudges are kept "
           "until then.";
}

std::string GoogleTokens::least_privilege_notice(const std::vector<std::string>& extras) const {
    return "Google's token also carries permissions this app never uses (" + boost::algorithm::join(extras, ", ") +
           "), granted to this OAuth client earlier and joined by include_granted_scopes; nothing uses them. To drop "
           "them, the user removes the app's access in their Google Account and connects again.";
}

}  // namespace gmail
