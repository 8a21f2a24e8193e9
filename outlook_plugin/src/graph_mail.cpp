#include "graph_mail.hpp"

#include "ep_kit/ascii.hpp"
#include "ep_kit/encoding.hpp"
#include "ep_kit/mime_message.hpp"
#include "ep_kit/retry_after.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>
#include <ep_json/reader.hpp>

#include <algorithm>
#include <array>
#include <initializer_list>

namespace outlook {
namespace {

namespace json = boost::json;
using ep::message::Address;
using ep::message::Message;
using ep::sdk::Error;

// ---- JSON writing ------------------------------------------------------------------------
//
// The body is written by hand rather than through boost::json::serialize: a json::value
// holds its own copy of every attachment's base64 and the serializer then escapes it byte by
// byte into a second buffer. Here the base64 is copied once, straight into a buffer reserved
// at the exact final size. Measured at -O2 for a 3 MB attachment: 0.8 ms (of which 0.2 ms is
// the copy itself) against 6-9 ms for building a json::value and serializing it.
// write_send_mail_body runs twice over the same code, once counting and once appending, so
// the 4 MB check measures exactly the bytes that are sent and nothing is allocated for a
// message that is refused.

// Bytes an input byte takes inside a JSON string literal: 2 for the short escapes, 6 for
// \u00XX, 1 otherwise (UTF-8 passes through, as Boost.JSON's serializer does).
constexpr std::array<std::uint8_t, 256> kEscapedWidth = [] {
    std::array<std::uint8_t, 256> width{};
    width.fill(1);
    for (int c = 0; c < 0x20; ++c) width[static_cast<std::size_t>(c)] = 6;
    for (char c : {'"', '\\', '\b', '\f', '\n', '\r', '\t'}) width[static_cast<unsigned char>(c)] = 2;
    return width;
}();

// Bytes are checked a block at a time with a branch-free loop of fixed length, which GCC
// vectorizes at -O2: a 3 MB base64 attachment is then scanned at memory speed rather than
// one byte at a time.
constexpr std::size_t kScanBlock = 32;

bool block_needs_no_escape(const char* p) {
    unsigned char needs_escape = 0;  // not bool: GCC does not vectorize a bool reduction
    for (std::size_t i = 0; i < kScanBlock; ++i) {
        const auto c = static_cast<unsigned char>(p[i]);
        needs_escape |= static_cast<unsigned char>((c < 0x20) | (c == '"') | (c == '\\'));
    }
    return needs_escape == 0;
}

// Walks `s` in blocks: consecutive plain blocks are reported as one run (a base64
// attachment is a single run, copied by one append); a block that holds an escape, and the
// short tail, are reported on their own to be handled byte by byte.
template <class OnPlainRun, class OnMixedBlock>
void scan_for_escapes(std::string_view s, OnPlainRun on_plain_run, OnMixedBlock on_mixed_block) {
    std::size_t run_start = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s.size() - i >= kScanBlock && block_needs_no_escape(s.data() + i)) {
            i += kScanBlock;
            continue;
        }
        const std::string_view block = s.substr(i, kScanBlock);
        on_plain_run(s.substr(run_start, i - run_start));
        on_mixed_block(block);
        i += block.size();
        run_start = i;
    }
    on_plain_run(s.substr(run_start));
}

class JsonCounter {
public:
    void raw(std::string_view s) { size_ += s.size(); }
    void string(std::string_view s) {
        size_ += 2;  // the quotes
        scan_for_escapes(
            s, [this](std::string_view run) { size_ += run.size(); },
            [this](std::string_view block) {
                for (unsigned char c : block) size_ += kEscapedWidth[c];
            });
    }
    std::size_t size() const { return size_; }

private:
    std::size_t size_ = 0;
};

