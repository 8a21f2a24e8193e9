// fuzz_message: ep::message::parse_message, and for every message it accepts,
// outlook::build_validated_send_mail_body.
//
// The message document (ep.message/1) comes from the host's users. The sendMail body is
// JSON written by hand for speed (graph_mail.cpp), so the property that matters most is not
// "no crash" but "what goes to Graph is valid JSON and says what the message said": the
// body must parse, have exactly the announced size, and carry the subject, body, recipients,
// attachments and headers unchanged. A refusal must be ep::sdk::Error(invalid_message)
// naming a field, in text the host can read.
#include "fuzz_support.hpp"

#include <graph_mail.hpp>

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace {

namespace json = boost::json;
using ep::message::Message;

void check_refusal(const ep::sdk::Error& e) {
    FUZZ_CHECK(e.status() == EP_ERR_INVALID_ARGUMENT, e.what());
    FUZZ_CHECK(e.code() == "invalid_message", e.code());
    FUZZ_CHECK(!e.field().empty(), e.what());
    FUZZ_CHECK(fuzz::is_document_safe(e.what()), e.what());
    FUZZ_CHECK(fuzz::is_document_safe(e.field()), e.field());
}

// The properties parse_message promises (SCHEMAS.md, ep.message/1 rules).
void check_message(const Message& m) {
    FUZZ_CHECK(m.recipient_count() >= 1 && m.recipient_count() <= ep::message::kMaxRecipients, "recipients");
    for (const auto* list : {&m.to, &m.cc, &m.bcc, &m.reply_to})
        for (const auto& a : *list) FUZZ_CHECK(ep::message::is_valid_address(a.address), a.address);
    FUZZ_CHECK(m.text || m.html, "no body");
    FUZZ_CHECK(m.subject.size() <= ep::message::kMaxSubjectBytes, m.subject);
    for (const auto& a : m.attachments) {
        FUZZ_CHECK(ep::message::base64_decoded_size(a.content_base64) == a.size, a.content_base64);
        FUZZ_CHECK(!a.is_inline || !a.content_id.empty(), a.name);
    }
}

const json::value& at(const json::value& v, std::string_view key) { return v.as_object().at(key); }

// The recipients Graph will see, compared address by address and name by name.
void check_recipients(const json::object& message, std::string_view key,
                      const std::vector<ep::message::Address>& want) {
    const json::value* got = message.if_contains(key);
    if (want.empty()) {
        FUZZ_CHECK(got == nullptr, key);  // an empty list is omitted, not sent as []
        return;
    }
    FUZZ_CHECK(got != nullptr && got->as_array().size() == want.size(), key);
    for (std::size_t i = 0; i < want.size(); ++i) {
        const json::value& email = at(got->as_array()[i], "emailAddress");
        FUZZ_CHECK(at(email, "address").as_string() == want[i].address, want[i].address);
        const json::value* name = email.as_object().if_contains("name");
        FUZZ_CHECK(name ? name->as_string() == want[i].name : want[i].name.empty(), want[i].name);
    }
}

void check_body(const Message& m, const std::string& body) {
    FUZZ_CHECK(body.size() == outlook::send_mail_body_size(m), body);
    FUZZ_CHECK(body == outlook::build_send_mail_body(m), body);
    outlook::validate_for_graph(m);  // must agree with the validated build: no throw here

    boost::system::error_code ec;
    const json::value root = json::parse(body, ec);
    FUZZ_CHECK(!ec, ec.message() + " in " + body);
    const json::object& message = at(root, "message").as_object();

    FUZZ_CHECK(message.at("subject").as_string() == m.subject, m.subject);
    const json::value& content = at(message.at("body"), "content");
    FUZZ_CHECK(content.as_string() == (m.html ? *m.html : *m.text), body);
    FUZZ_CHECK(at(message.at("body"), "contentType").as_string() == (m.html ? "HTML" : "Text"), body);
    check_recipients(message, "toRecipients", m.to);
    check_recipients(message, "ccRecipients", m.cc);
    check_recipients(message, "bccRecipients", m.bcc);
    check_recipients(message, "replyTo", m.reply_to);

    const json::value* attachments = message.if_contains("attachments");
    FUZZ_CHECK((attachments ? attachments->as_array().size() : 0) == m.attachments.size(), body);
    for (std::size_t i = 0; i < m.attachments.size(); ++i) {
        const json::value& a = attachments->as_array()[i];
        FUZZ_CHECK(at(a, "name").as_string() == m.attachments[i].name, m.attachments[i].name);
        FUZZ_CHECK(at(a, "contentBytes").as_string() == m.attachments[i].content_base64, body);
        FUZZ_CHECK(at(a, "isInline").as_bool() == m.attachments[i].is_inline, body);
    }

    const json::value* headers = message.if_contains("internetMessageHeaders");
    FUZZ_CHECK((headers ? headers->as_array().size() : 0) == m.headers.size(), body);
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
        const json::value& h = headers->as_array()[i];
        FUZZ_CHECK(at(h, "name").as_string() == m.headers[i].name, m.headers[i].name);
        FUZZ_CHECK(at(h, "value").as_string() == m.headers[i].value, m.headers[i].value);
    }

    const json::value* save = root.as_object().if_contains("saveToSentItems");
    FUZZ_CHECK((save ? save->as_bool() : true) == m.save_to_sent_items, body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    Message m;
    try {
        m = ep::message::parse_message(text);
    } catch (const ep::sdk::Error& e) {
        check_refusal(e);
        return 0;
    }
    check_message(m);
    std::string body;
    try {
        body = outlook::build_validated_send_mail_body(m);
    } catch (const ep::sdk::Error& e) {
        check_refusal(e);
        return 0;
    }
    check_body(m, body);
    return 0;
}
