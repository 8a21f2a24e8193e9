// Graph: /me, sendMail validation and recording, per-mailbox limits.
#include "support.hpp"

#include <fstream>
#include <thread>

namespace mst {
namespace {

class GraphTest : public SandboxTest {
protected:
    void SetUp() override {
        SandboxTest::SetUp();
        at = sign_in(kAdele).access_token;
    }
    json::object message(json::object overrides = {}) {
        json::object msg = json::parse(simple_message()).at("message").as_object();
        for (auto& kv : overrides) msg[kv.key()] = kv.value();
        return msg;
    }
    HttpResult send(const json::object& msg, std::vector<std::string> headers = {}) {
        return send_mail(at, json::serialize(json::object{{"message", msg}}), std::move(headers));
    }
    static json::array recipients(int n) {
        json::array a;
        for (int i = 0; i < n; ++i)
            a.push_back(
                json::object{{"emailAddress", json::object{{"address", "r" + std::to_string(i) + "@example.org"}}}});
        return a;
    }
    void expect_graph_error(const HttpResult& r, long status, const std::string& code) {
        EXPECT_EQ(r.status, status) << r.body;
        auto e = r.json().at("error").as_object();
        EXPECT_EQ(e.at("code"), code) << r.body;
        EXPECT_FALSE(e.at("message").as_string().empty());
        EXPECT_EQ(e.at("innerError").at("request-id"), r.header("request-id"));
        EXPECT_EQ(e.at("innerError").at("date").as_string().size(), 19u);
    }
    std::string at;
};

TEST_F(GraphTest, MeDefaultsAndSelect) {
    auto r = get("/v1.0/me", {"Authorization: Bearer " + at});
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = r.json().as_object();
    EXPECT_EQ(j.at("@odata.context"), sandbox->base_url() + "/v1.0/$metadata#users/$entity");
    for (const char* k : {"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                          "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j.at("displayName"), "Adele Vance");
    EXPECT_EQ(j.at("mail"), kAdele);
    EXPECT_EQ(j.at("id").as_string().size(), 36u);

    auto sel = get("/v1.0/me?$select=id,displayName,mail,userPrincipalName", {"Authorization: Bearer " + at})
                   .json()
                   .as_object();
    EXPECT_EQ(sel.size(), 5u);
    EXPECT_EQ(sel.at("@odata.context"),
              sandbox->base_url() + "/v1.0/$metadata#users(id,displayName,mail,userPrincipalName)/$entity");
    expect_graph_error(get("/v1.0/me?$select=shoeSize", {"Authorization: Bearer " + at}), 400, "BadRequest");
}

TEST_F(GraphTest, BearerTokenChecks) {
    auto none = get("/v1.0/me");
    expect_graph_error(none, 401, "InvalidAuthenticationToken");
    EXPECT_EQ(none.header("www-authenticate").rfind("Bearer ", 0), 0u);
    expect_graph_error(get("/v1.0/me", {"Authorization: Bearer not-a-token"}), 401, "InvalidAuthenticationToken");
    auto cri =
        get("/v1.0/me", {"Authorization: Bearer " + at, "client-request-id: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"});
    EXPECT_EQ(cri.header("client-request-id"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    EXPECT_EQ(cri.header("request-id").size(), 36u);
    EXPECT_FALSE(cri.header("x-ms-ags-diagnostic").empty());
    sandbox->advance_clock(std::chrono::seconds(3600));
    auto expired = get("/v1.0/me", {"Authorization: Bearer " + at});
    expect_graph_error(expired, 401, "InvalidAuthenticationToken");
    EXPECT_EQ(expired.json().at("error").at("message"), "Access token has expired or is not yet valid.");
}

TEST_F(GraphTest, SendMailAcceptsAndRecords) {
    json::object msg = message(
        {{"subject", "Nudge"},
         {"body", json::object{{"contentType", "HTML"}, {"content", "<p>Hi <img src=\"cid:img1\"></p>"}}},
         {"ccRecipients", recipients(1)},
         {"bccRecipients", recipients(2)},
         {"replyTo", json::array{json::object{{"emailAddress", json::object{{"address", "rec@contoso.example"}}}}}},
         {"attachments", json::array{json::object{{"@odata.type", "#microsoft.graph.fileAttachment"},
                                                  {"name", "logo.png"},
                                                  {"contentType", "image/png"},
                                                  {"contentBytes", "iVBORw0KGgo="},
                                                  {"isInline", true},
                                                  {"contentId", "img1"}}}},
         {"internetMessageHeaders", json::array{json::object{{"name", "x-nudge-id"}, {"value", "n-1"}}}}});
    auto r = send_mail(at, json::serialize(json::object{{"message", msg}, {"saveToSentItems", false}}),
                       {"client-request-id: 01234567-89ab-cdef-0123-456789abcdef"});
    EXPECT_EQ(r.status, 202) << r.body;
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.header("client-request-id"), "01234567-89ab-cdef-0123-456789abcdef");

    auto msgs = sandbox->messages(kAdele);
    ASSERT_EQ(msgs.size(), 1u);
    const auto& m = msgs[0];
    EXPECT_EQ(m.sender, kAdele);
    EXPECT_EQ(m.subject, "Nudge");
    EXPECT_EQ(m.body_type, "HTML");
    EXPECT_EQ(m.to.at(0).address, "candidate@example.org");
    EXPECT_EQ(m.cc.size(), 1u);
    EXPECT_EQ(m.bcc.size(), 2u);
    EXPECT_EQ(m.reply_to.at(0).address, "rec@contoso.example");
    ASSERT_EQ(m.attachments.size(), 1u);
    EXPECT_EQ(m.attachments[0].name, "logo.png");
    EXPECT_EQ(m.attachments[0].size, 8u);
    EXPECT_TRUE(m.attachments[0].is_inline);
    EXPECT_EQ(m.attachments[0].content_id, "img1");
    EXPECT_EQ(m.headers.at(0), (std::pair<std::string, std::string>{"x-nudge-id", "n-1"}));
    EXPECT_FALSE(m.save_to_sent_items);
    EXPECT_EQ(m.client_request_id, "01234567-89ab-cdef-0123-456789abcdef");
    EXPECT_EQ(m.request_id, r.header("request-id"));
    EXPECT_TRUE(sandbox->messages(std::string("someone@else.example")).empty());
    sandbox->clear_messages();
    EXPECT_TRUE(sandbox->messages().empty());
}

TEST_F(GraphTest, PayloadValidation) {
    expect_graph_error(send_mail(at, "this is not json"), 400, "UnableToDeserializePostBody");
    expect_graph_error(send_mail(at, "{}"), 400, "ErrorInvalidParameter");
    expect_graph_error(send(message({{"toRecipients", json::array{}}})), 400, "ErrorInvalidRecipients");
    expect_graph_error(send(message({{"toRecipients", json::array{"a@b.c"}}})), 400, "RequestBodyRead");
    expect_graph_error(
        send(message(
            {{"toRecipients", json::array{json::object{{"emailAddress", json::object{{"address", "nope"}}}}}}})),
        400, "ErrorInvalidRecipients");
    expect_graph_error(send(message({{"body", json::object{{"contentType", "Markdown"}, {"content", "x"}}}})), 400,
                       "RequestBodyRead");
    expect_graph_error(
        send(message({{"attachments", json::array{json::object{{"@odata.type", "#microsoft.graph.fileAttachment"},
                                                               {"name", "a.txt"},
                                                               {"contentBytes", "***"}}}}})),
        400, "RequestBodyRead");
    expect_graph_error(
        send(message({{"attachments", json::array{json::object{{"@odata.type", "#microsoft.graph.fileAttachment"},
                                                               {"contentBytes", "AAAA"}}}}})),
        400, "ErrorRequiredPropertyMissing");
    expect_graph_error(send(message({{"internetMessageHeaders",
                                      json::array{json::object{{"name", "List-Unsubscribe"}, {"value", "x"}}}}})),
                       400, "InvalidInternetMessageHeader");
    expect_graph_error(send(message({{"internetMessageHeaders", json::array{}}})), 400,
                       "InvalidInternetMessageHeaderCollection");
    expect_graph_error(
        send(message({{"from", json::object{{"emailAddress", json::object{{"address", "ceo@contoso.example"}}}}}})),
        403, "ErrorSendAsDenied");
    expect_graph_error(send_mail(at, simple_message().substr(0, 40)), 400, "UnableToDeserializePostBody");
    EXPECT_TRUE(sandbox->messages().empty());
}

TEST_F(GraphTest, RecipientAndHeaderLimits) {
    EXPECT_EQ(send(message({{"toRecipients", recipients(300)}, {"bccRecipients", recipients(200)}})).status, 202);
    expect_graph_error(send(message({{"toRecipients", recipients(300)}, {"ccRecipients", recipients(201)}})), 400,
                       "ErrorTooManyRecipients");
    json::array five, six;
    for (int i = 0; i < 6; ++i) {
        json::object h{{"name", "X-H" + std::to_string(i)}, {"value", "v"}};
        if (i < 5) five.push_back(h);
        six.push_back(h);
    }
    EXPECT_EQ(send(message({{"internetMessageHeaders", five}})).status, 202);
    expect_graph_error(send(message({{"internetMessageHeaders", six}})), 400, "InvalidInternetMessageHeaderCollection");
}

TEST_F(GraphTest, FourMegabyteLimit) {
    // Just under 4 MB of body passes; just over is 413.
    auto with_padding = [&](std::size_t total) {
        std::string base = json::serialize(
            json::object{{"message", message({{"body", json::object{{"contentType", "Text"}, {"content", ""}}}})}});
        const std::string marker = "\"content\":\"\"";
        auto pos = base.find(marker);
        base.insert(pos + marker.size() - 1, std::string(total - base.size(), 'a'));
        return base;
    };
    EXPECT_EQ(send_mail(at, with_padding(4 * 1024 * 1024)).status, 202);
    expect_graph_error(send_mail(at, with_padding(4 * 1024 * 1024 + 1)), 413, "RequestEntityTooLarge");
}

TEST_F(GraphTest, PermissionAndMailboxErrors) {
    AuthorizeSpec s;
    s.scope = "offline_access User.Read";
    auto no_send = sign_in(kMsa, s).access_token;  // never consented Mail.Send (Adele has: consent is additive)
    expect_graph_error(send_mail(no_send, simple_message()), 403, "ErrorAccessDenied");
    auto noah = sign_in(kNoMailbox).access_token;
    expect_graph_error(send_mail(noah, simple_message()), 404, "MailboxNotEnabledForRESTAPI");
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + noah}).json().at("mail"), nullptr);
    auto gmail = sign_in(kMsaNoMailbox).access_token;
    expect_graph_error(send_mail(gmail, simple_message()), 404, "MailboxNotEnabledForRESTAPI");
    sandbox->set_mailbox_enabled(kAdele, false);
    expect_graph_error(send_mail(at, simple_message()), 404, "MailboxNotEnabledForRESTAPI");
    expect_graph_error(get("/v1.0/me/sendMail", {"Authorization: Bearer " + at}), 405, "Request_BadRequest");
}

TEST_F(GraphTest, MailboxConcurrencyLimit) {
    ms_sandbox::FaultRule slow;
    slow.endpoint = "sendMail";
    slow.action = "delay";
    slow.delay_ms = 1500;
    slow.times = -1;
    sandbox->add_fault(slow);
    std::vector<HttpResult> results(5);
    std::vector<std::thread> threads;
    for (int i = 0; i < 5; ++i)
        threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = send_mail(at, simple_message()); });
    for (auto& t : threads) t.join();
    int accepted = 0, throttled = 0;
    for (auto& r : results) {
        if (r.status == 202) ++accepted;
        if (r.status == 429) {
            ++throttled;
            EXPECT_EQ(r.json().at("error").at("code"), "MailboxConcurrency");
            EXPECT_FALSE(r.header("retry-after").empty());
        }
    }
    EXPECT_EQ(accepted, 4);
    EXPECT_EQ(throttled, 1);
    EXPECT_EQ(sandbox->counters().max_concurrent_send.at(kAdele), 4);
    EXPECT_EQ(sandbox->messages().size(), 4u);
}

