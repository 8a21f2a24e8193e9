#include "google_oauth.hpp"

#include "ep_kit/ascii.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <initializer_list>
#include <set>

namespace gmail {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

std::string str(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end() || !it->value().is_string()) return {};
    return std::string(it->value().as_string());
}

// Google documents 3600 s access tokens [web-server]; anything beyond a week is a broken answer,
// and bounding it keeps now + lifetime from overflowing.
constexpr int64_t kMaxLifetimeSeconds = 7 * 24 * 3600;
// time-limited access can grant refresh tokens for longer: a year bounds it.
constexpr int64_t kMaxRefreshLifetimeSeconds = 366 * 24 * 3600;

// expires_in is a JSON number (google-auth-library-nodejs's CredentialRequest types it `number`).
// 0 (unusable) for anything that is not a positive number of seconds.
int64_t seconds(const json::object& o, std::string_view key, int64_t max_seconds) {
    auto it = o.find(key);
    if (it == o.end()) return 0;
    const json::value& v = it->value();
    const double value = v.is_int64()    ? static_cast<double>(v.as_int64())
                         : v.is_uint64() ? static_cast<double>(v.as_uint64())
                         : v.is_double() ? v.as_double()
                                         : 0;
    if (!(value > 0)) return 0;  // also NaN
    return static_cast<int64_t>(std::min(value, static_cast<double>(max_seconds)));
}

bool printable(std::string_view s) {
    return ep::sdk::is_valid_utf8(s) &&
           std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
}

bool contains_ignoring_case(std::string_view text, std::string_view part) {
    return ascii_lower(text).find(ascii_lower(part)) != std::string::npos;
}

TokenSuccess read_success(json::object& o, std::string& problem) {
    TokenSuccess s;
    if (!iequals(str(o, "token_type"), "Bearer")) {
        problem = "the token endpoint returned a token type other than Bearer";
        return s;
    }
    s.access_token = SecretString(str(o, "access_token"));
    s.refresh_token = SecretString(str(o, "refresh_token"));
    s.id_token = SecretString(str(o, "id_token"));
    s.expires_in_s = seconds(o, "expires_in", kMaxLifetimeSeconds);
    s.refresh_token_expires_in_s = seconds(o, "refresh_token_expires_in", kMaxRefreshLifetimeSeconds);
    if (auto it = o.find("scope"); it != o.end() && it->value().is_string())
        s.scope = std::string(it->value().as_string());
    if (s.access_token.empty() || s.expires_in_s <= 0) problem = "the token response has no access token or expiry";
    return s;
}

}  // namespace

std::string authorization_url(const GoogleClient& client, const AuthorizationRequest& request) {
    std::string url = client.authorization_endpoint;
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += "response_type=code";
    url += "&client_id=" + percent_encode(client.client_id);
    url += "&redirect_uri=" + percent_encode(client.redirect_uri);
    url += "&scope=" + percent_encode(kRequestedScopes);
    url += "&state=" + percent_encode(request.state);
    url += "&nonce=" + percent_encode(request.nonce);
    url += "&code_challenge=" + percent_encode(request.code_challenge);
    url += "&code_challenge_method=S256";
    url += "&access_type=offline";
    url += "&include_granted_scopes=true";
    if (!request.refresh_token_stored)
        url += "&prompt=consent";
    else if (request.login_hint.empty())
        url += "&prompt=select_account";
    if (!request.login_hint.empty()) url += "&login_hint=" + percent_encode(request.login_hint);
    return url;
}

SecretString code_exchange_body(const GoogleClient& client, std::string_view client_secret, std::string_view code,
                                std::string_view code_verifier) {
    return SecretString(form_encode({{"grant_type", "authorization_code"},
                                     {"code", code},
                                     {"redirect_uri", client.redirect_uri},
                                     {"client_id", client.client_id},
                                     {"client_secret", client_secret},
                                     {"code_verifier", code_verifier}}));
}

SecretString refresh_body(const GoogleClient& client, std::string_view client_secret, std::string_view refresh_token) {
    return SecretString(form_encode({{"grant_type", "refresh_token"},
                                     {"refresh_token", refresh_token},
                                     {"client_id", client.client_id},
                                     {"client_secret", client_secret}}));
}

SecretString revoke_body(std::string_view token) { return SecretString(form_encode({{"token", token}})); }

