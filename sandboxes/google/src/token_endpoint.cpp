// Discovery, the certificate sets, /token, /revoke and /v1/userinfo.
// Facts: discovery document as snapshotted in panva/wellknown issuers/google; token and revoke
// https://developers.google.com/identity/protocols/oauth2/web-server; ID token claims
// https://developers.google.com/identity/openid-connect/openid-connect.
#include "service.hpp"

#include <sandbox/crypto.hpp>

#include <boost/json.hpp>

#include <algorithm>

namespace google_sandbox::detail {

namespace json = boost::json;

namespace {

// {"error": code, "error_description": text}, Google's OAuth error shape.
HttpResponse oauth_error(int status, const std::string& code, const std::string& description) {
    return json_response(status, json::object{{"error", code}, {"error_description", description}});
}

std::string b64url_json(const json::object& o) { return sandbox::base64url_encode(json::serialize(o)); }

}  // namespace

HttpResponse handle_discovery(Service& svc) {
    const std::string& base = svc.base_url();
    json::object d;
    d["issuer"] = svc.state.scenario.settings.issuer;
    d["authorization_endpoint"] = base + "/o/oauth2/v2/auth";
    d["token_endpoint"] = base + "/token";
    d["userinfo_endpoint"] = base + "/v1/userinfo";
    d["revocation_endpoint"] = base + "/revoke";
    d["jwks_uri"] = base + "/oauth2/v3/certs";
    d["response_types_supported"] = json::array{
        "code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"};
    d["subject_types_supported"] = json::array{"public"};
    d["id_token_signing_alg_values_supported"] = json::array{"RS256"};
    d["scopes_supported"] = json::array{"openid", "email", "profile"};
    d["token_endpoint_auth_methods_supported"] = json::array{"client_secret_post", "client_secret_basic"};
    d["claims_supported"] = json::array{"aud", "email", "email_verified", "exp",     "family_name", "given_name",
                                        "iat", "iss",   "name",           "picture", "sub"};
    d["code_challenge_methods_supported"] = json::array{"plain", "S256"};
    d["grant_types_supported"] =
        json::array{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer"};
    // RFC 9207: the redirect carries "iss" (https://developers.google.com/identity/openid-connect/reference).
    d["authorization_response_iss_parameter_supported"] = true;
    HttpResponse r = json_response(200, d);
    r.set_header("Cache-Control", "public, max-age=3600");
    return r;
}

// v3: a JWK set; v1: {kid: PEM certificate}, which google-auth-library-nodejs's
// verifyIdToken fetches in Node (src/auth/oauth2client.ts, getFederatedSignonCertsAsync).
HttpResponse handle_certs(Service& svc, bool pem) {
    json::object body;
    if (pem) {
        body[svc.kid] = svc.signing_key.certificate_pem();
    } else {
        json::object key{{"kid", svc.kid}, {"e", svc.signing_key.exponent_b64url()}, {"alg", "RS256"}, {"use", "sig"},
                         {"kty", "RSA"},   {"n", svc.signing_key.modulus_b64url()}};
        body["keys"] = json::array{key};
    }
    HttpResponse r = json_response(200, body);
    // The libraries cache the keys for max-age (google-auth-library-nodejs, getFederatedSignonCertsAsync).
    r.set_header("Cache-Control", "public, max-age=21600, must-revalidate, no-transform");
    return r;
}

namespace {

struct ClientAuth {
    const Client* client = nullptr;
    std::optional<HttpResponse> refusal;
};

// client_secret_post or client_secret_basic (discovery's token_endpoint_auth_methods_supported).
ClientAuth authenticate(Service& svc, const HttpRequest& request, const Params& form) {
    std::string id = sandbox::param(form, "client_id").value_or("");
    std::optional<std::string> secret = sandbox::param(form, "client_secret");
    const std::string_view auth = request.header("authorization");
    if (auth.substr(0, 6) == "Basic ") {
        const auto decoded = sandbox::base64_decode(auth.substr(6)).value_or("");
        const auto colon = decoded.find(':');
        if (colon == std::string::npos) return {nullptr, oauth_error(401, "invalid_client", "Unauthorized")};
        id = decoded.substr(0, colon);
        secret = decoded.substr(colon + 1);
    }
    ClientAuth out;
    // simonrob/email-oauth2-proxy#362 (not found), xyou365/AutoRclone#98 (deleted),
    // adrielcafe/AndroidOAuth#2 (a wrong secret: "Unauthorized").
    out.client = svc.state.scenario.client(id);
    if (!out.client)
        out.refusal = oauth_error(401, "invalid_client", "The OAuth client was not found.");
    else if (out.client->deleted)
        out.refusal = oauth_error(401, "deleted_client", "The OAuth client was deleted.");
    else if (!secret || *secret != out.client->secret)
        out.refusal = oauth_error(401, "invalid_client", "Unauthorized");
    return out;
}

std::string mint_access_token(Service& svc, const std::string& client_id, const std::string& email,
                              const ScopeList& scopes, const std::string& refresh_token) {
    auto& st = svc.state;
    const auto& settings = st.scenario.settings;
    std::string token = "ya29." + sandbox::random_urlsafe(settings.access_token_length - 5);
    st.access_tokens[token] =
        AccessToken{client_id, email, refresh_token, scopes, svc.now() + settings.access_token_lifetime_seconds, false};
    sandbox::record_issued_secret(token);
    return token;
}

// A new refresh token; past the per-client limit the oldest live one is silently revoked
// (https://developers.google.com/identity/protocols/oauth2, "Refresh token expiration").
std::string mint_refresh_token(Service& svc, const std::string& client_id, const std::string& email,
                               const ScopeList& scopes) {
    auto& st = svc.state;
    std::string token = "1//0" + sandbox::random_urlsafe(st.scenario.settings.refresh_token_length - 4);
    st.refresh_tokens[token] = RefreshToken{client_id, email, scopes, svc.now(), svc.now(), st.next_serial++, {}};
    sandbox::record_issued_secret(token);
    std::vector<RefreshToken*> live;
    for (auto& [_, rt] : st.refresh_tokens)
        if (rt.client_id == client_id && rt.email == email && !rt.dead) live.push_back(&rt);
    while (static_cast<int>(live.size()) > st.scenario.settings.max_refresh_tokens_per_client) {
        auto oldest =
            std::min_element(live.begin(), live.end(), [](auto* a, auto* b) { return a->serial < b->serial; });
        (*oldest)->dead = DeadCause::token_limit;
        live.erase(oldest);
    }
    return token;
}

std::string id_token(Service& svc, const Client& client, const Account& account, const ScopeList& scopes,
                     const std::string& nonce, const std::string& access_token) {
    if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) return {};
    const std::int64_t now = svc.now();
    json::object c;
    c["iss"] = svc.state.scenario.settings.issuer;
    c["azp"] = client.client_id;
    c["aud"] = client.client_id;
    c["sub"] = account.sub;
    if (account.hd) c["hd"] = *account.hd;
    c["email"] = account.email;
    c["email_verified"] = true;
    const std::string digest = sandbox::sha256(access_token);
    c["at_hash"] = sandbox::base64url_encode(digest.substr(0, digest.size() / 2));
    if (!nonce.empty()) c["nonce"] = nonce;
    c["iat"] = now;
    c["exp"] = now + 3600;
    const std::string input = b64url_json({{"alg", "RS256"}, {"kid", svc.kid}, {"typ", "JWT"}}) + "." + b64url_json(c);
    std::string token = input + "." + sandbox::base64url_encode(svc.signing_key.sign_rs256(input));
    sandbox::record_issued_secret(token);
    return token;
}

json::object token_answer(Service& svc, const Client& client, const Account& account, const ScopeList& scopes,
                          const std::string& refresh_token, bool include_refresh_token, const std::string& nonce) {
    const std::string at = mint_access_token(svc, client.client_id, account.email, scopes, refresh_token);
    json::object o;
    o["access_token"] = at;
    o["expires_in"] = svc.state.scenario.settings.access_token_lifetime_seconds;
    if (include_refresh_token) o["refresh_token"] = refresh_token;
    o["scope"] = join_scopes(scopes);
    o["token_type"] = "Bearer";
    if (auto idt = id_token(svc, client, account, scopes, nonce, at); !idt.empty()) o["id_token"] = idt;
    return o;
}

HttpResponse code_grant(Service& svc, const Client& client, const Params& form) {
    auto& st = svc.state;
    const auto code = sandbox::param(form, "code");
    if (!code) return oauth_error(400, "invalid_request", "Missing required parameter: code");
    auto it = st.codes.find(*code);
    // googleworkspace/go-samples#85 (malformed), bitly/oauth2_proxy#368 (already redeemed).
    if (it == st.codes.end()) return oauth_error(400, "invalid_grant", "Malformed auth code.");
    AuthCode& rec = it->second;
    if (rec.redeemed) return oauth_error(400, "invalid_grant", "Code was already redeemed.");
    if (rec.client_id != client.client_id ||
        svc.now() > rec.issued + st.scenario.settings.authorization_code_lifetime_seconds)
        return oauth_error(400, "invalid_grant", "Bad Request");  // googleapis/signet#123
    if (sandbox::param(form, "redirect_uri").value_or("") != rec.redirect_uri)
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request");
    if (!rec.code_challenge.empty()) {
        // onaio/onadata#3068 (missing), googleapis/google-api-java-client#1479 (invalid).
        const auto verifier = sandbox::param(form, "code_verifier");
        if (!verifier) return oauth_error(400, "invalid_grant", "Missing code verifier.");
        const std::string derived =
            rec.code_challenge_method == "S256" ? sandbox::base64url_encode(sandbox::sha256(*verifier)) : *verifier;
        if (derived != rec.code_challenge) return oauth_error(400, "invalid_grant", "Invalid code verifier.");
    }
    rec.redeemed = true;
    const Account& account = *st.scenario.account(rec.email);
    // A refresh token comes with the first offline exchange, and again with prompt=consent
    // (https://developers.google.com/identity/protocols/oauth2/web-server, "access_type").
    const bool holds_one = std::any_of(st.refresh_tokens.begin(), st.refresh_tokens.end(), [&](const auto& kv) {
        return kv.second.client_id == client.client_id && kv.second.email == rec.email && !kv.second.dead;
    });
    const bool new_refresh_token = rec.offline && (!holds_one || rec.consent_prompted);
    const std::string rt = new_refresh_token ? mint_refresh_token(svc, client.client_id, rec.email, rec.scopes) : "";
    return json_response(200, token_answer(svc, client, account, rec.scopes, rt, new_refresh_token, rec.nonce));
}

// Marks the token dead when time has ended it: 7 days in Testing status for anything beyond
// name, email and profile, or six months unused (https://developers.google.com/identity/protocols/oauth2).
void apply_time_limits(Service& svc, const Client& client, RefreshToken& rt) {
    const auto& settings = svc.state.scenario.settings;
    const bool beyond_sign_in =
        std::any_of(rt.scopes.begin(), rt.scopes.end(), [](const auto& s) { return !is_sign_in_scope(s); });
    if (client.testing && beyond_sign_in && svc.now() > rt.issued + settings.testing_refresh_token_seconds)
        rt.dead = DeadCause::testing_expiry;
    else if (svc.now() > rt.last_used + settings.refresh_token_unused_seconds)
        rt.dead = DeadCause::unused_six_months;
}

HttpResponse refresh_grant(Service& svc, const Client& client, const Params& form) {
    auto& st = svc.state;
    const auto token = sandbox::param(form, "refresh_token");
    if (!token) return oauth_error(400, "invalid_request", "Missing required parameter: refresh_token");
    auto it = st.refresh_tokens.find(*token);
    if (it == st.refresh_tokens.end()) return oauth_error(400, "invalid_grant", "Bad Request");
    RefreshToken& rt = it->second;
    if (rt.client_id != client.client_id) return oauth_error(401, "unauthorized_client", "Unauthorized");
    if (!rt.dead) apply_time_limits(svc, client, rt);
    // dolfim/django-gmailapi-backend#9: every cause reads the same.
    if (rt.dead) return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
    const Account& account = *st.scenario.account(rt.email);
    const Domain* domain = account.hd ? st.scenario.domain(*account.hd) : nullptr;
    if (domain && domain->blocks_unverified_apps && !client.verified)  // dust-tt/dust#31975
        return oauth_error(400, "admin_policy_enforced",
                           "Access to your account data is restricted by policies within your organization.");
    if (st.reauth_required.count(rt.email)) {
        // google-auth-library-python google/oauth2/reauth.py: invalid_grant + error_subtype.
        json::object e{{"error", "invalid_grant"},
                       {"error_description", "reauth related error (invalid_rapt)"},
                       {"error_uri", "https://support.google.com/a/answer/9368756"},
                       {"error_subtype", "invalid_rapt"}};
        return json_response(400, e);
    }
    rt.last_used = svc.now();
    // Refresh answers leave refresh_token out (web-server guide, "Refreshing an access token").
    return json_response(200, token_answer(svc, client, account, rt.scopes, it->first, false, ""));
}

}  // namespace

HttpResponse handle_token(Service& svc, const HttpRequest& request) {
    if (request.method != "POST") return oauth_error(405, "invalid_request", "Use POST.");
    const auto form = sandbox::parse_form(request.body);
    if (!form) return oauth_error(400, "invalid_request", "The request body is not form-encoded.");
    const auto grant_type = sandbox::param(*form, "grant_type");
    if (!grant_type) return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: ");
    const ClientAuth auth = authenticate(svc, request, *form);
    if (auth.refusal) return *auth.refusal;
    if (*grant_type == "authorization_code") return code_grant(svc, *auth.client, *form);
    if (*grant_type == "refresh_token") return refresh_grant(svc, *auth.client, *form);
    return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + *grant_type);
}

