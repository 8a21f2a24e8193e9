#include <graph_mail.hpp>

#include <gmime/gmime.h>

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace json = boost::json;
using ep::message::Attachment;
using ep::message::Message;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

Message parsed(std::string_view message_json) { return ep::message::parse_message(message_json); }

Message minimal_message() { return parsed(R"({"to":[{"address":"ada@example.com"}],"subject":"Hi","text":"Hello"})"); }

json::object body_of(const Message& m) {
    const std::string body = outlook::build_send_mail_body(m);
    EXPECT_EQ(body.size(), outlook::send_mail_body_size(m));
    return json::parse(body).as_object();
}

std::optional<ep::sdk::Error> graph_validation_error(const Message& m) {
    try {
        outlook::validate_for_graph(m);
    } catch (const ep::sdk::Error& e) {
        return e;
    }
    return std::nullopt;
}

std::string random_bytes(std::size_t n) {
    std::mt19937 rng(42);
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng());
    return out;
}

Attachment attachment_with_base64(std::string base64) {
    Attachment a;
    a.name = "cv.pdf";
    a.content_type = "application/pdf";
    a.size = ep::message::base64_decoded_size(base64).value();
    a.content_base64 = std::move(base64);
    return a;
}

// A message whose sendMail body is exactly `target` bytes: an attachment of "A"s (valid
// base64) fills the space, and the subject absorbs the remainder so the base64 length stays
// a multiple of 4.
Message message_with_body_size(std::size_t target) {
    Message m = minimal_message();
    m.attachments.push_back(attachment_with_base64(""));
    m.subject += std::string((target - outlook::send_mail_body_size(m)) % 4, 's');
    m.attachments[0] = attachment_with_base64(std::string(target - outlook::send_mail_body_size(m), 'A'));
    return m;
}

std::string graph_error_body(std::string_view code, std::string_view message = "Something happened.") {
    json::object inner{{"date", "2024-05-01T10:00:00"}, {"request-id", "9f0c1d2e-0000-4000-8000-000000000001"}};
    json::object error{{"code", code}, {"message", message}, {"innerError", inner}};
    return json::serialize(json::object{{"error", error}});
}

bool has_control_character(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F) return true;
    return false;
}

}  // namespace

// ---- Request body ------------------------------------------------------------------------

TEST(GraphMailBody, MinimalMessageHasOnlyWhatGraphNeeds) {
    const json::object body = body_of(minimal_message());
    EXPECT_EQ(body.size(), 1u) << "saveToSentItems is omitted when true (Graph's default)";
    const json::object& msg = body.at("message").as_object();
    EXPECT_EQ(msg.at("subject"), "Hi");
    EXPECT_EQ(msg.at("body").at("contentType"), "Text");
    EXPECT_EQ(msg.at("body").at("content"), "Hello");
    const json::array& to = msg.at("toRecipients").as_array();
    ASSERT_EQ(to.size(), 1u);
    EXPECT_EQ(to[0].at("emailAddress").at("address"), "ada@example.com");
    EXPECT_FALSE(to[0].at("emailAddress").as_object().contains("name"));
    for (const char* absent :
         {"ccRecipients", "bccRecipients", "replyTo", "attachments", "internetMessageHeaders", "importance"})
        EXPECT_FALSE(msg.contains(absent)) << absent;
}

TEST(GraphMailBody, FullMessageMapsEveryField) {
    const Message m = parsed(R"({
        "to":[{"address":"ada@example.com","name":"Ada Lovelace"},{"address":"bob@example.org"}],
        "cc":[{"address":"cc@example.com","name":"Carol"}],
        "bcc":[{"address":"bcc@example.com"}],
        "reply_to":[{"address":"recruiter@agency.example","name":"Recruiter"}],
        "subject":"Interview next week",
        "text":"plain version",
        "html":"<p>Hello <img src=\"cid:logo\"></p>",
        "attachments":[
            {"name":"logo.png","content_type":"image/png","content_base64":"iVBORw0KGgo=","inline":true,"content_id":"logo"},
            {"name":"role.pdf","content_type":"application/pdf","content_base64":"JVBERi0xLjQK"}],
        "headers":[{"name":"x-nudge-id","value":"n-123"},{"name":"X-Campaign","value":"spring"}],
        "importance":"high",
        "save_to_sent_items":false})");
    const json::object body = body_of(m);
    EXPECT_TRUE(body.at("saveToSentItems").is_bool());
    EXPECT_EQ(body.at("saveToSentItems"), false);

    const json::object& msg = body.at("message").as_object();
    EXPECT_EQ(msg.at("subject"), "Interview next week");
    EXPECT_EQ(msg.at("body").at("contentType"), "HTML") << "Graph takes one body: HTML wins over text";
    EXPECT_EQ(msg.at("body").at("content"), "<p>Hello <img src=\"cid:logo\"></p>");
    EXPECT_EQ(msg.at("importance"), "high");

    const json::array& to = msg.at("toRecipients").as_array();
    ASSERT_EQ(to.size(), 2u);
    EXPECT_EQ(to[0].at("emailAddress").at("name"), "Ada Lovelace");
    EXPECT_EQ(to[1].at("emailAddress").at("address"), "bob@example.org");
    EXPECT_EQ(msg.at("ccRecipients").at(0).at("emailAddress").at("name"), "Carol");
    EXPECT_EQ(msg.at("bccRecipients").at(0).at("emailAddress").at("address"), "bcc@example.com");
    EXPECT_EQ(msg.at("replyTo").at(0).at("emailAddress").at("address"), "recruiter@agency.example");

    const json::array& attachments = msg.at("attachments").as_array();
    ASSERT_EQ(attachments.size(), 2u);
    const json::object& logo = attachments[0].as_object();
    EXPECT_EQ(logo.at("@odata.type"), "#microsoft.graph.fileAttachment");
    EXPECT_EQ(logo.at("name"), "logo.png");
    EXPECT_EQ(logo.at("contentType"), "image/png");
    EXPECT_EQ(logo.at("contentBytes"), "iVBORw0KGgo=");
    EXPECT_EQ(logo.at("isInline"), true);
    EXPECT_EQ(logo.at("contentId"), "logo");
    const json::object& pdf = attachments[1].as_object();
    EXPECT_EQ(pdf.at("isInline"), false);
    EXPECT_FALSE(pdf.contains("contentId"));

    const json::array& headers = msg.at("internetMessageHeaders").as_array();
    ASSERT_EQ(headers.size(), 2u);
    EXPECT_EQ(headers[1].at("name"), "X-Campaign");
    EXPECT_EQ(headers[1].at("value"), "spring");

    EXPECT_EQ(outlook::build_validated_send_mail_body(m), outlook::build_send_mail_body(m));
}