RevokeResult classify_revoke_response(int http_status, std::string_view body) {
    if (http_status == 200) return RevokeResult::revoked;
    if (http_status != 400) return RevokeResult::not_revoked;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    const bool dead_token = !ec && v.is_object() && str(v.as_object(), "error") == "invalid_token";
    return dead_token ? RevokeResult::revoked : RevokeResult::not_revoked;
}

TokenResponse parse_token_response(int http_status, std::string_view body) {
    TokenResponse r;
    r.http_status = http_status;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        r.automated_queries = http_status == 403 && contains_ignoring_case(body, "automated queries");
        r.problem = r.automated_queries ? "Google's sign-in service refused the request as automated queries"
                    : http_status
                        ? "the token endpoint answered HTTP " + std::to_string(http_status) + " without a JSON body"
                        : "no answer from the token endpoint";
        return r;
    }
    json::object& o = v.as_object();
    if (http_status == 200 && o.contains("access_token")) {
        TokenSuccess s = read_success(o, r.problem);
        if (r.problem.empty()) r.success = std::move(s);
    } else if (o.contains("error") && o.at("error").is_string()) {
        OAuthError e;
        e.error = first_line(str(o, "error"), 100);
        e.error_subtype = first_line(str(o, "error_subtype"), 100);
        e.description = first_line(str(o, "error_description"), 300);
        r.error = std::move(e);
    } else {
        r.problem = "the token endpoint answered HTTP " + std::to_string(http_status) + " with an unexpected body";
    }
    // The parsed copy held the tokens too.
    wipe_strings(v);
    return r;
}

GrantedScopes read_granted_scopes(const std::optional<std::string>& scope) {
    GrantedScopes g;
    bool openid = false, email = false, send = false;
    std::set<std::string> extras;
    std::string_view text = scope ? std::string_view(*scope) : std::string_view();
    while (!text.empty()) {
        const std::size_t end = std::min(text.find(' '), text.size());
        const std::string_view name = text.substr(0, end);
        text.remove_prefix(std::min(end + 1, text.size()));
        if (name.empty()) continue;
        if (name == kGmailSendScope)
            send = true;
        else if (name == "email" || name == "https://www.googleapis.com/auth/userinfo.email")
            email = true;
        else if (name == "openid")
            openid = true;
        else if (printable(name))
            extras.emplace(name);
    }
    g.extras.assign(extras.begin(), extras.end());
    if (!send) g.missing.emplace_back(kGmailSendScope);
    if (!email) g.missing.emplace_back("email");
    std::vector<std::string> granted;
    if (openid) granted.emplace_back("openid");
    if (email) granted.emplace_back("email");
    if (send) granted.emplace_back(kGmailSendScope);
    for (const std::string& name : granted) g.scopes += (g.scopes.empty() ? "" : " ") + name;
    return g;
}

std::string missing_permission_message(const GrantedScopes& granted) {
    const bool send =
        std::find(granted.missing.begin(), granted.missing.end(), kGmailSendScope) != granted.missing.end();
    const bool email = std::find(granted.missing.begin(), granted.missing.end(), "email") != granted.missing.end();
    if (!send && !email) return {};
    std::string what = send && email ? "to send email on your behalf and to see your email address"
                       : send        ? "to send email on your behalf (\"Send email on your behalf\")"
                                     : "to see your email address";
    const char* boxes = send && email ? "their boxes were" : "its box was";
    return "Google did not give this app permission " + what + ": " + boxes +
           " not ticked on Google's consent screen. Nothing was stored. Connect again and tick " +
           (send && email ? "both boxes." : "the box.");
}

AuthorizationCallback read_authorization_callback(std::string_view callback_json, std::string_view expected_issuer) {
    auto invalid = [](const std::string& field, const std::string& what) {
        return Error(EP_ERR_INVALID_ARGUMENT, "invalid_callback", field + " " + what, field);
    };
    std::map<std::string, std::string> params = parse_callback(callback_json);
    // The code is a credential: out of the map at once (the SecretString wipes the string it takes).
    SecretString code;
    if (auto it = params.find("code"); it != params.end()) code = SecretString(std::move(it->second));
    auto take = [&params](const char* key) -> std::optional<std::string> {
        auto it = params.find(key);
        if (it == params.end()) return std::nullopt;
        return it->second;
    };
    if (auto iss = take("iss"); iss && *iss != expected_issuer)
        throw invalid("callback.iss", "is not the expected issuer " + std::string(expected_issuer) +
                                          " (RFC 9207: the answer may come from another authorization server)");
    AuthorizationCallback cb;
    cb.state = take("state").value_or("");
    if (cb.state.empty()) throw invalid("callback.state", "is missing");
    cb.scope = take("scope");
    cb.hosted_domain = take("hd").value_or("");
    if (auto error = take("error")) {
        cb.error = first_line(*error, 100);
        if (cb.error.empty()) throw invalid("callback.error", "is empty");
        return cb;
    }
    if (code.empty()) throw invalid("callback", "has neither a code nor an error");
    if (code.view().find('%') != std::string_view::npos || !printable(code.view()))
        throw invalid("callback.code", "is not a Google authorization code (percent-encoded twice?)");
    cb.code = std::move(code);
    return cb;
}

