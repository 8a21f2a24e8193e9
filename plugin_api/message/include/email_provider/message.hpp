// The message document that crosses the ABI (SCHEMAS.md "message", schema ep.message/1),
// parsed and validated once for every provider. Provider-specific limits (e.g. Graph's
// 4 MB request size) are checked by the provider on top of this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ep::message {

struct Address {
    std::string address;
    std::string name;  // may be empty
};

struct Attachment {
    std::string name;
    std::string content_type;    // defaults to application/octet-stream
    std::string content_base64;  // validated, canonical standard base64
    std::size_t size = 0;        // decoded size in bytes
    bool is_inline = false;
    std::string content_id;  // required when is_inline
};

struct Header {
    std::string name;
    std::string value;
};

enum class Importance { low, normal, high };

struct Message {
    std::vector<Address> to, cc, bcc, reply_to;
    std::string subject;
    std::optional<std::string> text;
    std::optional<std::string> html;
    std::vector<Attachment> attachments;
    std::vector<Header> headers;
    Importance importance = Importance::normal;
    bool save_to_sent_items = true;
    std::string client_request_id;  // may be empty: providers then make one

    // Threading (ABI 1.2, providers advertising EP_CAP_THREADING). Each id is an RFC 5322
    // msg-id with its angle brackets, "<left@right>"; empty / none when absent.
    std::string message_id;               // the Message-ID the message carries; empty: the provider's own
    std::string in_reply_to;              // the msg-id of the message it follows
    std::vector<std::string> references;  // the thread's msg-ids, oldest first (RFC 5322 §3.6.4)
    std::string thread_id;                // a provider's thread id from an earlier send result

    std::size_t recipient_count() const { return to.size() + cc.size() + bcc.size(); }
};

// General limits every provider shares (RFC 5321/5322 and common sense).
inline constexpr std::size_t kMaxAddressLength = 254;
inline constexpr std::size_t kMaxLocalPartLength = 64;
inline constexpr std::size_t kMaxRecipients = 500;  // Exchange Online's per-message limit
inline constexpr std::size_t kMaxSubjectBytes = 998;
inline constexpr std::size_t kMaxClientRequestIdLength = 128;
inline constexpr std::size_t kMaxMessageIdLength = 250;  // a header line stays far below 998
inline constexpr std::size_t kMaxReferences = 100;
inline constexpr std::size_t kMaxThreadIdLength = 256;

// Parses and validates a message document. Throws ep::sdk::Error (EP_ERR_INVALID_ARGUMENT,
// code "invalid_message") whose field() is the JSON path of the offending value, e.g.
// "to[1].address" or "attachments[0].content_base64".
Message parse_message(std::string_view json_text);

// addr-spec check: dot-atom local part (UTF-8 allowed), a domain with at least one dot,
// RFC 5321 lengths.
bool is_valid_address(std::string_view address);

// RFC 5322 §3.6.4 msg-id without comments or folding: "<" dot-atom-text "@" (dot-atom-text
// or "[" dtext "]") ">", at most kMaxMessageIdLength bytes.
bool is_valid_message_id(std::string_view id);

// Strict standard base64 (RFC 4648 §4, padded, no whitespace). Returns the decoded size,
// or nullopt when malformed.
std::optional<std::size_t> base64_decoded_size(std::string_view b64);
std::string base64_encode(std::string_view bytes);
// Decodes strictly-valid base64; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view b64);

}  // namespace ep::message
