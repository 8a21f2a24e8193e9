// Retry-After (RFC 9110 §10.2.3), read once for every provider: servers ask for a pause in
// seconds or until a date, and a client must never come back early.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ep::kit {

// Longest wait honoured from Retry-After; anything later is capped to this.
inline constexpr std::int64_t kMaxRetryAfterMs = 24LL * 60 * 60 * 1000;

// Retry-After as milliseconds from now: delta-seconds ("10", or Microsoft Graph's fractional "2.128",
// rounded up to the next millisecond) or an HTTP-date (IMF-fixdate, RFC 850, asctime).
// A date in the past gives 0; values are capped at kMaxRetryAfterMs. nullopt when
// malformed or negative.
std::optional<std::int64_t> parse_retry_after_ms(std::string_view header_value, std::int64_t now_unix_ms);

// A retry time for people: "2026-12-07 18:03 UTC".
std::string utc_minute(std::int64_t unix_ms);

}  // namespace ep::kit
