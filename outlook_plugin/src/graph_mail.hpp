// Microsoft Graph mail: the Graph-specific rules on top of the shared message model, the
// POST /me/sendMail request body, how Graph's answers map to a send outcome, Retry-After,
// and the /me profile. No I/O here: the HTTP layer calls these (outlook_plugin/docs/microsoft-behaviour.md §6).
#pragma once

#include "ep_kit/send_outcome.hpp"
#include "uses_kit.hpp"

#include <email_provider/message.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outlook {

// ---- sendMail request ------------------------------------------------------------------

// Graph refuses request bodies above 4 MB ("The maximum request length supported is 4MB").
inline constexpr std::size_t kGraphMaxRequestBytes = 4 * 1024 * 1024;
// InvalidInternetMessageHeaderCollection above this many internetMessageHeaders.
inline constexpr std::size_t kGraphMaxCustomHeaders = 5;

// Graph's rules that ep::message::parse_message does not know, for a message that already
// passed it: custom header names start with "x-"/"X-", at most 5 of them, and the exact
// request body fits in 4 MB. Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_message")
// whose field() is the JSON path in the message document ("headers[2].name", "headers",
// "attachments", or "html"/"text" for an oversized message without attachments).
void validate_for_graph(const ep::message::Message& m);

// The exact JSON body for POST /me/sendMail (outlook_plugin/docs/microsoft-behaviour.md §6b). Graph takes one body:
// when the message has both html and text, HTML is sent (it is what recipients' clients show; the text alternative
// would only matter to text-only readers). Empty recipient lists, empty names, normal importance, absent headers and
// saveToSentItems=true (Graph's default) are omitted. Does not validate: use build_validated_send_mail_body to send.
std::string build_send_mail_body(const ep::message::Message& m);

// Length in bytes of build_send_mail_body(m), without building it.
std::size_t send_mail_body_size(const ep::message::Message& m);

// validate_for_graph + build_send_mail_body in one pass over the content: the size is
// measured once, checked, and the body is written into a buffer of exactly that size.
std::string build_validated_send_mail_body(const ep::message::Message& m);

// ---- sendMail in MIME form --------------------------------------------------------------
//
// POST /me/sendMail with `Content-Type: text/plain` and the RFC 5322 message base64-encoded as the
// body (https://learn.microsoft.com/graph/api/user-sendmail, "Example 4: Send a new message using
// MIME format"). It needs no more than Mail.Send, and it is the only form that carries Message-ID,
// In-Reply-To and References: the JSON form's internetMessageHeaders take x- headers only. The
// MIME form has no saveToSentItems: "This method saves the message in the Sent Items folder"
// (same page), so a threaded message is saved there whatever save_to_sent_items says
// (outlook_plugin/docs/microsoft-behaviour.md §6d).

// Whether the message goes in MIME form: it carries a threading field (message_id, in_reply_to,
// references). Every other message keeps the JSON form.
bool wants_mime_form(const ep::message::Message& m);

// The connected mailbox, the message's From (Graph refuses another sender: ErrorSendAsDenied).
struct Sender {
    std::string address;
    std::string name;
};

struct MimeSendMail {
    std::string body;                 // the base64 of the RFC 5322 message
    std::string internet_message_id;  // the Message-ID it carries, with its angle brackets
};

// The same rules as the JSON form (x- custom headers, at most 5, the 4 MB request limit measured on
// the base64 body, 4/3 of the message), then the message built with GMime (ep_kit/mime_message.hpp):
// Message-ID = message_id, else a new "<uuid@sender's domain>"; In-Reply-To, References. Throws
// ep::sdk::Error(EP_ERR_INVALID_ARGUMENT) naming the field.
MimeSendMail build_validated_mime_send_mail(const ep::message::Message& m, const Sender& from, int64_t date_unix_s);

// ---- Graph answers -----------------------------------------------------------------------

// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}
struct GraphError {
    std::string code;
    std::string message;
    std::string request_id;
    std::string client_request_id;
    std::string date;
};

// Reads Graph's error document. innerError/innererror (any casing) may nest; each id is
// taken from the outermost level that has it. Returns nullopt when the body is not that
// shape (not JSON, no error.code string, larger than 64 KiB). Never throws.
std::optional<GraphError> parse_graph_error(std::string_view body) noexcept;

// Graph's answers map to the outcomes every provider shares (ep_kit/send_outcome.hpp, SCHEMAS.md
// ep.send_result/1).

// Maps the HTTP status and body of POST /me/sendMail to an outcome. The status decides the
// class; within 4xx the Graph code picks the explanation. A 5xx is indeterminate (a 503 or
// 504 does not prove the mail was not delivered, Microsoft Q&A 2286986) except one answer
// that proves it was not processed: 503 with Retry-After whose Graph code is a throttling
// code — throttled requests fail before they are processed (Graph's throttling guidance).
// Graph text quoted in user_message is capped and stripped of control characters.
// ErrorExceededMessageLimit is the mailbox's daily sending limit: throttled with sending_limit,
// held until retry_at_ms when a Retry-After named it, else for kDailyLimitHoldMs from now_unix_ms.
SendClassification classify_send_response(int http_status, std::string_view body, bool has_retry_after = false,
                                          int64_t now_unix_ms = 0, std::optional<int64_t> retry_at_ms = std::nullopt);

// Exchange Online counts a mailbox's recipients over a rolling 24 hours and names no time when the
// limit is reached, so a refused mailbox is held for a whole window: by then every recipient counted
// has left it. Source:
// https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1
inline constexpr int64_t kDailyLimitHoldMs = 24LL * 60 * 60 * 1000;

// For the user, when Microsoft withdrew the permission to send (403 ErrorAccessDenied, or a
// refreshed token without Mail.Send): the product page's "Permission denied" state.
inline constexpr std::string_view kPermissionDeniedMessage =
    "Microsoft denied this app permission to send mail from your mailbox: your organisation's IT administrator may "
    "have removed or restricted it. Contact your IT administrator (this app needs the delegated permissions User.Read, "
    "Mail.Send and offline_access), then connect again. Nudges are kept until then.";

// A 401's `WWW-Authenticate: Bearer ...` challenge. Continuous access evaluation answers a
// revoked session with error="insufficient_claims" and claims="<base64 JSON>"
// (outlook_plugin/docs/microsoft-behaviour.md §9): only an interactive sign-in that carries those claims satisfies it,
// a refresh does not.
struct BearerChallenge {
    std::string error;   // e.g. insufficient_claims, invalid_token; empty when absent
    std::string claims;  // the decoded JSON object; empty when absent or not a JSON object
    bool claims_challenge() const { return error == "insufficient_claims"; }
};
BearerChallenge parse_bearer_challenge(std::string_view www_authenticate);

// ---- /me ---------------------------------------------------------------------------------

// GET /me?$select=id,displayName,mail,userPrincipalName
struct Profile {
    std::string id;  // a GUID for work accounts, 16 hex digits for personal accounts
    std::string display_name;
    std::string mail;  // empty when Graph says null (personal accounts, no Exchange mailbox)
    std::string user_principal_name;

    // The address to show: mail, else the UPN (a personal account's SMTP address), else the id.
    std::string email() const { return !mail.empty() ? mail : !user_principal_name.empty() ? user_principal_name : id; }
};

// Throws ep::sdk::Error(EP_ERR_INTERNAL, "bad_profile") when the body is not a JSON object,
// a field is there but not a string, or none of id, mail, userPrincipalName is there. Any
// one of them may be null or absent: they are shown, never needed to send.
Profile parse_profile(std::string_view body);

}  // namespace outlook
