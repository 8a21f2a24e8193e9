#include "connect_flow.hpp"

#include "ep_kit/encoding.hpp"
#include "graph_mail.hpp"
#include "graph_request.hpp"
#include "oauth.hpp"
#include "uses_kit.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace outlook {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

constexpr int kMaxStoreRetries = 5;

bool one_of(int code, std::initializer_list<int> codes) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
}

std::string param(const std::map<std::string, std::string>& p, const std::string& key) {
    auto it = p.find(key);
    return it == p.end() ? std::string() : it->second;
}

// Text from Microsoft shown to people: first line, printable, bounded.
std::string shown_text(std::string_view s) { return first_line(s, 240); }

// ep.connect_request/1, checked for its shape: known options of the right types.
struct ConnectRequest {
    std::string login_hint;
    std::string prompt;
    std::string tenant;
    bool admin_consent = false;
};

ConnectRequest parse_connect_request(std::string_view request_json) {
    ConnectRequest request;
    if (request_json.empty()) return request;
    boost::system::error_code ec;
    json::value v = json::parse(request_json, ec);
    if (ec || !v.is_object())
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "connect request must be a JSON object", "request");
    for (const auto& kv : v.as_object()) {
        std::string key(kv.key());
        if (key == "admin_consent") {
            if (!kv.value().is_bool())
                throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "admin_consent must be true or false", key);
            request.admin_consent = kv.value().as_bool();
            continue;
        }
        if (key != "login_hint" && key != "prompt" && key != "tenant")
            throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request",
                        "this is not a connect option (login_hint, prompt, admin_consent, tenant)", "request");
        if (!kv.value().is_string())
            throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", key + " must be a string", key);
    }
    if (auto it = v.as_object().find("login_hint"); it != v.as_object().end())
        request.login_hint = it->value().as_string();
    if (auto it = v.as_object().find("prompt"); it != v.as_object().end()) request.prompt = it->value().as_string();
    if (auto it = v.as_object().find("tenant"); it != v.as_object().end()) request.tenant = it->value().as_string();
    return request;
}

// The link an IT administrator opens to approve the app for the whole organisation, before
// anyone connects. Nothing is stored: the answer only informs (outlook_plugin/docs/microsoft-behaviour.md §5).
std::string admin_consent_start(const OutlookConfig& config, std::string tenant, const std::string& login_hint) {
    if (tenant.empty()) tenant = admin_consent_tenant(config, "", login_hint);
    if (tenant != "organizations" && !is_tenant_id_or_domain(tenant))
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request",
                    "tenant must be a tenant id, a tenant domain or organizations (never common or consumers)",
                    "tenant");
    json::object out{{"action", "redirect"},
                     {"purpose", "admin_consent"},
                     {"application_id", config.client_id},
                     {"authorization_url", admin_consent_url(config, tenant)}};
    return json::serialize(out);
}

}  // namespace

ConnectFlow::ConnectFlow(const OutlookConfig& config, const AccountStore& store, HttpEngine& http,
                         const TokenClient& token_client, TokenManager& tokens, ep::sdk::Host host, Log log)
    : config_(config),
      store_(store),
      http_(http),
      token_client_(token_client),
      tokens_(tokens),
      pending_(store, config.pending_connect_ttl_ms),
      host_(host),
      log_(std::move(log)) {}

std::string ConnectFlow::begin(std::string_view account, std::string_view request_json) {
    ConnectRequest request = parse_connect_request(request_json);
    if (request.admin_consent) return admin_consent_start(config_, request.tenant, request.login_hint);
    if (!request.tenant.empty())
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "tenant is only an option of an admin_consent request",
                    "tenant");
    const std::string& login_hint = request.login_hint;
    const std::string& prompt = request.prompt;
    if (login_hint.size() > 320 || !ep::sdk::is_valid_utf8(login_hint))
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "login_hint must be valid UTF-8 of at most 320 bytes",
                    "login_hint");
    if (!prompt.empty() && prompt != "login" && prompt != "consent" && prompt != "select_account")
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "prompt must be login, consent or select_account",
                    "prompt");

    // A connection ended by a claims challenge (CAE): this sign-in must satisfy it.
    std::string claims;
    if (AccountStore::LoadResult current = store_.load_grant(account);
        current.grant && current.grant->record.state == GrantState::expired)
        claims = current.grant->record.claims;

    Pkce pkce = make_pkce();
    std::string state = random_urlsafe(32);
    int64_t now = host_.now_unix_ms();
    pending_.start(account, {state, pkce.verifier, login_hint, {}}, now);
    json::object out{
        {"action", "redirect"},
        {"authorization_url", authorization_url(config_, state, pkce.challenge, login_hint, prompt, claims)},
        {"expires_at_ms", now + config_.pending_connect_ttl_ms}};
    return json::serialize(out);
}

