#include "ep_kit/mime_message.hpp"

#include <email_provider/ep_sdk.hpp>

#include <gmime/gmime.h>

#include <memory>
#include <mutex>
#include <optional>

namespace ep::kit {
namespace {

using ep::message::Address;
using ep::message::Attachment;
using ep::message::Message;
using ep::sdk::Error;

// ---- GMime -------------------------------------------------------------------------------

// GMime's global tables, set up once for the process and never torn down (another user of
// GMime in the process may still need them).
struct GObjectUnref {
    void operator()(void* object) const { g_object_unref(object); }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// The model's text may use CRLF or LF; GMime writes every line end as CRLF (DOS newline format),
// so the content is given with LF only, or a CR would be encoded as =0D.
std::string with_lf_line_ends(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i)
        if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out.push_back(text[i]);
    return out;
}

// A leaf part holding `content` as is; GMime picks its transfer encoding (g_mime_object_encode).
GPtr<GMimePart> leaf_part(const std::string& content_type, std::string_view content) {
    GPtr<GMimePart> part(g_mime_part_new());
    GMimeContentType* type = g_mime_content_type_parse(nullptr, content_type.c_str());
    g_mime_object_set_content_type(GMIME_OBJECT(part.get()), type);
    g_object_unref(type);
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(content.data(), content.size()));
    GPtr<GMimeDataWrapper> wrapper(g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
    g_mime_part_set_content(part.get(), wrapper.get());
    return part;
}

GPtr<GMimeObject> text_part(const char* subtype, std::string_view text) {
    GPtr<GMimePart> part = leaf_part(std::string("text/") + subtype + "; charset=utf-8", with_lf_line_ends(text));
    return GPtr<GMimeObject>(GMIME_OBJECT(part.release()));
}

GPtr<GMimeObject> attachment_part(const Attachment& a) {
    std::optional<std::string> bytes = ep::message::base64_decode(a.content_base64);
    if (!bytes)  // parse_message checked it
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_message", "attachments holds content that is not base64",
                    "attachments");
    GPtr<GMimePart> part = leaf_part(a.content_type.empty() ? "application/octet-stream" : a.content_type, *bytes);
    g_mime_part_set_filename(part.get(), a.name.c_str());  // RFC 2231 when not ASCII
    g_mime_object_set_disposition(GMIME_OBJECT(part.get()), a.is_inline ? "inline" : "attachment");
    if (!a.content_id.empty()) g_mime_part_set_content_id(part.get(), a.content_id.c_str());
    return GPtr<GMimeObject>(GMIME_OBJECT(part.release()));
}

GPtr<GMimeObject> multipart(const char* subtype, std::vector<GPtr<GMimeObject>> parts) {
    GPtr<GMimeMultipart> mp(g_mime_multipart_new_with_subtype(subtype));
    for (const auto& p : parts) g_mime_multipart_add(mp.get(), p.get());  // takes its own reference
    return GPtr<GMimeObject>(GMIME_OBJECT(mp.release()));
}

// text, html, or multipart/alternative of both, plain text first (RFC 2046 §5.1.4: the last is preferred).
GPtr<GMimeObject> body_part(const Message& m) {
    if (m.text && m.html) {
        std::vector<GPtr<GMimeObject>> parts;
        parts.push_back(text_part("plain", *m.text));
        parts.push_back(text_part("html", *m.html));
        return multipart("alternative", std::move(parts));
    }
    return m.html ? text_part("html", *m.html) : text_part("plain", m.text.value_or(""));
}

// mixed[ related[ body, inline... ], attachment... ], leaving out each level that would hold one part.
GPtr<GMimeObject> content_part(const Message& m) {
    std::vector<GPtr<GMimeObject>> related, mixed;
    related.push_back(body_part(m));
    for (const Attachment& a : m.attachments) (a.is_inline ? related : mixed).push_back(attachment_part(a));
    GPtr<GMimeObject> body =
        related.size() == 1 ? std::move(related.front()) : multipart("related", std::move(related));
    if (mixed.empty()) return body;
    mixed.insert(mixed.begin(), std::move(body));
    return multipart("mixed", std::move(mixed));
}

void add_mailboxes(GMimeMessage* message, GMimeAddressType type, const std::vector<Address>& list) {
    for (const Address& a : list) g_mime_message_add_mailbox(message, type, a.name.c_str(), a.address.c_str());
}

// "<left@right>" as GMime takes it: it writes the angle brackets itself.
std::string without_angle_brackets(std::string_view id) {
    return std::string(id.size() >= 2 && id.front() == '<' && id.back() == '>' ? id.substr(1, id.size() - 2) : id);
}

// RFC 5322 §3.6.4: In-Reply-To and References are lists of msg-ids; GMime folds a long References.
void set_threading_headers(GMimeMessage* message, const MimeEnvelope& e) {
    if (!e.in_reply_to.empty())
        g_mime_object_set_header(GMIME_OBJECT(message), "In-Reply-To", e.in_reply_to.c_str(), nullptr);
    if (e.references.empty()) return;
    std::string references;
    for (const std::string& id : e.references) references += (references.empty() ? "" : " ") + id;
    g_mime_object_set_header(GMIME_OBJECT(message), "References", references.c_str(), nullptr);
}

void set_headers(GMimeMessage* message, const Message& m, const MimeEnvelope& e) {
    g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, e.from_name.c_str(), e.from_address.c_str());
    add_mailboxes(message, GMIME_ADDRESS_TYPE_TO, m.to);
    add_mailboxes(message, GMIME_ADDRESS_TYPE_CC, m.cc);
    add_mailboxes(message, GMIME_ADDRESS_TYPE_BCC, m.bcc);
    add_mailboxes(message, GMIME_ADDRESS_TYPE_REPLY_TO, m.reply_to);
    g_mime_message_set_subject(message, m.subject.c_str(), "utf-8");  // RFC 2047 when not ASCII
    GDateTime* date = g_date_time_new_from_unix_utc(e.date_unix_s);
    g_mime_message_set_date(message, date);
    g_date_time_unref(date);
    if (!e.message_id.empty()) g_mime_message_set_message_id(message, without_angle_brackets(e.message_id).c_str());
    set_threading_headers(message, e);
    // Importance: RFC 2156 §5.3.4 (low, normal, high), which mail clients show.
    if (m.importance != ep::message::Importance::normal)
        g_mime_object_set_header(GMIME_OBJECT(message), "Importance",
                                 m.importance == ep::message::Importance::high ? "high" : "low", nullptr);
    for (const auto& h : m.headers)
        g_mime_object_append_header(GMIME_OBJECT(message), h.name.c_str(), h.value.c_str(), "utf-8");
}

