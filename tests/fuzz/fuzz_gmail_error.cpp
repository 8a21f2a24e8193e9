// fuzz_gmail_error: what Gmail (or anything between us and it) answers to users.messages.send:
// gmail::parse_gmail_error, classify_send_response and parse_retry_after_text.
//
// Input layout: byte 0 picks the HTTP status (low 4 bits index kStatuses; '0'..'9' give the
// first ten) and the clock (bits 4-5 index kNow); the rest is the response body and, separately,
// a message text for parse_retry_after_text.
//
// The send outcome decides whether a message may be sent again, so besides "no crash" the
// harness checks what protects against duplicate or lost mail: only 2xx is "sent", 5xx is never
// retried silently, only 401 asks for a fresh token, and a held send always has a time to resume.
// Retry times are checked against the C library's own calendar (gmtime_r).
#include "fuzz_support.hpp"

#include <gmail_mail.hpp>

#include <email_provider/ep_sdk.hpp>

#include <array>
#include <ctime>
#include <string>

namespace {

using gmail::SendOutcome;

constexpr std::array<int, 16> kStatuses = {200, 400, 401, 403, 404, 408, 413, 429,
                                           500, 503, 204, 502, 302, 504, 0,   599};
// Unix ms: the epoch, 1999-12-31, 2100-01-01 and 2026-12-07 (last, so that seeds starting with
// an ASCII digit, 0x30-0x39, run at a realistic time).
constexpr std::array<int64_t, 4> kNow = {0, 946'598'400'000, 4'102'444'800'000, 1'796'666'601'000};

// Text shown to the person sending: one line of valid UTF-8.
bool is_displayable(std::string_view s) {
    if (!ep::sdk::is_valid_utf8(s)) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F) return false;
    return true;
}

void check_error(std::string_view body) {
    const std::optional<gmail::GmailError> e = gmail::parse_gmail_error(body);
    if (!e) return;
    FUZZ_CHECK(is_displayable(e->message) && e->message.size() <= 300, e->message);
    for (const std::string* s : {&e->status, &e->reason, &e->domain})
        FUZZ_CHECK(is_displayable(*s) && s->size() <= 100, *s);
}

void check_classification(int status, std::string_view body, int64_t now_ms) {
    const gmail::SendClassification c = gmail::classify_send_response(status, body, now_ms);
    FUZZ_CHECK((c.outcome == SendOutcome::sent) == (status >= 200 && status <= 299), gmail::to_string(c.outcome));
    if (status >= 500 && status <= 599) FUZZ_CHECK(c.outcome == SendOutcome::indeterminate, c.code);
    FUZZ_CHECK(c.retry_with_fresh_token == (status == 401), c.code);
    if (status == 401) FUZZ_CHECK(c.outcome == SendOutcome::auth_expired, c.code);
    if (status == 429) FUZZ_CHECK(c.outcome == SendOutcome::throttled, c.code);
    if (c.permission_denied) FUZZ_CHECK(c.outcome == SendOutcome::auth_expired, c.code);
    // Held sends (the account's sending limit, the operator's project) resume at a known time.
    if (c.sending_limit || c.operator_error) FUZZ_CHECK(c.retry_at_unix_ms.has_value(), c.code);
    if (c.outcome != SendOutcome::sent) FUZZ_CHECK(!c.code.empty(), c.user_message);
    FUZZ_CHECK(is_displayable(c.code) && c.code.size() <= 100, c.code);
    // Gmail's own text is quoted at most 300 bytes; the wording around it is a few hundred more.
    FUZZ_CHECK(!c.user_message.empty() && is_displayable(c.user_message) && c.user_message.size() <= 1024,
               c.user_message);
}

// "Retry after YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)": a time it returns, written back in UTC by
// gmtime_r, must give the same fields when the text said Z with whole seconds.
void check_retry_after(std::string_view message) {
    const std::optional<int64_t> ms = gmail::parse_retry_after_text(message);
    const std::size_t at = message.find("Retry after ");
    if (at == std::string_view::npos) FUZZ_CHECK(!ms, message);
    if (!ms) return;
    const std::string_view t = message.substr(at + 12);
    // Years 0000..9999 with offsets of at most ±99:99 and a leap second.
    FUZZ_CHECK(*ms >= -62'167'219'200'000 - 400'000'000 && *ms <= 253'402'300'800'000 + 400'000'000, message);
    if (t.size() < 20 || (t[19] != 'Z' && t[19] != 'z') || t.substr(17, 2) == "60") return;
    const std::time_t seconds = static_cast<std::time_t>(*ms / 1000);  // whole seconds: exact
    std::tm tm{};
    FUZZ_CHECK(gmtime_r(&seconds, &tm) != nullptr, message);
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    std::string expected(t.substr(0, 19));
    expected[10] = 'T';
    FUZZ_CHECK(expected == text, std::string(message) + " read as " + text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int status = kStatuses[data[0] & 0x0F];
    const int64_t now_ms = kNow[(data[0] >> 4) & 0x03];
    const std::string_view body = fuzz::as_text(data + 1, size - 1);

    check_error(body);
    check_classification(status, body, now_ms);
    check_retry_after(body);
    return 0;
}