TEST_F(GraphTest, MessagesPerMinuteLimit) {
    for (int i = 0; i < 30; ++i) ASSERT_EQ(send_mail(at, simple_message()).status, 202) << i;
    auto r = send_mail(at, simple_message());
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.json().at("error").at("code"), "ApplicationThrottled");
    const int wait = std::stoi(r.header("retry-after"));
    EXPECT_GE(wait, 1);
    EXPECT_LE(wait, 60);
    sandbox->advance_clock(std::chrono::seconds(61));
    EXPECT_EQ(send_mail(at, simple_message()).status, 202);
}

std::string base64(const std::string& raw) {
    std::string b64 = b64url(raw);
    for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b64.size() % 4) b64 += '=';
    return b64;
}

// learn.microsoft.com/graph/api/user-sendmail, "Example 4": Content-Type text/plain, the message
// base64-encoded (Microsoft's example wraps it in lines of 76); malformed MIME content is 400
// ErrorMimeContentInvalidBase64String.
TEST_F(GraphTest, MimeSendIsAcceptedAndRecordedWithItsThreadingHeaders) {
    const std::string mime =
        "From: Adele Vance <adele@contoso.example>\r\nTo: Cand <cand@example.org>, hm@contoso.example\r\n"
        "Subject: Mime hello\r\nMessage-ID: <n3@contoso.example>\r\nIn-Reply-To: <n2@contoso.example>\r\n"
        "References: <n1@contoso.example>\r\n <n2@contoso.example>\r\nList-Unsubscribe: <mailto:u@x>\r\n\r\nBody\r\n";
    std::string wrapped = base64(mime);
    for (std::size_t i = 76; i < wrapped.size(); i += 78) wrapped.insert(i, "\r\n");
    Request req;
    req.method = "POST";
    req.ca_file = sandbox->ca_file().string();
    req.headers = {"Authorization: Bearer " + at, "Content-Type: text/plain"};
    req.body = wrapped;
    EXPECT_EQ(http(url("/v1.0/me/sendMail"), req).status, 202);
    auto m = sandbox->messages().at(0);
    EXPECT_EQ(m.body_type, "MIME");
    EXPECT_EQ(m.subject, "Mime hello");
    EXPECT_EQ(m.from, kAdele);
    ASSERT_EQ(m.to.size(), 2u);
    EXPECT_EQ(m.to.at(0).address, "cand@example.org");
    EXPECT_EQ(m.to.at(1).address, "hm@contoso.example");
    EXPECT_TRUE(m.save_to_sent_items);
    EXPECT_EQ(m.message_id, "<n3@contoso.example>");
    EXPECT_EQ(m.in_reply_to, "<n2@contoso.example>");
    EXPECT_EQ(m.references, (std::vector<std::string>{"<n1@contoso.example>", "<n2@contoso.example>"}));
}

