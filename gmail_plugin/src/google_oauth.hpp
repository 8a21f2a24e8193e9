// Google's OAuth 2.0 for web-server applications, as pure functions: the authorization URL, the
// token request bodies, the token response, the granted scopes, the redirect back and the
// classification of token failures. Sources: https://developers.google.com/identity/protocols/oauth2/web-server
// (below "[web-server]"), https://developers.google.com/identity/protocols/oauth2 ("[oauth2]"),
// https://developers.google.com/identity/openid-connect/openid-connect and Google's own client
// libraries (googleapis/google-auth-library-nodejs src/auth/oauth2client.ts, googleapis/google-auth-library-python
// google/oauth2/_client.py and reauth.py). The generic pieces (PKCE, form encoding, ep.callback/1) are the kit's.
#pragma once

#include "ep_kit/oauth2.hpp"
#include "ep_kit/secret_string.hpp"
#include "ep_kit/token_protocol.hpp"
#include "uses_kit.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gmail {

// The one permission this app needs beyond sign-in (a "sensitive", not a "restricted", scope:
// https://developers.google.com/workspace/gmail/api/auth/scopes).
inline constexpr std::string_view kGmailSendScope = "https://www.googleapis.com/auth/gmail.send";
// Sign-in (openid email) plus sending, and nothing more.
inline constexpr std::string_view kRequestedScopes = "openid email https://www.googleapis.com/auth/gmail.send";
// Google's issuer, from its discovery document (https://accounts.google.com/.well-known/openid-configuration).
inline constexpr std::string_view kGoogleIssuer = "https://accounts.google.com";

// Where people see and remove the apps that have access to their Google Account
// (https://support.google.com/accounts/answer/13533235).
inline constexpr std::string_view kGoogleConnectionsUrl = "https://myaccount.google.com/connections";

// Where Google (or a stand-in for it) is, and who this app is to it. The defaults are Google's
// endpoints from its discovery document.
struct GoogleClient {
    std::string authorization_endpoint = "https://accounts.google.com/o/oauth2/v2/auth";
    std::string token_endpoint = "https://oauth2.googleapis.com/token";
    std::string revoke_endpoint = "https://oauth2.googleapis.com/revoke";
    std::string issuer = std::string(kGoogleIssuer);
    std::string client_id;
    std::string redirect_uri;  // exactly as registered: scheme, case and trailing slash count [web-server]
};

struct AuthorizationRequest {
    std::string_view state;           // single use; compared when Google redirects back
    std::string_view nonce;           // echoed in the ID token
    std::string_view code_challenge;  // PKCE S256 (ep::kit::make_pkce)
    std::string_view login_hint;      // may be empty
    // Google returns a refresh token only at the first offline exchange, or when the user
    // consents again [web-server]: without a stored one we must ask for consent. With one we
    // must not: each forced consent adds a refresh token toward the 100 per account and client,
    // and the 101st silently revokes the oldest [oauth2].
    bool refresh_token_stored = false;
};

// The sign-in URL: response_type=code, the exact redirect URI, the three scopes, PKCE S256,
// state, nonce, access_type=offline, include_granted_scopes=true, login_hint when given, and
// prompt=consent (no refresh token stored), else prompt=select_account (no login hint), else no prompt.
std::string authorization_url(const GoogleClient& client, const AuthorizationRequest& request);

// The token request bodies (application/x-www-form-urlencoded, client_secret_post: the secret
// in the body, google-auth-library-nodejs's default). Secrets inside, so SecretString.
SecretString code_exchange_body(const GoogleClient& client, std::string_view client_secret, std::string_view code,
                                std::string_view code_verifier);
SecretString refresh_body(const GoogleClient& client, std::string_view client_secret, std::string_view refresh_token);
// POST to revoke_endpoint: revoking any token removes every grant of the user to this project [web-server].
// The token rides in the form body (RFC 7009 §2.1), which Google accepts as well as the query
// its samples show: a query string ends up in access logs.
SecretString revoke_body(std::string_view token);

enum class RevokeResult {
    // 200; or 400 invalid_token, the token already dead (googleapis/google-api-ruby-client#796):
    // nothing left to revoke.
    revoked,
    // No answer, 429, 5xx, or any other error: the grant may still be alive at Google [web-server].
    not_revoked,
};
RevokeResult classify_revoke_response(int http_status, std::string_view body);

