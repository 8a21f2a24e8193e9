// Gmail send: the MIME built with GMime is read back with GMime (headers, encodings, parts), the
// users.messages.send request in both forms, the answer, and each row of the error mapping
// with its public source. [errors] is https://developers.google.com/workspace/gmail/api/guides/handle-errors.
#include <gmail_mail.hpp>

#include "ep_kit/encoding.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <gmime/gmime.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr int64_t kDate = 1'796'000'000;  // 2026-11-29T...Z

gmail::MimeOptions options() {
    gmail::MimeOptions o;
    o.from_address = "rita.recruiter@gmail.com";
    o.from_name = "Rita Récruiter";
    o.date_unix_s = kDate;
    return o;
}

std::string without_cr(std::string s) {
    std::erase(s, '\r');
    return s;
}

// The message model as the host sends it (plugin_api/SCHEMAS.md "message").
ep::message::Message nudge() {
    return ep::message::parse_message(R"({
        "to": [{"address": "ana@example.com", "name": "Ana Müller"}, {"address": "bo@example.org"}],
        "cc": [{"address": "cc@example.com"}],
        "bcc": [{"address": "hidden@example.com"}],
        "reply_to": [{"address": "jobs@example.com", "name": "Jobs"}],
        "subject": "Entretien — café ☕ demain",
        "text": "Bonjour Ana,\r\nÀ demain.\r\n",
        "html": "<p>Bonjour Ana,</p><p>À demain. <img src=\"cid:logo@nudge\"></p>",
        "attachments": [
            {"name": "logo.png", "content_type": "image/png", "content_base64": "iVBORw0KGgo=", "inline": true,
             "content_id": "logo@nudge"},
            {"name": "résumé.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQKJcfs"}
        ],
        "headers": [{"name": "X-Nudge-Id", "value": "n-42"}, {"name": "X-Campaign", "value": "été"}],
        "importance": "high",
        "client_request_id": "req-123.abc"
    })");
}

void init_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

struct Unref {
    void operator()(void* object) const { g_object_unref(object); }
};
template <class T>
using GPtr = std::unique_ptr<T, Unref>;

GPtr<GMimeMessage> parse(const std::string& mime) {
    init_gmime();
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(mime.data(), mime.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
    EXPECT_TRUE(message) << "GMime could not read the message back";
    return message;
}

std::string decoded_content(GMimeObject* object) {
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, out.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

std::string mime_type(GMimeObject* object) {
    GMimeContentType* type = g_mime_object_get_content_type(object);
    return std::string(g_mime_content_type_get_media_type(type)) + "/" + g_mime_content_type_get_media_subtype(type);
}

GMimeObject* child(GMimeObject* multipart, int index) {
    return g_mime_multipart_get_part(GMIME_MULTIPART(multipart), index);
}

std::vector<std::string> addresses(InternetAddressList* list) {
    std::vector<std::string> out;
    for (int i = 0; list != nullptr && i < internet_address_list_length(list); ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        const char* name = internet_address_get_name(a);
        out.push_back(std::string(name ? name : "") + " <" +
                      internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)) + ">");
    }
    return out;
}

gmail::SendClassification classify(int status, const std::string& body, int64_t now = 0) {
    return gmail::classify_send_response(status, body, now);
}

// The error document of [errors]: {"error":{"code","message","errors":[{"domain","reason","message"}],"status"}}.
std::string error_body(int code, const std::string& reason, const std::string& message, const std::string& status,
                       const std::string& domain = "global") {
    return boost::json::serialize(boost::json::object{
        {"error", boost::json::object{{"code", code},
                                      {"message", message},
                                      {"errors", boost::json::array{boost::json::object{
                                                     {"domain", domain}, {"reason", reason}, {"message", message}}}},
                                      {"status", status}}}});
}

}  // namespace

