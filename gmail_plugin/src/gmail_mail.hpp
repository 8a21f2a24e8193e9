// Gmail send: the RFC 5322 message built with GMime 3 from the shared message model, the
// users.messages.send request (JSON with a base64url `raw`, or the multipart media upload for
// large messages), the answer, and how Gmail's errors map to a send outcome. No I/O here: the
// HTTP layer calls these. Sources: https://developers.google.com/workspace/gmail/api/guides/sending
// ("[sending]"), https://developers.google.com/workspace/gmail/api/guides/uploads ("[uploads]"),
// https://developers.google.com/workspace/gmail/api/guides/handle-errors ("[errors]") and Gmail's
// discovery document (googleapis/google-api-python-client
// googleapiclient/discovery_cache/documents/gmail.v1.json, "[discovery]").
#pragma once

#include "ep_kit/send_outcome.hpp"
#include "uses_kit.hpp"

#include <email_provider/message.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gmail {

// ---- the message -------------------------------------------------------------------------

// A JSON request to the metadata URI above this is refused: "Request payload size exceeds the
// limit: 1048576 bytes." (googleapis/google-api-dotnet-client#856).
inline constexpr std::size_t kGmailMaxJsonRequestBytes = 1048576;
// messages.send's mediaUpload maxSize "35MB" [discovery], in bytes.
inline constexpr std::size_t kGmailMaxMessageBytes = 36700160;
// Recipients per message through the Gmail API (https://support.google.com/a/answer/166852).
inline constexpr std::size_t kGmailMaxRecipients = 100;

struct MimeOptions {
    std::string from_address;  // the connected account's address; Gmail replaces any other (not a send-as alias)
    std::string from_name;     // may be empty
    int64_t date_unix_s = 0;   // the Date header
    // The Message-ID's left part; empty: the message's client_request_id when it is a dot-atom,
    // else a random UUID. The right part is the sender's domain.
    std::string message_id_left;
};

// Gmail's rules that ep::message::parse_message does not know: at most 100 recipients, custom
// header names start with "X-" (the others are the message's own, written from the model).
// Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_message") naming the field ("to",
// "headers[2].name").
void validate_for_gmail(const ep::message::Message& m);

// The RFC 5322 message, CRLF line ends, every part 7-bit (GMime chooses quoted-printable or
// base64): From, To, Cc, Bcc (Gmail reads the recipients from these three [discovery]), Reply-To,
// Subject (RFC 2047 when not ASCII), Date, Message-ID, MIME-Version, Importance (when not normal),
// the custom headers; the body as text, HTML, or multipart/alternative of both; inline
// attachments with the HTML in multipart/related; other attachments in multipart/mixed.
// Validates first (validate_for_gmail). Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT) for a bad
// from_address. Threading (ABI 1.2): In-Reply-To and References from the message.
std::string build_mime_message(const ep::message::Message& m, const MimeOptions& options);
// The same with this Message-ID ("<left@right>", as message_id_for gives it).
std::string build_mime_message(const ep::message::Message& m, const MimeOptions& options, std::string_view message_id);

// The Message-ID the message carries, with its angle brackets: the message's own message_id
// (ABI 1.2) when it has one; else made here, so that the sent result reports it and a
// follow-up can name it: options.message_id_left, else the client_request_id when it is a
// dot-atom (the same id across retries), else a random UUID; "@" the sender's domain.
std::string message_id_for(const ep::message::Message& m, const MimeOptions& options);

// ---- the request -------------------------------------------------------------------------

// POST <root><path_and_query> with this Content-Type and body; <root> is https://gmail.googleapis.com
// (or a stand-in's), and the path is the same for both forms except /upload.
struct SendRequest {
    std::string path_and_query;
    std::string content_type;
    std::string body;
    bool media_upload = false;
    std::string message_id;  // the Message-ID the message carries (build_send_request), "<left@right>"
};

// {"raw": base64url(message)} [sending] while that JSON fits kGmailMaxJsonRequestBytes; else the
// multipart upload [uploads] (uploadType=multipart: a JSON part and the message/rfc822 part in
// multipart/related). A thread_id goes in as the Message resource's "threadId" in either form
// (the JSON body, or the upload's JSON part) [discovery]. Throws ep::sdk::Error(
// EP_ERR_INVALID_ARGUMENT, "invalid_message", field "attachments") above kGmailMaxMessageBytes.
SendRequest send_request_for(std::string_view mime_message, std::string_view thread_id = {});

// validate_for_gmail, build_mime_message and send_request_for (with the message's thread_id) in
// one; the request's message_id is the one the message carries.
SendRequest build_send_request(const ep::message::Message& m, const MimeOptions& options);

// ---- Gmail's answers ---------------------------------------------------------------------

// 200: a Message resource, in practice {"id","threadId","labelIds":["SENT"]} [discovery].
struct SentMessage {
    std::string id;
    std::string thread_id;
};
// nullopt when the body is not a JSON object with a non-empty string "id". Never throws.
std::optional<SentMessage> parse_sent_message(std::string_view body) noexcept;

// {"error":{"code","message","errors":[{"domain","reason","message"}],"status"}} [errors].
struct GmailError {
    int code = 0;
    std::string message;
    std::string status;  // INVALID_ARGUMENT, PERMISSION_DENIED, RESOURCE_EXHAUSTED, ...
    std::string reason;  // the first errors[].reason: invalidArgument, rateLimitExceeded, ...
    std::string domain;  // the first errors[].domain: global, usageLimits, ...
};
// nullopt when the body is not that shape (or larger than 64 KiB). Never throws.
std::optional<GmailError> parse_gmail_error(std::string_view body) noexcept;

// Gmail's answers map to the outcomes every provider shares (ep_kit/send_outcome.hpp); its
// "Retry after <ISO-8601>" becomes retry_at_unix_ms.

// Maps the HTTP status and body of users.messages.send to an outcome [errors]. Gmail text quoted
// in user_message is capped and stripped of control characters.
SendClassification classify_send_response(int http_status, std::string_view body, int64_t now_unix_ms);

// "Retry after 2026-12-07T18:03:21.554Z" inside Gmail's message: that time in Unix milliseconds.
// nullopt when there is none or it is malformed. Accepts a 'Z' or a ±hh:mm offset, with or
// without fractional seconds.
std::optional<int64_t> parse_retry_after_text(std::string_view message);

}  // namespace gmail
