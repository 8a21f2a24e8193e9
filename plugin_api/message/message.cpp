#include "email_provider/message.hpp"

#include <email_provider/ep_sdk.hpp>

#include <ep_json/reader.hpp>

#include <openssl/evp.h>

namespace ep::message {
namespace {

namespace reader = ep::json_reader;
using ep::sdk::Error;

bool has_line_break_or_control(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
    return false;
}

// A string field of the document ("key": null reads as absent); "" when absent and optional.
std::string text_field(const reader::Object& o, std::string_view key, bool required) {
    std::string s = required ? o.required_string(key) : o.string(key).value_or("");
    if (!ep::sdk::is_valid_utf8(s)) o.fail(key, "is not valid UTF-8");
    return s;
}

Address address(const reader::Object& a) {
    Address out;
    out.address = text_field(a, "address", true);
    if (out.address.size() > kMaxAddressLength)
        a.fail("address", "is longer than " + std::to_string(kMaxAddressLength) + " characters");
    if (!is_valid_address(out.address)) a.fail("address", "is not a valid email address");
    out.name = text_field(a, "name", false);
    if (has_line_break_or_control(out.name)) a.fail("name", "contains a line break or control character");
    if (out.name.size() > 256) a.fail("name", "is longer than 256 bytes");
    return out;
}

std::vector<Address> addresses(const reader::Object& o, std::string_view key) {
    std::vector<Address> out;
    if (auto arr = o.array(key))
        for (std::size_t i = 0; i < arr->size(); ++i)
            out.push_back(address(arr->object(i, "must be an object with \"address\" and optional \"name\"")));
    return out;
}

Attachment attachment(const reader::Object& a) {
    Attachment att;
    att.name = text_field(a, "name", true);
    if (att.name.empty() || has_line_break_or_control(att.name) || att.name.find_first_of("/\\") != std::string::npos)
        a.fail("name", "must be a non-empty file name without path separators or control characters");
    att.content_type = text_field(a, "content_type", false);
    if (att.content_type.empty()) att.content_type = "application/octet-stream";
    if (has_line_break_or_control(att.content_type) || att.content_type.find('/') == std::string::npos)
        a.fail("content_type", "must be a MIME type such as \"application/pdf\"");
    att.content_base64 = text_field(a, "content_base64", true);
    auto size = base64_decoded_size(att.content_base64);
    if (!size) a.fail("content_base64", "is not valid padded base64 (RFC 4648, no whitespace)");
    att.size = *size;
    att.is_inline = a.boolean("inline").value_or(false);
    att.content_id = text_field(a, "content_id", false);
    if (att.is_inline && att.content_id.empty()) a.fail("content_id", "is required for an inline attachment");
    if (has_line_break_or_control(att.content_id) || att.content_id.find_first_of("<> ") != std::string::npos)
        a.fail("content_id", "must not contain spaces, angle brackets or control characters");
    return att;
}

Header header(const reader::Object& o) {
    Header h;
    h.name = text_field(o, "name", true);
    h.value = text_field(o, "value", true);
    if (h.name.empty()) o.fail("name", "is empty");
    for (unsigned char c : h.name)
        if (c <= 0x20 || c >= 0x7F || c == ':') o.fail("name", "must be printable ASCII without spaces or ':'");
    if (has_line_break_or_control(h.value)) o.fail("value", "contains a line break or control character");
    return h;
}

bool is_atext(unsigned char c) {
    if (c >= 0x80) return true;  // UTF-8 (RFC 6531)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_dtext(unsigned char c) { return c >= 33 && c <= 126 && c != '[' && c != ']' && c != '\\'; }

bool is_dot_atom_text(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
    for (unsigned char c : s)
        if (c != '.' && (c >= 0x80 || !is_atext(c))) return false;
    return true;
}

std::string message_id_field(const reader::Object& o, std::string_view key) {
    std::string id = text_field(o, key, false);
    if (!id.empty() && !is_valid_message_id(id))
        o.fail(key, "must be a message id such as \"<a1b2@example.org>\" (RFC 5322 msg-id, at most " +
                        std::to_string(kMaxMessageIdLength) + " characters)");
    return id;
}

}  // namespace

bool is_valid_message_id(std::string_view id) {
    if (id.size() < 5 || id.size() > kMaxMessageIdLength || id.front() != '<' || id.back() != '>') return false;
    id = id.substr(1, id.size() - 2);
    const auto at = id.find('@');
    if (at == std::string_view::npos) return false;
    std::string_view left = id.substr(0, at), right = id.substr(at + 1);
    if (!is_dot_atom_text(left)) return false;
    if (right.size() >= 2 && right.front() == '[' && right.back() == ']') {
        for (unsigned char c : right.substr(1, right.size() - 2))
            if (!is_dtext(c)) return false;
        return true;
    }
    return is_dot_atom_text(right);
}

bool is_valid_address(std::string_view a) {
    if (a.empty() || a.size() > kMaxAddressLength || !ep::sdk::is_valid_utf8(a)) return false;
    auto at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at == a.size() - 1) return false;
    std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
    if (local.size() > kMaxLocalPartLength) return false;
    // dot-atom: atoms separated by single dots, no leading or trailing dot.
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    for (unsigned char c : local)
        if (c != '.' && !is_atext(c)) return false;
    // Domain: labels of letters, digits, hyphens (or UTF-8 for IDNs), at least two labels.
    if (domain.find('.') == std::string_view::npos) return false;
    std::size_t start = 0;
    while (start <= domain.size()) {
        std::size_t dot = domain.find('.', start);
        std::string_view label =
            domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (unsigned char c : label)
            if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
                return false;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return true;
}

std::optional<std::size_t> base64_decoded_size(std::string_view b64) {
    // OpenSSL's decoder tolerates whitespace and does not report padding; Graph does not,
    // so the shape is checked here and OpenSSL only does the arithmetic.
    if (b64.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!b64.empty() && b64.back() == '=') pad = (b64.size() >= 2 && b64[b64.size() - 2] == '=') ? 2 : 1;
    for (std::size_t i = 0; i < b64.size() - pad; ++i)
        if (!is_b64_char(b64[i])) return std::nullopt;
    return b64.size() / 4 * 3 - pad;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view b64) {
    auto size = base64_decoded_size(b64);
    if (!size) return std::nullopt;
    std::string out(b64.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0) return std::nullopt;
    out.resize(*size);  // EVP_DecodeBlock counts padding bytes as zeros
    return out;
}

namespace {

void read_recipients(const reader::Object& o, Message& m) {
    m.to = addresses(o, "to");
    m.cc = addresses(o, "cc");
    m.bcc = addresses(o, "bcc");
    m.reply_to = addresses(o, "reply_to");
    if (m.recipient_count() == 0) o.fail("to", "has no recipient (to, cc and bcc are all empty)");
    if (m.recipient_count() > kMaxRecipients)
        o.fail("to", "has " + std::to_string(m.recipient_count()) + " recipients in to+cc+bcc; the limit is " +
                         std::to_string(kMaxRecipients));
}

void read_content(const reader::Object& o, Message& m) {
    m.subject = text_field(o, "subject", false);
    if (has_line_break_or_control(m.subject)) o.fail("subject", "contains a line break or control character");
    if (m.subject.size() > kMaxSubjectBytes) o.fail("subject", "is longer than 998 bytes");
    if (o.has("text")) m.text = text_field(o, "text", true);
    if (o.has("html")) m.html = text_field(o, "html", true);
    if (!m.text && !m.html) o.fail("text", "and html are both missing: a message needs a body");
    if (auto arr = o.array("attachments"))
        for (std::size_t i = 0; i < arr->size(); ++i) m.attachments.push_back(attachment(arr->object(i)));
    if (auto arr = o.array("headers"))
        for (std::size_t i = 0; i < arr->size(); ++i)
            m.headers.push_back(header(arr->object(i, "must be an object with \"name\" and \"value\"")));
}

void read_options(const reader::Object& o, Message& m) {
    if (!text_field(o, "importance", false).empty())
        m.importance = *o.one_of<Importance>(
            "importance", {{"low", Importance::low}, {"normal", Importance::normal}, {"high", Importance::high}});
    m.save_to_sent_items = o.boolean("save_to_sent_items").value_or(true);
    m.client_request_id = text_field(o, "client_request_id", false);
    if (m.client_request_id.size() > kMaxClientRequestIdLength)
        o.fail("client_request_id", "is longer than 128 characters");
    for (unsigned char c : m.client_request_id)
        if (c <= 0x20 || c >= 0x7F) o.fail("client_request_id", "must be printable ASCII without spaces");
}

void read_threading(const reader::Object& o, Message& m) {
    m.message_id = message_id_field(o, "message_id");
    m.in_reply_to = message_id_field(o, "in_reply_to");
    if (auto arr = o.array("references")) {
        if (arr->size() > kMaxReferences)
            o.fail("references", "has " + std::to_string(arr->size()) + " message ids; the limit is " +
                                     std::to_string(kMaxReferences));
        for (std::size_t i = 0; i < arr->size(); ++i) {
            std::string id = arr->string(i);
            if (!is_valid_message_id(id))
                reader::fail(arr->path(i), "must be a message id such as \"<a1b2@example.org>\" (RFC 5322 msg-id)");
            m.references.push_back(std::move(id));
        }
    }
    m.thread_id = text_field(o, "thread_id", false);
    if (m.thread_id.size() > kMaxThreadIdLength) o.fail("thread_id", "is longer than 256 characters");
    for (unsigned char c : m.thread_id)
        if (c <= 0x20 || c >= 0x7F) o.fail("thread_id", "must be printable ASCII without spaces");
}

}  // namespace

// Keys that ep.message/1 does not name are ignored, as they always were.
Message parse_message(std::string_view json_text) {
    try {
        const boost::json::value root = reader::parse(json_text);
        const reader::Object o(root, "", reader::Null::is_absent, "must be a JSON object");
        Message m;
        read_recipients(o, m);
        read_content(o, m);
        read_options(o, m);
        read_threading(o, m);
        return m;
    } catch (const reader::FieldError& e) {
        const std::string field = e.path().empty() ? "message" : e.path();
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", field + " " + e.problem(), field);
    }
}

}  // namespace ep::message