class JsonAppender {
public:
    explicit JsonAppender(std::string& out) : out_(out) {}
    void raw(std::string_view s) { out_.append(s); }
    void string(std::string_view s) {
        out_.push_back('"');
        scan_for_escapes(
            s, [this](std::string_view run) { out_.append(run); },
            [this](std::string_view block) {
                // Escaped into a local buffer first: one append per block, not one per escape.
                char escaped[kScanBlock * 6];
                char* end = escaped;
                for (unsigned char c : block) end = write_escaped(end, c);
                out_.append(escaped, static_cast<std::size_t>(end - escaped));
            });
        out_.push_back('"');
    }

private:
    static char* write_escaped(char* p, unsigned char c) {
        if (kEscapedWidth[c] == 1) {
            *p++ = static_cast<char>(c);
            return p;
        }
        *p++ = '\\';
        switch (c) {
            case '"':
                *p++ = '"';
                break;
            case '\\':
                *p++ = '\\';
                break;
            case '\b':
                *p++ = 'b';
                break;
            case '\f':
                *p++ = 'f';
                break;
            case '\n':
                *p++ = 'n';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\t':
                *p++ = 't';
                break;
            default: {
                static constexpr char hex[] = "0123456789abcdef";
                for (char u : {'u', '0', '0', hex[c >> 4], hex[c & 0xF]}) *p++ = u;
            }
        }
        return p;
    }
    std::string& out_;
};

std::string_view body_content(const Message& m) {
    if (m.html) return *m.html;
    if (m.text) return *m.text;
    return {};
}

template <class Json>
void write_recipients(Json& json, std::string_view key_and_bracket, const std::vector<Address>& list) {
    if (list.empty()) return;
    json.raw(key_and_bracket);
    for (std::size_t i = 0; i < list.size(); ++i) {
        json.raw(i == 0 ? R"({"emailAddress":{"address":)" : R"(,{"emailAddress":{"address":)");
        json.string(list[i].address);
        if (!list[i].name.empty()) {
            json.raw(R"(,"name":)");
            json.string(list[i].name);
        }
        json.raw("}}");
    }
    json.raw("]");
}

template <class Json>
void write_send_mail_body(Json& json, const Message& m) {
    json.raw(R"({"message":{"subject":)");
    json.string(m.subject);
    json.raw(m.html ? R"(,"body":{"contentType":"HTML","content":)" : R"(,"body":{"contentType":"Text","content":)");
    json.string(body_content(m));
    json.raw("}");
    write_recipients(json, R"(,"toRecipients":[)", m.to);
    write_recipients(json, R"(,"ccRecipients":[)", m.cc);
    write_recipients(json, R"(,"bccRecipients":[)", m.bcc);
    write_recipients(json, R"(,"replyTo":[)", m.reply_to);
    if (m.importance == ep::message::Importance::low) json.raw(R"(,"importance":"low")");
    if (m.importance == ep::message::Importance::high) json.raw(R"(,"importance":"high")");
    if (!m.attachments.empty()) {
        json.raw(R"(,"attachments":[)");
        for (std::size_t i = 0; i < m.attachments.size(); ++i) {
            const auto& a = m.attachments[i];
            json.raw(i == 0 ? R"({"@odata.type":"#microsoft.graph.fileAttachment","name":)"
                            : R"(,{"@odata.type":"#microsoft.graph.fileAttachment","name":)");
            json.string(a.name);
            json.raw(R"(,"contentType":)");
            json.string(a.content_type);
            json.raw(R"(,"contentBytes":)");
            json.string(a.content_base64);
            json.raw(a.is_inline ? R"(,"isInline":true)" : R"(,"isInline":false)");
            if (!a.content_id.empty()) {
                json.raw(R"(,"contentId":)");
                json.string(a.content_id);
            }
            json.raw("}");
        }
        json.raw("]");
    }
    // An empty internetMessageHeaders array is itself refused by Graph, so none means absent.
    if (!m.headers.empty()) {
        json.raw(R"(,"internetMessageHeaders":[)");
        for (std::size_t i = 0; i < m.headers.size(); ++i) {
            json.raw(i == 0 ? R"({"name":)" : R"(,{"name":)");
            json.string(m.headers[i].name);
            json.raw(R"(,"value":)");
            json.string(m.headers[i].value);
            json.raw("}");
        }
        json.raw("]");
    }
    json.raw("}");
    if (!m.save_to_sent_items) json.raw(R"(,"saveToSentItems":false)");
    json.raw("}");
}

std::string build_body_of_size(const Message& m, std::size_t size) {
    std::string body;
    body.reserve(size);
    JsonAppender json(body);
    write_send_mail_body(json, m);
    return body;
}

// ---- Graph-specific validation -----------------------------------------------------------

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", field + " " + what, field);
}

