// fuzz_google_token_response: gmail::parse_token_response, then classify_token_failure for both
// steps (code exchange and refresh) and the granted-scope check on a success.
//
// Input layout: byte 0 picks the HTTP status (low 4 bits index kStatuses; '0'..'9' give the
// first ten, so seeds stay readable) and what the plugin knows of the grant (bits 4-5 index
// kHistories); the rest is the token endpoint's body.
//
// Google's token endpoint is read on every refresh, from whatever the network (or a proxy, or a
// captive portal) returns: parse_token_response is documented never to throw, and neither may the
// classification. Its words reach people and ep.status/1 / ep.connect_result/1 documents, so they
// must be UTF-8, and they must never carry a token of the answer.
#include "fuzz_support.hpp"

#include <google_oauth.hpp>

#include <boost/json.hpp>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr std::array<int, 16> kStatuses = {200, 400, 401, 429, 500, 503, 0, 403, 408, 404, 200, 302, 502, 201, 999, -1};
constexpr int64_t kDay = 24 * 3600;
// Bits 4-5 of byte 0: ASCII digits (0x30-0x39) pick the last entry, a grant with no history.
constexpr std::array<gmail::GrantHistory, 4> kHistories = {
    gmail::GrantHistory{true, 8 * kDay, 1 * kDay}, gmail::GrantHistory{false, 400 * kDay, 200 * kDay},
    gmail::GrantHistory{true, 1 * kDay, 0}, gmail::GrantHistory{}};

// Largest lifetime for which the callers' now_ms + seconds * 1000 stays in int64_t until 2100.
constexpr int64_t kMaxSafeLifetimeS = (INT64_MAX - 4'102'444'800'000) / 1000;

// ep.connect_result/1 outcomes (plugin_api/SCHEMAS.md).
const std::set<std::string> kConnectOutcomes = {"connected",
                                                "cancelled",
                                                "declined",
                                                "admin_approval_required",
                                                "interaction_required",
                                                "blocked_by_policy",
                                                "wrong_account",
                                                "forgery_suspected",
                                                "flow_expired",
                                                "code_redeemed",
                                                "configuration_error",
                                                "temporarily_unavailable",
                                                "failed"};

// The answer's credentials that no message may repeat. Only values shaped like Google's tokens
// (ya29. access tokens, 1// refresh tokens, eyJ JWTs): a short or plain-word "token" could appear
// in a message's own wording by chance. A token that Google also wrote into its error, as read,
// may be quoted from there.
std::vector<std::string> secrets_in(std::string_view body, const gmail::TokenResponse& r) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    const std::string quotable =
        r.error ? r.error->error + "|" + r.error->error_subtype + "|" + r.error->description : "";
    std::vector<std::string> out;
    for (const char* key : {"access_token", "refresh_token", "id_token"}) {
        const auto* s = v.as_object().if_contains(key);
        if (!s || !s->is_string()) continue;
        const std::string value(s->as_string());
        const bool token_shaped = value.starts_with("ya29.") || value.starts_with("1//") || value.starts_with("eyJ");
        if (token_shaped && value.size() >= 8 && !fuzz::quotes_input(quotable, value, value.size()))
            out.push_back(value);
    }
    return out;
}

void check_no_secret(const std::vector<std::string>& secrets, std::string_view text) {
    for (const auto& s : secrets)
        FUZZ_CHECK(!fuzz::quotes_input(text, s, s.size()), "a token in: " + std::string(text));
}

void check_scopes(const std::optional<std::string>& scope) {
    const gmail::GrantedScopes g = gmail::read_granted_scopes(scope);
    const bool send = scope && scope->find(gmail::kGmailSendScope) != std::string::npos;
    FUZZ_CHECK(!g.can_send() || send, scope.value_or("(absent)"));
    FUZZ_CHECK(gmail::missing_permission_message(g).empty() == g.can_send(), g.scopes);
    FUZZ_CHECK(fuzz::is_document_safe(g.scopes), g.scopes);
    for (const auto& e : g.extras) FUZZ_CHECK(fuzz::is_document_safe(e) && !e.empty(), e);
}

void check_classification(const gmail::TokenResponse& r, gmail::TokenStep step, const gmail::GrantHistory& history,
                          const std::vector<std::string>& secrets) {
    const gmail::GrantFailure f = gmail::classify_token_failure(r, step, history);
    FUZZ_CHECK(!f.message.empty() && fuzz::is_document_safe(f.message), f.message);
    FUZZ_CHECK(fuzz::is_document_safe(f.code) && fuzz::is_document_safe(f.reason), f.code + " " + f.reason);
    FUZZ_CHECK(kConnectOutcomes.count(f.connect_outcome) == 1, f.connect_outcome);
    check_no_secret(secrets, f.message);
    check_no_secret(secrets, f.code);
    using Kind = gmail::GrantFailureKind;
    // A refresh that ends the connection puts ep.status/1 in "expired", which needs a reason;
    // the kinds that keep the connection carry none.
    const bool expires = f.kind == Kind::dead_grant || f.kind == Kind::interaction;
    if (step == gmail::TokenStep::refresh) FUZZ_CHECK(expires == !f.reason.empty(), f.reason);
    if (!expires) FUZZ_CHECK(f.reason.empty(), f.reason);
    // Throttling and outages never drop a user's connection (google-auth-library-python
    // _client.py _can_retry).
    if (r.http_status == 429 || r.http_status >= 500 || r.http_status == 408 || !r.error)
        FUZZ_CHECK(f.kind == Kind::transient, f.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int status = kStatuses[data[0] & 0x0F];
    const gmail::GrantHistory& history = kHistories[(data[0] >> 4) & 0x03];
    const std::string_view body = fuzz::as_text(data + 1, size - 1);
    const gmail::TokenResponse r = gmail::parse_token_response(status, body);
    const std::vector<std::string> secrets = secrets_in(body, r);
    FUZZ_CHECK(r.http_status == status, body);
    // Exactly one of: tokens, Google's error, or a problem saying why there is neither.
    FUZZ_CHECK(!(r.success && r.error), body);
    FUZZ_CHECK((r.success || r.error) == r.problem.empty(), r.problem);
    FUZZ_CHECK(fuzz::is_document_safe(r.problem), r.problem);
    check_no_secret(secrets, r.problem);
    if (r.success) {
        FUZZ_CHECK(status == 200 && !r.success->access_token.empty(), body);
        FUZZ_CHECK(r.success->expires_in_s > 0 && r.success->expires_in_s <= kMaxSafeLifetimeS,
                   std::to_string(r.success->expires_in_s));
        FUZZ_CHECK(
            r.success->refresh_token_expires_in_s >= 0 && r.success->refresh_token_expires_in_s <= kMaxSafeLifetimeS,
            std::to_string(r.success->refresh_token_expires_in_s));
        check_scopes(r.success->scope);
    }
    if (r.error) {
        for (const std::string* s : {&r.error->error, &r.error->error_subtype, &r.error->description}) {
            FUZZ_CHECK(fuzz::is_document_safe(*s), *s);
            check_no_secret(secrets, *s);
        }
    }
    check_classification(r, gmail::TokenStep::code_exchange, history, secrets);
    check_classification(r, gmail::TokenStep::refresh, history, secrets);
    return 0;
}