std::string ConnectFlow::result(std::string_view account, std::string_view outcome, const std::string& message,
                                const std::string& code, const std::string& operator_message) {
    json::object r{{"schema", "ep.connect_result/1"}, {"outcome", outcome}, {"message", message}};
    if (!code.empty()) r["code"] = code;
    if (!operator_message.empty()) r["operator_message"] = operator_message;
    r["status"] = status_(account);
    return json::serialize(r);
}

std::string ConnectFlow::complete(std::string_view account, std::string_view callback_json) {
    std::map<std::string, std::string> params = parse_callback(callback_json);

    // An administrator's answer to the admin-consent link: informational only (its `tenant`
    // cannot be trusted, outlook_plugin/docs/microsoft-behaviour.md §5), nothing is stored.
    if (params.count("admin_consent")) {
        if (params.count("error"))
            return result(
                account, "admin_consent_declined",
                "The administrator did not grant consent (" + shown_text(param(params, "error_description")) + ").",
                "AADSTS" + std::to_string(aadsts_code(param(params, "error_description"))));
        return result(account, "admin_consent_granted",
                      "An administrator approved this app for the organisation. People can now connect.");
    }

    std::string state = param(params, "state");
    if (state.empty())
        return result(account, "forgery_suspected",
                      "The answer from Microsoft carries no state, so it cannot be matched to a sign-in started here. "
                      "Nothing was stored.",
                      "state_missing");
    PendingSignIns::Answer answer = pending_.consume(account, state, host_.now_unix_ms());
    if (answer.match == PendingSignIns::Match::unknown || answer.match == PendingSignIns::Match::reused) {
        const bool reused = answer.match == PendingSignIns::Match::reused;
        log_(EP_LOG_WARN, std::string("refused a sign-in answer for account ") + std::string(account) +
                              (reused ? ": its state was already used" : ": its state is unknown"));
        return result(account, "forgery_suspected",
                      reused ? "This sign-in answer was already used. Nothing was stored; start connecting again."
                             : "This sign-in answer does not match a sign-in started for this account, so it was "
                               "refused as a possible forgery. Nothing was stored; start connecting again.",
                      reused ? "state_reused" : "state_unknown");
    }
    const PendingFlow& flow = *answer.flow;
    if (answer.match == PendingSignIns::Match::expired)
        return result(account, "flow_expired",
                      "The sign-in took longer than " + std::to_string(config_.pending_connect_ttl_ms / 60000) +
                          " minutes and expired. Nothing was stored; start connecting again.",
                      "flow_expired");
    if (params.count("error")) return redirect_error(account, params, flow.login_hint);
    std::string code = param(params, "code");
    if (code.empty())
        return result(account, "failed", "Microsoft's answer has neither a code nor an error. Start connecting again.",
                      "no_code");
    SecretString secret_code(std::move(code));
    return redeem(account, secret_code.view(), flow.verifier, flow.login_hint);
}

std::string ConnectFlow::record_approval_required(std::string_view account, const std::string& code,
                                                  const std::string& login_hint, const std::string& tenant_id) {
    std::string url = admin_consent_url(config_, admin_consent_tenant(config_, tenant_id, login_hint));
    std::string message =
        "Your organisation requires an administrator to approve this app. Ask your IT administrator "
        "to approve application " +
        config_.client_id + ", then connect again.";
    // An existing working connection is not replaced by a failed attempt to reconnect.
    for (int attempt = 0; attempt < kMaxStoreRetries; ++attempt) {
        AccountStore::LoadResult current = store_.load_grant(account);
        if (current.grant && current.grant->record.state == GrantState::connected) break;
        GrantRecord r;
        r.state = GrantState::admin_approval_required;
        r.reason = "admin_approval_required";
        r.message = message;
        r.error_code = code;
        r.admin_consent_url = url;
        r.since_ms = host_.now_unix_ms();
        r.tenant_id = tenant_id;
        r.cloud = to_string(config_.cloud);
        uint64_t version = current.grant        ? current.grant->version
                           : current.unreadable ? current.unreadable->version
                                                : 0;
        if (store_.save_grant(account, r, version)) break;
    }
    json::object out = json::parse(result(account, "admin_approval_required", message, code)).as_object();
    out["application_id"] = config_.client_id;
    out["admin_consent_url"] = url;
    return json::serialize(out);
}

