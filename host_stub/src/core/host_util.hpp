// Small helpers the host's parts share.
#pragma once

#include <email_provider/ep_sdk.hpp>

#include <boost/json/value.hpp>

#include <openssl/rand.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace host {

// `bytes` random bytes from OpenSSL's CSPRNG, as lower-case hex (session ids, CSRF tokens,
// client request ids).
inline std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> b(bytes);
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
        throw std::runtime_error("the random number generator failed");
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char c : b) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

// Milliseconds on the steady clock, for timers the host clock must not move (web.debug_clock
// may set the host clock; a sweep's pace and a worker's back-off follow this one).
inline int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A host-clock time as the documents write times: "" for 0 (never).
using ep::sdk::iso_time;

// The string member `key` of a JSON object, or "" (absent, not a string, not an object).
inline std::string json_str(const boost::json::value& v, std::string_view key) {
    if (!v.is_object()) return {};
    const auto* member = v.as_object().if_contains(key);
    return member && member->is_string() ? std::string(member->as_string()) : std::string();
}

// Text from a manifest, a plugin or a user, made safe for a terminal or a one-line log:
// control characters (an escape sequence, a line break faking another line) become \xNN.
inline std::string printable(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

}  // namespace host