TEST(GraphMailBody, HtmlOnlyLowImportanceAndSaveToSentItemsTrue) {
    Message m = parsed(
        R"({"to":[{"address":"ada@example.com"}],"html":"<b>x</b>","importance":"low","save_to_sent_items":true})");
    const json::object body = body_of(m);
    EXPECT_FALSE(body.contains("saveToSentItems"));
    EXPECT_EQ(body.at("message").at("body").at("contentType"), "HTML");
    EXPECT_EQ(body.at("message").at("importance"), "low");
    EXPECT_EQ(body.at("message").at("subject"), "");
}

TEST(GraphMailBody, SpecialAndNonAsciiCharactersRoundTrip) {
    Message m = minimal_message();
    m.subject = "Quote \" backslash \\ slash / Grüße 日本 😀";
    m.text =
        "line1\nline2\r\ttab \b\f ctl\x01\x1f"
        " del\x7f"
        " end";
    m.to[0].name = "O'Brien, \"Pat\" — 山田";
    m.headers.push_back({"x-note", "a \"quoted\" \\ value"});
    const std::string body = outlook::build_send_mail_body(m);

    const json::value v = json::parse(body);
    EXPECT_EQ(v.at("message").at("subject").as_string(), m.subject);
    EXPECT_EQ(v.at("message").at("body").at("content").as_string(), *m.text);
    EXPECT_EQ(v.at("message").at("toRecipients").at(0).at("emailAddress").at("name").as_string(), m.to[0].name);
    EXPECT_EQ(v.at("message").at("internetMessageHeaders").at(0).at("value").as_string(), m.headers[0].value);
    EXPECT_THAT(body, HasSubstr("Grüße 日本 😀")) << "UTF-8 is sent as is, not \\u-escaped";
    EXPECT_THAT(body, HasSubstr(R"(\b\f ctl\u0001\u001f)"));
    EXPECT_EQ(std::count_if(body.begin(), body.end(), [](unsigned char c) { return c < 0x20; }), 0);
    // Same bytes as Boost.JSON's own serializer: compact, canonical, same escapes.
    EXPECT_EQ(body, json::serialize(v));
}

TEST(GraphMailBody, EscapesAtEveryPositionAroundScanBlocks) {
    // Plain stretches and escapes of random lengths, so escapes fall at every offset inside,
    // at the edges of, and after the fixed-size blocks the writer skips over.
    std::mt19937 rng(7);
    const std::vector<std::string> pieces = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "é", "😀", "/"};
    Message m = minimal_message();
    for (int round = 0; round < 300; ++round) {
        std::string text;
        while (text.size() < rng() % 200) {
            text += std::string(rng() % 70, 'a');
            text += pieces[rng() % pieces.size()];
        }
        m.text = text;
        const std::string body = outlook::build_send_mail_body(m);
        ASSERT_EQ(body.size(), outlook::send_mail_body_size(m)) << text;
        const json::value v = json::parse(body);
        ASSERT_EQ(v.at("message").at("body").at("content").as_string(), text);
        ASSERT_EQ(body, json::serialize(v));
    }
}

TEST(GraphMailBody, SizeMatchesBuiltBodyForEveryShape) {
    Message m = minimal_message();
    m.text = std::string(1000, '"');  // every byte escaped
    EXPECT_EQ(outlook::send_mail_body_size(m), outlook::build_send_mail_body(m).size());
    m.html = std::string("\x01\x02<p>", 5);
    m.attachments.push_back(attachment_with_base64(ep::message::base64_encode(random_bytes(3000))));
    m.save_to_sent_items = false;
    EXPECT_EQ(outlook::send_mail_body_size(m), outlook::build_send_mail_body(m).size());
}

// ---- Graph validation --------------------------------------------------------------------

TEST(GraphMailValidation, HeaderNameWithoutXPrefixIsRefusedWithItsPath) {
    Message m = minimal_message();
    m.headers = {{"x-one", "1"}, {"X-Two", "2"}, {"List-Unsubscribe", "<mailto:u@example.com>"}};
    const auto error = graph_validation_error(m);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->status(), EP_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(error->code(), "invalid_message");
    EXPECT_EQ(error->field(), "headers[2].name");
    EXPECT_THAT(error->what(), HasSubstr("List-Unsubscribe"));
    EXPECT_THAT(error->what(), HasSubstr("\"x-\""));
    EXPECT_THROW(outlook::build_validated_send_mail_body(m), ep::sdk::Error);

    m.headers[2].name = "xx-not-a-prefix";
    EXPECT_EQ(graph_validation_error(m).value().field(), "headers[2].name");
}

