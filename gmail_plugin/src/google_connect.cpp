#include "google_connect.hpp"

#include "ep_kit/encoding.hpp"
#include "ep_kit/oauth2.hpp"

#include <boost/algorithm/string/join.hpp>
#include <boost/json.hpp>
#include <ep_json/reader.hpp>

namespace gmail {
namespace {

namespace json = boost::json;
namespace reader = ep::json_reader;
using ep::sdk::Error;

constexpr int kMaxStoreRetries = 5;
constexpr int64_t kKeysMaxAgeMs = 3'600'000;

struct ConnectOptions {
    std::string login_hint;
    bool force_consent = false;
    bool choose_account = false;
};

// ep.connect_request/1 as Google can honour it.
ConnectOptions read_connect_request(std::string_view request_json) {
    ConnectOptions options;
    if (request_json.empty()) return options;
    try {
        const json::value v = reader::parse(request_json);
        const reader::Object r(v, "request", {"login_hint", "prompt", "admin_consent"}, reader::Null::is_absent,
                               "must be a JSON object");
        if (r.boolean("admin_consent").value_or(false))
            throw Error(EP_ERR_UNSUPPORTED, "admin_consent_unsupported",
                        "Google has no admin-consent link: a Google Workspace administrator trusts the app in the "
                        "Admin console (Security > API controls > App access control) by its client id",
                        "admin_consent");
        options.login_hint = r.string("login_hint").value_or("");
        if (options.login_hint.size() > 320 || !ep::sdk::is_valid_utf8(options.login_hint))
            r.fail("login_hint", "must be valid UTF-8 of at most 320 bytes");
        const std::string prompt =
            r.one_of<std::string>("prompt", {{"consent", "consent"}, {"select_account", "select_account"}})
                .value_or("");
        options.force_consent = prompt == "consent";
        options.choose_account = prompt == "select_account";
    } catch (const reader::FieldError& e) {
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", e.path() + " " + e.problem(), e.path());
    }
    return options;
}

}  // namespace

std::string SigningKeys::fetch() {
    HttpRequest request;
    request.url = config_.endpoints.jwks();
    request.headers = {"Accept: application/json"};
    request.connect_timeout_ms = config_.connect_timeout_ms;
    request.timeout_ms = config_.request_timeout_ms;
    HttpResponse r = http_.perform(std::move(request));
    if (r.failure != TransferFailure::none || r.status != 200)
        throw Error(EP_ERR_INTERNAL, "keys_unavailable",
                    "Google's signing keys could not be fetched (" +
                        (r.failure != TransferFailure::none ? r.error : "HTTP " + std::to_string(r.status)) + ")");
    // A broken answer is never cached: the next sign-in fetches again instead of failing for an hour.
    boost::system::error_code ec;
    json::value keys = json::parse(r.body.view(), ec);
    const json::object* o = !ec ? keys.if_object() : nullptr;
    const json::value* list = o ? o->if_contains("keys") : nullptr;
    if (!list || !list->is_array() || list->as_array().empty())
        throw Error(EP_ERR_INTERNAL, "keys_unavailable", "Google's signing keys answer is not a key set");
    return std::string(r.body.view());
}

GoogleIdentity SigningKeys::verify(std::string_view id_token, std::string_view nonce, int64_t now_ms) {
    std::lock_guard lock(mutex_);
    IdTokenExpectations expected{client_.client_id, nonce, client_.issuer, now_ms / 1000};
    if (jwks_.empty() || now_ms - fetched_at_ms_ > kKeysMaxAgeMs) {
        jwks_ = fetch();
        fetched_at_ms_ = now_ms;
    }
    try {
        return verify_id_token(id_token, jwks_, expected);
    } catch (const Error& e) {
        // A key Google started using since the last fetch: fetch once more, then decide.
        if (e.field() != "header.kid" || fetched_at_ms_ == now_ms) throw;
    }
    jwks_ = fetch();
    fetched_at_ms_ = now_ms;
    return verify_id_token(id_token, jwks_, expected);
}

struct GoogleConnect::Result {
    Result(std::string outcome_, std::string message_, std::string code_ = {}, std::string operator_message_ = {},
           std::vector<std::string> missing = {})
        : outcome(std::move(outcome_)),
          message(std::move(message_)),
          code(std::move(code_)),
          operator_message(std::move(operator_message_)),
          missing_permissions(std::move(missing)) {}
    std::string outcome;
    std::string message;
    std::string code;
    std::string operator_message;
    std::vector<std::string> missing_permissions;
};

GoogleConnect::GoogleConnect(const GmailConfig& config, const AccountStore& store, HttpEngine& http,
                             const GoogleTokens& google, TokenManager& tokens, const Senders& senders,
                             ep::sdk::Host host, Log log, StatusBuilder status)
    : config_(config),
      store_(store),
      http_(http),
      google_(google),
      tokens_(tokens),
      senders_(senders),
      pending_(store, config.pending_connect_ttl_ms),
      keys_(http, config, google.settings().client),
      host_(host),
      log_(std::move(log)),
      status_(std::move(status)) {}

std::string GoogleConnect::begin(std::string_view account, std::string_view request_json) {
    ConnectOptions options = read_connect_request(request_json);
    AccountStore::LoadResult current = store_.load_grant(account);
    const bool refresh_token_stored = current.grant && current.grant->record.state == GrantState::connected &&
                                      !current.grant->record.refresh_token.empty();
    Pkce pkce = make_pkce();
    const std::string state = random_urlsafe(32);
    const std::string nonce = random_urlsafe(24);
    const std::string login_hint = options.choose_account ? std::string() : options.login_hint;
    const int64_t now = host_.now_unix_ms();
    pending_.start(account, {state, pkce.verifier, login_hint, nonce}, now);
    AuthorizationRequest request{state, nonce, pkce.challenge, login_hint,
                                 refresh_token_stored && !options.force_consent};
    json::object out{{"action", "redirect"},
                     {"authorization_url", authorization_url(google_.settings().client, request)},
                     {"expires_at_ms", now + config_.pending_connect_ttl_ms}};
    return json::serialize(out);
}

std::string GoogleConnect::result(std::string_view account, const Result& r) {
    json::object out{{"schema", "ep.connect_result/1"}, {"outcome", r.outcome}, {"message", r.message}};
    if (!r.code.empty()) out["code"] = r.code;
    if (!r.operator_message.empty()) out["operator_message"] = r.operator_message;
    if (!r.missing_permissions.empty()) out["missing_permissions"] = json::value_from(r.missing_permissions);
    out["status"] = status_(account);
    return json::serialize(out);
}

std::string GoogleConnect::complete(std::string_view account, std::string_view callback_json) {
    AuthorizationCallback callback;
    try {
        callback = read_authorization_callback(callback_json, google_.settings().client.issuer);
    } catch (const Error& e) {
        // No state, or another issuer's answer (RFC 9207 mix-up): nothing ties it to a sign-in here.
        if (e.field() != "callback.state" && e.field() != "callback.iss") throw;
        log_(EP_LOG_WARN, "refused a sign-in answer for account " + std::string(account) + ": " + e.what());
        return result(account, {"forgery_suspected",
                                "The answer from Google cannot be matched to a sign-in started here, so it was refused "
                                "as a possible forgery. Nothing was stored; start connecting again.",
                                e.field() == "callback.iss" ? "issuer_mismatch" : "state_missing"});
    }
    PendingSignIns::Answer answer = pending_.consume(account, callback.state, host_.now_unix_ms());
    if (answer.match == PendingSignIns::Match::unknown || answer.match == PendingSignIns::Match::reused) {
        const bool reused = answer.match == PendingSignIns::Match::reused;
        log_(EP_LOG_WARN, "refused a sign-in answer for account " + std::string(account) +
                              (reused ? ": its state was already used" : ": its state is unknown"));
        return result(account,
                      {"forgery_suspected",
                       reused ? "This sign-in answer was already used. Nothing was stored; start connecting again."
                              : "This sign-in answer does not match a sign-in started for this account, so it was "
                                "refused as a possible forgery. Nothing was stored; start connecting again.",
                       reused ? "state_reused" : "state_unknown"});
    }
    if (answer.match == PendingSignIns::Match::expired)
        return result(account,
                      {"flow_expired",
                       "The sign-in took longer than " + std::to_string(config_.pending_connect_ttl_ms / 60000) +
                           " minutes and expired. Nothing was stored; start connecting again.",
                       "flow_expired"});
    if (!callback.error.empty()) {
        CallbackFailure f = classify_callback_error(callback.error);
        if (f.outcome == "configuration_error")
            log_(EP_LOG_ERROR, "Google refused the sign-in for a configuration problem: " + f.message);
        return result(account,
                      {f.outcome,
                       f.outcome == "configuration_error" ? "This integration is not configured correctly. Your "
                                                            "administrator has been told; try again later."
                                                          : f.message,
                       callback.error, f.outcome == "configuration_error" ? f.message : ""});
    }
    // Granular consent: the redirect already lists what was ticked; no tokens are asked for
    // an account that could not send.
    if (callback.scope) {
        GrantedScopes granted = read_granted_scopes(callback.scope);
        if (!granted.can_send())
            return result(account, {"declined", missing_permission_message(granted), "permission_not_granted", "",
                                    granted.missing});
    }
    return redeem(account, callback, *answer.flow);
}

std::string GoogleConnect::redeem(std::string_view account, const AuthorizationCallback& callback,
                                  const PendingFlow& flow) {
    HttpResponse response = http_.perform(google_.code_exchange_request(callback.code.view(), flow.verifier.view()));
    if (response.failure != TransferFailure::none)
        return result(account, {"temporarily_unavailable",
                                "Google's sign-in service could not be reached (" + response.error +
                                    "). Nothing was stored; connect again.",
                                "network"});
    TokenResponse tr = parse_token_response(response.status, response.body.view());
    if (!tr.success) {
        GrantFailure f = classify_token_failure(tr, TokenStep::code_exchange);
        if (f.connect_outcome == "configuration_error") {
            log_(EP_LOG_ERROR, "code exchange refused: " + f.message);
            return result(account, {"configuration_error",
                                    "This integration is not configured correctly. Your administrator has been "
                                    "told; try again later.",
                                    f.code, f.message});
        }
        return result(account, {f.connect_outcome, f.message, f.code});
    }
    TokenSuccess& s = *tr.success;
    GrantedScopes granted = read_granted_scopes(s.scope);
    if (!granted.can_send())
        return result(account,
                      {"declined", missing_permission_message(granted), "permission_not_granted", "", granted.missing});
    if (!granted.extras.empty())
        log_(EP_LOG_WARN, "account " + std::string(account) + ": " + google_.least_privilege_notice(granted.extras));
    if (s.id_token.empty())
        return result(account,
                      {"failed", "Google did not say who signed in (no ID token). Nothing was stored; connect again.",
                       "no_id_token"});
    GoogleIdentity identity;
    try {
        identity = keys_.verify(s.id_token.view(), flow.nonce, host_.now_unix_ms());
    } catch (const Error& e) {
        log_(EP_LOG_WARN, "refused the ID token for account " + std::string(account) + ": " + e.what());
        return result(account,
                      {e.code() == "keys_unavailable" ? "temporarily_unavailable" : "failed",
                       e.code() == "keys_unavailable"
                           ? "Google's signing keys could not be fetched, so the sign-in could not be checked. "
                             "Nothing was stored; connect again."
                           : "Google's answer about who signed in did not pass this app's checks. Nothing was stored; "
                             "connect again.",
                       e.code()});
    }
    return store_connection(account, s, granted, identity);
}

std::string GoogleConnect::store_connection(std::string_view account, TokenSuccess& s, const GrantedScopes& granted,
                                            const GoogleIdentity& identity) {
    const int64_t now = host_.now_unix_ms();
    GrantRecord r;
    for (int attempt = 0; attempt < kMaxStoreRetries; ++attempt) {
        AccountStore::LoadResult current = store_.load_grant(account);
        const GrantRecord* stored = current.grant ? &current.grant->record : nullptr;
        r = GrantRecord{};
        r.refresh_token = SecretString(s.refresh_token.view());
        if (r.refresh_token.empty()) {
            // Google sends a refresh token only with consent; without one, this app already
            // holds the account's (connected again without a consent screen).
            if (!stored || stored->state != GrantState::connected || stored->user_id != identity.subject ||
                stored->refresh_token.empty()) {
                std::string other = stored && !stored->email.empty() ? stored->email : "another Google account";
                return result(account,
                              {"failed",
                               "Google did not grant lasting access for " + identity.email + ", because " + other +
                                   " is connected here. Disconnect first, then connect " + identity.email + ".",
                               "no_refresh_token"});
            }
            r.refresh_token = SecretString(stored->refresh_token.view());
        }
        r.state = GrantState::connected;
        r.access_token = SecretString(s.access_token.view());
        r.access_expires_at_ms = now + s.expires_in_s * 1000;
        r.scopes = granted.scopes;
        r.extra_scopes = granted.extras;
        r.connected_at_ms = now;
        r.last_refresh_ms = now;
        r.email = identity.email;
        r.user_id = identity.subject;
        r.tenant_id = identity.hosted_domain;
        const uint64_t version = current.grant        ? current.grant->version
                                 : current.unreadable ? current.unreadable->version
                                                      : 0;
        if (store_.save_grant(account, r, version)) {
            senders_.forget(account);
            tokens_.remember(std::string(account), s.access_token, r.access_expires_at_ms, 0);
            log_(EP_LOG_INFO, "account " + std::string(account) + " connected");
            std::string message = "Connected as " + r.email + ".";
            if (!r.extra_scopes.empty())
                message += " Google also lists permissions this app does not use (" +
                           boost::algorithm::join(r.extra_scopes, ", ") +
                           "), granted to it earlier; this app only sends mail and reads your address. You can "
                           "remove them at " +
                           std::string(kGoogleConnectionsUrl) + ".";
            return result(account, {"connected", message});
        }
    }
    throw Error(EP_ERR_STORAGE, "storage", "could not store the new connection (the store kept changing)");
}

}  // namespace gmail
