#include "ep_kit/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

#include <locale.h>  // newlocale (POSIX)
#include <time.h>    // strptime_l, timegm (glibc)

namespace ep::kit {
namespace {

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// delta-seconds, with Graph's decimal fraction: "10", "2.128". Sub-millisecond fractions
// round up so a client never comes back early.
std::optional<std::int64_t> parse_delay_seconds_ms(std::string_view s) {
    const std::size_t dot = s.find('.');
    const std::string_view whole = s.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    if (whole.empty() || !all_digits(whole)) return std::nullopt;
    if (dot != std::string_view::npos && (fraction.empty() || !all_digits(fraction))) return std::nullopt;

    std::int64_t seconds = 0;
    if (std::from_chars(whole.data(), whole.data() + whole.size(), seconds).ec == std::errc::result_out_of_range ||
        seconds >= kMaxRetryAfterMs / 1000)
        return kMaxRetryAfterMs;
    std::int64_t ms = seconds * 1000;
    std::int64_t digit_ms = 100;
    for (std::size_t i = 0; i < fraction.size() && i < 3; ++i, digit_ms /= 10) ms += (fraction[i] - '0') * digit_ms;
    if (fraction.size() > 3 && fraction.find_first_not_of('0', 3) != std::string_view::npos) ++ms;
    return std::min(ms, kMaxRetryAfterMs);
}

// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, then the obsolete RFC 850 and asctime forms.
// strptime_l with the C locale reads English day and month names whatever the host's
// locale; RFC 850's two-digit year follows POSIX (69-99 → 19xx, 00-68 → 20xx).
std::optional<std::int64_t> parse_http_date_unix_ms(const std::string& s) {
    static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", nullptr);
    if (c_locale == nullptr) return std::nullopt;
    for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
        std::tm tm{};
        const char* end = strptime_l(s.c_str(), format, &tm, c_locale);
        if (end != nullptr && *end == '\0') return static_cast<std::int64_t>(timegm(&tm)) * 1000;
    }
    return std::nullopt;
}

std::string_view trim_ows(std::string_view s) {
    const std::size_t first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::optional<std::int64_t> parse_retry_after_ms(std::string_view header_value, std::int64_t now_unix_ms) {
    const std::string_view value = trim_ows(header_value);
    if (value.empty()) return std::nullopt;
    if (value.front() >= '0' && value.front() <= '9') return parse_delay_seconds_ms(value);
    const std::optional<std::int64_t> at_ms = parse_http_date_unix_ms(std::string(value));
    if (!at_ms) return std::nullopt;
    return std::clamp<std::int64_t>(*at_ms - now_unix_ms, 0, kMaxRetryAfterMs);
}

std::string utc_minute(std::int64_t unix_ms) {
    const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    return text;
}

}  // namespace ep::kit