void kill_refresh_tokens(Service& svc, const std::string& email, DeadCause cause,
                         const std::optional<std::string>& client_id) {
    auto& st = svc.state;
    for (auto& [_, rt] : st.refresh_tokens)
        if (rt.email == email && (!client_id || rt.client_id == *client_id) && !rt.dead) rt.dead = cause;
    // Revoking and password changes also end the access tokens; the time limits leave live
    // access tokens to expire. Only a revocation removes the grant (the consent) itself.
    const bool revoked = cause == DeadCause::revoked_by_user || cause == DeadCause::revoked_by_app;
    if (!revoked && cause != DeadCause::password_change) return;
    for (auto& [_, at] : st.access_tokens)
        if (at.email == email && (!client_id || at.client_id == *client_id)) at.revoked = true;
    for (auto it = st.grants.begin(); revoked && it != st.grants.end();)
        it = it->first.first == email && (!client_id || it->first.second == *client_id) ? st.grants.erase(it) : ++it;
}

// Revoking either token removes the user's whole grant to the client (web-server guide,
// "Revoking a token"; googleapis/google-api-ruby-client#796 for the 400 on a dead token).
HttpResponse handle_revoke(Service& svc, const HttpRequest& request) {
    if (request.method != "POST" && request.method != "GET") return oauth_error(405, "invalid_request", "Use POST.");
    const auto query = sandbox::parse_form(request.query).value_or(Params{});
    const auto form = sandbox::parse_form(request.body).value_or(Params{});
    const auto token = sandbox::param(query, "token") ? sandbox::param(query, "token") : sandbox::param(form, "token");
    if (!token) return oauth_error(400, "invalid_request", "Missing required parameter: token");
    auto& st = svc.state;
    std::optional<std::pair<std::string, std::string>> owner;  // (email, client)
    if (auto rt = st.refresh_tokens.find(*token); rt != st.refresh_tokens.end() && !rt->second.dead)
        owner.emplace(rt->second.email, rt->second.client_id);
    if (auto at = st.access_tokens.find(*token);
        at != st.access_tokens.end() && !at->second.revoked && at->second.expires > svc.now())
        owner.emplace(at->second.email, at->second.client_id);
    if (!owner) return oauth_error(400, "invalid_token", "Token expired or revoked");
    kill_refresh_tokens(svc, owner->first, DeadCause::revoked_by_app, owner->second);
    return json_response(200, json::object{});
}

HttpResponse handle_userinfo(Service& svc, const HttpRequest& request) {
    const AccessToken* at = bearer_token(svc, request);
    if (!at) {
        HttpResponse r = oauth_error(401, "invalid_request", "Invalid Credentials");
        r.set_header("WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
        return r;
    }
    const Account& account = *svc.state.scenario.account(at->email);
    json::object o{{"sub", account.sub}};
    const auto has = [&](const char* s) {
        return std::find(at->scopes.begin(), at->scopes.end(), s) != at->scopes.end();
    };
    if (has("https://www.googleapis.com/auth/userinfo.profile")) {
        o["name"] = account.name;
        o["given_name"] = account.given_name;
        o["family_name"] = account.family_name;
    }
    if (has("https://www.googleapis.com/auth/userinfo.email")) {
        o["email"] = account.email;
        o["email_verified"] = true;
    }
    if (account.hd) o["hd"] = *account.hd;
    return json_response(200, o);
}

}  // namespace google_sandbox::detail
