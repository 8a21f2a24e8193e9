// fuzz_graph_error: what Microsoft Graph (or anything between us and it) answers to a send:
// outlook::parse_graph_error, classify_send_response, parse_retry_after_ms, parse_profile and
// parse_bearer_challenge (a 401's WWW-Authenticate).
//
// Input layout: byte 0 picks the HTTP status (low 4 bits index kStatuses; '0'..'9' give the
// first ten) and the clock for Retry-After (bits 4-5 index kNow); the rest is used as the
// response body and, separately, as a Retry-After or WWW-Authenticate header value.
//
// The send outcome decides whether a message may be sent again, so besides "no crash" the
// harness checks the parts of the contract that protect against duplicate or lost mail:
// 202 is the only "sent", 5xx is never retried silently, 401 asks for a fresh token, and
// Retry-After waits are never negative nor longer than the cap.
#include "fuzz_support.hpp"

#include <ep_kit/retry_after.hpp>
#include <graph_mail.hpp>

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <array>
#include <string>

namespace {

using outlook::SendOutcome;

constexpr std::array<int, 16> kStatuses = {202, 400, 401, 403, 404, 408, 413, 429,
                                           500, 503, 200, 204, 302, 504, 0,   599};
// Unix ms: the epoch, 1999-12-31, 2100-01-01 and 2026-06-01 (last, so that a seed starting
// with an ASCII digit, 0x30-0x39, runs at a realistic time).
constexpr std::array<std::int64_t, 4> kNow = {0, 946'598'400'000, 4'102'444'800'000, 1'780'272'000'000};

// Text shown to the person sending: one line of valid UTF-8.
bool is_displayable(std::string_view s) {
    if (!ep::sdk::is_valid_utf8(s)) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F) return false;
    return true;
}

void check_classification(int status, std::string_view body) {
    const outlook::SendClassification c = outlook::classify_send_response(status, body);
    FUZZ_CHECK((c.outcome == SendOutcome::sent) == (status == 202), outlook::to_string(c.outcome));
    if (status >= 500 && status <= 599) FUZZ_CHECK(c.outcome == SendOutcome::indeterminate, c.code);
    // With Retry-After, only a 503 with a throttling code may count as not processed.
    const outlook::SendClassification with_retry_after = outlook::classify_send_response(status, body, true);
    if (status >= 500 && status <= 599)
        FUZZ_CHECK(with_retry_after.outcome == SendOutcome::indeterminate ||
                       (status == 503 && with_retry_after.outcome == SendOutcome::throttled),
                   with_retry_after.code);
    FUZZ_CHECK(c.retry_with_fresh_token == (status == 401), c.code);
    if (status == 401) FUZZ_CHECK(c.outcome == SendOutcome::auth_expired, c.code);
    if (status == 429) FUZZ_CHECK(c.outcome == SendOutcome::throttled, c.code);
    FUZZ_CHECK(!c.user_message.empty() && is_displayable(c.user_message), c.user_message);
    FUZZ_CHECK(is_displayable(c.code), c.code);
    if (status != 202) FUZZ_CHECK(!c.code.empty(), c.user_message);
}

void check_retry_after(std::string_view value, std::int64_t now_ms) {
    const std::optional<std::int64_t> ms = ep::kit::parse_retry_after_ms(value, now_ms);
    if (!ms) return;
    FUZZ_CHECK(*ms >= 0 && *ms <= ep::kit::kMaxRetryAfterMs, std::to_string(*ms));
    // Whole delta-seconds below the cap are exact: Retry-After: 120 means 120 000 ms.
    if (!value.empty() && value.size() <= 5 && value.find_first_not_of("0123456789") == std::string_view::npos)
        FUZZ_CHECK(*ms == std::min<std::int64_t>(std::stoll(std::string(value)) * 1000, ep::kit::kMaxRetryAfterMs),
                   value);
}

// A 401's WWW-Authenticate, as the same bytes: never throws; claims are a JSON object or nothing.
void check_challenge(std::string_view header) {
    const outlook::BearerChallenge c = outlook::parse_bearer_challenge(header);
    FUZZ_CHECK(is_displayable(c.error), c.error);
    if (!c.claims.empty()) {
        boost::system::error_code ec;
        const boost::json::value v = boost::json::parse(c.claims, ec);
        FUZZ_CHECK(!ec && v.is_object(), c.claims);
    }
}

void check_profile(std::string_view body) {
    try {
        const outlook::Profile p = outlook::parse_profile(body);
        // Any one of id, mail and userPrincipalName is enough to connect (issue 12).
        FUZZ_CHECK(!p.email().empty(), body);
    } catch (const ep::sdk::Error& e) {
        FUZZ_CHECK(e.code() == "bad_profile", e.code());
        FUZZ_CHECK(fuzz::is_document_safe(e.what()), e.what());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int status = kStatuses[data[0] & 0x0F];
    const std::int64_t now_ms = kNow[(data[0] >> 4) & 0x03];
    const std::string_view body = fuzz::as_text(data + 1, size - 1);

    if (const auto e = outlook::parse_graph_error(body)) FUZZ_CHECK(!e->code.empty(), body);
    check_classification(status, body);
    check_retry_after(body, now_ms);
    check_challenge(body);
    check_profile(body);
    return 0;
}