// RFC 5322 headers, RFC 2047 for the non-ASCII subject and names, every byte 7-bit, CRLF.
TEST(GmailMime, HeadersReadBackAsTheModelSaid) {
    const std::string mime = gmail::build_mime_message(nudge(), options());
    for (unsigned char c : mime) ASSERT_LT(c, 0x80) << "every part is 7-bit";
    for (std::size_t i = mime.find('\n'); i != std::string::npos; i = mime.find('\n', i + 1))
        ASSERT_TRUE(i > 0 && mime[i - 1] == '\r') << "RFC 5322 §2.1: lines end in CRLF";
    EXPECT_THAT(mime, ::testing::ContainsRegex("Subject: Entretien =\\?UTF-8\\?[BQ]\\?")) << "RFC 2047 encoded-word";

    auto message = parse(mime);
    ASSERT_TRUE(message);
    EXPECT_STREQ(g_mime_message_get_subject(message.get()), "Entretien — café ☕ demain");
    EXPECT_THAT(addresses(g_mime_message_get_from(message.get())),
                ::testing::ElementsAre("Rita Récruiter <rita.recruiter@gmail.com>"));
    EXPECT_THAT(addresses(g_mime_message_get_to(message.get())),
                ::testing::ElementsAre("Ana Müller <ana@example.com>", " <bo@example.org>"));
    EXPECT_THAT(addresses(g_mime_message_get_cc(message.get())), ::testing::ElementsAre(" <cc@example.com>"));
    EXPECT_THAT(addresses(g_mime_message_get_bcc(message.get())), ::testing::ElementsAre(" <hidden@example.com>"));
    EXPECT_THAT(addresses(g_mime_message_get_reply_to(message.get())),
                ::testing::ElementsAre("Jobs <jobs@example.com>"));
    EXPECT_STREQ(g_mime_message_get_message_id(message.get()), "req-123.abc@gmail.com");
    GDateTime* date = g_mime_message_get_date(message.get());
    ASSERT_NE(date, nullptr);
    EXPECT_EQ(g_date_time_to_unix(date), kDate);
    GMimeObject* root = GMIME_OBJECT(message.get());
    EXPECT_STREQ(g_mime_object_get_header(root, "Importance"), "high");
    EXPECT_STREQ(g_mime_object_get_header(root, "X-Nudge-Id"), "n-42");
    EXPECT_STREQ(g_mime_object_get_header(root, "X-Campaign"), "été");
    EXPECT_STREQ(g_mime_object_get_header(root, "MIME-Version"), "1.0");
}

// mixed[ related[ alternative[ text, html ], inline image ], attachment ].
TEST(GmailMime, PartsNestAsMailClientsExpect) {
    auto message = parse(gmail::build_mime_message(nudge(), options()));
    ASSERT_TRUE(message);
    GMimeObject* mixed = g_mime_message_get_mime_part(message.get());
    ASSERT_EQ(mime_type(mixed), "multipart/mixed");
    ASSERT_EQ(g_mime_multipart_get_count(GMIME_MULTIPART(mixed)), 2);
    GMimeObject* related = child(mixed, 0);
    ASSERT_EQ(mime_type(related), "multipart/related");
    GMimeObject* alternative = child(related, 0);
    ASSERT_EQ(mime_type(alternative), "multipart/alternative");
    // RFC 2046 §5.1.4: the richest last.
    EXPECT_EQ(mime_type(child(alternative, 0)), "text/plain");
    EXPECT_EQ(mime_type(child(alternative, 1)), "text/html");
    EXPECT_EQ(without_cr(decoded_content(child(alternative, 0))), "Bonjour Ana,\nÀ demain.\n");
    EXPECT_THAT(decoded_content(child(alternative, 1)), HasSubstr("cid:logo@nudge"));
    EXPECT_STREQ(g_mime_object_get_content_type_parameter(child(alternative, 0), "charset"), "utf-8");

    GMimeObject* image = child(related, 1);
    EXPECT_EQ(mime_type(image), "image/png");
    EXPECT_STREQ(g_mime_object_get_disposition(image), "inline");
    EXPECT_STREQ(g_mime_part_get_content_id(GMIME_PART(image)), "logo@nudge");
    EXPECT_EQ(decoded_content(image), *ep::message::base64_decode("iVBORw0KGgo="));

    GMimeObject* pdf = child(mixed, 1);
    EXPECT_EQ(mime_type(pdf), "application/pdf");
    EXPECT_STREQ(g_mime_object_get_disposition(pdf), "attachment");
    EXPECT_STREQ(g_mime_part_get_filename(GMIME_PART(pdf)), "résumé.pdf") << "RFC 2231 when not ASCII";
    EXPECT_EQ(g_mime_part_get_content_encoding(GMIME_PART(pdf)), GMIME_CONTENT_ENCODING_BASE64);
    EXPECT_EQ(decoded_content(pdf), *ep::message::base64_decode("JVBERi0xLjQKJcfs"));
}

