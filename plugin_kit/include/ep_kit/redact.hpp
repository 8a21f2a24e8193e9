// redact.hpp — the last filter between the plugin's log lines and the host's log service.
#pragma once

#include "ep_kit/secret_string.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ep::kit {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Replaces secrets with [REDACTED], keeping the names around them so the line stays useful:
//  - the value of a parameter or JSON field named code, state, code_verifier, code_challenge,
//    client_secret, client_assertion, refresh_token, access_token, id_token, assertion,
//    password or session_state (names case-insensitive), in the forms name=value (the value
//    ends at &, whitespace, a quote or a backslash; name="value" and name='value' too),
//    "name":"value", 'name':'value' and, inside escaped JSON, \"name\":\"value\";
//  - the credential after "Bearer" anywhere (case-insensitive) and after an Authorization
//    header or field of any scheme ("Authorization: Basic [REDACTED]");
//  - anything shaped like a JWT: base64url segments joined by dots, the first starting "eyJ".
// One pass over the text, no regular expressions. Safe to call from any thread.
std::string redact(std::string_view text);

// redact() plus a second net: literal secrets registered as they come into the process
// (the client secret, tokens currently held) are replaced wherever they appear.
// Thread-safe: any number of threads may redact while others register secrets.
class Redactor {
public:
    // The most recent registrations kept; older ones are forgotten (and wiped) first.
    static constexpr std::size_t kCapacity = 10'000;
    // Shorter strings are ignored: they would redact ordinary words.
    static constexpr std::size_t kMinSecretLength = 8;

    void add_secret(std::string_view secret);
    std::string redact(std::string_view text) const;

private:
    static uint64_t prefix_of(std::string_view text) noexcept;
    std::size_t longest_match(std::string_view text) const;
    void forget_oldest();

    mutable std::shared_mutex mutex_;
    std::deque<SecretString> secrets_;  // oldest first; references stay valid on push/pop at the ends
    // Views into secrets_, sorted: finds the longest secret starting at a text position in
    // O(log n) even when thousands of tokens share a long prefix (Microsoft's often do).
    std::set<std::string_view> sorted_;
    // How many secrets start with each 8-byte prefix: a hash lookup rules out almost every
    // text position before any string comparison.
    std::unordered_map<uint64_t, std::size_t> prefixes_;
};

}  // namespace ep::kit
