// The OAuth 2.0 pieces every provider's sign-in shares, whatever the identity provider: PKCE
// (RFC 7636), form encoding of token requests, reading what came back to the redirect URI
// (ep.callback/1) and cutting an identity provider's text down to a line that is safe to show.
#pragma once

#include "ep_kit/secret_string.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ep::kit {

struct Pkce {
    SecretString verifier;  // 86 characters of [A-Za-z0-9_-]
    std::string challenge;  // base64url(SHA-256(verifier))
};
Pkce make_pkce();
std::string pkce_challenge(std::string_view verifier);

// Every byte outside RFC 3986's unreserved set percent-encoded (including '+', '/' and ' ').
std::string percent_encode(std::string_view value);

// application/x-www-form-urlencoded, every value percent-encoded (including '+').
std::string form_encode(const std::vector<std::pair<std::string, std::string_view>>& fields);

// What came back to the redirect URI (ep.callback/1), as decoded parameters. Throws
// ep::sdk::Error(EP_ERR_INVALID_ARGUMENT) naming the field when the document is malformed.
std::map<std::string, std::string> parse_callback(std::string_view callback_json);

// Identity providers' descriptions may carry trace and correlation lines: the first line,
// printable, at most `max_bytes`, never ending inside a UTF-8 character.
std::string first_line(std::string_view text, std::size_t max_bytes);

}  // namespace ep::kit