void check_headers_for_graph(const Message& m) {
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
        const std::string& name = m.headers[i].name;
        if (name.size() < 2 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-')
            invalid("headers[" + std::to_string(i) + "].name",
                    "\"" + name + "\" must start with \"x-\" or \"X-\": Microsoft Graph only accepts custom headers");
    }
    if (m.headers.size() > kGraphMaxCustomHeaders)
        invalid("headers", "has " + std::to_string(m.headers.size()) +
                               " custom headers; Microsoft Graph accepts at most " +
                               std::to_string(kGraphMaxCustomHeaders));
}

void check_request_size(const Message& m, std::size_t body_size) {
    if (body_size <= kGraphMaxRequestBytes) return;
    const std::string field = !m.attachments.empty() ? "attachments" : m.html ? "html" : "text";
    throw Error(
        EP_ERR_INVALID_ARGUMENT, "invalid_message",
        "the message is too large for Microsoft Graph's 4 MB request limit: it takes " + std::to_string(body_size) +
            " bytes as a Graph request and the limit is " + std::to_string(kGraphMaxRequestBytes) +
            " (attachments grow by a third when base64-encoded). Larger attachments would need the "
            "Mail.ReadWrite permission (upload sessions), which this integration deliberately does not request.",
        field);
}

// ---- Graph answers -----------------------------------------------------------------------

// Graph's error documents are a few hundred bytes; anything far larger is not one.
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
constexpr std::size_t kMaxQuotedGraphText = 300;
// A claims request is a small JSON object; anything far larger is not one.
constexpr std::size_t kMaxClaimsBytes = 8 * 1024;

bool is_any_of(std::string_view code, std::initializer_list<std::string_view> codes) {
    return std::any_of(codes.begin(), codes.end(), [&](std::string_view c) { return iequals(code, c); });
}

const json::object* inner_error_of(const json::object& o) {
    for (const auto& member : o)
        if (iequals(member.key(), "innererror") && member.value().is_object()) return &member.value().as_object();
    return nullptr;
}

void take_string_if_unset(std::string& out, const json::object& o, std::string_view key) {
    if (!out.empty()) return;
    if (auto it = o.find(key); it != o.end() && it->value().is_string()) out = it->value().as_string();
}

// Text from Graph, made safe to show: C0/C1 control characters become spaces and the
// result is cut at a UTF-8 boundary. The input is valid UTF-8 (Boost.JSON checks it).
std::string displayable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const bool c1_control = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                                static_cast<unsigned char>(text[i + 1]) <= 0x9F;
        if (c < 0x20 || c == 0x7F || c1_control) {
            if (!out.empty() && out.back() != ' ') out.push_back(' ');
            i += c1_control ? 1 : 0;
            continue;
        }
        out.push_back(static_cast<char>(c));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > max_bytes) {
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
        out += "\u2026";
    }
    return out;
}

SendClassification rejected(std::string code, std::string user_message) {
    return {SendOutcome::rejected, std::move(code), std::move(user_message)};
}

// Exchange's daily sending limit (ErrorExceededMessageLimit): the mailbox, not the message, is
// refused, so the host holds all its nudges until `retry_at_ms` (SCHEMAS.md sending_limit).
SendClassification daily_limit_reached(std::string code, int64_t retry_at_ms) {
    SendClassification c{SendOutcome::throttled, std::move(code),
                         "Your Outlook mailbox has reached its daily sending limit. Nudges are held and go out "
                         "automatically after " +
                             utc_minute(retry_at_ms) + "."};
    c.sending_limit = true;
    c.retry_at_unix_ms = retry_at_ms;
    return c;
}

