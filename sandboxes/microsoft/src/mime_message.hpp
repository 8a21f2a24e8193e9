// The RFC 5322 message of a MIME sendMail, read with GMime 3: what the stand-in checks and
// records (recipients, sender, subject and the threading headers).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ms_sandbox::detail {

struct MimeMailbox {
    std::string address;
    std::string name;
};

struct MimeMessage {
    std::string subject;
    std::vector<MimeMailbox> from, to, cc, bcc, reply_to;
    std::string message_id;  // with its angle brackets; empty when the message has none
    std::string in_reply_to;
    std::vector<std::string> references;  // each with its angle brackets, oldest first
};

// nullopt when GMime finds no message: not a single header field before the body.
std::optional<MimeMessage> parse_mime_message(std::string_view bytes);
// GMime's one-time set-up, which is not thread-safe: the service calls it when it is made, before
// its threads parse (a plugin in the same test process initializes GMime too, see ep_kit/mime_message.hpp).
void init_gmime();

}  // namespace ms_sandbox::detail