std::string ConnectFlow::redirect_error(std::string_view account, const std::map<std::string, std::string>& params,
                                        const std::string& login_hint) {
    std::string error = param(params, "error");
    std::string description = param(params, "error_description");
    int aad = aadsts_code(description);
    std::string code = aad ? "AADSTS" + std::to_string(aad) : error;
    std::string ms = shown_text(description);
    std::string ms_text = without_aadsts_prefix(ms);  // where the message names the code already

    if (error == "access_denied" && param(params, "error_subcode") == "cancel")
        return result(account, "cancelled", "You cancelled the sign-in at Microsoft. Nothing was stored.", code);
    // Some tenants report a user's Cancel as consent_required without any AADSTS code
    // (outlook_plugin/docs/microsoft-behaviour.md §9); an administrator's approval is only required when Microsoft
    // names it (65001, 9009x).
    if (error == "consent_required" && aad == 0)
        return result(account, "cancelled", "You cancelled the sign-in at Microsoft. Nothing was stored.", code);
    if (aad == 65004)
        return result(account, "declined",
                      "You declined the permissions at Microsoft. Nothing was stored; connect again to accept them.",
                      code);
    if (one_of(aad, {90094, 90095, 90093, 900941, 900981, 65001}) || error == "consent_required")
        return record_approval_required(account, code, login_hint, "");
    if (one_of(aad, {50076, 50079, 50074, 50078, 50158}) || error == "interaction_required" ||
        error == "login_required")
        return result(account, "interaction_required",
                      "Microsoft needs you to complete an extra sign-in step (such as multi-factor authentication). "
                      "Connect again and complete it.",
                      code);
    if (one_of(aad, {53003, 53000, 53001, 530003, 530035}))
        return result(account, "blocked_by_policy",
                      "A sign-in policy of your organisation blocked this connection (" + ms +
                          "). Contact your IT administrator.",
                      code);
    if (aad == 50020)
        return result(account, "wrong_account",
                      "This Microsoft account cannot be used with this app here (" + ms +
                          "). Try your work account, or the account your organisation gave you.",
                      code);
    if (one_of(aad, {700016, 50011, 50194, 90002, 7000218, 50147, 501491}) || error == "unauthorized_client" ||
        error == "invalid_client" || error == "unsupported_response_type" || error == "invalid_request" ||
        error == "invalid_resource") {
        log_(EP_LOG_ERROR, "sign-in refused for a configuration problem: " + code + ": " + ms_text);
        return result(
            account, "configuration_error",
            "This integration is not configured correctly. Your administrator has been told; try again later.", code,
            "Microsoft refused the sign-in request (" + code + ": " + ms_text +
                "). Check client_id, authority and redirect_uri.");
    }
    if (error == "server_error" || error == "temporarily_unavailable")
        return result(account, "temporarily_unavailable",
                      "Microsoft's sign-in service had a temporary problem. Nothing was stored; connect again.", code);
    if (error == "access_denied")
        return result(account, "declined", "Microsoft reports that access was denied (" + ms + "). Nothing was stored.",
                      code);
    return result(account, "failed",
                  "The sign-in failed at Microsoft (" + code + (ms_text.empty() ? "" : ": " + ms_text) + ").", code);
}

std::string ConnectFlow::redeem(std::string_view account, std::string_view code, const SecretString& verifier,
                                const std::string& login_hint) {
    HttpResponse response = http_.perform(token_client_.code_redemption(code, verifier.view()));
    if (response.failure != TransferFailure::none)
        return result(account, "temporarily_unavailable",
                      "Microsoft's sign-in service could not be reached (" + response.error +
                          "). Nothing was stored; connect again.",
                      "network");
    TokenResponse tr = parse_token_response(response.status, response.body.view());
    if (!tr.success) return redemption_refused(account, tr, login_hint);

    TokenSuccess& s = *tr.success;
    if (s.refresh_token.empty())
        return result(account, "failed",
                      "Microsoft did not grant lasting access (offline_access), so the connection could not be kept. "
                      "Connect again and accept all permissions.",
                      "no_refresh_token");
    // The same rule as on refresh: User.Read and Mail.Send must be granted; extras are reported.
    GrantedScopes granted = read_granted_scopes(s.scope, true);
    if (!granted.missing.empty()) {
        std::string problem = "Microsoft did not grant " + join(granted.missing, ", ");
        log_(EP_LOG_WARN, "refused a token for account " + std::string(account) + ": " + problem);
        return result(account, "failed",
                      problem +
                          ". Nothing was stored; connect again and accept the permissions, or ask your IT "
                          "administrator whether your organisation allows them.",
                      "unexpected_scopes");
    }
    if (!granted.extras.empty())
        log_(EP_LOG_WARN, "account " + std::string(account) + ": " + least_privilege_notice(granted.extras));

    HttpResponse me_response = http_.perform(profile_request(config_, s.access_token.view()));
    if (me_response.failure != TransferFailure::none || me_response.status != 200) {
        std::string why = me_response.failure != TransferFailure::none ? me_response.error
                                                                       : "HTTP " + std::to_string(me_response.status);
        if (auto ge = parse_graph_error(me_response.body.view())) why += " " + ge->code;
        return result(account,
                      me_response.status >= 500 || me_response.failure != TransferFailure::none
                          ? "temporarily_unavailable"
                          : "failed",
                      "Your Microsoft profile could not be read (" + why + "). Nothing was stored; connect again.",
                      "profile_unavailable");
    }
    Profile profile;
    try {
        profile = parse_profile(me_response.body.view());
    } catch (const Error& e) {
        return result(account, "failed", std::string(e.what()) + ". Nothing was stored; connect again.",
                      "profile_unavailable");
    }
    return store_connection(account, s, granted, profile);
}