// A 4xx other than 401/408/429: Graph refused this message; the code says why.
SendClassification classify_refusal(int http_status, std::string code, const std::optional<GraphError>& error) {
    // Not the message's fault: the connection lost its permission to send
    // (outlook_plugin/docs/microsoft-behaviour.md §9).
    if (is_any_of(code, {"ErrorAccessDenied", "accessDenied"}))
        return {SendOutcome::auth_expired, std::move(code), std::string(kPermissionDeniedMessage), false, true};
    if (is_any_of(code, {"ErrorSendAsDenied"}))
        return rejected(
            std::move(code),
            "Microsoft refused to send as that sender address from this mailbox. Ask your IT admin to check "
            "the mailbox's send-as permissions.");
    if (is_any_of(code, {"MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI"}))
        return rejected(std::move(code),
                        "This Microsoft account has no Exchange Online mailbox that can send through Microsoft Graph "
                        "(for example an unlicensed or on-premises mailbox, or a personal account that is not an "
                        "Outlook.com address). Connect an Outlook or Microsoft 365 mailbox instead.");
    if (is_any_of(code, {"ErrorInvalidRecipients"})) {
        std::string message =
            "Microsoft could not accept at least one recipient address. Check the addresses and send again.";
        if (error && !error->message.empty())
            message += " (Microsoft said: " + displayable(error->message, kMaxQuotedGraphText) + ")";
        return rejected(std::move(code), std::move(message));
    }
    if (http_status == 413 || is_any_of(code, {"ErrorMessageSizeExceeded", "RequestEntityTooLarge"}))
        return rejected(std::move(code),
                        "The message is too large for Outlook. Remove or shrink attachments and send again.");
    if (is_any_of(code, {"ErrorQuotaExceeded"}))
        return rejected(
            std::move(code),
            "Your Outlook mailbox is full. Free up space (for example empty Deleted Items), then send again.");
    std::string message = "Microsoft refused the message (" + code + ")";
    if (error && !error->message.empty()) message += ": " + displayable(error->message, kMaxQuotedGraphText);
    message += ". Sending it again unchanged will not help; if this keeps happening, contact support with this code.";
    return rejected(std::move(code), std::move(message));
}

// ---- WWW-Authenticate --------------------------------------------------------------------

struct AuthParam {
    std::string scheme;  // lower-case, of the challenge the parameter belongs to
    std::string name;    // lower-case
    std::string value;
};

// The auth-params of every challenge in a WWW-Authenticate value (RFC 9110 §11.6.1): Graph may
// send a PoP challenge before the Bearer one, all in one comma-separated list. A word not
// followed by '=' starts a new challenge. Written here: neither Beast nor Boost.URL reads these.
std::vector<AuthParam> auth_params(std::string_view s) {
    std::vector<AuthParam> out;
    std::string scheme;
    std::size_t i = 0;
    auto skip = [&](std::string_view chars) {
        while (i < s.size() && chars.find(s[i]) != std::string_view::npos) ++i;
    };
    while (i < s.size()) {
        skip(" \t,");
        const std::size_t word_start = i;
        while (i < s.size() && s[i] != '=' && s[i] != ',' && s[i] != ' ' && s[i] != '\t') ++i;
        std::string word = ascii_lower(s.substr(word_start, i - word_start));
        skip(" \t");
        if (i >= s.size() || s[i] != '=') {
            if (!word.empty()) scheme = std::move(word);
            continue;
        }
        ++i;
        skip(" \t");
        std::string value;
        if (i < s.size() && s[i] == '"') {
            for (++i; i < s.size() && s[i] != '"'; ++i) {
                if (s[i] == '\\' && i + 1 < s.size()) ++i;
                value.push_back(s[i]);
            }
            ++i;
        } else {
            while (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\t') value.push_back(s[i++]);
        }
        if (!word.empty()) out.push_back({scheme, std::move(word), std::move(value)});
    }
    return out;
}

// The claims are base64 (Graph pads them) or base64url; only a JSON object is a claims request.
std::string decode_claims(std::string_view encoded) {
    std::optional<std::string> text = ep::message::base64_decode(encoded);
    if (!text) {
        std::string unpadded(encoded.substr(0, encoded.find_last_not_of('=') + 1));
        for (char& c : unpadded) c = c == '-' ? '+' : c == '_' ? '/' : c;
        while (unpadded.size() % 4 != 0) unpadded.push_back('=');
        text = ep::message::base64_decode(unpadded);
    }
    if (!text || text->size() > kMaxClaimsBytes) return {};
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    return !ec && v.is_object() ? json::serialize(v) : std::string();
}

// ---- /me ---------------------------------------------------------------------------------

[[noreturn]] void bad_profile(const std::string& what) {
    throw Error(EP_ERR_INTERNAL, "bad_profile", "Microsoft's profile answer (/me) " + what);
}

// Microsoft may add fields and sends null for unset ones: only the named ones are read.
std::string profile_string(const ep::json_reader::Object& o, std::string_view key) {
    const json::value* v = o.find(key);
    if (v == nullptr) return {};
    if (!v->is_string()) bad_profile("has a \"" + std::string(key) + "\" that is not a string");
    return std::string(v->as_string());
}

}  // namespace

