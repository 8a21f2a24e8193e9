// The Microsoft identity platform v2.0 protocol pieces (outlook_plugin/docs/microsoft-behaviour.md §1-5, §8) as pure
// functions: the authorization and admin-consent URLs, token response parsing, scope checks,
// and the classification of AAD errors. PKCE, form encoding and callback parsing are the kit's
// (ep_kit/oauth2.hpp), shared with the other providers.
#pragma once

#include "config.hpp"
#include "ep_kit/oauth2.hpp"
#include "ep_kit/secret_string.hpp"
#include "ep_kit/token_protocol.hpp"
#include "uses_kit.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outlook {

// The sign-in URL: response_type=code, response_mode=query, the exact redirect URI,
// scopes "offline_access User.Read Mail.Send" (qualified in national clouds), PKCE S256.
// `claims` (may be empty) is the JSON of a claims challenge (CAE) the sign-in must satisfy.
std::string authorization_url(const OutlookConfig& config, std::string_view state, std::string_view challenge,
                              std::string_view login_hint, std::string_view prompt, std::string_view claims = {});

// The URL an IT administrator opens to approve the app for the whole organisation.
// `tenant` must be a tenant id or domain ("organizations" when unknown; never "common").
std::string admin_consent_url(const OutlookConfig& config, std::string_view tenant);

// The tenant to name in the admin-consent URL: the configured tenant, else the connected
// tenant id, else the domain of the login hint, else "organizations".
std::string admin_consent_tenant(const OutlookConfig& config, std::string_view known_tenant_id,
                                 std::string_view login_hint);

struct TokenSuccess {
    SecretString access_token;
    SecretString refresh_token;  // empty when offline_access was not granted
    int64_t expires_in_s = 0;
    int64_t refresh_in_s = 0;          // 0 when absent
    std::optional<std::string> scope;  // as returned; absent means what was requested
    std::string tenant_id;             // from client_info (utid) when present
    std::string user_object_id;        // from client_info (uid) when present
};

struct AadError {
    std::string error;        // invalid_grant, invalid_client, ...
    std::string suberror;     // bad_token, consent_required, ...
    int code = 0;             // first AADSTS number (error_codes, else from the description)
    std::string description;  // first line of error_description, control characters stripped
    std::string trace_id;
    std::string correlation_id;
};

struct TokenResponse {
    std::optional<TokenSuccess> success;
    std::optional<AadError> error;
    // Neither: no usable answer (network failure, 5xx HTML, malformed JSON); `problem` says why.
    std::string problem;
    int http_status = 0;
};

// Parses a token endpoint answer. Never throws. Wipes nothing: the caller owns `body`.
TokenResponse parse_token_response(int http_status, std::string_view body);

// The AADSTS number in an error description ("AADSTS50173: ..."), or 0.
int aadsts_code(std::string_view description);

// What Microsoft granted, read against what this app needs. Scopes are additive
// (outlook_plugin/docs/microsoft-behaviour.md §9): a token also lists what was consented earlier or by an
// administrator, so extras are reported, never refused. Short and fully-qualified names count alike, in any case; an
// absent `scope` means what was requested; a URL-encoded one is decoded.
struct GrantedScopes {
    std::vector<std::string> missing;  // "User.Read" / "Mail.Send" when not granted
    std::vector<std::string> extras;   // other permissions, short names as Microsoft wrote them, sorted
    std::string scopes;                // the requested permissions granted: "Mail.Send User.Read offline_access"
};
// `offline_access` never appears in `scope`; a refresh token proves it.
GrantedScopes read_granted_scopes(const std::optional<std::string>& scope, bool has_refresh_token);
std::string join(const std::vector<std::string>& words, std::string_view separator);
// Tells the operator that a token carries permissions this app never uses (least privilege).
std::string least_privilege_notice(const std::vector<std::string>& extras);

// An AAD description without its leading "AADSTSnnnnn: ", so that messages which already
// name the code do not repeat it.
std::string without_aadsts_prefix(std::string_view description);

// How a failed token request is handled (ep::kit::GrantFailure): the code is AADSTSnnnnn or the
// OAuth error; temporarily_unavailable is transient.
GrantFailure classify_token_failure(const TokenResponse& response);

}  // namespace outlook
