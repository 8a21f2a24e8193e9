// The RFC 5322 message of the shared message model, built with GMime 3, for every provider that
// sends a message as MIME (Gmail's users.messages.send, Microsoft Graph's MIME sendMail).
#pragma once

#include <email_provider/message.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ep::kit {

// Initializes GMime for this process. g_mime_init is not thread-safe and GMime's type tables are
// process-wide, shared by every plugin in the host that uses GMime (each with its own copy of this
// kit): a provider calls this while it is created, on the host's thread, so that no I/O thread
// initializes GMime while another builds or parses a message. Idempotent.
void init_mime();

// The header fields a provider decides, beside those written from the message itself.
struct MimeEnvelope {
    std::string from_address;  // the connected mailbox's address
    std::string from_name;     // may be empty
    int64_t date_unix_s = 0;   // the Date header
    // RFC 5322 §3.6.4, each msg-id with its angle brackets: "<left@right>"; empty: no such header.
    std::string message_id;
    std::string in_reply_to;
    std::vector<std::string> references;
};

// The RFC 5322 message, CRLF line ends, every part 7-bit (GMime chooses quoted-printable or
// base64): From, To, Cc, Bcc, Reply-To, Subject (RFC 2047 when not ASCII), Date, Message-ID,
// In-Reply-To and References (when the envelope has them), MIME-Version, Importance (when not
// normal), the message's custom headers as they are; the body as text, HTML, or
// multipart/alternative of both; inline attachments with the HTML in multipart/related; other
// attachments in multipart/mixed. Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_sender",
// field "from") for a bad from_address.
std::string build_mime_message(const ep::message::Message& m, const MimeEnvelope& envelope);

}  // namespace ep::kit
