// Small encoding and randomness helpers over OpenSSL (base64url, SHA-256, random values).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ep::kit {

std::string base64url_encode(std::string_view bytes);  // RFC 4648 §5, no padding
std::string base64url_decode(std::string_view text);   // throws std::invalid_argument when malformed
std::string sha256(std::string_view data);             // raw 32 bytes
std::string sha1(std::string_view data);               // raw 20 bytes (x5t thumbprints only)
std::string random_bytes(std::size_t n);               // CSPRNG; throws when it fails
std::string random_urlsafe(std::size_t bytes);         // base64url of `bytes` random bytes
std::string random_uuid();                             // RFC 4122 version 4
std::string hex(std::string_view bytes);

}  // namespace ep::kit
