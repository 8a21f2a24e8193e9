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
SendClassification classify_send_response(int http_status, std::string_view body, bool has_retry_after = false);

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
