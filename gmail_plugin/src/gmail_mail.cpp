#include "gmail_mail.hpp"

#include "ep_kit/ascii.hpp"
#include "ep_kit/encoding.hpp"
#include "ep_kit/mime_message.hpp"
#include "ep_kit/oauth2.hpp"
#include "ep_kit/retry_after.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <initializer_list>
#include <memory>

namespace gmail {
namespace {

namespace json = boost::json;
using ep::message::Message;
using ep::sdk::Error;

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", field + " " + what, field);
}

// ---- the message ------------------------------------------------------------------------

std::string domain_of(std::string_view address) { return std::string(address.substr(address.rfind('@') + 1)); }

// RFC 5322 §3.6.4: msg-id is dot-atom-text "@" ...; a client_request_id that is one keeps the
// same Message-ID across retries of the same message.
bool is_dot_atom_text(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos;
    });
}

}  // namespace

void validate_for_gmail(const Message& m) {
    if (m.recipient_count() > kGmailMaxRecipients)
        invalid("to", "has " + std::to_string(m.recipient_count()) +
                          " recipients in to+cc+bcc; Gmail sends to at most " + std::to_string(kGmailMaxRecipients) +
                          " per message through its API");
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
        const std::string& name = m.headers[i].name;
        if (name.size() < 3 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-')
            invalid("headers[" + std::to_string(i) + "].name",
                    "\"" + name + "\" must start with \"X-\": the other headers are written from the message itself");
    }
}

std::string message_id_for(const Message& m, const MimeOptions& o) {
    if (!m.message_id.empty()) return m.message_id;  // the host's (ABI 1.2), checked by parse_message
    const std::string left = !o.message_id_left.empty()              ? o.message_id_left
                             : is_dot_atom_text(m.client_request_id) ? m.client_request_id
                                                                     : random_uuid();
    return "<" + left + "@" + domain_of(o.from_address) + ">";
}

std::string build_mime_message(const Message& m, const MimeOptions& o) {
    return build_mime_message(m, o, message_id_for(m, o));
}

std::string build_mime_message(const Message& m, const MimeOptions& o, std::string_view message_id) {
    validate_for_gmail(m);
    // In-Reply-To and References (RFC 5322 §3.6.4): with the threadId of the request, Gmail needs them
    // "in compliance with the RFC 2822 standard" to add the message to the thread
    // (https://developers.google.com/workspace/gmail/api/guides/threads). Mail clients thread by them.
    return ep::kit::build_mime_message(
        m, {o.from_address, o.from_name, o.date_unix_s, std::string(message_id), m.in_reply_to, m.references});
}

// ---- the request -------------------------------------------------------------------------

namespace {

constexpr std::string_view kSendPath = "/gmail/v1/users/me/messages/send";
constexpr std::string_view kUploadPath = "/upload/gmail/v1/users/me/messages/send?uploadType=multipart";

// {"raw":"<base64url>"}: base64url has nothing to escape inside a JSON string.
std::size_t raw_json_size(std::size_t message_bytes) { return 10 + (message_bytes * 4 + 2) / 3; }

// ,"threadId":"..." for a follow-up (ABI 1.2): the Message resource's threadId, which Gmail needs to
// add the message to that thread [discovery] (https://developers.google.com/workspace/gmail/api/guides/threads);
// empty for a new thread.
std::string thread_id_member(std::string_view thread_id) {
    std::string member;
    if (thread_id.empty()) return member;
    member = R"(,"threadId":)";
    ep::sdk::append_json_string(member, thread_id);
    return member;
}

// The multipart/related body of [uploads]: the metadata (the threadId, if any) then the
// message. Written here rather than with GMime: the message must pass byte for byte, and GMime
// would parse and write it again (googleapis-common's apirequest.ts writes this body by hand too).
SendRequest media_upload(std::string_view mime, std::string_view thread_member) {
    std::string boundary;
    do boundary = "gmail_upload_" + random_urlsafe(18);
    while (mime.find(boundary) != std::string_view::npos);
    SendRequest r;
    r.path_and_query = kUploadPath;
    r.content_type = "multipart/related; boundary=" + boundary;
    r.media_upload = true;
    r.body.reserve(mime.size() + 4 * boundary.size() + 128);
    r.body += "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{";
    if (!thread_member.empty()) r.body += thread_member.substr(1);  // without its leading comma
    r.body += "}\r\n";
    r.body += "--" + boundary + "\r\nContent-Type: message/rfc822\r\n\r\n";
    r.body += mime;
    r.body += "\r\n--" + boundary + "--\r\n";
    return r;
}

}  // namespace