TEST_F(GraphTest, MimeSendRefusesWhatJsonRefuses) {
    Request req;
    req.method = "POST";
    req.ca_file = sandbox->ca_file().string();
    req.headers = {"Authorization: Bearer " + at, "Content-Type: text/plain"};
    req.body = "!!!not base64!!!";
    expect_graph_error(http(url("/v1.0/me/sendMail"), req), 400, "ErrorMimeContentInvalidBase64String");
    req.body = base64("no header here, only text\r\n");
    expect_graph_error(http(url("/v1.0/me/sendMail"), req), 400, "ErrorMimeContentInvalidBase64String");
    req.body = base64("Subject: nobody\r\n\r\nBody\r\n");
    expect_graph_error(http(url("/v1.0/me/sendMail"), req), 400, "ErrorInvalidRecipients");
    req.body = base64("From: someone.else@contoso.example\r\nTo: cand@example.org\r\n\r\nBody\r\n");
    expect_graph_error(http(url("/v1.0/me/sendMail"), req), 403, "ErrorSendAsDenied");
    req.body = std::string(4 * 1024 * 1024 + 1, 'A');
    expect_graph_error(http(url("/v1.0/me/sendMail"), req), 413, "RequestEntityTooLarge");
    EXPECT_TRUE(sandbox->messages().empty());
}