TEST(GraphMailValidation, AtMostFiveCustomHeaders) {
    Message m = minimal_message();
    for (int i = 0; i < 5; ++i) m.headers.push_back({"x-h" + std::to_string(i), "v"});
    EXPECT_FALSE(graph_validation_error(m));
    m.headers.push_back({"X-Sixth", "v"});
    const auto error = graph_validation_error(m);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "headers");
    EXPECT_THAT(error->what(), HasSubstr("6 custom headers"));
    EXPECT_THAT(error->what(), HasSubstr("at most 5"));
}

TEST(GraphMailValidation, NoHeadersIsValidAndOmitted) {
    const Message m = minimal_message();
    EXPECT_FALSE(graph_validation_error(m));
    EXPECT_THAT(outlook::build_validated_send_mail_body(m), Not(HasSubstr("internetMessageHeaders")));
}

TEST(GraphMailValidation, BodyOfExactlyFourMegabytesIsAcceptedOneByteMoreIsRefused) {
    Message m = message_with_body_size(outlook::kGraphMaxRequestBytes);
    ASSERT_EQ(outlook::send_mail_body_size(m), 4'194'304u);
    EXPECT_FALSE(graph_validation_error(m));
    EXPECT_EQ(outlook::build_validated_send_mail_body(m).size(), 4'194'304u);

    m.subject += "!";
    ASSERT_EQ(outlook::send_mail_body_size(m), 4'194'305u);
    const auto error = graph_validation_error(m);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "attachments");
    EXPECT_THAT(error->what(), HasSubstr("too large for Microsoft Graph's 4 MB request limit"));
    EXPECT_THAT(error->what(), HasSubstr("4194305 bytes"));
    EXPECT_THAT(error->what(), HasSubstr("Mail.ReadWrite"));
    EXPECT_THAT(error->what(), HasSubstr("deliberately does not request"));
    EXPECT_THROW(outlook::build_validated_send_mail_body(m), ep::sdk::Error);
}

TEST(GraphMailValidation, RealAttachmentsJustUnderAndOverTheLimit) {
    constexpr double MiB = 1024 * 1024;
    Message m = minimal_message();
    // 3.9 MiB and 4.1 MiB of base64 (random bytes, as a real PDF would be).
    m.attachments.push_back(
        attachment_with_base64(ep::message::base64_encode(random_bytes(static_cast<std::size_t>(3.9 * MiB * 3 / 4)))));
    EXPECT_FALSE(graph_validation_error(m));
    const json::value sent = json::parse(outlook::build_validated_send_mail_body(m));
    EXPECT_EQ(sent.at("message").at("attachments").at(0).at("contentBytes").as_string(),
              m.attachments[0].content_base64);

    m.attachments[0] =
        attachment_with_base64(ep::message::base64_encode(random_bytes(static_cast<std::size_t>(4.1 * MiB * 3 / 4))));
    const auto error = graph_validation_error(m);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "attachments");
}

TEST(GraphMailValidation, OversizedBodyWithoutAttachmentsNamesTheBodyField) {
    Message m = minimal_message();
    m.text = std::string(outlook::kGraphMaxRequestBytes, 't');
    EXPECT_EQ(graph_validation_error(m).value().field(), "text");
    m.html = std::string(outlook::kGraphMaxRequestBytes, 'h');
    EXPECT_EQ(graph_validation_error(m).value().field(), "html");
    // Escaping counts: 1.5 MB of quotes is 3 MB on the wire, 2.5 MB is 5 MB.
    m.text.reset();
    m.html = std::string(1'500'000, '"');
    EXPECT_FALSE(graph_validation_error(m));
    m.html = std::string(2'500'000, '"');
    EXPECT_EQ(graph_validation_error(m).value().field(), "html");
}

// ---- Graph error documents ---------------------------------------------------------------

TEST(GraphMailError, ParsesCodeMessageAndCorrelationIds) {
    const auto e = outlook::parse_graph_error(R"({"error":{"code":"ErrorAccessDenied","message":"Access is denied.",
        "innerError":{"date":"2023-01-05T03:01:23","request-id":"r-1","client-request-id":"c-1"}}})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, "ErrorAccessDenied");
    EXPECT_EQ(e->message, "Access is denied.");
    EXPECT_EQ(e->request_id, "r-1");
    EXPECT_EQ(e->client_request_id, "c-1");
    EXPECT_EQ(e->date, "2023-01-05T03:01:23");
}

TEST(GraphMailError, ToleratesInnerErrorCasingAndNesting) {
    auto e = outlook::parse_graph_error(R"({"error":{"code":"X","innererror":{"request-id":"r-lower"}}})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->request_id, "r-lower");
    EXPECT_EQ(e->message, "");

    e = outlook::parse_graph_error(R"({"error":{"code":"X","message":"m","innerError":{"date":"d1",
        "innerError":{"request-id":"r-deep","date":"d2","innererror":{"client-request-id":"c-deeper"}}}}})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->date, "d1") << "the outermost value wins";
    EXPECT_EQ(e->request_id, "r-deep");
    EXPECT_EQ(e->client_request_id, "c-deeper");
}