SendRequest send_request_for(std::string_view mime, std::string_view thread_id) {
    if (mime.size() > kGmailMaxMessageBytes)
        invalid("attachments", "make the message too large for Gmail: it takes " + std::to_string(mime.size()) +
                                   " bytes as an email and Gmail's limit is " + std::to_string(kGmailMaxMessageBytes) +
                                   " bytes (35 MB; attachments grow by a third when encoded)");
    const std::string thread_member = thread_id_member(thread_id);
    const std::size_t json_size = raw_json_size(mime.size()) + thread_member.size();
    if (json_size > kGmailMaxJsonRequestBytes) return media_upload(mime, thread_member);
    SendRequest r;
    r.path_and_query = kSendPath;
    r.content_type = "application/json";
    r.body.reserve(json_size);
    r.body += R"({"raw":")";
    r.body += base64url_encode(mime);
    r.body += '"';
    r.body += thread_member;
    r.body += '}';
    return r;
}

SendRequest build_send_request(const Message& m, const MimeOptions& options) {
    std::string message_id = message_id_for(m, options);
    SendRequest r = send_request_for(build_mime_message(m, options, message_id), m.thread_id);
    r.message_id = std::move(message_id);
    return r;
}

// ---- Gmail's answers ---------------------------------------------------------------------

namespace {

// Gmail's error documents are a few hundred bytes; anything far larger is not one.
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
constexpr std::size_t kMaxQuotedText = 300;

std::string member(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

}  // namespace

std::optional<SentMessage> parse_sent_message(std::string_view body) noexcept {
    try {
        boost::system::error_code ec;
        const json::value v = json::parse(body, ec);
        if (ec || !v.is_object()) return std::nullopt;
        SentMessage sent{member(v.as_object(), "id"), member(v.as_object(), "threadId")};
        if (sent.id.empty()) return std::nullopt;
        return sent;
    } catch (...) {  // only std::bad_alloc can get here; the contract is "nullopt, never throw"
        return std::nullopt;
    }
}

std::optional<GmailError> parse_gmail_error(std::string_view body) noexcept {
    if (body.empty() || body.size() > kMaxErrorBodyBytes) return std::nullopt;
    try {
        boost::system::error_code ec;
        const json::value v = json::parse(body, ec);
        const json::value* error = !ec && v.is_object() ? v.as_object().if_contains("error") : nullptr;
        if (error == nullptr || !error->is_object()) return std::nullopt;
        const json::object& e = error->as_object();
        GmailError out;
        if (const json::value* code = e.if_contains("code"); code != nullptr && code->is_int64())
            out.code = static_cast<int>(code->as_int64());
        out.message = first_line(member(e, "message"), kMaxQuotedText);
        out.status = first_line(member(e, "status"), 100);
        if (const json::value* errors = e.if_contains("errors"); errors != nullptr && errors->is_array() &&
                                                                 !errors->as_array().empty() &&
                                                                 errors->as_array().front().is_object()) {
            out.reason = first_line(member(errors->as_array().front().as_object(), "reason"), 100);
            out.domain = first_line(member(errors->as_array().front().as_object(), "domain"), 100);
        }
        return out;
    } catch (...) {
        return std::nullopt;
    }
}

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// How long to wait when Gmail gives no time but the project, not the message, is at fault.
constexpr int64_t kOperatorRetryMs = 60 * 60 * 1000;

struct Answer {
    int status;
    std::optional<GmailError> error;
    std::string code;
    int64_t now_unix_ms;