// ---- sendMail request ------------------------------------------------------------------

void validate_for_graph(const Message& m) {
    check_headers_for_graph(m);
    check_request_size(m, send_mail_body_size(m));
}

std::size_t send_mail_body_size(const Message& m) {
    JsonCounter counter;
    write_send_mail_body(counter, m);
    return counter.size();
}

std::string build_send_mail_body(const Message& m) { return build_body_of_size(m, send_mail_body_size(m)); }

std::string build_validated_send_mail_body(const Message& m) {
    check_headers_for_graph(m);
    const std::size_t size = send_mail_body_size(m);
    check_request_size(m, size);
    return build_body_of_size(m, size);
}

// ---- sendMail in MIME form --------------------------------------------------------------

bool wants_mime_form(const Message& m) {
    return !m.message_id.empty() || !m.in_reply_to.empty() || !m.references.empty();
}

MimeSendMail build_validated_mime_send_mail(const Message& m, const Sender& from, int64_t date_unix_s) {
    check_headers_for_graph(m);
    std::string id = !m.message_id.empty()
                         ? m.message_id
                         : "<" + random_uuid() + "@" + from.address.substr(from.address.rfind('@') + 1) + ">";
    const std::string mime =
        ep::kit::build_mime_message(m, {from.address, from.name, date_unix_s, id, m.in_reply_to, m.references});
    check_request_size(m, (mime.size() + 2) / 3 * 4);  // base64 (RFC 4648 §4) of the message
    return {ep::message::base64_encode(mime), std::move(id)};
}

// ---- Graph answers -----------------------------------------------------------------------

std::optional<GraphError> parse_graph_error(std::string_view body) noexcept {
    if (body.empty() || body.size() > kMaxErrorBodyBytes) return std::nullopt;
    try {
        boost::system::error_code ec;
        const json::value root = json::parse(body, ec);
        if (ec || !root.is_object()) return std::nullopt;
        auto error_it = root.as_object().find("error");
        if (error_it == root.as_object().end() || !error_it->value().is_object()) return std::nullopt;
        const json::object& error = error_it->value().as_object();
        auto code_it = error.find("code");
        if (code_it == error.end() || !code_it->value().is_string() || code_it->value().as_string().empty())
            return std::nullopt;

        GraphError out;
        out.code = code_it->value().as_string();
        take_string_if_unset(out.message, error, "message");
        for (const json::object* inner = inner_error_of(error); inner != nullptr; inner = inner_error_of(*inner)) {
            take_string_if_unset(out.request_id, *inner, "request-id");
            take_string_if_unset(out.client_request_id, *inner, "client-request-id");
            take_string_if_unset(out.date, *inner, "date");
        }
        return out;
    } catch (...) {  // only std::bad_alloc can get here; the contract is "nullopt, never throw"
        return std::nullopt;
    }
}