TEST(GmailMime, ASinglePartMessageHasNoMultipart) {
    auto m = ep::message::parse_message(
        R"({"to":[{"address":"ana@example.com"}],"subject":"Hi","text":"Plain ASCII body."})");
    auto message = parse(gmail::build_mime_message(m, options()));
    ASSERT_TRUE(message);
    GMimeObject* body = g_mime_message_get_mime_part(message.get());
    EXPECT_EQ(mime_type(body), "text/plain");
    EXPECT_EQ(without_cr(decoded_content(body)), "Plain ASCII body.\n") << "GMime ends the last line";
    EXPECT_STREQ(g_mime_message_get_subject(message.get()), "Hi");
    EXPECT_EQ(g_mime_object_get_header(GMIME_OBJECT(message.get()), "Importance"), nullptr);
    // No usable client_request_id: a random Message-ID at the sender's domain.
    EXPECT_THAT(g_mime_message_get_message_id(message.get()), ::testing::EndsWith("@gmail.com"));
}

// Bcc through the API: 100 recipients (https://support.google.com/a/answer/166852).
TEST(GmailMime, GmailsOwnLimitsAreCheckedNamingTheField) {
    auto m = nudge();
    m.headers.push_back({"Subject", "x"});
    try {
        gmail::build_mime_message(m, options());
        ADD_FAILURE() << "a non-X- header was accepted";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.field(), "headers[2].name");
    }
    m = nudge();
    m.bcc.assign(98, {"x@example.com", ""});  // and 2 in To, 1 in Cc
    try {
        gmail::build_mime_message(m, options());
        ADD_FAILURE() << "101 recipients were accepted";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.field(), "to");
        EXPECT_THAT(e.what(), HasSubstr("100"));
    }
    m.bcc.resize(97);
    EXPECT_NO_THROW(gmail::build_mime_message(m, options()));
    auto o = options();
    o.from_address = "not an address";
    EXPECT_THROW(gmail::build_mime_message(nudge(), o), ep::sdk::Error);
}

// [sending]: {"raw": base64url of the whole message}; Google's samples strip the padding.
TEST(GmailSendRequest, ASmallMessageIsRawBase64UrlJson) {
    const std::string mime = gmail::build_mime_message(nudge(), options());
    const gmail::SendRequest r = gmail::send_request_for(mime);
    EXPECT_EQ(r.path_and_query, "/gmail/v1/users/me/messages/send");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_FALSE(r.media_upload);
    const boost::json::value v = boost::json::parse(r.body);
    const std::string raw(v.at("raw").as_string());
    EXPECT_EQ(v.as_object().size(), 1u);
    EXPECT_EQ(raw.find_first_of("+/="), std::string::npos) << "base64url, unpadded";
    EXPECT_EQ(ep::kit::base64url_decode(raw), mime);
    // Sizes whose base64 would need padding and hold '+' and '/' in standard base64.
    for (std::string bytes : {std::string("\xfb\xff"), std::string("\xfb\xff\xbf\x00", 4), std::string("a")}) {
        const std::string body = gmail::send_request_for(bytes).body;
        EXPECT_EQ(body.find_first_of("+/="), std::string::npos) << body;
    }
}