// Exchange Online's recipient rate limit over a rolling 24 hours, here 5 recipients a day.
class RecipientLimitTest : public GraphTest {
    ms_sandbox::Options options() override {
        ms_sandbox::Options o;
        std::ifstream in(ms_sandbox::default_scenario_file());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto doc = json::parse(text);
        doc.at("settings").as_object()["mailbox_limits"] = json::object{{"recipients_per_day", 5}};
        o.scenario_json = json::serialize(doc);
        return o;
    }
};

TEST_F(RecipientLimitTest, RecipientsPerDayAreCountedOverARolling24Hours) {
    ASSERT_EQ(send(message({{"toRecipients", recipients(3)}})).status, 202);
    sandbox->advance_clock(std::chrono::hours(12));
    at = sign_in(kAdele).access_token;  // the last one expired an hour after it was issued
    ASSERT_EQ(send(message({{"toRecipients", recipients(2)}})).status, 202);
    expect_graph_error(send(message({{"toRecipients", recipients(1)}})), 403, "ErrorExceededMessageLimit");
    sandbox->advance_clock(std::chrono::hours(12) + std::chrono::seconds(1));  // the first 3 leave the window
    at = sign_in(kAdele).access_token;
    EXPECT_EQ(send(message({{"toRecipients", recipients(3)}})).status, 202);
    expect_graph_error(send(message({{"toRecipients", recipients(1)}})), 403, "ErrorExceededMessageLimit");
    EXPECT_EQ(sandbox->messages().size(), 3u);
}

}  // namespace
}  // namespace mst
