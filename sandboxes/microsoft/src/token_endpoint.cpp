// POST /{tenant}/oauth2/v2.0/token: client authentication (secret, certificate assertion,
// none for public clients), the authorization_code and refresh_token grants, and the
// success / error JSON of outlook_plugin/docs/microsoft-behaviour.md §2.
#include "common.hpp"
#include "errors.hpp"
#include "identity.hpp"
#include "stateless_tokens.hpp"

#include <boost/json.hpp>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

constexpr const char* kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

AadError missing(const std::string& p) {
    return {"invalid_request", 900144, "The request body must contain the following parameter: '" + p + "'.", "", 0};
}

AadError malformed_grant() {
    return {"invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.", "", 0};
}

// Dead grants carry a suberror (outlook_plugin/docs/microsoft-behaviour.md §9): MSAL turns bad_token, consent_required
// and basic_action into InteractionRequiredAuthError and drops a bad_token refresh token.
AadError expired_grant() {
    return {"invalid_grant", 70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
            "authorization request for this user and resource.",
            "bad_token", 0};
}

std::string days_hms(std::int64_t seconds) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld.%02lld:%02lld:%02lld", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds % 86400 / 3600), static_cast<long long>(seconds % 3600 / 60),
                  static_cast<long long>(seconds % 60));
    return buf;
}

AadError inactive_refresh_token(std::int64_t issued, std::int64_t inactive_for) {
    return {"invalid_grant", 700082,
            "The refresh token has expired due to inactivity. The token was issued on " + format_iso8601(issued) +
                " and was inactive for " + days_hms(inactive_for) + ".",
            "bad_token", 0};
}

bool same_tenant_path(Service& svc, const std::string& a, const std::string& b) {
    if (iequals(a, b)) return true;
    TenantPath ta = resolve_tenant_path(svc, a), tb = resolve_tenant_path(svc, b);
    if (ta.kind == TenantPath::specific && tb.kind == TenantPath::specific) return ta.tenant == tb.tenant;
    return ta.kind == TenantPath::consumers && tb.kind == TenantPath::consumers;
}

bool pkce_verifier_ok(const std::string& verifier) {
    if (verifier.size() < 43 || verifier.size() > 128) return false;
    return verifier.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") ==
           std::string::npos;
}

// ---- client authentication ----

struct ClientCredentials {
    std::optional<std::string> secret;
    std::optional<std::string> assertion_type, assertion;
};

ClientCredentials credentials(const Params& form, const HttpRequest& request, std::string* basic_client_id) {
    ClientCredentials c;
    c.secret = param(form, "client_secret");
    c.assertion_type = param(form, "client_assertion_type");
    c.assertion = param(form, "client_assertion");
    // RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret.
    std::string_view auth = request.header("authorization");
    if (auth.size() > 6 && iequals(auth.substr(0, 6), "basic ")) {
        if (auto decoded = base64_decode(auth.substr(6))) {
            auto colon = decoded->find(':');
            if (colon != std::string::npos) {
                auto id = parse_form("x=" + decoded->substr(0, colon));
                auto secret = parse_form("x=" + decoded->substr(colon + 1));
                if (id && secret) {
                    *basic_client_id = param(*id, "x").value_or("");
                    if (!c.secret) c.secret = param(*secret, "x");
                }
            }
        }
    }
    return c;
}

std::optional<AadError> check_secret(Service& svc, const App& app, const std::string& secret, std::int64_t now) {
    for (const auto& s : app.secrets) {
        if (s.invalid || s.value != secret) continue;
        if (s.expires_unix != 0 && now >= s.expires_unix)
            return AadError{"invalid_client", 7000222,
                            "The provided client secret keys for app '" + app.client_id +
                                "' are expired. Visit the Azure portal to create new keys for your app: "
                                "https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
                                "security: https://aka.ms/certCreds.",
                            "", 401};
        return std::nullopt;
    }
    (void)svc;
    return AadError{"invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                    "value, not the client secret ID, for a secret added to app '" +
                        app.client_id + "'.",
                    "", 401};
}

std::optional<std::int64_t> claim_int(const json::object& o, const char* k) {
    auto it = o.find(k);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
    if (it->value().is_double()) return static_cast<std::int64_t>(it->value().as_double());
    return std::nullopt;
}

