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

// CRLF line endings throughout; Bcc recipients are not written (as a real MTA would not).
std::string render_eml(const ep::message::Message& message, const EmlHeaderInfo& info);

}  // namespace mock