namespace {

GrantFailure failure(GrantFailureKind kind, std::string reason, std::string message, std::string code,
                     std::string connect_outcome) {
    return GrantFailure{{kind, std::move(reason), std::move(message), std::move(code)}, std::move(connect_outcome)};
}

GrantFailure transient(std::string message, std::string code) {
    return failure(GrantFailureKind::transient, "", std::move(message), std::move(code), "temporarily_unavailable");
}

GrantFailure operator_error(std::string message, std::string code) {
    return failure(GrantFailureKind::operator_error, "", std::move(message), std::move(code), "configuration_error");
}

constexpr int64_t kDay = 24 * 3600;

// "Token has been expired or revoked." is all Google says for most dead refresh tokens
// (dolfim/django-gmailapi-backend#9); [oauth2] lists the causes. What the plugin knows of the
// grant makes one of them likely; otherwise every cause is named, none is guessed.
GrantFailure expired_or_revoked(const GrantHistory& history, const std::string& code) {
    // External apps in "Testing" get refresh tokens that expire 7 days after consent [oauth2]
    // (https://support.google.com/cloud/answer/15549945).
    if (history.app_in_testing && history.grant_age_s >= 7 * kDay)
        return failure(GrantFailureKind::dead_grant, "app_in_testing",
                       "Google ended this connection 7 days after you connected, as it does for every app still in "
                       "\"Testing\" status. Connect again; the administrator of this app can end the weekly "
                       "reconnection by publishing the app (\"In production\") in the Google Cloud console.",
                       code, "failed");
    // A refresh token unused for six months stops working [oauth2].
    if (history.idle_s >= 182 * kDay)
        return failure(GrantFailureKind::dead_grant, "inactivity",
                       "The connection was not used for 6 months, so Google ended it. Connect again.", code, "failed");
    return failure(GrantFailureKind::dead_grant, "grant_invalid",
                   "Google no longer accepts this connection and says only that it \"has been expired or revoked\". "
                   "The usual causes: you removed this app's access in your Google Account; your Google password "
                   "was changed; the connection was not used for 6 months; the app is still in \"Testing\" at "
                   "Google, where connections end after 7 days; or this Google account connected this app more "
                   "than 100 times and Google silently ended the oldest connection. Connect again.",
                   code, "failed");
}

GrantFailure classify_code_refusal(const OAuthError& e, const std::string& code) {
    // "Missing code verifier." / "Invalid code verifier." (onaio/onadata#3068,
    // googleapis/google-api-java-client#1479): the plugin sent the wrong verifier, a bug.
    if (contains_ignoring_case(e.description, "code verifier"))
        return operator_error("Google refused the PKCE code verifier (" + e.description +
                                  "): the sign-in and the token request do not match, a bug in this integration.",
                              code);
    // googleworkspace/go-samples#85, bitly/oauth2_proxy#368.
    if (contains_ignoring_case(e.description, "already redeemed"))
        return failure(GrantFailureKind::dead_grant, "", "This sign-in was already completed once. Connect again.",
                       code, "code_redeemed");
    return failure(GrantFailureKind::dead_grant, "",
                   "Google did not accept the sign-in code (" + (e.description.empty() ? code : e.description) +
                       "). Connect again.",
                   code, "failed");
}

GrantFailure classify_invalid_grant(const OAuthError& e, TokenStep step, const GrantHistory& history,
                                    const std::string& code) {
    if (step == TokenStep::code_exchange) return classify_code_refusal(e, code);
    // A Workspace reauthentication policy: "reauth related error (invalid_rapt)"
    // (google-auth-library-python google/oauth2/reauth.py and _client.py).
    if (equals_any(e.error_subtype, {"invalid_rapt", "rapt_required"}) ||
        contains_ignoring_case(e.description, "invalid_rapt"))
        return failure(GrantFailureKind::dead_grant, "signin_frequency",
                       "Your organisation's Google Workspace requires you to sign in again periodically. Connect "
                       "again.",
                       code, "failed");
    return expired_or_revoked(history, code);
}

// Workspace policies ([oauth2]; https://support.google.com/cloud/answer/15549945): for IT, not the user.
std::optional<GrantFailure> classify_policy(const OAuthError& e, const std::string& code) {
    if (e.error == "admin_policy_enforced")
        return failure(GrantFailureKind::interaction, "policy",
                       "Your Google Workspace administrator does not allow this app to use your account. Ask your IT "
                       "administrator to trust this app (Google Admin console, API controls), then connect again.",
                       code, "blocked_by_policy");
    if (e.error == "org_internal")
        return failure(GrantFailureKind::interaction, "policy",
                       "This app is limited to the users of its own Google Workspace organisation (\"Internal\"), and "
                       "your account is not one of them. Its administrator must make it \"External\" for you to "
                       "connect.",
                       code, "blocked_by_policy");
    return std::nullopt;
}

// The OAuth client (its id, secret, redirect URI or scopes) is wrong: the operator's to fix
// ([web-server]; simonrob/email-oauth2-proxy#362, xyou365/AutoRclone#98, googleads/googleads-php-lib#367).
std::optional<GrantFailure> classify_client_error(const OAuthError& e, const std::string& code) {
    const char* what = e.error == "invalid_client"   ? "the OAuth client id or secret is wrong"
                       : e.error == "deleted_client" ? "the OAuth client was deleted in the Google Cloud console"
                       : e.error == "unauthorized_client"
                           ? "the OAuth client is not allowed this grant (it must be a \"Web application\" client)"
                       : e.error == "invalid_scope" ? "a requested scope is not valid for this OAuth client"
                       : e.error == "redirect_uri_mismatch"
                           ? "the redirect URI is not one of the OAuth client's authorized redirect URIs"
                       : e.error == "invalid_request" ? "the token request is malformed"
                                                      : nullptr;
    if (what == nullptr) return std::nullopt;
    return operator_error("Google refused this app's OAuth client (" + code + "): " + what +
                              (e.description.empty() ? "." : " (Google said: " + e.description + ")."),
                          code);
}

}  // namespace