std::string ConnectFlow::redemption_refused(std::string_view account, const TokenResponse& tr,
                                            const std::string& login_hint) {
    int aad = tr.error ? tr.error->code : 0;
    GrantFailure f = classify_token_failure(tr);
    if (aad == 54005)
        return result(account, "code_redeemed", "This sign-in was already completed once. Start connecting again.",
                      f.code);
    if (aad == 70008)
        return result(account, "flow_expired", "The sign-in code expired before it was used. Start connecting again.",
                      f.code);
    if (one_of(aad, {501481, 50148}))
        return result(account, "failed", "Microsoft could not verify this sign-in (PKCE). Start connecting again.",
                      f.code);
    if (one_of(aad, {500112, 50011, 700005})) {
        f.kind = GrantFailureKind::operator_error;
        f.message = "The token request did not match the sign-in (" + f.code + "): check redirect_uri and authority.";
    }
    if (aad == 65001 || (tr.error && tr.error->suberror == "consent_required"))
        return record_approval_required(account, f.code, login_hint, "");
    switch (f.kind) {
        case GrantFailureKind::operator_error:
            log_(EP_LOG_ERROR, "code redemption refused: " + f.message);
            return result(
                account, "configuration_error",
                "This integration is not configured correctly. Your administrator has been told; try again later.",
                f.code, f.message);
        case GrantFailureKind::interaction:
            return result(account, f.reason == "policy" ? "blocked_by_policy" : "interaction_required", f.message,
                          f.code);
        case GrantFailureKind::transient:
            return result(account, "temporarily_unavailable",
                          "Microsoft's sign-in service had a temporary problem. Nothing was stored; connect again.",
                          f.code);
        case GrantFailureKind::dead_grant:
            break;
    }
    return result(account, "failed", "Microsoft did not complete the sign-in (" + f.code + "). Start connecting again.",
                  f.code);
}

std::string ConnectFlow::store_connection(std::string_view account, TokenSuccess& s, const GrantedScopes& granted,
                                          const Profile& profile) {
    int64_t now = host_.now_unix_ms();
    GrantRecord r;
    r.state = GrantState::connected;
    r.refresh_token = std::move(s.refresh_token);
    r.access_token = SecretString(s.access_token.view());
    r.access_expires_at_ms = now + s.expires_in_s * 1000;
    r.refresh_after_ms = s.refresh_in_s > 0 ? now + s.refresh_in_s * 1000 : 0;
    r.scopes = granted.scopes;
    r.extra_scopes = granted.extras;
    r.connected_at_ms = now;
    r.last_refresh_ms = now;
    r.email = profile.email();
    r.display_name = profile.display_name;
    r.user_id = profile.id;
    r.tenant_id = s.tenant_id;
    r.cloud = to_string(config_.cloud);
    bool saved = false;
    for (int attempt = 0; attempt < kMaxStoreRetries && !saved; ++attempt) {
        AccountStore::LoadResult current = store_.load_grant(account);
        uint64_t version = current.grant        ? current.grant->version
                           : current.unreadable ? current.unreadable->version
                                                : 0;
        saved = store_.save_grant(account, r, version).has_value();
    }
    if (!saved) throw Error(EP_ERR_STORAGE, "storage", "could not store the new connection (the store kept changing)");
    tokens_.remember(std::string(account), s.access_token, r.access_expires_at_ms, r.refresh_after_ms);
    log_(EP_LOG_INFO, "account " + std::string(account) + " connected");
    std::string message = "Connected as " + r.email + ".";
    if (!r.extra_scopes.empty())
        message +=
            " Microsoft also lists permissions this app does not use (" + join(r.extra_scopes, ", ") +
            "), granted earlier or by your organisation; this app only sends mail and reads your name and address.";
    return result(account, "connected", message);
}

}  // namespace outlook