SendClassification classify_send_response(int http_status, std::string_view body, bool has_retry_after,
                                          int64_t now_unix_ms, std::optional<int64_t> retry_at_ms) {
    if (http_status == 202) return {SendOutcome::sent, "", "Sent."};

    const std::optional<GraphError> error = parse_graph_error(body);
    std::string code = error ? displayable(error->code, 100) : std::string();
    if (code.find_first_not_of(' ') == std::string::npos) code = "http_" + std::to_string(http_status);
    const std::string status_text = "HTTP " + std::to_string(http_status);

    const bool throttling_code =
        is_any_of(code, {"TooManyRequests", "ApplicationThrottled", "MailboxConcurrency", "activityLimitReached"});
    if (http_status == 503 && has_retry_after && throttling_code)
        return {
            SendOutcome::throttled, std::move(code),
            "Outlook is limiting how fast this account can send; the message was not sent. It is sent again later."};
    if (http_status >= 500 && http_status <= 599)
        return {SendOutcome::indeterminate, std::move(code),
                "Microsoft had a problem (" + status_text +
                    ") and the message may or may not have been sent. "
                    "Check Sent Items in Outlook before sending it again."};
    if (http_status == 401)
        return {SendOutcome::auth_expired, std::move(code),
                "Microsoft no longer accepts this Outlook connection. Reconnect your Outlook account, then send again.",
                true};
    // Checked before 429: whatever its status, this code is the day's limit, not a minute's.
    if (http_status >= 400 && http_status <= 499 && is_any_of(code, {"ErrorExceededMessageLimit"}))
        return daily_limit_reached(std::move(code), retry_at_ms.value_or(now_unix_ms + kDailyLimitHoldMs));
    if (http_status == 429 || (http_status >= 400 && http_status <= 499 && throttling_code))
        return {SendOutcome::throttled, std::move(code),
                "Outlook is limiting how fast this account can send. Wait a few minutes, then send again."};
    // RFC 9110 §15.5.9: the server gave up waiting for the request, so it did not act on it.
    if (http_status == 408)
        return {SendOutcome::transient, std::move(code),
                "Microsoft timed out receiving the message, so it was not sent. Send it again."};
    if (http_status >= 400 && http_status <= 499) return classify_refusal(http_status, std::move(code), error);
    return {SendOutcome::indeterminate, "unexpected_response",
            "Microsoft gave an unexpected answer (" + status_text +
                "), so the message may or may not have been sent. "
                "Check Sent Items in Outlook before sending it again."};
}

BearerChallenge parse_bearer_challenge(std::string_view header) {
    BearerChallenge c;
    for (const AuthParam& p : auth_params(header)) {
        if (p.scheme != "bearer") continue;
        // An error code is an ASCII token; anything else is not Microsoft's and is dropped.
        const bool ascii =
            std::all_of(p.value.begin(), p.value.end(), [](unsigned char ch) { return ch >= 0x20 && ch < 0x7F; });
        if (p.name == "error" && c.error.empty() && ascii) c.error = displayable(p.value, 100);
        if (p.name == "claims" && c.claims.empty()) c.claims = decode_claims(p.value);
    }
    return c;
}

// ---- /me ---------------------------------------------------------------------------------

Profile parse_profile(std::string_view body) {
    namespace reader = ep::json_reader;
    try {
        const json::value root = reader::parse(body);
        const reader::Object o(root, "", reader::Null::is_absent, "is not a JSON object");
        Profile p;
        p.id = profile_string(o, "id");
        p.user_principal_name = profile_string(o, "userPrincipalName");
        p.mail = profile_string(o, "mail");
        p.display_name = profile_string(o, "displayName");
        if (p.email().empty()) bad_profile("has neither \"id\", \"mail\" nor \"userPrincipalName\"");
        return p;
    } catch (const reader::FieldError& e) {
        bad_profile(e.problem());  // not JSON, or not an object
    }
}

}  // namespace outlook
