// Retry-After, as every provider reads it (RFC 9110 §10.2.3): delta-seconds, Microsoft Graph's
// fractional seconds, and the three HTTP-date forms.
#include <ep_kit/retry_after.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

namespace {
constexpr std::int64_t kNov6_1994_084937_ms = 784'111'777'000;  // RFC 9110's example date
}

TEST(RetryAfter, DelaySeconds) {
    const std::int64_t now = 1'700'000'000'000;
    EXPECT_EQ(ep::kit::parse_retry_after_ms("10", now), 10'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("0", now), 0);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("2.128", now), 2'128);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("2.1", now), 2'100);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("2.1280", now), 2'128);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("2.1281", now), 2'129) << "rounds up, never early";
    EXPECT_EQ(ep::kit::parse_retry_after_ms(" \t7 ", now), 7'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("007", now), 7'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("86399", now), 86'399'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("86401", now), ep::kit::kMaxRetryAfterMs);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("99999999999999999999999999", now), ep::kit::kMaxRetryAfterMs);
}

TEST(RetryAfter, HttpDatesInAllThreeForms) {
    const std::int64_t now = kNov6_1994_084937_ms - 90'000;
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 90'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now), 90'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Sun Nov  6 08:49:37 1994", now), 90'000);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now + 90'500), 0) << "past dates mean now";
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 0), ep::kit::kMaxRetryAfterMs);
    EXPECT_EQ(ep::kit::parse_retry_after_ms("Thu, 01 Jan 1970 00:00:00 GMT", now), 0);
}

TEST(RetryAfter, MalformedValues) {
    const std::int64_t now = kNov6_1994_084937_ms;
    for (std::string_view bad : {"",
                                 "   ",
                                 "-1",
                                 "-0.5",
                                 "+5",
                                 "1e3",
                                 "1.",
                                 ".5",
                                 "1.2.3",
                                 "10s",
                                 "1 0",
                                 "0x10",
                                 "inf",
                                 "nan",
                                 "soon",
                                 "Sun, 06 Nov 1994 08:49:37 PST",
                                 "Sun, 06 Nov 1994",
                                 "Sun, 06 Nov 1994 08:49:37 GMT junk",
                                 "Sun, 06 Foo 1994 08:49:37 GMT",
                                 "Sun, 32 Nov 1994 08:49:37 GMT",
                                 "Sun, 06 Nov 1994 25:49:37 GMT"})
        EXPECT_FALSE(ep::kit::parse_retry_after_ms(bad, now)) << bad;
}