struct TokenSuccess {
    SecretString access_token;
    SecretString refresh_token;  // absent on most refreshes: keep the stored one [web-server]
    SecretString id_token;       // present with the openid scope
    int64_t expires_in_s = 0;
    int64_t refresh_token_expires_in_s = 0;  // only for time-limited access; 0 when absent
    std::optional<std::string> scope;        // the granted scopes, space-delimited
};

// {"error":"invalid_grant","error_description":"Token has been expired or revoked."}, plus
// "error_subtype" ("invalid_rapt") on reauthentication answers (google-auth-library-python reauth.py).
struct OAuthError {
    std::string error;
    std::string error_subtype;
    std::string description;  // first line, printable, at most 300 bytes
};

struct TokenResponse {
    std::optional<TokenSuccess> success;
    std::optional<OAuthError> error;
    // Neither: no usable answer (network failure, HTML, malformed JSON); `problem` says why.
    std::string problem;
    int http_status = 0;
    // Google's HTML 403 "...your computer or network may be sending automated queries..." page
    // (googleapis/google-oauth-java-client#57): rate limiting, not a refusal.
    bool automated_queries = false;
};

// Parses a token endpoint answer. Never throws. Wipes nothing of `body`: the caller owns it.
TokenResponse parse_token_response(int http_status, std::string_view body);

// What Google granted, read against what this app needs. With granular consent the user can
// untick gmail.send (https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions),
// so it is a set test, never an equality. `email` comes back as .../auth/userinfo.email; both count.
// Extras (earlier grants joined by include_granted_scopes) are recorded, never refused.
// An absent scope proves nothing, so it grants nothing.
struct GrantedScopes {
    std::vector<std::string> missing;  // "https://www.googleapis.com/auth/gmail.send" and/or "email"
    std::vector<std::string> extras;   // other scopes as Google wrote them, sorted, once each
    std::string scopes;                // the requested scopes granted, space-delimited, in request order
    bool can_send() const { return missing.empty(); }
};
GrantedScopes read_granted_scopes(const std::optional<std::string>& scope);
// For the user, when a permission is missing: which one, and that connecting again with its box ticked fixes it.
std::string missing_permission_message(const GrantedScopes& granted);

// What came back to the redirect URI. Either a code or an error.
struct AuthorizationCallback {
    std::string state;
    SecretString code;                 // decoded once: "4/0A..." ("4%2F0A..." on the wire)
    std::string error;                 // "access_denied", ...; empty on success
    std::optional<std::string> scope;  // the granted scopes, when Google lists them
    std::string hosted_domain;         // "hd": Workspace users only
};
// Reads an ep.callback/1 document. Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_callback")
// naming the field: no state; neither code nor error; a code still percent-encoded (encoded
// twice: Google answers "Malformed auth code.", google/device-access-sample-web-app#5); an `iss`
// other than `expected_issuer` (RFC 9207 §2.4: a mix-up attack).
AuthorizationCallback read_authorization_callback(std::string_view callback_json, std::string_view expected_issuer);

enum class TokenStep { code_exchange, refresh };

// What the plugin knows about the grant, to say which of Google's undistinguished causes of
// "Token has been expired or revoked." is likely. Unknown values are -1.
struct GrantHistory {
    bool app_in_testing = false;  // the consent screen's publishing status is "Testing"
    int64_t grant_age_s = -1;     // since the user consented
    int64_t idle_s = -1;          // since the refresh token was last used successfully
};

// How a failed token request should be handled (ep::kit::GrantFailure, as for every provider),
// and what a connect reports when it happened while redeeming a code.
struct GrantFailure : ep::kit::GrantFailure {
    std::string connect_outcome;  // the ep.connect_result/1 outcome
};
GrantFailure classify_token_failure(const TokenResponse& response, TokenStep step, const GrantHistory& history = {});

// An `error` on the redirect (or shown on Google's page, which the plugin only learns of when
// the user reports it): the ep.connect_result/1 outcome and a message.
struct CallbackFailure {
    std::string outcome;  // declined, blocked_by_policy, configuration_error, failed
    std::string message;
};
CallbackFailure classify_callback_error(std::string_view error);

}  // namespace gmail
