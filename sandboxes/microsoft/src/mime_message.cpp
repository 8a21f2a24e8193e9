#include "mime_message.hpp"

#include <gmime/gmime.h>

#include <memory>
#include <mutex>

namespace ms_sandbox::detail {
namespace {

struct GObjectUnref {
    void operator()(void* object) const { g_object_unref(object); }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// Mailboxes of an address list, a group's members included.
void append_mailboxes(InternetAddressList* list, std::vector<MimeMailbox>& out) {
    const int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char* name = internet_address_get_name(a);
            out.push_back({internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)), name ? name : ""});
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            append_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out);
        }
    }
}

std::vector<MimeMailbox> mailboxes(GMimeMessage* message, GMimeAddressType type) {
    std::vector<MimeMailbox> out;
    append_mailboxes(g_mime_message_get_addresses(message, type), out);
    return out;
}

// The msg-ids of an In-Reply-To or References value (RFC 5322 §3.6.4), each as <id>.
std::vector<std::string> msg_ids(GMimeMessage* message, const char* header) {
    std::vector<std::string> out;
    const char* value = g_mime_object_get_header(GMIME_OBJECT(message), header);
    if (value == nullptr) return out;
    GMimeReferences* refs = g_mime_references_parse(nullptr, value);
    if (refs == nullptr) return out;
    for (int i = 0; i < g_mime_references_length(refs); ++i)
        out.push_back(std::string("<") + g_mime_references_get_message_id(refs, i) + ">");
    g_mime_references_free(refs);
    return out;
}

}  // namespace

void init_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

std::optional<MimeMessage> parse_mime_message(std::string_view bytes) {
    init_gmime();
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
    if (!message || g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(message.get()))) == 0)
        return std::nullopt;
    MimeMessage m;
    const char* subject = g_mime_message_get_subject(message.get());
    m.subject = subject ? subject : "";
    m.from = mailboxes(message.get(), GMIME_ADDRESS_TYPE_FROM);
    m.to = mailboxes(message.get(), GMIME_ADDRESS_TYPE_TO);
    m.cc = mailboxes(message.get(), GMIME_ADDRESS_TYPE_CC);
    m.bcc = mailboxes(message.get(), GMIME_ADDRESS_TYPE_BCC);
    m.reply_to = mailboxes(message.get(), GMIME_ADDRESS_TYPE_REPLY_TO);
    if (const char* id = g_mime_message_get_message_id(message.get())) m.message_id = std::string("<") + id + ">";
    std::vector<std::string> in_reply_to = msg_ids(message.get(), "In-Reply-To");
    if (!in_reply_to.empty()) m.in_reply_to = in_reply_to.front();
    m.references = msg_ids(message.get(), "References");
    return m;
}

}  // namespace ms_sandbox::detail