// The 1 MiB limit of the metadata URI (googleapis/google-api-dotnet-client#856), and the upload's
// maxSize 36,700,160 bytes (Gmail's discovery document, messages.send mediaUpload).
TEST(GmailSendRequest, TheJsonFormIsUsedExactlyUpToOneMebibyte) {
    // 10 bytes of {"raw":""} plus ceil(4n/3): n = 786,424 gives 1,048,576 bytes exactly.
    const gmail::SendRequest at_limit = gmail::send_request_for(std::string(786424, 'a'));
    EXPECT_FALSE(at_limit.media_upload);
    EXPECT_EQ(at_limit.body.size(), gmail::kGmailMaxJsonRequestBytes);
    EXPECT_TRUE(gmail::send_request_for(std::string(786425, 'a')).media_upload);

    EXPECT_TRUE(gmail::send_request_for(std::string(gmail::kGmailMaxMessageBytes, 'a')).media_upload);
    try {
        gmail::send_request_for(std::string(gmail::kGmailMaxMessageBytes + 1, 'a'));
        ADD_FAILURE() << "a message over 35 MB was accepted";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.field(), "attachments");
        EXPECT_THAT(e.what(), HasSubstr("35 MB"));
        EXPECT_EQ(e.status(), EP_ERR_INVALID_ARGUMENT);
    }
}

// [uploads] "Multipart upload": multipart/related, the metadata part then the media part; read
// back with GMime as a MIME entity.
TEST(GmailSendRequest, ALargeMessageIsAMultipartUploadCarryingTheMessageByteForByte) {
    auto m = nudge();
    m.attachments[1].content_base64 = ep::message::base64_encode(std::string(900 * 1024, '\x7f'));
    const std::string mime = gmail::build_mime_message(m, options());
    const gmail::SendRequest r = gmail::send_request_for(mime);
    ASSERT_TRUE(r.media_upload);
    EXPECT_EQ(r.path_and_query, "/upload/gmail/v1/users/me/messages/send?uploadType=multipart");
    ASSERT_THAT(r.content_type, ::testing::StartsWith("multipart/related; boundary="));
    const std::string boundary = r.content_type.substr(r.content_type.find('=') + 1);
    EXPECT_EQ(mime.find(boundary), std::string::npos);
    EXPECT_THAT(r.body, HasSubstr("Content-Type: message/rfc822\r\n\r\n" + mime + "\r\n--" + boundary + "--\r\n"));

    init_gmime();
    const std::string entity = "Content-Type: " + r.content_type + "\r\n\r\n" + r.body;
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(entity.data(), entity.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeObject> related(g_mime_parser_construct_part(parser.get(), nullptr));
    ASSERT_TRUE(related);
    ASSERT_EQ(mime_type(related.get()), "multipart/related");
    ASSERT_EQ(g_mime_multipart_get_count(GMIME_MULTIPART(related.get())), 2);
    EXPECT_EQ(mime_type(child(related.get(), 0)), "application/json");
    EXPECT_EQ(boost::json::parse(decoded_content(child(related.get(), 0))), boost::json::object{});
    GMimeObject* media = child(related.get(), 1);
    ASSERT_EQ(mime_type(media), "message/rfc822");
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(media));
    ASSERT_NE(inner, nullptr);
    EXPECT_STREQ(g_mime_message_get_subject(inner), "Entretien — café ☕ demain");
}

// [discovery] Message; in practice {"id","threadId","labelIds":["SENT"]}.
TEST(GmailAnswers, TheSentMessageIsRead) {
    auto sent =
        gmail::parse_sent_message(R"({"id":"18c2f0a1b2c3d4e5","threadId":"18c2f0a1b2c3d4e5","labelIds":["SENT"]})");
    ASSERT_TRUE(sent);
    EXPECT_EQ(sent->id, "18c2f0a1b2c3d4e5");
    EXPECT_EQ(sent->thread_id, "18c2f0a1b2c3d4e5");
    EXPECT_FALSE(gmail::parse_sent_message(R"({"threadId":"x"})"));
    EXPECT_FALSE(gmail::parse_sent_message("<html>"));
    EXPECT_FALSE(gmail::parse_sent_message(R"({"id":5})"));
    EXPECT_EQ(classify(200, R"({"id":"a"})").outcome, gmail::SendOutcome::sent);
}

