// Renders a validated message as an RFC 5322 / MIME (RFC 2045-2047, 2231) document.
#pragma once

#include <email_provider/message.hpp>

#include <cstdint>
#include <string>

namespace mock {

struct EmlHeaderInfo {
    std::string from_address;
    std::string from_name;
    std::string message_id;  // with angle brackets
    int64_t date_unix_ms = 0;
};

// Custom headers must be named "x-..." (as Graph requires): a message must not set From,
// Bcc or any other header the provider writes itself. Throws ep::sdk::Error naming the field.
void check_custom_headers(const ep::message::Message& message);

// CRLF line endings throughout; Bcc recipients are not written (as a real MTA would not).
// Throws ep::sdk::Error if a header would carry a line break (header injection).
std::string render_eml(const ep::message::Message& message, const EmlHeaderInfo& info);

}  // namespace mock