    SendClassification with(SendOutcome outcome, std::string message) const {
        SendClassification c;
        c.outcome = outcome;
        c.code = code;
        c.user_message = std::move(message);
        return c;
    }
    std::string quoted() const {
        return error && !error->message.empty() ? " (Google said: " + error->message + ")" : std::string();
    }
};

// 429, 403 rateLimitExceeded/userRateLimitExceeded [errors]: not sent; the per-user limits of
// [errors] and the sending limits of https://support.google.com/a/answer/166852.
SendClassification classify_rate_limit(const Answer& a) {
    SendClassification c = a.with(SendOutcome::throttled, "");
    const std::string message = a.error ? a.error->message : std::string();
    c.retry_at_unix_ms = parse_retry_after_text(message);
    // Over a sending limit an account cannot send "for up to 24 hours" (https://support.google.com/a/answer/166852):
    // a time further out, or already past, is Google's mistake, not a reason to hold nudges for longer.
    if (c.retry_at_unix_ms)
        c.retry_at_unix_ms = std::clamp(*c.retry_at_unix_ms, a.now_unix_ms, a.now_unix_ms + kMaxRetryAfterMs);
    // "User-rate limit exceeded.  Retry after <time> (Mail sending)" [errors] (levz0r/gmail-tester#23):
    // the account's sending limit, lifted at that time (the time can be wrong,
    // googleapis/google-api-ruby-client#20544; it is still the best there is).
    if (contains(message, "Mail sending") && c.retry_at_unix_ms) {
        c.sending_limit = true;
        c.user_message = "Your Gmail account has reached its sending limit. Google allows it to send again at " +
                         utc_minute(*c.retry_at_unix_ms) + "; nudges are held until then and sent after.";
    } else if (contains(message, "concurrent")) {
        c.user_message =
            "Gmail is limiting how many messages this account sends at once; the message was not sent. "
            "It is sent again shortly.";
    } else {
        c.user_message =
            "Gmail is limiting how fast this account can send; the message was not sent. It is sent "
            "again later.";
    }
    return c;
}

// 403s other than rate limits [errors].
SendClassification classify_forbidden(const Answer& a) {
    const std::string reason = a.error ? a.error->reason : std::string();
    // googleworkspace/cli#282: "Request had insufficient authentication scopes."
    if (reason == "insufficientPermissions") {
        SendClassification c = a.with(SendOutcome::auth_expired,
                                      "Google no longer lets this app send email from your Gmail account (the "
                                      "\"Send email on your behalf\" permission is gone). Connect again and tick that "
                                      "box; nudges are kept until then.");
        c.permission_denied = true;
        return c;
    }
    if (reason == "domainPolicy") {
        SendClassification c = a.with(SendOutcome::auth_expired,
                                      "Your Google Workspace administrators have disabled Gmail apps for your "
                                      "account. Ask IT to allow this app; nudges are kept until then.");
        c.permission_denied = true;
        return c;
    }
    // dailyLimitExceeded: the project's own cap; accessNotConfigured: the Gmail API is not
    // enabled in the OAuth client's project (amd/gaia#2116). The operator's to fix.
    if (equals_any(reason, {"dailyLimitExceeded", "accessNotConfigured"})) {
        SendClassification c =
            a.with(SendOutcome::throttled, "This app's Google Cloud project cannot send email right now (" + reason +
                                               "); the operator has been told. The message was not sent and is kept.");
        c.operator_error = true;
        c.retry_at_unix_ms = a.now_unix_ms + kOperatorRetryMs;
        return c;
    }
    return a.with(SendOutcome::rejected, "Google refused the message (" + a.code + ")" + a.quoted() +
                                             ". Sending it again unchanged will not help.");
}

// Other 4xx: this message was refused.
SendClassification classify_refusal(const Answer& a) {
    const std::string reason = a.error ? a.error->reason : std::string();
    const std::string status = a.error ? a.error->status : std::string();
    const std::string message = a.error ? a.error->message : std::string();
    // "Request payload size exceeds the limit: 1048576 bytes." or 413 (googleapis/google-api-dotnet-client#856).
    if (a.status == 413 || contains(message, "payload size exceeds"))
        return a.with(SendOutcome::rejected,
                      "The message is too large for Gmail. Remove or shrink attachments and "
                      "send again.");
    // "Mail service not enabled" (WPManageNinja/fluent-smtp#152, googleapis/google-api-java-client#1648).
    if (reason == "failedPrecondition" || status == "FAILED_PRECONDITION")
        return a.with(SendOutcome::rejected,
                      "This Google account cannot send with Gmail (Gmail is not enabled for it)" + a.quoted() +
                          ". Connect an account that has Gmail.");
    // "Invalid thread_id value" (PipedreamHQ/pipedream#15223): the follow-up's threadId names no
    // thread of this mailbox (deleted, or taken from another mailbox).
    if (contains(message, "thread_id"))
        return a.with(SendOutcome::rejected,
                      "Gmail no longer has the conversation this follow-up belongs to (it may have been deleted)" +
                          a.quoted() + ". Send it as a new message.");
    // "Invalid To header", "Recipient address required" (googleapis/google-api-ruby-client#173,
    // Byron/google-apis-rs#351).
    if (reason == "invalidArgument" || status == "INVALID_ARGUMENT")
        return a.with(SendOutcome::rejected,
                      "Gmail refused the message as invalid" + a.quoted() + ". Check the addresses and send again.");
    return a.with(SendOutcome::rejected, "Gmail refused the message (" + a.code + ")" + a.quoted() +
                                             ". Sending it again unchanged will not help.");
}

}  // namespace