TEST(GmailAnswers, TheErrorDocumentIsRead) {
    auto e = gmail::parse_gmail_error(error_body(400, "invalidArgument", "Invalid To header", "INVALID_ARGUMENT"));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, 400);
    EXPECT_EQ(e->reason, "invalidArgument");
    EXPECT_EQ(e->status, "INVALID_ARGUMENT");
    EXPECT_EQ(e->message, "Invalid To header");
    EXPECT_EQ(e->domain, "global");
    EXPECT_FALSE(gmail::parse_gmail_error("<html>Bad gateway</html>"));
    EXPECT_FALSE(gmail::parse_gmail_error(R"({"error":"invalid_grant"})"));
    EXPECT_FALSE(gmail::parse_gmail_error(std::string(70000, ' ')));
}

// Found by fuzz_gmail_error: DEL and the C1 controls (U+0085 NEL breaks lines for some readers)
// came through into the code and the quoted text that the person sending sees.
TEST(GmailAnswers, ControlCharactersInGmailTextAreDropped) {
    auto e = gmail::parse_gmail_error(
        error_body(403, "rate\x7fLimitExceeded", "Rate limit\xc2\x85 exceeded\xc2\x9b", "PERMISSION\x7f_DENIED"));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->reason, "rateLimitExceeded");
    EXPECT_EQ(e->status, "PERMISSION_DENIED");
    EXPECT_EQ(e->message, "Rate limit exceeded");
    // Other non-ASCII text stays as it is.
    e = gmail::parse_gmail_error(error_body(400, "invalidArgument", "Ung\xc3\xbcltiger \xc2\xa0Header", "X"));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->message, "Ung\xc3\xbcltiger \xc2\xa0Header");
}

// Each row of the mapping, as Gmail answers it.
TEST(GmailAnswers, BadRequestsAreRejected) {
    using O = gmail::SendOutcome;
    // googleapis/google-api-ruby-client#173, Byron/google-apis-rs#351.
    auto c = classify(400, error_body(400, "invalidArgument", "Invalid To header", "INVALID_ARGUMENT"));
    EXPECT_EQ(c.outcome, O::rejected);
    EXPECT_EQ(c.code, "invalidArgument");
    EXPECT_THAT(c.user_message, HasSubstr("Invalid To header"));
    // WPManageNinja/fluent-smtp#152, googleapis/google-api-java-client#1648.
    c = classify(400, error_body(400, "failedPrecondition", "Mail service not enabled", "FAILED_PRECONDITION"));
    EXPECT_EQ(c.outcome, O::rejected);
    EXPECT_THAT(c.user_message, HasSubstr("Gmail is not enabled"));
    // googleapis/google-api-dotnet-client#856.
    c = classify(400, error_body(400, "badRequest", "Request payload size exceeds the limit: 1048576 bytes.",
                                 "INVALID_ARGUMENT"));
    EXPECT_THAT(c.user_message, HasSubstr("too large"));
    EXPECT_EQ(classify(413, "").outcome, O::rejected);
}

// [errors] "401: Invalid credentials" (googleapis/google-api-nodejs-client#2665).
TEST(GmailAnswers, A401RefreshesOnceThenExpires) {
    auto c = classify(401, error_body(401, "authError", "Invalid Credentials", "UNAUTHENTICATED"));
    EXPECT_EQ(c.outcome, gmail::SendOutcome::auth_expired);
    EXPECT_TRUE(c.retry_with_fresh_token);
    EXPECT_FALSE(c.permission_denied);
}

// googleworkspace/cli#282 (insufficientPermissions); [errors] (domainPolicy, dailyLimitExceeded);
// amd/gaia#2116 (accessNotConfigured).
TEST(GmailAnswers, ForbiddenSaysWhoMustAct) {
    using O = gmail::SendOutcome;
    auto c = classify(403, error_body(403, "insufficientPermissions", "Request had insufficient authentication scopes.",
                                      "PERMISSION_DENIED"));
    EXPECT_EQ(c.outcome, O::auth_expired);
    EXPECT_TRUE(c.permission_denied);
    EXPECT_FALSE(c.retry_with_fresh_token);
    c = classify(403, error_body(403, "domainPolicy", "The domain administrators have disabled Gmail apps.",
                                 "PERMISSION_DENIED"));
    EXPECT_EQ(c.outcome, O::auth_expired);
    EXPECT_TRUE(c.permission_denied);
    EXPECT_THAT(c.user_message, HasSubstr("IT"));
    for (const char* reason : {"dailyLimitExceeded", "accessNotConfigured"}) {
        c = classify(403, error_body(403, reason, "x", "PERMISSION_DENIED", "usageLimits"), 1000);
        EXPECT_EQ(c.outcome, O::throttled) << reason;
        EXPECT_TRUE(c.operator_error) << reason;
        EXPECT_EQ(c.retry_at_unix_ms, 1000 + 3600 * 1000) << reason;
    }
}