std::string to_bytes(GMimeObject* object) {
    GMimeFormatOptions* format = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(format, GMIME_NEWLINE_FORMAT_DOS);  // RFC 5322 §2.1: CRLF
    GPtr<GMimeStream> stream(g_mime_stream_mem_new());
    const ssize_t written = g_mime_object_write_to_stream(object, format, stream.get());
    g_mime_format_options_free(format);
    if (written < 0) throw Error(EP_ERR_INTERNAL, "mime_failed", "GMime could not write the message");
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

}  // namespace

void init_mime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

std::string build_mime_message(const Message& m, const MimeEnvelope& e) {
    if (!ep::message::is_valid_address(e.from_address))
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_sender", "the sender's address is not a valid address", "from");
    init_mime();  // a safety net: providers have called it already (init_mime says why)
    GPtr<GMimeMessage> message(g_mime_message_new(TRUE));
    set_headers(message.get(), m, e);
    GPtr<GMimeObject> content = content_part(m);
    g_mime_message_set_mime_part(message.get(), content.get());
    // Every part 7-bit: quoted-printable or base64 where the content needs it.
    g_mime_object_encode(GMIME_OBJECT(message.get()), GMIME_ENCODING_CONSTRAINT_7BIT);
    return to_bytes(GMIME_OBJECT(message.get()));
}

}  // namespace ep::kit