SendClassification classify_send_response(int http_status, std::string_view body, int64_t now_unix_ms) {
    Answer a{http_status, parse_gmail_error(body), "", now_unix_ms};
    if (http_status >= 200 && http_status <= 299) return a.with(SendOutcome::sent, "Sent.");
    a.code = a.error && !a.error->reason.empty()   ? a.error->reason
             : a.error && !a.error->status.empty() ? a.error->status
                                                   : "http_" + std::to_string(http_status);
    const std::string reason = a.error ? a.error->reason : std::string();
    // [errors]: 500 backendError, 502/503/504. Sending is not idempotent and gmail.send cannot
    // read the Sent folder to check, so the message may have gone: never resend silently.
    if (http_status >= 500 && http_status <= 599)
        return a.with(SendOutcome::indeterminate,
                      "Gmail had a problem (HTTP " + std::to_string(http_status) +
                          ") and the message may or may not have been sent. Check Sent in Gmail before sending it "
                          "again.");
    // [errors] 401 authError "Invalid Credentials": refresh the access token once and resend.
    if (http_status == 401) {
        SendClassification c = a.with(SendOutcome::auth_expired,
                                      "Google no longer accepts this Gmail connection. Connect your Gmail account "
                                      "again; nudges are kept until then.");
        c.retry_with_fresh_token = true;
        return c;
    }
    if (http_status == 429 || equals_any(reason, {"rateLimitExceeded", "userRateLimitExceeded"}) ||
        (a.error && a.error->status == "RESOURCE_EXHAUSTED"))
        return classify_rate_limit(a);
    if (http_status == 403) return classify_forbidden(a);
    // RFC 9110 §15.5.9: the server gave up waiting for the request, so it did not act on it.
    if (http_status == 408)
        return a.with(SendOutcome::transient,
                      "Gmail timed out receiving the message, so it was not sent. It is "
                      "sent again.");
    if (http_status >= 400 && http_status <= 499) return classify_refusal(a);
    return a.with(SendOutcome::indeterminate,
                  "Gmail gave an unexpected answer (HTTP " + std::to_string(http_status) +
                      "), so the message may or may not have been sent. Check Sent in Gmail before sending it again.");
}

namespace {

// Reads `count` digits at `pos` into `out`; false when they are not all digits (from_chars alone
// would take a minus sign: "-1" as an hour).
bool digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > s.size() || s.substr(pos, count).find_first_not_of("0123456789") != std::string_view::npos)
        return false;
    const char* first = s.data() + pos;
    auto [end, ec] = std::from_chars(first, first + count, out);
    return ec == std::errc() && end == first + count;
}

}  // namespace

// Hand-written: C++20's std::chrono::parse is not in GCC 12's library, and strptime has no
// fractional seconds or "Z". RFC 3339 §5.6 date-time.
std::optional<int64_t> parse_retry_after_text(std::string_view message) {
    const std::size_t at = message.find("Retry after ");
    if (at == std::string_view::npos) return std::nullopt;
    const std::string_view t = message.substr(at + 12);
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(t, 0, 4, year) || t.substr(4, 1) != "-" || !digits(t, 5, 2, month) || t.substr(7, 1) != "-" ||
        !digits(t, 8, 2, day) || (t.substr(10, 1) != "T" && t.substr(10, 1) != "t") || !digits(t, 11, 2, hour) ||
        t.substr(13, 1) != ":" || !digits(t, 14, 2, minute) || t.substr(16, 1) != ":" || !digits(t, 17, 2, second))
        return std::nullopt;
    std::size_t pos = 19;
    int64_t millis = 0;
    if (pos < t.size() && t[pos] == '.') {
        int64_t scale = 100;
        for (++pos; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, scale /= 10)
            millis += (t[pos] - '0') * scale;
    }
    int offset_minutes = 0;
    if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
        ++pos;
    } else if (int oh = 0, om = 0; pos < t.size() && (t[pos] == '+' || t[pos] == '-') && digits(t, pos + 1, 2, oh) &&
                                   t.substr(pos + 3, 1) == ":" && digits(t, pos + 4, 2, om)) {
        offset_minutes = (t[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    } else {
        return std::nullopt;
    }
    using namespace std::chrono;
    const year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                              std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    const auto when = sys_days{date} + hours{hour} + minutes{minute - offset_minutes} + seconds{second};
    return duration_cast<milliseconds>(when.time_since_epoch()).count() + millis;
}

}  // namespace gmail
