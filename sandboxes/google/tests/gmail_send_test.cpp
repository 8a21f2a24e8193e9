// users.messages.send. Facts: Gmail's discovery document (googleapis/google-api-python-client
// discovery_cache/documents/gmail.v1.json: paths, maxSize 35 MB, the Message answer);
// https://developers.google.com/workspace/gmail/api/guides/handle-errors (error body, 401, 403, 429);
// https://developers.google.com/workspace/gmail/api/guides/uploads (media, multipart);
// googleapis/google-api-nodejs-client#2665 (401 body), googleworkspace/cli#282 (403 insufficientPermissions),
// googleapis/google-api-ruby-client#173 (invalidArgument), googleapis/google-api-dotnet-client#856 (no raw),
// googleapis/google-api-nodejs-client#1491 (1 MiB), levz0r/gmail-tester#23 ("Retry after", Mail sending),
// WPManageNinja/fluent-smtp#152 (Mail service not enabled).
#include "support.hpp"

namespace gst {
namespace {

class GmailSendTest : public GoogleSandboxTest {
protected:
    std::string token(const std::string& user = kAlan, std::set<std::string> untick = {}) {
        return std::string(sign_in(user, {}, std::move(untick)).at("access_token").as_string());
    }
    static json::object error_of(const HttpResult& r) { return r.json().at("error").as_object(); }
    static void expect_google_error(const HttpResult& r, long code, const std::string& reason,
                                    const std::string& status) {
        EXPECT_EQ(r.status, code) << r.body;
        auto e = error_of(r);
        EXPECT_EQ(e.at("code").as_int64(), code);
        EXPECT_EQ(e.at("status").as_string(), status);
        EXPECT_EQ(e.at("errors").at(0).at("reason").as_string(), reason);
        EXPECT_FALSE(e.at("message").as_string().empty());
    }
    void use_scenario(int units_per_minute, int daily) {
        auto doc = json::parse(default_scenario_text());
        auto& settings = doc.as_object()["settings"].as_object();
        settings["send_units_per_minute"] = units_per_minute;
        settings["daily_send_limit"] = daily;
        google_sandbox::Options o;
        o.log_requests = false;
        o.scenario_json = json::serialize(doc);
        sandbox = std::make_unique<google_sandbox::Sandbox>(o);
    }
    // A message with its own Message-ID and, for a follow-up, the headers naming its parent.
    static std::string threaded(const std::string& subject, const std::string& id, const std::string& parent = "",
                                const std::string& references = "") {
        std::string headers = "Message-ID: " + id + "\r\n";
        if (!parent.empty()) headers += "In-Reply-To: " + parent + "\r\n";
        if (!references.empty()) headers += "References: " + references + "\r\n";
        return headers + message("candidate@example.org", subject);
    }
    HttpResult send_in_thread(const std::string& access_token, const std::string& raw, const std::string& thread_id) {
        const std::string body = json::serialize(json::object{{"raw", b64url(raw)}, {"threadId", thread_id}});
        return request("POST", "/gmail/v1/users/me/messages/send", body, {"Authorization: Bearer " + access_token});
    }
};

TEST_F(GmailSendTest, JsonSendIsRecorded) {
    auto r = send_raw(token(), message("Candidate <candidate@example.org>", "Your interview"));
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = r.json().as_object();
    EXPECT_EQ(o.at("id").as_string().size(), 16u);
    EXPECT_EQ(o.at("threadId").as_string(), o.at("id").as_string());
    EXPECT_EQ(o.at("labelIds"), (json::array{"SENT"}));
    auto sent = sandbox->messages(kAlan);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, (std::vector<std::string>{"candidate@example.org"}));
    EXPECT_EQ(sent[0].subject, "Your interview");
    EXPECT_EQ(sent[0].from, "alan@acme.example");
    EXPECT_EQ(sent[0].size, message("Candidate <candidate@example.org>", "Your interview").size());
    auto listed = sandbox->control("GET", "/_sandbox/messages?user=" + url_escape(kAlan));
    EXPECT_EQ(listed.at("messages").as_array().size(), 1u);
}

TEST_F(GmailSendTest, FromIsTheAccountsAddress) {
    // googleapis/google-api-php-client#2393: an address the account may not send as is replaced.
    ASSERT_EQ(send_raw(token(kGrace), message()).status, 200);  // the message says From: alan@acme.example
    EXPECT_EQ(sandbox->messages().at(0).from, kGrace);
}

// ---- threads: https://developers.google.com/workspace/gmail/api/guides/threads ("Adding drafts
// and messages to threads": the requested threadId, References and In-Reply-To per RFC 2822,
// a matching Subject); the refusal text is PipedreamHQ/pipedream#15223's. README "Threads".

TEST_F(GmailSendTest, AFirstMessageAndTwoFollowUpsShareOneThreadAndTheirHeadersAreRecorded) {
    const std::string alan = token();
    auto first = send_raw(alan, threaded("Interview", "<n1@acme.example>"));
    ASSERT_EQ(first.status, 200) << first.body;
    const std::string thread(first.json().at("threadId").as_string());
    auto second = send_in_thread(
        alan, threaded("Re: Interview", "<n2@acme.example>", "<n1@acme.example>", "<n1@acme.example>"), thread);
    ASSERT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(second.json().at("threadId").as_string(), thread);
    auto third = send_in_thread(alan,
                                threaded("RE: Fwd: Interview", "<n3@acme.example>", "<n2@acme.example>",
                                         "<n1@acme.example>\r\n <n2@acme.example>"),
                                thread);
    EXPECT_EQ(third.json().at("threadId").as_string(), thread) << "prefixes and a folded References";

    auto sent = sandbox->messages(kAlan);
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_EQ(sent[2].message_id, "<n3@acme.example>");
    EXPECT_EQ(sent[2].in_reply_to, "<n2@acme.example>");
    EXPECT_EQ(sent[2].references, (std::vector<std::string>{"<n1@acme.example>", "<n2@acme.example>"}));
    EXPECT_EQ(sent[2].requested_thread_id, thread);
    EXPECT_EQ(sent[0].requested_thread_id, "");
    auto listed = sandbox->control("GET", "/_sandbox/messages?user=" + url_escape(kAlan)).at("messages");
    EXPECT_EQ(listed.at(2).at("threadId").as_string(), thread);
    EXPECT_EQ(listed.at(2).at("in_reply_to").as_string(), "<n2@acme.example>");
    EXPECT_EQ(listed.at(2).at("references"), (json::array{"<n1@acme.example>", "<n2@acme.example>"}));
    EXPECT_EQ(listed.at(1).at("message_id").as_string(), "<n2@acme.example>");
}

TEST_F(GmailSendTest, AFollowUpMissingACriterionStartsANewThread) {
    const std::string alan = token();
    const std::string thread(
        send_raw(alan, threaded("Interview", "<n1@acme.example>")).json().at("threadId").as_string());
    const auto new_thread = [&](const std::string& raw, const char* why) {
        auto r = send_in_thread(alan, raw, thread);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_NE(r.json().at("threadId").as_string(), thread) << why;
        EXPECT_EQ(r.json().at("threadId").as_string(), r.json().at("id").as_string()) << why;
    };
    new_thread(threaded("Another subject", "<n2@acme.example>", "<n1@acme.example>"), "the Subject differs");
    new_thread(threaded("Re: Interview", "<n3@acme.example>"), "no In-Reply-To or References");
    new_thread(threaded("Re: Interview", "<n4@acme.example>", "<other@acme.example>"), "names no thread message");
}

TEST_F(GmailSendTest, AThreadIdTheUserHasNoThreadOfIsRefused) {
    auto grace_first = send_raw(token(kGrace), threaded("Interview", "<g1@gmail.example>"));
    const std::string graces_thread(grace_first.json().at("threadId").as_string());
    const std::string alan = token();
    for (const std::string& thread : {std::string("18c0ffee00000001"), graces_thread}) {
        auto r = send_in_thread(alan, threaded("Re: Interview", "<n2@acme.example>", "<g1@gmail.example>"), thread);
        expect_google_error(r, 400, "invalidArgument", "INVALID_ARGUMENT");
        EXPECT_EQ(error_of(r).at("message").as_string(), "Invalid thread_id value");
    }
    EXPECT_EQ(sandbox->messages(kAlan).size(), 0u);
}

TEST_F(GmailSendTest, AuthAndScopeRefusals) {
    auto none = send_raw("ya29.nothing", message());
    expect_google_error(none, 401, "authError", "UNAUTHENTICATED");
    EXPECT_EQ(error_of(none).at("errors").at(0).at("location").as_string(), "Authorization");
    auto unticked = send_raw(token(kGrace, {kGmailSend}), message());
    expect_google_error(unticked, 403, "insufficientPermissions", "PERMISSION_DENIED");
    EXPECT_EQ(error_of(unticked).at("message").as_string(), "Request had insufficient authentication scopes.");
    EXPECT_EQ(error_of(unticked).at("details").at(0).at("reason").as_string(), "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
    EXPECT_TRUE(sandbox->messages().empty());
}

TEST_F(GmailSendTest, PayloadRefusals) {
    const std::string at = token();
    const std::string auth = "Authorization: Bearer " + at;
    auto no_recipient = send_raw(at, "From: alan@acme.example\r\nSubject: x\r\n\r\nbody\r\n");
    expect_google_error(no_recipient, 400, "invalidArgument", "INVALID_ARGUMENT");
    EXPECT_EQ(error_of(no_recipient).at("message").as_string(), "Recipient address required");
    auto no_raw = request("POST", "/gmail/v1/users/me/messages/send", "{}", {auth});
    expect_google_error(no_raw, 400, "invalidArgument", "INVALID_ARGUMENT");
    EXPECT_NE(std::string(error_of(no_raw).at("message").as_string()).find("'raw' RFC822 payload"), std::string::npos);
    auto too_big = request("POST", "/gmail/v1/users/me/messages/send",
                           json::serialize(json::object{{"raw", std::string(1048577, 'A')}}), {auth});
    expect_google_error(too_big, 400, "badRequest", "INVALID_ARGUMENT");
    EXPECT_EQ(error_of(too_big).at("message").as_string(), "Request payload size exceeds the limit: 1048576 bytes.");
    auto no_gmail = send_raw(token(kNoGmail), message());
    expect_google_error(no_gmail, 400, "failedPrecondition", "FAILED_PRECONDITION");
    EXPECT_TRUE(sandbox->messages().empty());
}

TEST_F(GmailSendTest, PerUserQuotaAnswers429WithRetryAfterTime) {
    use_scenario(200, 2000);  // two sends a minute
    const std::string at = token();
    EXPECT_EQ(send_raw(at, message()).status, 200);
    EXPECT_EQ(send_raw(at, message()).status, 200);
    auto r = send_raw(at, message());
    expect_google_error(r, 429, "userRateLimitExceeded", "RESOURCE_EXHAUSTED");
    EXPECT_NE(std::string(error_of(r).at("message").as_string()).find("Retry after 20"), std::string::npos);
    sandbox->advance_clock(std::chrono::seconds(61));
    EXPECT_EQ(send_raw(at, message()).status, 200);
}

TEST_F(GmailSendTest, DailySendingLimit) {
    use_scenario(6000, 1);
    auto tokens = sign_in(kAlan);
    EXPECT_EQ(send_raw(std::string(tokens.at("access_token").as_string()), message()).status, 200);
    auto r = send_raw(std::string(tokens.at("access_token").as_string()), message());
    expect_google_error(r, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED");
    const std::string text(error_of(r).at("message").as_string());
    EXPECT_EQ(text.rfind("User-rate limit exceeded.  Retry after ", 0), 0u);
    EXPECT_NE(text.find("(Mail sending)"), std::string::npos);
    sandbox->advance_clock(std::chrono::hours(24));  // a rolling 24 hours; the access token expired meanwhile
    const auto fresh = refresh(std::string(tokens.at("refresh_token").as_string())).json();
    EXPECT_EQ(send_raw(std::string(fresh.at("access_token").as_string()), message()).status, 200);
}

TEST_F(GmailSendTest, MediaAndMultipartUploads) {
    const std::string auth = "Authorization: Bearer " + token();
    auto media = request("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=media",
                         "Message-ID: <m1@acme.example>\r\n" + message("someone@example.org", "Multipart"),
                         {auth, "Content-Type: message/rfc822"});
    ASSERT_EQ(media.status, 200) << media.body;
    const std::string thread(media.json().at("threadId").as_string());
    // The metadata part is the Message resource: its threadId threads the upload.
    const std::string multipart_body =
        "--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"threadId\":\"" + thread +
        "\"}\r\n--b0undary\r\nContent-Type: message/rfc822\r\n\r\nIn-Reply-To: <m1@acme.example>\r\n" +
        message("someone@example.org", "Re: Multipart") + "\r\n--b0undary--\r\n";
    auto multi = request("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=multipart", multipart_body,
                         {auth, "Content-Type: multipart/related; boundary=b0undary"});
    ASSERT_EQ(multi.status, 200) << multi.body;
    EXPECT_EQ(multi.json().at("threadId").as_string(), thread);
    auto sent = sandbox->messages();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].upload_type, "media");
    EXPECT_EQ(sent[1].upload_type, "multipart");
    EXPECT_EQ(sent[1].subject, "Re: Multipart");
    EXPECT_EQ(sent[1].to, (std::vector<std::string>{"someone@example.org"}));
}

TEST_F(GmailSendTest, UploadOver35MiBIsRefused) {
    const std::string auth = "Authorization: Bearer " + token();
    std::string big = message() + std::string(36700160, 'x');
    auto r = request("POST", "/upload/gmail/v1/users/me/messages/send?uploadType=media", big,
                     {auth, "Content-Type: message/rfc822"});
    EXPECT_EQ(r.status, 413);
    EXPECT_TRUE(sandbox->messages().empty());
}

}  // namespace
}  // namespace gst