std::string claim_str(const json::object& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// A compact JWS split and decoded; nullopt when it is not three base64url parts of which the
// first two are JSON objects.
struct DecodedJwt {
    json::object header;
    json::object claims;
    std::string signature;
    std::size_t signed_length = 0;  // of "header.payload", the text the signature covers
};

std::optional<DecodedJwt> decode_jwt(const std::string& assertion) {
    const auto dot1 = assertion.find('.');
    const auto dot2 = dot1 == std::string::npos ? dot1 : assertion.find('.', dot1 + 1);
    if (dot2 == std::string::npos || assertion.find('.', dot2 + 1) != std::string::npos) return std::nullopt;
    auto header_raw = base64url_decode(std::string_view(assertion).substr(0, dot1));
    auto payload_raw = base64url_decode(std::string_view(assertion).substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = base64url_decode(std::string_view(assertion).substr(dot2 + 1));
    if (!header_raw || !payload_raw || !signature) return std::nullopt;
    boost::system::error_code ec1, ec2;
    json::value header = json::parse(*header_raw, ec1);
    json::value payload = json::parse(*payload_raw, ec2);
    if (ec1 || ec2 || !header.is_object() || !payload.is_object()) return std::nullopt;
    return DecodedJwt{std::move(header.as_object()), std::move(payload.as_object()), std::move(*signature), dot2};
}

// aud: the token endpoint of this server for the tenant path called (or that tenant's id / domain).
std::optional<AadError> check_assertion_audience(Service& svc, const json::object& claims,
                                                 const std::string& tenant_segment) {
    std::vector<std::string> accepted{svc.base_url() + "/" + tenant_segment + "/oauth2/v2.0/token"};
    TenantPath tp = resolve_tenant_path(svc, tenant_segment);
    if (tp.kind == TenantPath::specific) {
        accepted.push_back(svc.base_url() + "/" + tp.tenant->id + "/oauth2/v2.0/token");
        accepted.push_back(svc.base_url() + "/" + tp.tenant->domain + "/oauth2/v2.0/token");
    }
    std::vector<std::string> auds;
    if (auto it = claims.find("aud"); it != claims.end()) {
        if (it->value().is_string()) auds.emplace_back(it->value().as_string());
        if (it->value().is_array())
            for (auto& a : it->value().as_array())
                if (a.is_string()) auds.emplace_back(a.as_string());
    }
    bool aud_ok = false;
    for (auto& a : auds)
        for (auto& acc : accepted) aud_ok = aud_ok || iequals(a, acc);
    if (!aud_ok)
        return AadError{
            "invalid_client", 50012,
            "Client assertion audience claim does not match Realm issuer. Expected one of: '" + accepted.front() + "'.",
            "", 401};
    return std::nullopt;
}

std::optional<AadError> check_assertion(Service& svc, const App& app, const std::string& type,
                                        const std::string& assertion, const std::string& tenant_segment,
                                        std::int64_t now) {
    auto invalid = [&](int code, std::string message) {
        return AadError{"invalid_client", code, std::move(message), "", 401};
    };
    if (type != kJwtBearer)
        return AadError{"invalid_request", 90100, "client_assertion_type parameter is empty or not valid.", "", 400};

    auto jwt = decode_jwt(assertion);
    if (!jwt) return invalid(50027, "JWT token is invalid or malformed.");
    const auto& h = jwt->header;
    const auto& claims = jwt->claims;

    const std::string alg = claim_str(h, "alg");
    const std::string x5t_s256 = claim_str(h, "x5t#S256");
    const std::string x5t = claim_str(h, "x5t");
    const Certificate* cert = nullptr;
    for (const auto& rc : app.certificates) {
        if ((!x5t_s256.empty() && rc.certificate.x5t_s256() == x5t_s256) ||
            (x5t_s256.empty() && !x5t.empty() && rc.certificate.x5t() == x5t))
            cert = &rc.certificate;
    }
    if (!cert) {
        return invalid(700027,
                       "The certificate with identifier used to sign the client assertion is not registered on "
                       "application. [Reason - The key was not found., Thumbprint of key used by client: '" +
                           (x5t_s256.empty() ? x5t : x5t_s256) +
                           "', Please visit the Azure Portal, Graph Explorer "
                           "or directly use MS Graph to see configured keys for app Id '" +
                           app.client_id + "'.]");
    }
    if ((alg != "RS256" && alg != "PS256") ||
        !cert->verify(alg, std::string_view(assertion).substr(0, jwt->signed_length), jwt->signature))
        return invalid(700027, "Client assertion failed signature validation.");

    if (auto e = check_assertion_audience(svc, claims, tenant_segment)) return e;
    if (claim_str(claims, "iss") != app.client_id || claim_str(claims, "sub") != app.client_id)
        return invalid(50012,
                       "Client assertion 'iss' and 'sub' claims must both be the client id '" + app.client_id + "'.");

    const std::int64_t skew = svc.state.scenario.settings.assertion_clock_skew;
    auto exp = claim_int(claims, "exp");
    auto nbf = claim_int(claims, "nbf");
    if (!exp || now > *exp + skew || (nbf && now + skew < *nbf)) {
        return invalid(
            700024,
            "Client assertion is not within its valid time range. Current time: " + format_iso8601(now) +
                ", assertion valid from " + (nbf ? format_iso8601(*nbf) : std::string("(none)")) +
                ", expiry time of assertion " + (exp ? format_iso8601(*exp) : std::string("(none)")) +
                ". Review the documentation at "
                "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .");
    }
    const std::string jti = claim_str(claims, "jti");
    if (!jti.empty()) {
        if (!svc.state.used_assertion_ids.insert(lower(app.client_id) + "/" + jti).second)
            return invalid(50012, "The client assertion with jti '" + jti +
                                      "' has already been used. Each assertion must carry a unique jti.");
    }
    return std::nullopt;
}

std::optional<AadError> authenticate_client(Service& svc, const App& app, const ClientCredentials& c,
                                            const std::string& tenant_segment, std::int64_t now) {
    const bool has_assertion = c.assertion_type || c.assertion;
    if (!app.confidential) {
        if (c.secret || has_assertion)
            return AadError{"invalid_client", 700025,
                            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
                            "", 401};
        return std::nullopt;
    }
    if (!c.secret && !has_assertion)
        return AadError{"invalid_client", 7000218,
                        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                        "", 401};
    if (c.secret) return check_secret(svc, app, *c.secret, now);
    if (!c.assertion) return missing("client_assertion");
    if (!c.assertion_type) return missing("client_assertion_type");
    return check_assertion(svc, app, *c.assertion_type, *c.assertion, tenant_segment, now);
}

// ---- token minting ----

std::string id_token(Service& svc, const App& app, const User& u, const ScopeList& scopes, const std::string& nonce,
                     std::int64_t now) {
    json::object header{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", signing_kid()}};
    json::object c;
    c["aud"] = app.client_id;
    c["iss"] = svc.base_url() + "/" + u.tenant_id + "/v2.0";
    c["iat"] = now;
    c["nbf"] = now;
    c["exp"] = now + 3600;
    if (contains(scopes, "email") && u.mail) c["email"] = *u.mail;
    c["name"] = u.display_name;
    if (!nonce.empty()) c["nonce"] = nonce;
    c["oid"] = u.oid();
    c["preferred_username"] = u.upn;
    c["rh"] = "0.sandbox." + random_urlsafe(16);
    c["sub"] = base64url_encode(sha256(u.oid() + "|" + app.client_id)).substr(0, 43);
    c["tid"] = u.tenant_id;
    c["uti"] = random_urlsafe(22);
    c["ver"] = "2.0";
    const std::string signing_input =
        base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(c));
    return signing_input + "." + base64url_encode(signing_key().sign_rs256(signing_input));
}

// A work account's Graph access token: a v1.0 JWT signed with the key in the JWKS, with the
// claims Graph tokens carry (access-tokens doc, S12), padded through "aio" (an opaque claim
// of varying length in real tokens) to about the configured size.
std::string work_access_token(Service& svc, const App& app, const User& u, const ScopeList& scopes, std::int64_t now,
                              std::int64_t exp) {
    const std::string kid = signing_kid();
    json::object header{{"typ", "JWT"}, {"alg", "RS256"}, {"x5t", kid}, {"kid", kid}};
    json::object c;
    c["aud"] = kGraphResource;
    c["iss"] = "https://sts.windows.net/" + u.tenant_id + "/";
    c["iat"] = now;
    c["nbf"] = now;
    c["exp"] = exp;
    c["acct"] = 0;
    c["acr"] = "1";
    c["aio"] = random_urlsafe(24);
    c["amr"] = json::array{"pwd"};
    c["app_displayname"] = app.display_name;
    c["appid"] = app.client_id;
    c["appidacr"] = app.confidential ? "1" : "0";
    c["family_name"] = u.surname;
    c["given_name"] = u.given_name;
    c["idtyp"] = "user";
    c["ipaddr"] = "127.0.0.1";
    c["name"] = u.display_name;
    c["oid"] = u.oid();
    c["platf"] = "3";
    c["puid"] = hex16_from_name("puid|" + u.upn);
    c["rh"] = "1.A" + random_urlsafe(48) + ".";
    c["scp"] = scp_claim(scopes);
    c["sid"] = random_guid();
    c["sub"] = base64url_encode(sha256(u.oid() + "|graph")).substr(0, 43);
    c["tenant_region_scope"] = "EU";
    c["tid"] = u.tenant_id;
    c["unique_name"] = u.upn;
    c["upn"] = u.upn;
    c["uti"] = random_urlsafe(22);
    c["ver"] = "1.0";
    c["wids"] = json::array{"b79fbf4d-3ef9-4689-8143-76b194e85509"};
    c["xms_ftd"] = random_urlsafe(44);
    c["xms_idrel"] = "1 20";
    c["xms_tcdt"] = 1600000000;
    const std::string header_b64 = base64url_encode(json::serialize(header));
    constexpr std::size_t kSignatureB64 = 342;  // RSA-2048
    const std::size_t fixed = header_b64.size() + 2 + kSignatureB64;
    const std::size_t target = svc.state.scenario.settings.token_sizes.work_access_token;
    const std::size_t payload_now = json::serialize(c).size();
    if (target > fixed && (target - fixed) * 3 / 4 > payload_now)
        c["aio"] = random_urlsafe(24 + (target - fixed) * 3 / 4 - payload_now);
    const std::string signing_input = header_b64 + "." + base64url_encode(json::serialize(c));
    return signing_input + "." + base64url_encode(signing_key().sign_rs256(signing_input));
}

}  // namespace

void set_scope(const Settings& st, json::object& o, const ScopeList& scopes, bool qualified) {
    if (st.token_scope_omitted) return;
    const bool q = st.token_scope_form == "qualified" || (st.token_scope_form == "as_requested" && qualified);
    const std::string text = scope_response(scopes, q);
    o["scope"] = st.token_scope_url_encoded ? url_encode(text) : text;
}

// Outside the anonymous namespace: the bulk-grants control endpoint uses these too.
TokenScopes token_scopes(Service& svc, const User& u, const App& app, const ScopeList& requested) {
    TokenScopes out;
    for (const auto& s : requested)
        if (!removed_by_admin(svc, u, s)) out.at_scopes.push_back(s);
    out.at_scopes = merged(out.at_scopes, consented_graph_scopes(svc, u, app));
    for (const auto& s : out.at_scopes)
        if (!is_oidc_scope(s)) out.graph_scopes.push_back(s);
    return out;
}

AadError not_consented(const App& app) {
    return {"invalid_grant", 65001,
            "The user or administrator has not consented to use the application with ID '" + app.client_id +
                "' named '" + app.display_name +
                "'. Send an interactive authorization request for this user and resource.",
            "consent_required", 0};
}

json::object mint_tokens(Service& svc, const App& app, const User& u, const ScopeList& requested,
                         const ScopeList& lineage_scopes, const MintOptions& options, const RequestContext& ctx) {
    auto& st = svc.state;
    const auto& settings = st.scenario.settings;
    const auto [at_scopes, graph_scopes] = token_scopes(svc, u, app, requested);

    json::object o;
    o["token_type"] = "Bearer";
    set_scope(settings, o, at_scopes, options.qualified);
    o["expires_in"] = settings.access_token_lifetime;
    o["ext_expires_in"] = settings.ext_expires_in;

    const std::int64_t expires = ctx.now + settings.access_token_lifetime;
    // Personal accounts' Graph tokens are opaque ("EwB..." in recorded traffic), not JWTs.
    const std::string at = u.personal ? "EwB" + random_urlsafe(settings.token_sizes.personal_access_token - 3)
                                      : work_access_token(svc, app, u, at_scopes, ctx.now, expires);
    AccessTokenRecord rec{app.client_id, u.upn, graph_scopes, expires, ++st.last_serial, false, options.cae_challenged};
    st.access_tokens[at] = std::move(rec);
    svc.record_issued(st.issued_access_tokens, at);
    o["access_token"] = at;

    if (contains(lineage_scopes, "offline_access")) {
        const std::size_t length = settings.token_sizes.refresh_token;
        const std::string rt =
            u.personal ? "M.C5_BAY.0.U." + random_urlsafe(length - 13) : "1.A" + random_urlsafe(length - 3);
        st.refresh_tokens[rt] = RefreshTokenRecord{app.client_id,    u.upn, lineage_scopes,   ctx.now,
                                                   ++st.last_serial, false, options.qualified};
        svc.record_issued(st.issued_refresh_tokens, rt);
        o["refresh_token"] = rt;
    }
    if (contains(at_scopes, "openid")) {
        std::string idt = id_token(svc, app, u, at_scopes, options.nonce, ctx.now);
        svc.record_issued(st.issued_id_tokens, idt);
        o["id_token"] = std::move(idt);
    }
    if (options.client_info) {
        json::object ci{{"uid", u.oid()}, {"utid", u.tenant_id}};
        o["client_info"] = base64url_encode(json::serialize(ci));
    }
    return o;
}

namespace {

HttpResponse issue_tokens(Service& svc, const App& app, const User& u, const ScopeList& at_scopes,
                          const ScopeList& lineage_scopes, const MintOptions& options, const RequestContext& ctx) {
    auto res = json_response(200, json::serialize(mint_tokens(svc, app, u, at_scopes, lineage_scopes, options, ctx)));
    res.set_header("Cache-Control", "no-store, no-cache");
    res.set_header("Pragma", "no-cache");
    return res;
}

// Whether a claims request (the authorize "claims" parameter) answers a CAE challenge: it asks
// for an access token with nbf at or after the event, as the challenge's claims do.
bool answers_cae_challenge(const std::string& claims, const CaeEvent& event) {
    boost::system::error_code ec;
    json::value v = json::parse(claims, ec);
    if (ec || !v.is_object()) return false;
    const auto* at = v.as_object().if_contains("access_token");
    const auto* nbf = at && at->is_object() ? at->as_object().if_contains("nbf") : nullptr;
    const auto* value = nbf && nbf->is_object() ? nbf->as_object().if_contains("value") : nullptr;
    if (!value) return false;
    std::int64_t asked = 0;
    if (value->is_string()) {
        try {
            asked = std::stoll(std::string(value->as_string()));
        } catch (const std::exception&) {
            return false;
        }
    } else if (value->is_int64()) {
        asked = value->as_int64();
    }
    return asked >= event.at;
}

std::optional<AadError> revocation_error(Service& svc, const User& u, const App& app, const RefreshTokenRecord& rt) {
    const std::int64_t issued = rt.issued;
    auto it = svc.state.revocations.find(lower(u.upn));
    if (it == svc.state.revocations.end() || it->second.serial < rt.serial) return std::nullopt;
    const auto& r = it->second;
    if (r.reason == "inactivity")
        return inactive_refresh_token(issued, svc.state.scenario.settings.refresh_token_inactivity + 1);
    if (r.reason == "password_change")
        return AadError{
            "invalid_grant", 50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
            "might have changed or reset their password. The grant was issued on '" +
                format_iso8601(issued) +
                "' and the TokensValidFrom date (before which tokens are not valid) for this user is '" +
                format_iso8601(r.at) + "'.",
            "bad_token", 0};
    if (r.reason == "consent_revoked") return not_consented(app);
    if (r.reason == "mfa_required")
        return AadError{
            "interaction_required", 50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, "
            "you must use multi-factor authentication to access '" +
                std::string(kGraphAppId) + "'.",
            "basic_action", 0};
    return AadError{
        "invalid_grant", 70043,
        "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. "
        "The token was issued on " +
            format_iso8601(issued) + " and the maximum allowed lifetime for this request is 3600.",
        "token_expired", 0};
}

// grant_type=authorization_code: redeems the code once, for the app, tenant path, redirect URI
// and PKCE verifier it was issued for.
HttpResponse redeem_code(Service& svc, const App& app, const Params& form, const Route& route, bool client_info,
                         const RequestContext& ctx) {
    auto fail = [&](const AadError& e) { return aad_json_error(e, ctx); };
    const auto& settings = svc.state.scenario.settings;
    auto code_value = param(form, "code");
    if (!code_value || code_value->empty()) return fail(missing("code"));
    auto it = svc.state.codes.find(*code_value);
    if (it == svc.state.codes.end()) return fail(malformed_grant());
    AuthCode& code = it->second;
    if (!iequals(code.client_id, app.client_id))
        return fail({"invalid_grant", 70000, "Provided grant is invalid or malformed.", "", 0});
    if (code.redeemed)
        return fail({"invalid_grant", 54005,
                     "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                     "existing refresh token.",
                     "", 0});
    if (ctx.now - code.issued > settings.authorization_code_lifetime) return fail(expired_grant());
    if (!same_tenant_path(svc, code.tenant_path, route.tenant))
        return fail({"invalid_grant", 700005,
                     "Provided Authorization Code is intended to use against other tenant, thus rejected.", "", 0});
    const std::string redirect_uri = param(form, "redirect_uri").value_or("");
    if (redirect_uri != code.redirect_uri)
        return fail({"invalid_grant", 500112,
                     "The reply address '" + redirect_uri + "' does not match the reply address '" + code.redirect_uri +
                         "' provided when requesting Authorization code.",
                     "", 0});
    if (!code.code_challenge.empty()) {
        const std::string verifier = param(form, "code_verifier").value_or("");
        const bool ok = pkce_verifier_ok(verifier) && (code.code_challenge_method == "S256"
                                                           ? base64url_encode(sha256(verifier)) == code.code_challenge
                                                           : verifier == code.code_challenge);
        if (!ok)
            return fail(
                {"invalid_grant", settings.pkce_mismatch_code,
                 "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                 "", 0});
    }
    const User* u = svc.state.scenario.user(code.upn);
    if (!u) return fail(malformed_grant());
    code.redeemed = true;
    MintOptions options{code.nonce, client_info, code.qualified, false};
    // Only an interactive sign-in that carried the challenge's claims ends a CAE event.
    if (auto cae = svc.state.cae_events.find(lower(u->upn));
        cae != svc.state.cae_events.end() && !cae->second.answered) {
        if (answers_cae_challenge(code.claims, cae->second))
            cae->second.answered = true;
        else
            options.cae_challenged = true;
    }
    return issue_tokens(svc, app, *u, code.scopes, code.scopes, options, ctx);
}

// A stateless bulk refresh token (README "Bulk mode"): verified by its MAC, redeemed without a
// user or token record, answered with a new stateless pair (generation + 1) in the stateful
// path's shape. Errors are the stateful path's: unknown 9002313, other client 70000, spent
// (old_refresh_token_stays_valid false) 70008, inactive 700082, not consented 65001.
HttpResponse redeem_stateless_refresh(Service& svc, const App& app, const std::string& value,
                                      const std::optional<ParsedScopes>& requested, bool client_info,
                                      const RequestContext& ctx) {
    auto fail = [&](const AadError& e) { return aad_json_error(e, ctx); };
    const auto& settings = svc.state.scenario.settings;
    auto rt = verify_stateless(svc.stateless_key(), value);
    if (!rt || rt->kind != StatelessToken::Kind::refresh) return fail(malformed_grant());
    const std::optional<User> user = stateless_user(svc, *rt);
    if (!user) return fail(malformed_grant());
    const User& u = *user;
    if (!iequals(rt->client_id, app.client_id))
        return fail({"invalid_grant", 70000, "Provided grant is invalid or malformed.", "", 0});
    if (svc.state.spent_stateless.count(rt->id)) return fail(expired_grant());
    if (ctx.now - rt->issued > settings.refresh_token_inactivity)
        return fail(inactive_refresh_token(rt->issued, ctx.now - rt->issued));

    ScopeList asked = rt->scopes;
    bool qualified = rt->qualified;
    if (requested) {
        ScopeList still_asked;
        for (const auto& sc : requested->scopes)
            if (!removed_by_admin(svc, u, sc)) still_asked.push_back(sc);
        // The grant's consent is what the token carries (no user_grants entry exists).
        for (const auto& sc : still_asked)
            if (!contains(rt->scopes, sc) && !consent_covers(svc, u, app, {sc})) return fail(not_consented(app));
        asked = requested->scopes;
        qualified = requested->qualified;
    }
    if (contains(asked, "openid"))
        return fail({"invalid_request", 90100,
                     "The stand-in's stateless bulk grants issue no id_token: leave openid out of the scope.", "", 0});
    if (!settings.old_refresh_token_stays_valid) svc.state.spent_stateless.insert(rt->id);

    const auto [at_scopes, graph_scopes] = token_scopes(svc, u, app, asked);

    json::object o;
    o["token_type"] = "Bearer";
    set_scope(settings, o, at_scopes, qualified);
    o["expires_in"] = settings.access_token_lifetime;
    o["ext_expires_in"] = settings.ext_expires_in;
    StatelessToken at = *rt;
    at.kind = StatelessToken::Kind::access;
    at.qualified = qualified;
    at.generation = rt->generation + 1;
    at.issued = ctx.now;
    at.expires = ctx.now + settings.access_token_lifetime;
    at.scopes = graph_scopes;
    std::string at_text = mint_stateless(svc.stateless_key(), at, settings.token_sizes.work_access_token);
    sandbox::record_issued_secret(at_text);
    o["access_token"] = std::move(at_text);
    const ScopeList lineage = merged(rt->scopes, at_scopes);
    if (contains(lineage, "offline_access")) {
        StatelessToken next = at;
        next.kind = StatelessToken::Kind::refresh;
        next.expires = 0;
        next.scopes = lineage;
        std::string rt_text = mint_stateless(svc.stateless_key(), next, settings.token_sizes.refresh_token);
        sandbox::record_issued_secret(rt_text);
        o["refresh_token"] = std::move(rt_text);
    }
    if (client_info) {
        json::object ci{{"uid", u.oid()}, {"utid", u.tenant_id}};
        o["client_info"] = base64url_encode(json::serialize(ci));
    }
    auto res = json_response(200, json::serialize(o));
    res.set_header("Cache-Control", "no-store, no-cache");
    res.set_header("Pragma", "no-cache");
    return res;
}

// grant_type=refresh_token: new tokens for the refresh token's user, narrowed to `requested`
// when the client names scopes.
HttpResponse redeem_refresh_token(Service& svc, const App& app, const Params& form,
                                  const std::optional<ParsedScopes>& requested, bool client_info,
                                  const RequestContext& ctx) {
    auto fail = [&](const AadError& e) { return aad_json_error(e, ctx); };
    const auto& settings = svc.state.scenario.settings;
    auto rt_value = param(form, "refresh_token");
    if (!rt_value || rt_value->empty()) return fail(missing("refresh_token"));
    auto it = svc.state.refresh_tokens.find(*rt_value);
    if (it == svc.state.refresh_tokens.end()) {
        if (looks_stateless(*rt_value))
            return redeem_stateless_refresh(svc, app, *rt_value, requested, client_info, ctx);
        return fail(malformed_grant());
    }
    RefreshTokenRecord& rt = it->second;
    if (!iequals(rt.client_id, app.client_id))
        return fail({"invalid_grant", 70000, "Provided grant is invalid or malformed.", "", 0});
    const User* u = svc.state.scenario.user(rt.upn);
    if (!u) return fail(malformed_grant());
    if (rt.invalidated) return fail(expired_grant());
    if (auto e = revocation_error(svc, *u, app, rt)) return fail(*e);
    if (ctx.now - rt.issued > settings.refresh_token_inactivity)
        return fail(inactive_refresh_token(rt.issued, ctx.now - rt.issued));

    ScopeList at_scopes = rt.scopes;
    bool qualified = rt.qualified;
    if (requested) {
        // A permission an administrator removed is left out, not refused
        // (outlook_plugin/docs/microsoft-behaviour.md §9).
        ScopeList still_asked;
        for (const auto& sc : requested->scopes)
            if (!removed_by_admin(svc, *u, sc)) still_asked.push_back(sc);
        if (!consent_covers(svc, *u, app, still_asked)) return fail(not_consented(app));
        at_scopes = requested->scopes;
        qualified = requested->qualified;
    }
    if (!settings.old_refresh_token_stays_valid) rt.invalidated = true;
    const ScopeList lineage = merged(rt.scopes, at_scopes);
    auto cae = svc.state.cae_events.find(lower(u->upn));
    const bool challenged = cae != svc.state.cae_events.end() && !cae->second.answered;
    return issue_tokens(svc, app, *u, at_scopes, lineage, MintOptions{"", client_info, qualified, challenged}, ctx);
}

}  // namespace

HttpResponse handle_token(Service& svc, const Route& route, HttpRequest& request, const RequestContext& ctx) {
    auto fail = [&](const AadError& e) { return aad_json_error(e, ctx); };
    if (request.method != "POST")
        return fail({"invalid_request", 900561,
                     "The endpoint only accepts POST, OPTIONS requests. Received a " + request.method + " request.", "",
                     0});
    const TenantPath tp = resolve_tenant_path(svc, route.tenant);
    if (tp.kind == TenantPath::unknown)
        return fail(
            {"invalid_request", 90002,
             "Tenant '" + route.tenant +
                 "' not found. Check to make sure you have the correct tenant ID and are "
                 "signing into the correct cloud. Check with your subscription administrator, this may happen if "
                 "there are no active subscriptions for the tenant.",
             "", 0});

    // A body that is not a form (JSON, garbage) reads as an empty form, as at ESTS.
    const bool is_form = lower(request.header("content-type")).rfind("application/x-www-form-urlencoded", 0) == 0;
    std::optional<Params> parsed = is_form ? parse_form(request.body) : Params{};
    const Params form = parsed.value_or(Params{});

    const std::string grant_type = param(form, "grant_type").value_or("");
    if (grant_type.empty()) return fail(missing("grant_type"));
    std::string basic_client_id;
    const ClientCredentials creds = credentials(form, request, &basic_client_id);
    std::string client_id = param(form, "client_id").value_or(basic_client_id);
    if (client_id.empty()) return fail(missing("client_id"));
    const App* app = svc.state.scenario.app(client_id);
    if (!app)
        return fail(
            {"unauthorized_client", 700016,
             "Application with identifier '" + client_id + "' was not found in the directory '" + route.tenant +
                 "'. This can happen if the application has not been installed by the administrator of the tenant "
                 "or consented to by any user in the tenant. You may have sent your authentication request to the "
                 "wrong tenant.",
             "", 0});
    if (grant_type != "authorization_code" && grant_type != "refresh_token")
        return fail({"unsupported_grant_type", 70003,
                     "The app requested an unsupported grant type '" + grant_type + "'.", "", 0});
    if (auto e = authenticate_client(svc, *app, creds, route.tenant, ctx.now)) return fail(*e);

    std::optional<ParsedScopes> requested;
    if (auto s = param(form, "scope"); s && s->find_first_not_of(' ') != std::string::npos) {
        requested = parse_scopes(*s, *app);
        if (!requested->invalid.empty())
            return fail({"invalid_scope", 70011,
                         "The provided value for the input parameter 'scope' is not valid. The scope '" +
                             requested->invalid + "' does not exist.",
                         "", 0});
    }
    const bool client_info = param(form, "client_info").value_or("") == "1";
    if (grant_type == "authorization_code") return redeem_code(svc, *app, form, route, client_info, ctx);
    return redeem_refresh_token(svc, *app, form, requested, client_info, ctx);
}

void strip_mail_send(Service& svc, HttpResponse& res) {
    boost::system::error_code ec;
    json::value v = json::parse(res.body, ec);
    if (ec || !v.is_object()) return;
    auto& o = v.as_object();
    auto at = o.find("access_token");
    if (at == o.end() || !at->value().is_string()) return;
    auto rec = svc.state.access_tokens.find(std::string(at->value().as_string()));
    if (rec == svc.state.access_tokens.end()) return;
    auto& scopes = rec->second.scopes;
    scopes.erase(
        std::remove_if(scopes.begin(), scopes.end(), [](const std::string& s) { return iequals(s, "Mail.Send"); }),
        scopes.end());
    ScopeList shown = scopes;
    if (auto s = o.find("scope"); s != o.end() && s->value().is_string()) {
        const std::string text(s->value().as_string());
        for (std::string_view oidc : {"openid", "profile", "email"})
            if (text.find(std::string(" ") + std::string(oidc)) != std::string::npos || text.rfind(oidc, 0) == 0)
                shown.emplace_back(oidc);
        set_scope(svc.state.scenario.settings, o, shown, text.find(kGraphResource) != std::string::npos);
    }
    res.body = json::serialize(v);
}

}  // namespace ms_sandbox::detail