GrantFailure classify_token_failure(const TokenResponse& r, TokenStep step, const GrantHistory& history) {
    const int status = r.http_status;
    if (!r.error) {
        std::string code = status ? "http_" + std::to_string(status) : "network";
        if (r.automated_queries)
            return transient("Google is limiting sign-in requests from this server (\"automated queries\"); will retry",
                             code);
        return transient("Google's sign-in service gave no usable answer (" + r.problem + "); will retry", code);
    }
    const OAuthError& e = *r.error;
    // google-auth-library-python _client.py _can_retry: these statuses and errors are worth a retry.
    if (status >= 500 || status == 408 || status == 429 ||
        equals_any(e.error, {"internal_failure", "server_error", "temporarily_unavailable"}))
        return transient("Google's sign-in service is temporarily unavailable; will retry", e.error);
    if (e.error == "invalid_grant") return classify_invalid_grant(e, step, history, e.error);
    if (auto policy = classify_policy(e, e.error)) return *policy;
    if (auto client = classify_client_error(e, e.error)) return *client;
    return operator_error(
        "Google refused the token request (" + e.error + (e.description.empty() ? ")." : ": " + e.description + ")."),
        e.error);
}

CallbackFailure classify_callback_error(std::string_view error) {
    // The user pressed Cancel or Deny [web-server] (mozilla/persona-gmail-bridge#127).
    if (error == "access_denied")
        return {"declined", "You did not allow this app to use your Google account. Connect again and allow it."};
    OAuthError e{std::string(error), "", ""};
    if (auto policy = classify_policy(e, e.error)) return {policy->connect_outcome, policy->message};
    if (auto client = classify_client_error(e, e.error)) return {client->connect_outcome, client->message};
    return {"failed", "Google did not complete the sign-in (" + first_line(error, 100) + "). Connect again."};
}

}  // namespace gmail