// [errors] "403: User rate limit exceeded", "403: Rate limit exceeded", "429: Too many requests"
// (mxngls/gmail-cleaner#5; levz0r/gmail-tester#23 and twentyhq/twenty#17850 for the sending limit).
TEST(GmailAnswers, RateLimitsAreThrottledAndTheSendingLimitHoldsUntilItsTime) {
    using O = gmail::SendOutcome;
    for (auto [status, reason] :
         {std::pair{403, "userRateLimitExceeded"}, {403, "rateLimitExceeded"}, {429, "rateLimitExceeded"}}) {
        auto c = classify(status, error_body(status, reason, "Quota exceeded for quota metric 'Queries'",
                                             "RESOURCE_EXHAUSTED", "usageLimits"));
        EXPECT_EQ(c.outcome, O::throttled) << reason;
        EXPECT_FALSE(c.sending_limit);
        EXPECT_FALSE(c.retry_at_unix_ms);
    }
    const auto sending_limit_until = [](const std::string& time) {
        return error_body(429, "rateLimitExceeded",
                          "User-rate limit exceeded.  Retry after " + time + " (Mail sending)", "RESOURCE_EXHAUSTED");
    };
    const int64_t noon = 1796644800000;  // 2026-12-07T12:00:00Z
    auto c = classify(429, sending_limit_until("2026-12-07T18:03:21.554Z"), noon);
    EXPECT_EQ(c.outcome, O::throttled);
    EXPECT_TRUE(c.sending_limit);
    ASSERT_TRUE(c.retry_at_unix_ms);
    EXPECT_EQ(*c.retry_at_unix_ms, 1796666601554);
    EXPECT_THAT(c.user_message, HasSubstr("2026-12-07 18:03 UTC"));
    // Google holds an account for up to 24 hours (https://support.google.com/a/answer/166852): a time
    // further out is capped there, one already past means now.
    EXPECT_EQ(classify(429, sending_limit_until("2026-12-10T12:00:00Z"), noon).retry_at_unix_ms, noon + 86'400'000);
    EXPECT_EQ(classify(429, sending_limit_until("2026-12-06T12:00:00Z"), noon).retry_at_unix_ms, noon);
    c = classify(429,
                 error_body(429, "rateLimitExceeded", "Too many concurrent requests for user", "RESOURCE_EXHAUSTED"));
    EXPECT_EQ(c.outcome, O::throttled);
    EXPECT_THAT(c.user_message, HasSubstr("at once"));
    EXPECT_EQ(classify(429, "").outcome, O::throttled);
}

// [errors] "500: Backend error", 502/503/504: the message may have gone; never resend.
TEST(GmailAnswers, ServerErrorsAreIndeterminate) {
    for (int status : {500, 502, 503, 504}) {
        auto c = classify(status, error_body(status, "backendError", "Backend Error", "INTERNAL"));
        EXPECT_EQ(c.outcome, gmail::SendOutcome::indeterminate) << status;
        EXPECT_THAT(c.user_message, HasSubstr("may or may not"));
    }
    EXPECT_EQ(classify(503, "<html/>").code, "http_503");
    EXPECT_EQ(classify(408, "").outcome, gmail::SendOutcome::transient);
    EXPECT_EQ(classify(302, "").outcome, gmail::SendOutcome::indeterminate);
}

