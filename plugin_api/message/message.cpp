#include "email_provider/message.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <openssl/evp.h>

namespace ep::message {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", field + " " + what, field);
}

bool has_line_break_or_control(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
    return false;
}

std::string string_field(const json::object& o, std::string_view key, const std::string& path, bool required) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) {
        if (required) invalid(path, "is missing");
        return {};
    }
    if (!it->value().is_string()) invalid(path, "must be a string");
    std::string s(it->value().as_string());
    if (!ep::sdk::is_valid_utf8(s)) invalid(path, "is not valid UTF-8");
    return s;
}

bool bool_field(const json::object& o, std::string_view key, const std::string& path, bool fallback) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return fallback;
    if (!it->value().is_bool()) invalid(path, "must be true or false");
    return it->value().as_bool();
}

const json::array* array_field(const json::object& o, std::string_view key, const std::string& path) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return nullptr;
    if (!it->value().is_array()) invalid(path, "must be an array");
    return &it->value().as_array();
}

std::vector<Address> addresses(const json::object& o, std::string_view key) {
    std::vector<Address> out;
    const std::string base(key);
    const json::array* arr = array_field(o, key, base);
    if (!arr) return out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        std::string path = base + "[" + std::to_string(i) + "]";
        const json::value& v = (*arr)[i];
        if (!v.is_object()) invalid(path, "must be an object with \"address\" and optional \"name\"");
        Address a;
        a.address = string_field(v.as_object(), "address", path + ".address", true);
        if (a.address.size() > kMaxAddressLength)
            invalid(path + ".address", "is longer than " + std::to_string(kMaxAddressLength) + " characters");
        if (!is_valid_address(a.address)) invalid(path + ".address", "is not a valid email address");
        a.name = string_field(v.as_object(), "name", path + ".name", false);
        if (has_line_break_or_control(a.name)) invalid(path + ".name", "contains a line break or control character");
        if (a.name.size() > 256) invalid(path + ".name", "is longer than 256 bytes");
        out.push_back(std::move(a));
    }
    return out;
}

bool is_atext(unsigned char c) {
    if (c >= 0x80) return true;  // UTF-8 (RFC 6531)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

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
        std::string_view label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
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

Message parse_message(std::string_view json_text) {
    boost::system::error_code ec;
    json::value root = json::parse(json_text, ec);
    if (ec) invalid("message", "is not valid JSON: " + ec.message());
    if (!root.is_object()) invalid("message", "must be a JSON object");
    const json::object& o = root.as_object();

    Message m;
    m.to = addresses(o, "to");
    m.cc = addresses(o, "cc");
    m.bcc = addresses(o, "bcc");
    m.reply_to = addresses(o, "reply_to");
    if (m.recipient_count() == 0) invalid("to", "has no recipient (to, cc and bcc are all empty)");
    if (m.recipient_count() > kMaxRecipients)
        invalid("to", "has " + std::to_string(m.recipient_count()) + " recipients in to+cc+bcc; the limit is " +
                          std::to_string(kMaxRecipients));

    m.subject = string_field(o, "subject", "subject", false);
    if (has_line_break_or_control(m.subject)) invalid("subject", "contains a line break or control character");
    if (m.subject.size() > kMaxSubjectBytes) invalid("subject", "is longer than 998 bytes");

    if (auto it = o.find("text"); it != o.end() && !it->value().is_null()) m.text = string_field(o, "text", "text", true);
    if (auto it = o.find("html"); it != o.end() && !it->value().is_null()) m.html = string_field(o, "html", "html", true);
    if (!m.text && !m.html) invalid("text", "and html are both missing: a message needs a body");

    if (const json::array* arr = array_field(o, "attachments", "attachments")) {
        for (std::size_t i = 0; i < arr->size(); ++i) {
            std::string path = "attachments[" + std::to_string(i) + "]";
            if (!(*arr)[i].is_object()) invalid(path, "must be an object");
            const json::object& a = (*arr)[i].as_object();
            Attachment att;
            att.name = string_field(a, "name", path + ".name", true);
            if (att.name.empty() || has_line_break_or_control(att.name) ||
                att.name.find_first_of("/\\") != std::string::npos)
                invalid(path + ".name", "must be a non-empty file name without path separators or control characters");
            att.content_type = string_field(a, "content_type", path + ".content_type", false);
            if (att.content_type.empty()) att.content_type = "application/octet-stream";
            if (has_line_break_or_control(att.content_type) || att.content_type.find('/') == std::string::npos)
                invalid(path + ".content_type", "must be a MIME type such as \"application/pdf\"");
            att.content_base64 = string_field(a, "content_base64", path + ".content_base64", true);
            auto size = base64_decoded_size(att.content_base64);
            if (!size) invalid(path + ".content_base64", "is not valid padded base64 (RFC 4648, no whitespace)");
            att.size = *size;
            att.is_inline = bool_field(a, "inline", path + ".inline", false);
            att.content_id = string_field(a, "content_id", path + ".content_id", false);
            if (att.is_inline && att.content_id.empty()) invalid(path + ".content_id", "is required for an inline attachment");
            if (has_line_break_or_control(att.content_id) || att.content_id.find_first_of("<> ") != std::string::npos)
                invalid(path + ".content_id", "must not contain spaces, angle brackets or control characters");
            m.attachments.push_back(std::move(att));
        }
    }

    if (const json::array* arr = array_field(o, "headers", "headers")) {
        for (std::size_t i = 0; i < arr->size(); ++i) {
            std::string path = "headers[" + std::to_string(i) + "]";
            if (!(*arr)[i].is_object()) invalid(path, "must be an object with \"name\" and \"value\"");
            Header h;
            h.name = string_field((*arr)[i].as_object(), "name", path + ".name", true);
            h.value = string_field((*arr)[i].as_object(), "value", path + ".value", true);
            if (h.name.empty()) invalid(path + ".name", "is empty");
            for (unsigned char c : h.name)
                if (c <= 0x20 || c >= 0x7F || c == ':') invalid(path + ".name", "must be printable ASCII without spaces or ':'");
            if (has_line_break_or_control(h.value)) invalid(path + ".value", "contains a line break or control character");
            m.headers.push_back(std::move(h));
        }
    }

    std::string importance = string_field(o, "importance", "importance", false);
    if (importance.empty() || importance == "normal") m.importance = Importance::normal;
    else if (importance == "low") m.importance = Importance::low;
    else if (importance == "high") m.importance = Importance::high;
    else invalid("importance", "must be \"low\", \"normal\" or \"high\"");

    m.save_to_sent_items = bool_field(o, "save_to_sent_items", "save_to_sent_items", true);
    m.client_request_id = string_field(o, "client_request_id", "client_request_id", false);
    if (m.client_request_id.size() > kMaxClientRequestIdLength)
        invalid("client_request_id", "is longer than 128 characters");
    for (unsigned char c : m.client_request_id)
        if (c <= 0x20 || c >= 0x7F) invalid("client_request_id", "must be printable ASCII without spaces");
    return m;
}

}  // namespace ep::message