TEST(GraphMailError, AnythingElseIsNotAGraphError) {
    for (std::string_view body :
         {"", "   ", "not json", "<html><body>502 Bad Gateway</body></html>", "[]", "{}", "null",
          R"({"error":"invalid_grant"})", R"({"error":{"message":"no code"}})", R"({"error":{"code":42}})",
          R"({"error":{"code":""}})", R"({"error":{"code":"X"})", "{\"error\":{\"code\":\"\xff\xfe\"}}"})
        EXPECT_FALSE(outlook::parse_graph_error(body)) << body;
    std::string huge = graph_error_body("ErrorAccessDenied", std::string(100'000, 'm'));
    EXPECT_FALSE(outlook::parse_graph_error(huge)) << "bodies over 64 KiB are not parsed";
    std::string deep(10'000, '[');
    EXPECT_FALSE(outlook::parse_graph_error(deep));
}

// ---- Send outcome ------------------------------------------------------------------------

TEST(GraphMailClassify, EveryStatusAndCode) {
    using outlook::SendOutcome;
    struct Case {
        int status;
        std::string body;
        SendOutcome outcome;
        std::string code;
        std::string says;  // a phrase the user message must contain
    };
    const std::vector<Case> cases = {
        {202, "", SendOutcome::sent, "", ""},
        {401, graph_error_body("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
         SendOutcome::auth_expired, "InvalidAuthenticationToken", "Reconnect"},
        {401, "", SendOutcome::auth_expired, "http_401", "Reconnect"},
        // Permission removed or restricted: the connection's problem, not the message's (issue 12).
        {403, graph_error_body("ErrorAccessDenied", "Access is denied."), SendOutcome::auth_expired,
         "ErrorAccessDenied", "Contact your IT administrator"},
        {403, graph_error_body("accessDenied"), SendOutcome::auth_expired, "accessDenied", "IT administrator"},
        {403, graph_error_body("ErrorSendAsDenied"), SendOutcome::rejected, "ErrorSendAsDenied", "send-as"},
        {404, graph_error_body("MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox."),
         SendOutcome::rejected, "MailboxNotEnabledForRESTAPI", "no Exchange Online mailbox"},
        {403, graph_error_body("MailboxNotSupportedForRESTAPI"), SendOutcome::rejected, "MailboxNotSupportedForRESTAPI",
         "personal account"},
        {400, graph_error_body("ErrorInvalidRecipients", "At least one recipient is not valid."), SendOutcome::rejected,
         "ErrorInvalidRecipients", "At least one recipient is not valid."},
        {400, graph_error_body("ErrorMessageSizeExceeded"), SendOutcome::rejected, "ErrorMessageSizeExceeded",
         "too large"},
        {413, graph_error_body("RequestEntityTooLarge"), SendOutcome::rejected, "RequestEntityTooLarge", "too large"},
        {413, "", SendOutcome::rejected, "http_413", "too large"},
        {403, graph_error_body("ErrorQuotaExceeded"), SendOutcome::rejected, "ErrorQuotaExceeded", "mailbox is full"},
        {403, graph_error_body("ErrorExceededMessageLimit"), SendOutcome::throttled, "ErrorExceededMessageLimit",
         "daily sending limit"},
        {400, graph_error_body("InvalidInternetMessageHeader"), SendOutcome::rejected, "InvalidInternetMessageHeader",
         "(InvalidInternetMessageHeader)"},
        {400, graph_error_body("InvalidInternetMessageHeaderCollection"), SendOutcome::rejected,
         "InvalidInternetMessageHeaderCollection", "(InvalidInternetMessageHeaderCollection)"},
        {400, graph_error_body("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."),
         SendOutcome::rejected, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."},
        {400, graph_error_body("BadRequest", "The maximum request length supported is 4MB."), SendOutcome::rejected,
         "BadRequest", "maximum request length"},
        {400, "<html>Bad Request</html>", SendOutcome::rejected, "http_400", "(http_400)"},
        {404, "", SendOutcome::rejected, "http_404", "(http_404)"},
        {429, graph_error_body("TooManyRequests", "Please retry again later."), SendOutcome::throttled,
         "TooManyRequests", "Wait"},
        {429, graph_error_body("ApplicationThrottled"), SendOutcome::throttled, "ApplicationThrottled", "Wait"},
        {429, graph_error_body("MailboxConcurrency"), SendOutcome::throttled, "MailboxConcurrency", "Wait"},
        {429, "", SendOutcome::throttled, "http_429", "Wait"},
        {403, graph_error_body("ApplicationThrottled"), SendOutcome::throttled, "ApplicationThrottled", "Wait"},
        {408, "", SendOutcome::transient, "http_408", "not sent"},
        {500, graph_error_body("generalException"), SendOutcome::indeterminate, "generalException", "may or may not"},
        {502, "<html>Bad Gateway</html>", SendOutcome::indeterminate, "http_502", "Sent Items"},
        {503, graph_error_body("serviceNotAvailable"), SendOutcome::indeterminate, "serviceNotAvailable", "HTTP 503"},
        {504, "", SendOutcome::indeterminate, "http_504", "may or may not"},
        {507, "", SendOutcome::indeterminate, "http_507", "may or may not"},
        {503, graph_error_body("ErrorQuotaExceeded"), SendOutcome::indeterminate, "ErrorQuotaExceeded",
         "may or may not"},
        {200, R"({"value":[]})", SendOutcome::indeterminate, "unexpected_response", "HTTP 200"},
        {204, "", SendOutcome::indeterminate, "unexpected_response", "unexpected"},
        {302, "", SendOutcome::indeterminate, "unexpected_response", "HTTP 302"},
        {0, "", SendOutcome::indeterminate, "unexpected_response", "unexpected"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.status) + " " + c.body);
        const outlook::SendClassification r = outlook::classify_send_response(c.status, c.body);
        EXPECT_STREQ(outlook::to_string(r.outcome), outlook::to_string(c.outcome));
        EXPECT_EQ(r.code, c.code);
        EXPECT_EQ(r.retry_with_fresh_token, c.status == 401);
        EXPECT_THAT(r.user_message, HasSubstr(c.says));
        EXPECT_FALSE(r.user_message.empty());
        EXPECT_FALSE(has_control_character(r.user_message));
    }
}

// Defect 1 of issue 12: a CAE claims challenge. The header values are those of the Graph SDK
// test kits' CAE cases ("standard", "multiple challenges" with a PoP challenge first, empty
// and missing claims; Kiota/msgraph core authentication tests) and of Microsoft's
// claims-challenge page (MicrosoftDocs/azure-docs articles/active-directory/develop/claims-challenge.md).
TEST(GraphMailChallenge, ReadsTheBearerClaimsChallengeAsMicrosoftSendsIt) {
    auto c = outlook::parse_bearer_challenge(
        R"(Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
        R"(error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In0sInhtc19jYWVlcnJvciI6eyJ2YWx1ZSI6IjEwMDEyIn19fQ==")");
    EXPECT_TRUE(c.claims_challenge());
    EXPECT_EQ(c.claims,
              R"({"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_caeerror":{"value":"10012"}}})");
    c = outlook::parse_bearer_challenge(
        R"(PoP realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
        R"(client_id="00000003-0000-0000-c000-000000000000", nonce="ey==", Bearer realm="", )"
        R"(authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
        R"(client_id="00000003-0000-0000-c000-000000000000", error_description="Continuous access evaluation )"
        R"(resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp", )"
        R"(error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTcyNjI1ODEyMiJ9fX0=")");
    EXPECT_TRUE(c.claims_challenge());
    EXPECT_EQ(c.claims, R"({"access_token":{"nbf":{"essential":true,"value":"1726258122"}}})");
    c = outlook::parse_bearer_challenge(R"(Bearer claims="", error="insufficient_claims")");
    EXPECT_TRUE(c.claims_challenge());
    EXPECT_EQ(c.claims, "");
    c = outlook::parse_bearer_challenge(R"(Bearer error="insufficient_claims", claims="bm90IGpzb24=")");  // "not json"
    EXPECT_EQ(c.claims, "") << "only a JSON object is a claims request";
    // The plain 401 of an expired or unknown token is no claims challenge.
    c = outlook::parse_bearer_challenge(
        R"(Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
        R"(client_id="00000003-0000-0000-c000-000000000000")");
    EXPECT_FALSE(c.claims_challenge());
    EXPECT_FALSE(outlook::parse_bearer_challenge("").claims_challenge());
    EXPECT_FALSE(
        outlook::parse_bearer_challenge(R"(PoP error="insufficient_claims", claims="e30=")").claims_challenge())
        << "only the Bearer challenge counts";
}

// Defect 7 of issue 12: only a 503 that proves the request was not processed is throttled:
// Retry-After plus a throttling code (Graph's throttling guidance: throttled requests fail).
// Any other 503, with or without Retry-After, may have delivered the mail (Microsoft Q&A
// 2286986) and stays indeterminate.
TEST(GraphMailClassify, A503IsThrottledOnlyWhenItProvesThrottling) {
    using outlook::SendOutcome;
    const std::string throttled = graph_error_body("TooManyRequests", "Too many requests.");
    EXPECT_EQ(outlook::classify_send_response(503, throttled, true).outcome, SendOutcome::throttled);
    EXPECT_EQ(outlook::classify_send_response(503, graph_error_body("ApplicationThrottled"), true).outcome,
              SendOutcome::throttled);
    EXPECT_EQ(outlook::classify_send_response(503, throttled, false).outcome, SendOutcome::indeterminate)
        << "without Retry-After it is no throttling answer";
    EXPECT_EQ(outlook::classify_send_response(503, graph_error_body("serviceNotAvailable"), true).outcome,
              SendOutcome::indeterminate);
    EXPECT_EQ(outlook::classify_send_response(504, throttled, true).outcome, SendOutcome::indeterminate);
    EXPECT_EQ(outlook::classify_send_response(503, "<html>Service Unavailable</html>", true).outcome,
              SendOutcome::indeterminate);
}

TEST(GraphMailClassify, QuotedGraphTextIsCappedAndStrippedOfControlCharacters) {
    const std::string graph_text = "Bad\r\nthing\x01 \xc2\x85" + std::string(2000, 'z') + "END";
    const auto r = outlook::classify_send_response(400, graph_error_body("ErrorSomethingNew", graph_text));
    EXPECT_EQ(r.outcome, outlook::SendOutcome::rejected);
    EXPECT_EQ(r.code, "ErrorSomethingNew");
    EXPECT_THAT(r.user_message, HasSubstr("Bad thing"));
    EXPECT_THAT(r.user_message, Not(HasSubstr("END")));
    EXPECT_THAT(r.user_message, Not(HasSubstr("\xc2\x85")));
    EXPECT_FALSE(has_control_character(r.user_message));
    EXPECT_LT(r.user_message.size(), 500u);
    EXPECT_TRUE(ep::sdk::is_valid_utf8(r.user_message));

    // A cut inside a multi-byte character must not leave half of it.
    const auto cut = outlook::classify_send_response(400, graph_error_body("E", std::string(299, 'a') + "日本"));
    EXPECT_TRUE(ep::sdk::is_valid_utf8(cut.user_message));
}

TEST(GraphMailClassify, HugeBodiesAreNotParsedButStillClassified) {
    const std::string huge(5'000'000, '{');
    EXPECT_EQ(outlook::classify_send_response(400, huge).code, "http_400");
    EXPECT_EQ(outlook::classify_send_response(503, huge).outcome, outlook::SendOutcome::indeterminate);
    EXPECT_EQ(outlook::classify_send_response(202, huge).outcome, outlook::SendOutcome::sent);
}

TEST(GraphMailClassify, OutcomeNames) {
    using outlook::SendOutcome;
    EXPECT_STREQ(outlook::to_string(SendOutcome::sent), "sent");
    EXPECT_STREQ(outlook::to_string(SendOutcome::rejected), "rejected");
    EXPECT_STREQ(outlook::to_string(SendOutcome::auth_expired), "auth_expired");
    EXPECT_STREQ(outlook::to_string(SendOutcome::throttled), "throttled");
    EXPECT_STREQ(outlook::to_string(SendOutcome::transient), "transient");
    EXPECT_STREQ(outlook::to_string(SendOutcome::indeterminate), "indeterminate");
}

// ---- /me ---------------------------------------------------------------------------------

TEST(GraphMailProfile, WorkAccount) {
    const outlook::Profile p = outlook::parse_profile(R"({
        "@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,mail,userPrincipalName)/$entity",
        "id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","displayName":"Megan Bowen",
        "mail":"MeganB@contoso.com","userPrincipalName":"megan.bowen@contoso.onmicrosoft.com"})");
    EXPECT_EQ(p.id, "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    EXPECT_EQ(p.display_name, "Megan Bowen");
    EXPECT_EQ(p.mail, "MeganB@contoso.com");
    EXPECT_EQ(p.user_principal_name, "megan.bowen@contoso.onmicrosoft.com");
    EXPECT_EQ(p.email(), "MeganB@contoso.com") << "mail wins over the UPN";
}

TEST(GraphMailProfile, PersonalAccountFallsBackToTheUpn) {
    const outlook::Profile p = outlook::parse_profile(
        R"({"id":"4a5f1c2b3d4e5f60","displayName":null,"mail":null,"userPrincipalName":"sam.recruiter@outlook.com"})");
    EXPECT_EQ(p.id, "4a5f1c2b3d4e5f60");
    EXPECT_EQ(p.display_name, "");
    EXPECT_EQ(p.mail, "");
    EXPECT_EQ(p.email(), "sam.recruiter@outlook.com");
    EXPECT_EQ(outlook::parse_profile(R"({"id":"1","userPrincipalName":"u@example.com"})").email(), "u@example.com");
}

// Defect 6 of issue 12: a /me answer without userPrincipalName (a $select Graph honoured only
// in part, or a directory object without one) must still connect: the address is mail, else
// the UPN, else the id.
TEST(GraphMailProfile, AMissingDisplayFieldNeverRefusesTheProfile) {
    EXPECT_EQ(outlook::parse_profile(R"({"id":"1","mail":"MeganB@contoso.com"})").email(), "MeganB@contoso.com");
    EXPECT_EQ(outlook::parse_profile(R"({"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","mail":null})").email(),
              "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    EXPECT_EQ(outlook::parse_profile(R"({"userPrincipalName":"u@example.com"})").email(), "u@example.com");
}

TEST(GraphMailProfile, BadBodiesAreRefusedWithAReason) {
    struct Case {
        std::string body;
        std::string says;
    };
    const std::vector<Case> cases = {
        {"", "not valid JSON"},
        {"<html>", "not valid JSON"},
        {"[]", "not a JSON object"},
        {R"({"displayName":"Megan Bowen"})", "neither \"id\", \"mail\" nor \"userPrincipalName\""},
        {R"({"id":7,"userPrincipalName":"u@example.com"})", "not a string"},
        {R"({"id":"1","userPrincipalName":"u@example.com","mail":7})", "\"mail\""},
        {R"({"id":"1","userPrincipalName":"u@example.com","displayName":{}})", "\"displayName\""},
        {graph_error_body("InvalidAuthenticationToken"), "neither"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.body);
        try {
            outlook::parse_profile(c.body);
            ADD_FAILURE() << "accepted";
        } catch (const ep::sdk::Error& e) {
            EXPECT_EQ(e.status(), EP_ERR_INTERNAL);
            EXPECT_EQ(e.code(), "bad_profile");
            EXPECT_THAT(e.what(), HasSubstr("/me"));
            EXPECT_THAT(e.what(), HasSubstr(c.says));
        }
    }
}

// ---- the daily sending limit -------------------------------------------------------------

namespace {

constexpr int64_t kNow = 1'796'000'000'000;  // 2026-11-30 00:53:20 UTC

}  // namespace

TEST(GraphDailyLimit, ExceededMessageLimitHoldsTheMailboxForADayAndSaysUntilWhen) {
    const outlook::SendClassification r = outlook::classify_send_response(
        403, graph_error_body("ErrorExceededMessageLimit", "Cannot send mail."), false, kNow);
    EXPECT_STREQ(outlook::to_string(r.outcome), "throttled");
    EXPECT_TRUE(r.sending_limit);
    ASSERT_TRUE(r.retry_at_unix_ms);
    EXPECT_EQ(*r.retry_at_unix_ms, kNow + 24LL * 60 * 60 * 1000);
    EXPECT_THAT(r.user_message, HasSubstr("daily sending limit"));
    EXPECT_THAT(r.user_message, HasSubstr("go out automatically after 2026-12-01 00:53 UTC"));
}

TEST(GraphDailyLimit, ARetryAfterSetsTheTimeInstead) {
    const int64_t in_two_hours = kNow + 2LL * 60 * 60 * 1000;
    const outlook::SendClassification r =
        outlook::classify_send_response(429, graph_error_body("ErrorExceededMessageLimit"), true, kNow, in_two_hours);
    EXPECT_STREQ(outlook::to_string(r.outcome), "throttled");
    EXPECT_TRUE(r.sending_limit);
    EXPECT_EQ(r.retry_at_unix_ms, in_two_hours);
    EXPECT_THAT(r.user_message, HasSubstr("2026-11-30 02:53 UTC"));
}

TEST(GraphDailyLimit, OtherThrottlingIsNotADailyLimit) {
    const outlook::SendClassification r =
        outlook::classify_send_response(429, graph_error_body("ApplicationThrottled"), true, kNow);
    EXPECT_STREQ(outlook::to_string(r.outcome), "throttled");
    EXPECT_FALSE(r.sending_limit);
}

// ---- sendMail in MIME form ---------------------------------------------------------------

namespace {

struct GObjectUnref {
    void operator()(void* object) const { g_object_unref(object); }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

const outlook::Sender kAdele{"adele@contoso.example", "Adele Vance"};

Message threaded_message() {
    return parsed(R"({"to":[{"address":"cand@example.org","name":"Cand Idate"}],
        "cc":[{"address":"hm@contoso.example"}], "bcc":[{"address":"log@contoso.example"}],
        "reply_to":[{"address":"jobs@contoso.example"}],
        "subject":"Following up", "text":"Hello again", "html":"<p>Hello again</p>", "importance":"high",
        "headers":[{"name":"X-Nudge-Id","value":"42"}],
        "attachments":[{"name":"role.txt","content_type":"text/plain","content_base64":"Um9sZQ=="}],
        "message_id":"<nudge.3@contoso.example>", "in_reply_to":"<nudge.2@contoso.example>",
        "references":["<nudge.1@contoso.example>","<nudge.2@contoso.example>"]})");
}

// Decodes the request body and parses the message back with GMime, as a receiving server would.
GPtr<GMimeMessage> parse_back(const std::string& base64_body) {
    g_mime_init();
    const std::optional<std::string> bytes = ep::message::base64_decode(base64_body);
    EXPECT_TRUE(bytes) << "the sendMail MIME body must be standard base64";
    if (!bytes) return nullptr;
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes->data(), bytes->size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

std::string header(GMimeMessage* m, const char* name) {
    const char* v = g_mime_object_get_header(GMIME_OBJECT(m), name);
    return v ? v : "";
}

std::string first_address(GMimeMessage* m, GMimeAddressType type) {
    InternetAddressList* list = g_mime_message_get_addresses(m, type);
    if (!list || internet_address_list_length(list) == 0) return "";
    return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(list, 0)));
}

}  // namespace

TEST(GraphMime, OnlyAThreadedMessageTakesTheMimeForm) {
    EXPECT_FALSE(outlook::wants_mime_form(minimal_message()));
    Message m = minimal_message();
    m.in_reply_to = "<a@b.example>";
    EXPECT_TRUE(outlook::wants_mime_form(m));
    m = minimal_message();
    m.references = {"<a@b.example>"};
    EXPECT_TRUE(outlook::wants_mime_form(m));
    m = minimal_message();
    m.message_id = "<a@b.example>";
    EXPECT_TRUE(outlook::wants_mime_form(m));
}

TEST(GraphMime, TheMessageCarriesEveryFieldAndTheThreadingHeaders) {
    const outlook::MimeSendMail built = outlook::build_validated_mime_send_mail(threaded_message(), kAdele, 1796000000);
    EXPECT_EQ(built.internet_message_id, "<nudge.3@contoso.example>");
    GPtr<GMimeMessage> m = parse_back(built.body);
    ASSERT_TRUE(m);
    EXPECT_STREQ(g_mime_message_get_message_id(m.get()), "nudge.3@contoso.example");
    EXPECT_EQ(header(m.get(), "In-Reply-To"), "<nudge.2@contoso.example>");
    GMimeReferences* refs = g_mime_references_parse(nullptr, header(m.get(), "References").c_str());
    ASSERT_NE(refs, nullptr);
    ASSERT_EQ(g_mime_references_length(refs), 2);
    EXPECT_STREQ(g_mime_references_get_message_id(refs, 0), "nudge.1@contoso.example");
    EXPECT_STREQ(g_mime_references_get_message_id(refs, 1), "nudge.2@contoso.example");
    g_mime_references_free(refs);
    EXPECT_EQ(first_address(m.get(), GMIME_ADDRESS_TYPE_FROM), "adele@contoso.example");
    EXPECT_EQ(first_address(m.get(), GMIME_ADDRESS_TYPE_TO), "cand@example.org");
    EXPECT_EQ(first_address(m.get(), GMIME_ADDRESS_TYPE_CC), "hm@contoso.example");
    EXPECT_EQ(first_address(m.get(), GMIME_ADDRESS_TYPE_BCC), "log@contoso.example");
    EXPECT_EQ(first_address(m.get(), GMIME_ADDRESS_TYPE_REPLY_TO), "jobs@contoso.example");
    EXPECT_STREQ(g_mime_message_get_subject(m.get()), "Following up");
    EXPECT_EQ(header(m.get(), "Importance"), "high");
    EXPECT_EQ(header(m.get(), "X-Nudge-Id"), "42");
    // mixed[ alternative[ text/plain, text/html ], the attachment ]
    GMimeObject* top = g_mime_message_get_mime_part(m.get());
    ASSERT_TRUE(GMIME_IS_MULTIPART(top));
    EXPECT_STREQ(g_mime_content_type_get_media_subtype(g_mime_object_get_content_type(top)), "mixed");
    GMimeMultipart* mixed = GMIME_MULTIPART(top);
    ASSERT_EQ(g_mime_multipart_get_count(mixed), 2);
    GMimeObject* body = g_mime_multipart_get_part(mixed, 0);
    EXPECT_STREQ(g_mime_content_type_get_media_subtype(g_mime_object_get_content_type(body)), "alternative");
    GMimeObject* attachment = g_mime_multipart_get_part(mixed, 1);
    ASSERT_TRUE(GMIME_IS_PART(attachment));
    EXPECT_STREQ(g_mime_part_get_filename(GMIME_PART(attachment)), "role.txt");
}

TEST(GraphMime, WithoutAMessageIdOneIsMadeAtTheSendersDomain) {
    Message m = minimal_message();
    m.in_reply_to = "<nudge.2@contoso.example>";
    const outlook::MimeSendMail built = outlook::build_validated_mime_send_mail(m, kAdele, 1796000000);
    EXPECT_THAT(built.internet_message_id, ::testing::MatchesRegex("<[0-9a-f-]{36}@contoso\\.example>"));
    GPtr<GMimeMessage> parsed_back = parse_back(built.body);
    ASSERT_TRUE(parsed_back);
    EXPECT_EQ("<" + std::string(g_mime_message_get_message_id(parsed_back.get())) + ">", built.internet_message_id);
    EXPECT_EQ(header(parsed_back.get(), "References"), "");
}

// SCHEMAS.md allows 100 References; RFC 5322 §2.1.1 allows 998 characters a line, so GMime must fold them.
TEST(GraphMime, AHundredReferencesAreFoldedAndAllSurvive) {
    Message m = minimal_message();
    for (int i = 0; i < 100; ++i) m.references.push_back("<nudge." + std::to_string(i) + ".7f3a9c0e@contoso.example>");
    m.in_reply_to = m.references.back();
    const outlook::MimeSendMail built = outlook::build_validated_mime_send_mail(m, kAdele, 1796000000);
    const std::string bytes = ep::message::base64_decode(built.body).value();
    std::size_t line_start = 0;
    for (std::size_t end = bytes.find("\r\n"); end != std::string::npos; end = bytes.find("\r\n", line_start)) {
        EXPECT_LE(end - line_start, 998u) << "line at byte " << line_start;
        line_start = end + 2;
    }
    GPtr<GMimeMessage> parsed_back = parse_back(built.body);
    ASSERT_TRUE(parsed_back);
    GMimeReferences* refs = g_mime_references_parse(nullptr, header(parsed_back.get(), "References").c_str());
    ASSERT_NE(refs, nullptr);
    ASSERT_EQ(g_mime_references_length(refs), 100);
    EXPECT_STREQ(g_mime_references_get_message_id(refs, 0), "nudge.0.7f3a9c0e@contoso.example");
    EXPECT_STREQ(g_mime_references_get_message_id(refs, 99), "nudge.99.7f3a9c0e@contoso.example");
    g_mime_references_free(refs);
}

TEST(GraphMime, TheJsonFormsRulesStillHold) {
    Message m = threaded_message();
    m.headers = {{"List-Id", "x"}};
    try {
        outlook::build_validated_mime_send_mail(m, kAdele, 0);
        FAIL() << "a header other than x- must be refused in MIME form too";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.field(), "headers[0].name");
    }
    m = threaded_message();
    for (int i = 0; i < 6; ++i) m.headers.push_back({"X-H" + std::to_string(i), "v"});
    EXPECT_THROW(outlook::build_validated_mime_send_mail(m, kAdele, 0), ep::sdk::Error);
}

// Base64 grows the message by 4/3: the 4 MB limit is on the request body, as in the JSON form.
TEST(GraphMime, TheFourMegabyteLimitIsMeasuredOnTheBase64Body) {
    constexpr std::size_t kMiB = 1024 * 1024;
    Message m = threaded_message();
    // 2.9 MiB of attachment: about 3.9 MiB as a base64 part, and 5.2 MiB once the message is base64 again.
    m.attachments = {attachment_with_base64(ep::message::base64_encode(random_bytes(29 * kMiB / 10)))};
    try {
        outlook::build_validated_mime_send_mail(m, kAdele, 0);
        FAIL() << "a message over 4 MB as a request must be refused before it is sent";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.field(), "attachments");
        EXPECT_THAT(e.what(), HasSubstr("4 MB"));
    }
    m.attachments = {attachment_with_base64(ep::message::base64_encode(random_bytes(2 * kMiB)))};
    const outlook::MimeSendMail built = outlook::build_validated_mime_send_mail(m, kAdele, 0);
    EXPECT_LE(built.body.size(), outlook::kGraphMaxRequestBytes);
    EXPECT_GT(built.body.size(), 2 * kMiB * 4 / 3 * 4 / 3);
}