TEST(GmailAnswers, RetryAfterTimesAreReadInAnyOffset) {
    EXPECT_EQ(gmail::parse_retry_after_text("Retry after 1970-01-01T00:00:01Z"), 1000);
    EXPECT_EQ(gmail::parse_retry_after_text("x Retry after 1970-01-01T01:00:00.5+01:00 (Mail sending)"), 500);
    EXPECT_EQ(gmail::parse_retry_after_text("Retry after 2026-12-07T18:03:21-00:30"), 1796666601000 + 1800 * 1000);
    EXPECT_FALSE(gmail::parse_retry_after_text("Retry after tomorrow"));
    EXPECT_FALSE(gmail::parse_retry_after_text("Retry after 2026-02-30T00:00:00Z"));
    EXPECT_FALSE(gmail::parse_retry_after_text("Retry after 2026-12-07T18:03:21"));
    // Found by fuzz_gmail_error: a minus sign was read as part of a number.
    for (const char* signed_field :
         {"Retry after -170-02-01T01:00:00Z", "Retry after 2026-12-07T-1:03:21Z", "Retry after 2026-12-07T18:-3:21Z",
          "Retry after 2026-12-07T18:03:-1Z", "Retry after 2026-12-07T18:03:21+-1:00"})
        EXPECT_FALSE(gmail::parse_retry_after_text(signed_field)) << signed_field;
    EXPECT_FALSE(gmail::parse_retry_after_text("no time here"));
}

// ---- threading (ABI 1.2) -------------------------------------------------------------------
// Gmail adds a sent message to a thread when the request names the threadId, References and
// In-Reply-To are set per RFC 2822 and the Subject matches
// (https://developers.google.com/workspace/gmail/api/guides/threads).

namespace {

ep::message::Message follow_up() {
    auto m = nudge();
    m.subject = "Re: " + m.subject;
    m.message_id = "<nudge.3@contoso.com>";
    m.in_reply_to = "<nudge.2@contoso.com>";
    m.references = {"<nudge.1@contoso.com>", "<nudge.2@contoso.com>"};
    m.thread_id = "18c2f0a9d3b4e5f6";
    return m;
}

std::vector<std::string> msg_ids(GMimeMessage* message, const char* header) {
    std::vector<std::string> out;
    const char* value = g_mime_object_get_header(GMIME_OBJECT(message), header);
    if (value == nullptr) return out;
    GMimeReferences* ids = g_mime_references_parse(nullptr, value);
    for (int i = 0; ids != nullptr && i < g_mime_references_length(ids); ++i)
        out.push_back(g_mime_references_get_message_id(ids, i));
    if (ids != nullptr) g_mime_references_free(ids);
    return out;
}

}  // namespace

TEST(GmailThreading, TheMessageCarriesItsMessageIdInReplyToAndReferences) {
    const gmail::SendRequest r = gmail::build_send_request(follow_up(), options());
    EXPECT_EQ(r.message_id, "<nudge.3@contoso.com>") << "the host's Message-ID is kept";
    const std::string mime = ep::kit::base64url_decode(std::string(boost::json::parse(r.body).at("raw").as_string()));
    auto message = parse(mime);
    ASSERT_TRUE(message);
    EXPECT_STREQ(g_mime_message_get_message_id(message.get()), "nudge.3@contoso.com");
    EXPECT_THAT(msg_ids(message.get(), "In-Reply-To"), ::testing::ElementsAre("nudge.2@contoso.com"));
    EXPECT_THAT(msg_ids(message.get(), "References"),
                ::testing::ElementsAre("nudge.1@contoso.com", "nudge.2@contoso.com"));
    EXPECT_THAT(mime, HasSubstr("\r\nIn-Reply-To: <nudge.2@contoso.com>\r\n"));
}

