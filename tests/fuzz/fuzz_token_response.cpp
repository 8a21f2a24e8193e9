// fuzz_token_response: outlook::parse_token_response, then classify_token_failure on the
// result and the scope checks on a granted scope.
//
// Input layout: byte 0 picks the HTTP status (its low 4 bits index kStatuses, so the ASCII
// digits '0'..'9' pick the first ten: seeds stay readable), the rest is the response body.
//
// The token endpoint's answer is parsed on the refresh path of every send, from whatever
// the network (or a proxy, or a captive portal) returns: parse_token_response is documented
// never to throw, and neither may the classification. What the classification produces is
// shown to people and written into ep.status/1 documents, so it must be valid UTF-8; and the
// scope check must never pass a grant that lacks Mail.Send or User.Read.
#include "fuzz_support.hpp"

#include <oauth.hpp>

#include <array>
#include <cstdint>
#include <set>
#include <string>

namespace {

constexpr std::array<int, 16> kStatuses = {200, 400, 401, 429, 500, 503, 0, 403, 404, 408, 200, 302, 504, 201, 999, -1};

// Largest lifetime in seconds for which now_ms + lifetime * 1000 stays in int64_t until 2100.
constexpr std::int64_t kMaxSafeLifetimeS = (INT64_MAX - 4'102'444'800'000) / 1000;

// The scopes read_granted_scopes reports, as a set of words.
std::set<std::string> words(std::string_view s) {
    std::set<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t j = std::min(s.find(' ', i), s.size());
        if (j > i) out.emplace(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

void check_scopes(const std::optional<std::string>& granted) {
    const outlook::GrantedScopes g = outlook::read_granted_scopes(granted, true);
    const auto have = words(g.scopes);
    // Accepted (nothing missing) only with both permissions listed; everything listed is safe
    // to put into status documents.
    FUZZ_CHECK(!g.missing.empty() || (have.count("Mail.Send") == 1 && have.count("User.Read") == 1),
               granted.value_or("(absent)") + " accepted as " + g.scopes);
    for (const auto& e : g.extras) FUZZ_CHECK(fuzz::is_document_safe(e), e);
}

void check_classification(const outlook::TokenResponse& r) {
    const outlook::GrantFailure f = outlook::classify_token_failure(r);
    FUZZ_CHECK(!f.message.empty(), r.problem);
    FUZZ_CHECK(fuzz::is_document_safe(f.message), f.message);
    FUZZ_CHECK(fuzz::is_document_safe(f.code), f.code);
    const bool expires =
        f.kind == outlook::GrantFailureKind::dead_grant || f.kind == outlook::GrantFailureKind::interaction;
    // ep.status/1 "expired" needs a reason from its list; the other kinds carry none.
    FUZZ_CHECK(expires == !f.reason.empty(), f.reason);
    // Throttling and outages are never a reason to drop a user's connection. (Status 0 is
    // "no answer", which comes without a body: with an AAD error body it is not a real case.)
    if (r.http_status == 429 || r.http_status >= 500 || (r.http_status == 0 && !r.error))
        FUZZ_CHECK(f.kind == outlook::GrantFailureKind::transient, f.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int status = kStatuses[data[0] & 0x0F];
    const std::string_view body = fuzz::as_text(data + 1, size - 1);

    const outlook::TokenResponse r = outlook::parse_token_response(status, body);
    FUZZ_CHECK(r.http_status == status, body);
    // Exactly one of: tokens, an AAD error, or a problem saying why there is neither.
    FUZZ_CHECK(!(r.success && r.error), body);
    FUZZ_CHECK((r.success || r.error) == r.problem.empty(), r.problem);
    if (r.success) {
        FUZZ_CHECK(status == 200, body);
        FUZZ_CHECK(!r.success->access_token.empty() && r.success->expires_in_s > 0, body);
        // Callers turn lifetimes into deadlines as now + seconds * 1000 (connect_flow.cpp,
        // token_manager.cpp): a lifetime the parser lets through must not overflow that.
        FUZZ_CHECK(r.success->expires_in_s <= kMaxSafeLifetimeS && r.success->refresh_in_s <= kMaxSafeLifetimeS,
                   std::to_string(r.success->expires_in_s) + " / " + std::to_string(r.success->refresh_in_s));
        check_scopes(r.success->scope);
    }
    if (r.error) FUZZ_CHECK(fuzz::is_document_safe(r.error->description), r.error->description);
    check_classification(r);
    return 0;
}
