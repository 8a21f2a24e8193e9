// users.messages.send, as JSON {raw, threadId} and as an upload (uploadType=media|multipart), and
// the thread each sent message joins.
// The message is parsed with GMime, never by hand. Facts: Gmail's discovery document
// (googleapis/google-api-python-client discovery_cache/documents/gmail.v1.json: the upload
// path, message/* and maxSize 35 MB), https://developers.google.com/workspace/gmail/api/guides/
// handle-errors (the error body, 401/403/429), .../gmail/api/reference/quota (100 units a send).
#include "service.hpp"

#include <boost/json.hpp>

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace google_sandbox::detail {

namespace json = boost::json;

namespace {

constexpr std::size_t kMetadataLimit = 1048576;  // bytes of a JSON (non-upload) request
constexpr std::size_t kUploadLimit = 36700160;   // 35 MiB, the discovery document's maxSize
constexpr int kSendUnits = 100;                  // quota units of one messages.send

// Google's API error body: {"error": {code, message, errors: [{message, domain, reason}], status}}.
HttpResponse api_error(int code, const std::string& message, const std::string& reason, const std::string& status,
                       const std::string& domain = "global") {
    json::object item{{"message", message}, {"domain", domain}, {"reason", reason}};
    json::object error{{"code", code}, {"message", message}, {"errors", json::array{item}}, {"status", status}};
    return json_response(code, json::object{{"error", error}});
}

HttpResponse auth_error() {
    // googleapis/google-api-nodejs-client#2665: the 401 body clients see.
    json::object item{{"message", "Invalid Credentials"},
                      {"domain", "global"},
                      {"reason", "authError"},
                      {"location", "Authorization"},
                      {"locationType", "header"}};
    json::object error{{"code", 401},
                       {"message",
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                        "or other valid authentication credential. See "
                        "https://developers.google.com/identity/sign-in/web/devconsole-project."},
                       {"errors", json::array{item}},
                       {"status", "UNAUTHENTICATED"}};
    HttpResponse r = json_response(401, json::object{{"error", error}});
    r.set_header("WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
    return r;
}

HttpResponse scope_error() {
    // googleworkspace/cli#282: 403 insufficientPermissions with an ErrorInfo detail.
    HttpResponse r = api_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                               "PERMISSION_DENIED");
    auto body = json::parse(r.body).as_object();
    body["error"].as_object()["errors"].as_array()[0].as_object()["message"] = "Insufficient Permission";
    body["error"].as_object()["details"] = json::array{
        json::object{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                     {"reason", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
                     {"domain", "googleapis.com"},
                     {"metadata", json::object{{"service", "gmail.googleapis.com"},
                                               {"method", "caribou.api.proto.MailboxService.SendMessage"}}}}};
    return json_response(403, body);
}

std::string iso8601(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

template <class T>
struct GObjectFree {
    void operator()(T* p) const {
        if (p) g_object_unref(p);
    }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectFree<T>>;

GPtr<GMimeParser> parser_over(const std::string& bytes, GPtr<GMimeStream>& stream) {
    stream.reset(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
    return GPtr<GMimeParser>(g_mime_parser_new_with_stream(stream.get()));
}

std::vector<std::string> addresses(InternetAddressList* list) {
    std::vector<std::string> out;
    const int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            out.emplace_back(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            auto members = addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
            out.insert(out.end(), members.begin(), members.end());
        }
    }
    return out;
}

// The msg-ids of an In-Reply-To or References header, with their angle brackets, as GMime reads them.
std::vector<std::string> msg_ids(GMimeObject* object, const char* header) {
    std::vector<std::string> out;
    const char* value = g_mime_object_get_header(object, header);
    GMimeReferences* ids = value ? g_mime_references_parse(nullptr, value) : nullptr;
    if (!ids) return out;
    for (int i = 0; i < g_mime_references_length(ids); ++i)
        out.push_back("<" + std::string(g_mime_references_get_message_id(ids, i)) + ">");
    g_mime_references_free(ids);
    return out;
}

// The RFC 5322 message's recipients, subject and threading headers.
std::optional<SentMessage> read_message(const std::string& raw) {
    init_gmime();
    GPtr<GMimeStream> stream;
    auto parser = parser_over(raw, stream);
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
    if (!message) return std::nullopt;
    SentMessage m;
    m.to = addresses(g_mime_message_get_to(message.get()));
    m.cc = addresses(g_mime_message_get_cc(message.get()));
    m.bcc = addresses(g_mime_message_get_bcc(message.get()));
    const char* subject = g_mime_message_get_subject(message.get());
    m.subject = subject ? subject : "";
    const char* message_id = g_mime_message_get_message_id(message.get());
    if (message_id) m.message_id = "<" + std::string(message_id) + ">";
    const std::vector<std::string> in_reply_to = msg_ids(GMIME_OBJECT(message.get()), "In-Reply-To");
    if (!in_reply_to.empty()) m.in_reply_to = in_reply_to.front();
    m.references = msg_ids(GMIME_OBJECT(message.get()), "References");
    m.size = raw.size();
    return m;
}

// The bytes of a part's decoded content.
std::string part_bytes(GMimeObject* object) {
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    if (GMIME_IS_MESSAGE_PART(object)) {
        GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
        if (inner) g_mime_object_write_to_stream(GMIME_OBJECT(inner), nullptr, out.get());
    } else if (GMIME_IS_PART(object)) {
        GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
        if (content) g_mime_data_wrapper_write_to_stream(content, out.get());
    }
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// multipart/related: the JSON metadata, then the message (Gmail's upload guide, "Multipart upload").
std::optional<std::pair<std::string, std::string>> split_multipart(const std::string& content_type,
                                                                   const std::string& body) {
    init_gmime();
    const std::string entity = "Content-Type: " + content_type + "\r\n\r\n" + body;
    GPtr<GMimeStream> stream;
    auto parser = parser_over(entity, stream);
    GPtr<GMimeObject> object(g_mime_parser_construct_part(parser.get(), nullptr));
    if (!object || !GMIME_IS_MULTIPART(object.get())) return std::nullopt;
    GMimeMultipart* multipart = GMIME_MULTIPART(object.get());
    if (g_mime_multipart_get_count(multipart) != 2) return std::nullopt;
    return std::make_pair(part_bytes(g_mime_multipart_get_part(multipart, 0)),
                          part_bytes(g_mime_multipart_get_part(multipart, 1)));
}

}  // namespace

void init_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

namespace {

struct SendRequest {
    std::string raw;  // the RFC 5322 bytes
    std::string thread_id;
    std::string upload_type = "json";
};

HttpResponse invalid(const std::string& message) {
    return api_error(400, message, "invalidArgument", "INVALID_ARGUMENT");
}

// {"raw": base64url, "threadId": ...}: a JSON body or the metadata part of an upload.
std::optional<HttpResponse> read_metadata(const std::string& text, SendRequest& out, bool raw_required) {
    boost::system::error_code ec;
    const json::value doc = json::parse(text, ec);
    if (ec || !doc.is_object()) return invalid("Invalid JSON payload received.");
    const auto& o = doc.as_object();
    if (auto* t = o.if_contains("threadId"); t && t->is_string()) out.thread_id = std::string(t->as_string());
    const auto* raw = o.if_contains("raw");
    if (!raw || !raw->is_string()) {
        if (!raw_required) return std::nullopt;
        // googleapis/google-api-dotnet-client#856.
        return invalid("'raw' RFC822 payload message string or uploading message via /upload/* URL required");
    }
    auto decoded = sandbox::base64url_decode(raw->as_string());
    if (!decoded) return invalid("Invalid value for ByteString: the raw field is not base64url.");
    out.raw = std::move(*decoded);
    return std::nullopt;
}

std::optional<HttpResponse> read_upload(const HttpRequest& request, SendRequest& out) {
    const auto query = sandbox::parse_form(request.query).value_or(Params{});
    out.upload_type = sandbox::param(query, "uploadType").value_or("");
    if (request.body.size() > kUploadLimit)
        return api_error(413, "Request too large for messages.send: the limit is 35 MB.", "uploadTooLarge",
                         "INVALID_ARGUMENT");
    if (out.upload_type == "media") {
        out.raw = request.body;
        return std::nullopt;
    }
    if (out.upload_type != "multipart") return invalid("Invalid uploadType: '" + out.upload_type + "'.");
    auto parts = split_multipart(std::string(request.header("content-type")), request.body);
    if (!parts) return invalid("A multipart upload needs a multipart/related body with metadata and message parts.");
    if (auto refusal = read_metadata(parts->first, out, false)) return refusal;
    out.raw = std::move(parts->second);
    return std::nullopt;
}

// Per-user quota (units a minute) and the daily sending limit, both counted per account over
// every client (handle-errors guide; https://support.google.com/a/answer/166852 for 2,000 a day).
std::optional<HttpResponse> check_quota(Service& svc, const Account& account) {
    const auto& settings = svc.state.scenario.settings;
    auto& sends = svc.state.sends[account.email];
    const std::int64_t now = svc.now();
    while (!sends.empty() && sends.front() <= now - 86400) sends.pop_front();
    const int daily = account.daily_send_limit.value_or(settings.daily_send_limit);
    if (static_cast<int>(sends.size()) >= daily)  // levz0r/gmail-tester#23: the text carries the time
        return api_error(429,
                         "User-rate limit exceeded.  Retry after " + iso8601(sends.front() + 86400) + " (Mail sending)",
                         "rateLimitExceeded", "RESOURCE_EXHAUSTED", "usageLimits");
    const int units = account.send_units_per_minute.value_or(settings.send_units_per_minute);
    const auto in_minute = std::count_if(sends.begin(), sends.end(), [&](std::int64_t t) { return t > now - 60; });
    if ((in_minute + 1) * kSendUnits > units) {
        const std::int64_t first =
            *std::find_if(sends.begin(), sends.end(), [&](std::int64_t t) { return t > now - 60; });
        return api_error(429, "User-rate limit exceeded.  Retry after " + iso8601(first + 60), "userRateLimitExceeded",
                         "RESOURCE_EXHAUSTED", "usageLimits");
    }
    return std::nullopt;
}

// ---- threads ------------------------------------------------------------------------------
// Gmail adds a message to a thread when "the requested threadId" is given, "the References and
// In-Reply-To headers" are set per RFC 2822 and "the Subject headers match"
// (https://developers.google.com/workspace/gmail/api/guides/threads, and Message.threadId in the
// discovery document). Guesses (README "Threads"): a threadId the user has no thread of is
// refused with the text PipedreamHQ/pipedream#15223 reports; a message that misses a criterion
// silently starts a new thread; subjects match after reply/forward prefixes.

// The subject without "Re:", "Fwd:", "Fw:" prefixes (any case) and surrounding spaces: Gmail's own
// replies add "Re: " and stay in the thread.
std::string thread_subject(std::string_view subject) {
    const auto trim = [&] {
        while (!subject.empty() && (subject.front() == ' ' || subject.front() == '\t')) subject.remove_prefix(1);
        while (!subject.empty() && (subject.back() == ' ' || subject.back() == '\t')) subject.remove_suffix(1);
    };
    for (bool stripped = true; stripped;) {
        trim();
        stripped = false;
        for (std::string_view prefix : {"re:", "fwd:", "fw:"})
            if (subject.size() >= prefix.size() &&
                std::equal(prefix.begin(), prefix.end(), subject.begin(),
                           [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
                subject.remove_prefix(prefix.size());
                stripped = true;
            }
    }
    return std::string(subject);
}

// Sets message.thread_id: the requested thread when the message belongs there, else a new one;
// a refusal when the user has no such thread.
std::optional<HttpResponse> assign_thread(const Service& svc, const std::string& requested, SentMessage& message) {
    message.requested_thread_id = requested;
    message.thread_id = message.id;
    if (requested.empty()) return std::nullopt;
    bool exists = false, subject_matches = false, names_a_member = false;
    for (const SentMessage& earlier : svc.state.messages) {
        if (earlier.user != message.user || earlier.thread_id != requested) continue;
        exists = true;
        subject_matches = subject_matches || thread_subject(earlier.subject) == thread_subject(message.subject);
        const auto& refs = message.references;
        names_a_member = names_a_member || (!earlier.message_id.empty() &&
                                            (message.in_reply_to == earlier.message_id ||
                                             std::find(refs.begin(), refs.end(), earlier.message_id) != refs.end()));
    }
    if (!exists) return invalid("Invalid thread_id value");
    if (subject_matches && names_a_member) message.thread_id = requested;
    return std::nullopt;
}

bool may_send(const AccessToken& at) {
    static const char* senders[] = {kGmailSendScope, "https://www.googleapis.com/auth/gmail.compose",
                                    "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"};
    return std::any_of(std::begin(senders), std::end(senders), [&](const char* s) {
        return std::find(at.scopes.begin(), at.scopes.end(), s) != at.scopes.end();
    });
}

}  // namespace

// Status texts as the handle-errors guide lists them.
HttpResponse gmail_error_for_status(int status) {
    switch (status) {
        case 400:
            return invalid("Invalid argument");
        case 401:
            return auth_error();
        case 403:
            return api_error(403, "Rate Limit Exceeded", "rateLimitExceeded", "PERMISSION_DENIED", "usageLimits");
        case 429:
            return api_error(429, "Too many concurrent requests for user", "rateLimitExceeded", "RESOURCE_EXHAUSTED",
                             "usageLimits");
        case 500:
            return api_error(500, "Backend Error", "backendError", "INTERNAL");
        case 503:
            return api_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE");
        default:
            return api_error(status, "Backend Error", "backendError", status == 504 ? "DEADLINE_EXCEEDED" : "UNKNOWN");
    }
}

HttpResponse handle_send(Service& svc, const HttpRequest& request, const std::string& user_id, bool upload) {
    if (request.method != "POST") return api_error(405, "Method Not Allowed", "httpMethodNotAllowed", "UNIMPLEMENTED");
    const AccessToken* at = bearer_token(svc, request);
    if (!at) return auth_error();
    if (!may_send(*at)) return scope_error();
    const Account& account = *svc.state.scenario.account(at->email);
    if (user_id != "me" && user_id != account.email)
        return api_error(403, "Delegation denied for " + account.email, "forbidden", "PERMISSION_DENIED");
    if (!account.gmail_enabled)  // WPManageNinja/fluent-smtp#152
        return api_error(400, "Mail service not enabled", "failedPrecondition", "FAILED_PRECONDITION");
    SendRequest send;
    if (!upload && request.body.size() > kMetadataLimit)  // googleapis/google-api-nodejs-client#1491
        return api_error(400, "Request payload size exceeds the limit: 1048576 bytes.", "badRequest",
                         "INVALID_ARGUMENT");
    if (auto refusal = upload ? read_upload(request, send) : read_metadata(request.body, send, true)) return *refusal;
    auto message = read_message(send.raw);
    // googleapis/google-api-ruby-client#173, Byron/google-apis-rs#351.
    if (!message || message->to.size() + message->cc.size() + message->bcc.size() == 0)
        return invalid("Recipient address required");
    message->id = sandbox::to_hex(sandbox::sha256(sandbox::random_urlsafe(32))).substr(0, 16);
    message->user = account.email;
    if (auto refusal = assign_thread(svc, send.thread_id, *message)) return *refusal;
    if (auto refusal = check_quota(svc, account)) return *refusal;
    svc.state.sends[account.email].push_back(svc.now());
    // Gmail sends from the primary address when From is absent or names an address the account
    // may not send as (googleapis/google-api-php-client#2393); send-as aliases are not modelled.
    message->from = account.email;
    message->upload_type = send.upload_type;
    message->sent_at_unix = svc.now();
    svc.state.messages.push_back(*message);
    return json_response(
        200, json::object{{"id", message->id}, {"threadId", message->thread_id}, {"labelIds", json::array{"SENT"}}});
}

}  // namespace google_sandbox::detail