// RFC 5322 §2.1.1: a line is at most 998 characters; the model allows 100 references of 250.
TEST(GmailThreading, AHundredLongReferencesStayWithinTheLineLimitAndReadBackInOrder) {
    auto m = follow_up();
    m.references.clear();
    for (int i = 0; i < 100; ++i)
        m.references.push_back("<" + std::to_string(i) + "." + std::string(230, 'r') + "@contoso.com>");
    const std::string mime = gmail::build_mime_message(m, options());
    for (std::size_t start = 0, end; (end = mime.find("\r\n", start)) != std::string::npos; start = end + 2)
        ASSERT_LE(end - start, 998u) << mime.substr(start, 80);
    auto message = parse(mime);
    const auto read = msg_ids(message.get(), "References");
    ASSERT_EQ(read.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ("<" + read[i] + ">", m.references[i]);
}

// Without the host's Message-ID the plugin makes one, so the sent result reports it and the next
// follow-up can name it; the client_request_id keeps it the same across retries.
TEST(GmailThreading, AMessageWithoutMessageIdGetsOneTheRequestReports) {
    auto m = nudge();
    EXPECT_EQ(gmail::message_id_for(m, options()), "<req-123.abc@gmail.com>");
    m.client_request_id = "not a dot atom";
    const gmail::SendRequest r = gmail::build_send_request(m, options());
    ASSERT_THAT(r.message_id, ::testing::MatchesRegex("<[0-9a-f-]{36}@gmail\\.com>"));
    auto message = parse(ep::kit::base64url_decode(std::string(boost::json::parse(r.body).at("raw").as_string())));
    EXPECT_EQ("<" + std::string(g_mime_message_get_message_id(message.get())) + ">", r.message_id)
        << "the reported id is the one the message carries";
    EXPECT_EQ(msg_ids(message.get(), "In-Reply-To").size(), 0u) << "a first message names no parent";
    EXPECT_EQ(g_mime_object_get_header(GMIME_OBJECT(message.get()), "References"), nullptr);
}

// [discovery] Message.threadId beside raw; any thread id the model allows stays valid JSON.
TEST(GmailThreading, TheJsonFormCarriesTheThreadId) {
    const gmail::SendRequest r = gmail::build_send_request(follow_up(), options());
    ASSERT_FALSE(r.media_upload);
    const boost::json::value v = boost::json::parse(r.body);
    EXPECT_EQ(v.at("threadId").as_string(), "18c2f0a9d3b4e5f6");
    EXPECT_EQ(v.as_object().size(), 2u);
    const boost::json::value odd = boost::json::parse(gmail::send_request_for("x", R"(a"b\c)").body);
    EXPECT_EQ(odd.at("threadId").as_string(), R"(a"b\c)");
    EXPECT_FALSE(boost::json::parse(gmail::send_request_for("x").body).as_object().contains("threadId"));
}

// The threadId counts toward the 1 MiB of the JSON form (googleapis/google-api-dotnet-client#856).
TEST(GmailThreading, TheThreadIdCountsTowardTheJsonLimit) {
    EXPECT_FALSE(gmail::send_request_for(std::string(786424, 'a')).media_upload);
    EXPECT_TRUE(gmail::send_request_for(std::string(786424, 'a'), "t").media_upload);
}

// [uploads] "Multipart upload": the metadata part is the Message resource, threadId included.
TEST(GmailThreading, TheMultipartUploadCarriesTheThreadIdInItsMetadata) {
    const std::string mime = gmail::build_mime_message(follow_up(), options());
    const gmail::SendRequest r = gmail::send_request_for(mime + std::string(800 * 1024, ' '), "18c2f0a9d3b4e5f6");
    ASSERT_TRUE(r.media_upload);
    init_gmime();
    const std::string entity = "Content-Type: " + r.content_type + "\r\n\r\n" + r.body;
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(entity.data(), entity.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeObject> related(g_mime_parser_construct_part(parser.get(), nullptr));
    ASSERT_TRUE(related);
    ASSERT_EQ(g_mime_multipart_get_count(GMIME_MULTIPART(related.get())), 2);
    EXPECT_EQ(boost::json::parse(decoded_content(child(related.get(), 0))),
              (boost::json::object{{"threadId", "18c2f0a9d3b4e5f6"}}));
}

// "Invalid thread_id value" (PipedreamHQ/pipedream#15223): the mailbox has no such thread.
TEST(GmailThreading, AThreadIdGmailDoesNotKnowIsRejectedSayingSo) {
    const auto c = gmail::classify_send_response(
        400,
        R"({"error":{"code":400,"message":"Invalid thread_id value","errors":[{"message":"Invalid thread_id value",)"
        R"("domain":"global","reason":"invalidArgument"}],"status":"INVALID_ARGUMENT"}})",
        0);
    EXPECT_EQ(c.outcome, gmail::SendOutcome::rejected);
    EXPECT_THAT(c.user_message, HasSubstr("conversation"));
}
