#include "mock_eml.hpp"

#include <email_provider/ep_sdk.hpp>

#include <openssl/rand.h>

#include <ctime>

namespace mock {
namespace {

using ep::message::Address;

[[noreturn]] void invalid(const std::string& field, const std::string& what) {
    throw ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", field + " " + what, field);
}

// parse_message refuses these already; render_eml may be given a message built elsewhere.
void refuse_line_breaks(const std::string& field, std::string_view value) {
    if (value.find_first_of("\r\n") != std::string_view::npos) invalid(field, "contains a line break");
}

void refuse_line_breaks(const std::string& field, const std::vector<Address>& list) {
    for (std::size_t i = 0; i < list.size(); ++i) {
        refuse_line_breaks(field + "[" + std::to_string(i) + "].address", list[i].address);
        refuse_line_breaks(field + "[" + std::to_string(i) + "].name", list[i].name);
    }
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

// RFC 2047 encoded-word for non-ASCII header text. Kept to one word per 45 input bytes
// split on UTF-8 boundaries, so no encoded word exceeds 75 characters.
std::string encode_header_text(std::string_view s) {
    if (is_ascii(s)) return std::string(s);
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t n = std::min<std::size_t>(45, s.size() - i);
        while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) --n;  // not mid-character
        if (!out.empty()) out += "\r\n ";
        out += "=?UTF-8?B?" + ep::message::base64_encode(s.substr(i, n)) + "?=";
        i += n;
    }
    return out;
}

std::string format_address(const Address& a) {
    if (a.name.empty()) return a.address;
    if (!is_ascii(a.name)) return encode_header_text(a.name) + " <" + a.address + ">";
    std::string quoted = "\"";
    for (char c : a.name) {
        if (c == '"' || c == '\\') quoted.push_back('\\');
        quoted.push_back(c);
    }
    return quoted + "\" <" + a.address + ">";
}

std::string address_list(const std::vector<Address>& list) {
    std::string out;
    for (const auto& a : list) {
        if (!out.empty()) out += ",\r\n ";
        out += format_address(a);
    }
    return out;
}

std::string rfc5322_date(int64_t unix_ms) {
    std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

std::string wrapped_base64(std::string_view b64) {
    std::string out;
    for (std::size_t i = 0; i < b64.size(); i += 76) {
        out.append(b64.substr(i, 76));
        out += "\r\n";
    }
    return out;
}

std::string new_boundary() {
    unsigned char r[12];
    RAND_bytes(r, sizeof r);
    return "=_mock_" +
           ep::message::base64_encode(std::string_view(reinterpret_cast<char*>(r), sizeof r)).substr(0, 16).append("_");
}

// RFC 2231 filename parameter for non-ASCII names; a quoted string otherwise.
std::string filename_param(std::string_view name) {
    if (is_ascii(name) && name.find_first_of("\"\\") == std::string_view::npos)
        return "filename=\"" + std::string(name) + "\"";
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = "filename*=UTF-8''";
    for (unsigned char c : name) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
            c == '_') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string text_part(std::string_view subtype, std::string_view body) {
    return "Content-Type: text/" + std::string(subtype) +
           "; charset=utf-8\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" +
           wrapped_base64(ep::message::base64_encode(body));
}

std::string body_part(const ep::message::Message& m) {
    if (m.text && m.html) {
        std::string b = new_boundary();
        return "Content-Type: multipart/alternative; boundary=\"" + b +
               "\"\r\n\r\n"
               "--" +
               b + "\r\n" + text_part("plain", *m.text) + "--" + b + "\r\n" + text_part("html", *m.html) + "--" + b +
               "--\r\n";
    }
    return m.html ? text_part("html", *m.html) : text_part("plain", *m.text);
}

}  // namespace

void check_custom_headers(const ep::message::Message& m) {
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
        const std::string& name = m.headers[i].name;
        if (name.size() < 3 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-')
            invalid("headers[" + std::to_string(i) + "].name", "must start with \"x-\" (custom headers only)");
    }
}

std::string render_eml(const ep::message::Message& m, const EmlHeaderInfo& info) {
    check_custom_headers(m);
    refuse_line_breaks("from", std::vector<Address>{{info.from_address, info.from_name}});
    refuse_line_breaks("to", m.to);
    refuse_line_breaks("cc", m.cc);
    refuse_line_breaks("reply_to", m.reply_to);
    refuse_line_breaks("subject", m.subject);
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
        refuse_line_breaks("headers[" + std::to_string(i) + "].name", m.headers[i].name);
        refuse_line_breaks("headers[" + std::to_string(i) + "].value", m.headers[i].value);
    }
    std::string h;
    h += "From: " + format_address({info.from_address, info.from_name}) + "\r\n";
    if (!m.to.empty()) h += "To: " + address_list(m.to) + "\r\n";
    if (!m.cc.empty()) h += "Cc: " + address_list(m.cc) + "\r\n";
    if (!m.reply_to.empty()) h += "Reply-To: " + address_list(m.reply_to) + "\r\n";
    h += "Subject: " + encode_header_text(m.subject) + "\r\n";
    h += "Date: " + rfc5322_date(info.date_unix_ms) + "\r\n";
    h += "Message-ID: " + info.message_id + "\r\n";
    // Threading (ABI 1.2): msg-ids are validated by the message model, so they go in as they are.
    if (!m.in_reply_to.empty()) h += "In-Reply-To: " + m.in_reply_to + "\r\n";
    if (!m.references.empty()) {
        h += "References:";
        for (const auto& id : m.references) h += "\r\n " + id;  // folded: one msg-id a line
        h += "\r\n";
    }
    if (m.importance != ep::message::Importance::normal)
        h += std::string("Importance: ") + (m.importance == ep::message::Importance::high ? "high" : "low") + "\r\n";
    for (const auto& x : m.headers) h += x.name + ": " + encode_header_text(x.value) + "\r\n";
    h += "MIME-Version: 1.0\r\n";

    if (m.attachments.empty()) return h + body_part(m);

    std::string b = new_boundary();
    std::string out = h + "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n";
    out += "--" + b + "\r\n" + body_part(m);
    for (const auto& a : m.attachments) {
        out += "--" + b + "\r\n";
        out += "Content-Type: " + a.content_type + "\r\n";
        out += "Content-Transfer-Encoding: base64\r\n";
        out += std::string("Content-Disposition: ") + (a.is_inline ? "inline" : "attachment") + "; " +
               filename_param(a.name) + "\r\n";
        if (!a.content_id.empty()) out += "Content-ID: <" + a.content_id + ">\r\n";
        out += "\r\n" + wrapped_base64(a.content_base64);
    }
    out += "--" + b + "--\r\n";
    return out;
}

}  // namespace mock
