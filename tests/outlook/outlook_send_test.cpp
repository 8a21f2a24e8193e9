// Personal Outlook, part 2: sending through Graph against the stand-in — every outcome,
// throttling per mailbox, 401 handling, validation before any network call, size limits,
// concurrency, and destroy with sends in flight.
#include "outlook_fixture.hpp"

#include <email_provider/message.hpp>

#include <atomic>
#include <random>
#include <thread>

using namespace outlook_test;
using ::testing::HasSubstr;

namespace {

class OutlookSend : public OutlookFixture {
protected:
    void SetUp() override {
        OutlookFixture::SetUp();
        ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    }

    void fault(json::object rule) { sandbox_.control("POST", "/_sandbox/faults", std::move(rule)); }

    int sendmail_requests() { return sandbox_.counters().requests["sendMail"]; }
    std::size_t recorded(const std::string& upn = kWorkUser) { return sandbox_.messages(upn).size(); }

    // A message whose JSON request to Graph is `target` bytes (± a few): one attachment.
    static std::string message_of_graph_size(std::size_t target) {
        std::size_t raw = (target - 400) / 4 * 3;
        std::string content(raw, 'a');
        return json::serialize(json::object{
            {"to", json::array{json::object{{"address", "casey@example.org"}}}},
            {"subject", "Large"},
            {"text", "see attachment"},
            {"attachments", json::array{json::object{{"name", "big.bin"},
                                                     {"content_type", "application/octet-stream"},
                                                     {"content_base64", ep::message::base64_encode(content)}}}}});
    }
};

}  // namespace

TEST_F(OutlookSend, SendsFromTheUsersMailboxWithEveryField) {
    std::string msg = R"({
        "to":[{"address":"casey@example.org","name":"Casey Candidate"}],
        "cc":[{"address":"hm@contoso.example"}], "bcc":[{"address":"audit@contoso.example"}],
        "reply_to":[{"address":"adele@contoso.example"}],
        "subject":"Your interview", "text":"plain", "html":"<p>Hi <img src=\"cid:logo\"></p>",
        "attachments":[{"name":"role.pdf","content_type":"application/pdf","content_base64":"JVBERi0xLjQK"},
                       {"name":"logo.png","content_type":"image/png","content_base64":"iVBORw0=","inline":true,"content_id":"logo"}],
        "headers":[{"name":"x-nudge-id","value":"n-1"}],
        "importance":"high","save_to_sent_items":false,"client_request_id":"crid-123"})";
    auto r = send("alice", msg);
    ASSERT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(str(r, "client_request_id"), "crid-123");
    EXPECT_FALSE(str(r, "request_id").empty());
    EXPECT_EQ(r["attempts"].as_int64(), 1);
    auto messages = sandbox_.messages(kWorkUser);
    ASSERT_EQ(messages.size(), 1u);
    const auto& m = messages[0];
    EXPECT_EQ(m.subject, "Your interview");
    EXPECT_EQ(m.body_type, "HTML");
    ASSERT_EQ(m.to.size(), 1u);
    EXPECT_EQ(m.to[0].name, "Casey Candidate");
    EXPECT_EQ(m.cc[0].address, "hm@contoso.example");
    EXPECT_EQ(m.bcc[0].address, "audit@contoso.example");
    EXPECT_EQ(m.reply_to[0].address, "adele@contoso.example");
    ASSERT_EQ(m.attachments.size(), 2u);
    EXPECT_EQ(m.attachments[0].size, 9u);
    EXPECT_TRUE(m.attachments[1].is_inline);
    EXPECT_FALSE(m.save_to_sent_items);
    EXPECT_EQ(m.client_request_id.value_or(""), "crid-123");
    ASSERT_EQ(m.headers.size(), 1u);
    EXPECT_EQ(m.headers[0].first, "x-nudge-id");
}

TEST_F(OutlookSend, ValidationErrorsNameTheFieldBeforeAnyNetworkCall) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"to":[],"text":"x"})", "to"},
        {R"({"to":[{"address":"casey@@example.org"}],"text":"x"})", "to[0].address"},
        {R"({"to":[{"address":"casey@example.org"}]})", "text"},
        {R"({"to":[{"address":"casey@example.org"}],"text":"x","headers":[{"name":"Reply-By","value":"1"}]})",
         "headers[0].name"},
        {R"({"to":[{"address":"casey@example.org"}],"text":"x","headers":[{"name":"x-1","value":"1"},{"name":"x-2","value":"1"},
            {"name":"x-3","value":"1"},{"name":"x-4","value":"1"},{"name":"x-5","value":"1"},{"name":"x-6","value":"1"}]})",
         "headers"},
        {R"({"to":[{"address":"casey@example.org"}],"text":"x","attachments":[{"name":"a","content_base64":"not base64!"}]})",
         "attachments[0].content_base64"},
        {"{\"to\":[{\"address\":\"casey@example.org\"}],\"text\":\"bad \xff utf8\"}", "message"},
    };
    for (const auto& [msg, field] : cases) {
        std::atomic<int> called{0};
        auto refusal = outlook_->send("alice", msg, [&](std::string_view) { ++called; });
        ASSERT_TRUE(refusal.has_value()) << msg;
        EXPECT_EQ(refusal->status, EP_ERR_INVALID_ARGUMENT);
        auto doc = parse(refusal->document);
        EXPECT_EQ(str(doc, "outcome"), "rejected");
        EXPECT_EQ(str(doc, "field"), field) << msg << " -> " << refusal->document;
        EXPECT_EQ(called.load(), 0);
    }
    std::string many = R"({"to":[)";
    for (int i = 0; i < 501; ++i)
        many += std::string(i ? "," : "") + R"({"address":"r)" + std::to_string(i) + R"(@example.org"})";
    many += R"(],"text":"x"})";
    auto refusal = outlook_->send("alice", many, [](std::string_view) {});
    ASSERT_TRUE(refusal);
    EXPECT_THAT(refusal->document, HasSubstr("501 recipients"));
    EXPECT_EQ(sendmail_requests(), 0);
}

TEST_F(OutlookSend, A39MegabyteMessageIsSentAndA41MegabyteOneIsRefusedWithTheReason) {
    constexpr std::size_t kMiB = 1024 * 1024;
    auto r = send("alice", message_of_graph_size(39 * kMiB / 10));
    EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    auto refusal = outlook_->send("alice", message_of_graph_size(41 * kMiB / 10), [](std::string_view) {});
    ASSERT_TRUE(refusal);
    auto doc = parse(refusal->document);
    EXPECT_EQ(str(doc, "field"), "attachments");
    EXPECT_THAT(str(doc, "message"), HasSubstr("4 MB"));
    EXPECT_THAT(str(doc, "message"), HasSubstr("Mail.ReadWrite"));
    EXPECT_EQ(recorded(), 1u);
}

TEST_F(OutlookSend, GraphRejectionsCarryGraphsCodeAndAMessageForTheUser) {
    const std::tuple<int, const char*, const char*> cases[] = {
        {400, "ErrorInvalidRecipients", "recipient"},
        {507, "ErrorQuotaExceeded", ""},  // a 5xx stays indeterminate whatever its code
        {413, "ErrorMessageSizeExceeded", "large"},
    };
    for (const auto& [status, code, words] : cases) {
        fault(json::object{{"endpoint", "sendMail"}, {"status", status}, {"error_code", code}});
        auto r = send("alice");
        if (status >= 500) {
            EXPECT_EQ(str(r, "outcome"), "indeterminate") << code;
            continue;
        }
        EXPECT_EQ(str(r, "outcome"), "rejected") << code;
        EXPECT_EQ(str(r, "code"), code);
        EXPECT_THAT(str(r, "message"), HasSubstr(words)) << code;
        EXPECT_EQ(r["attempts"].as_int64(), 1) << "a rejection is never retried";
    }
    EXPECT_EQ(recorded(), 0u);
}

// Exchange's daily sending limit holds the mailbox, not the message: throttled with
// sending_limit "daily" for 24 hours (Exchange names no time; its recipient limit is a rolling day).
TEST_F(OutlookSend, TheDailySendingLimitHoldsTheMailboxForADay) {
    fault(json::object{{"endpoint", "sendMail"}, {"status", 403}, {"error_code", "ErrorExceededMessageLimit"}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "throttled") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "ErrorExceededMessageLimit");
    EXPECT_EQ(str(r, "sending_limit"), "daily");
    EXPECT_NEAR(static_cast<double>(r["retry_after_ms"].as_int64()), 24.0 * 60 * 60 * 1000, 1000.0);
    EXPECT_THAT(str(r, "message"), HasSubstr("go out automatically after"));
    EXPECT_EQ(recorded(), 0u);
}

// The stand-in enforces Exchange Online's 10,000 recipients a day (scenario mailbox_limits); the
// plugin turns its refusal into the same daily hold.
TEST_F(OutlookSend, TheStandInsRecipientLimitReachesThePluginAsADailyHold) {
    std::string to;
    for (int i = 0; i < 500; ++i)
        to += std::string(i ? "," : "") + R"({"address":"r)" + std::to_string(i) + R"(@example.org"})";
    const std::string big = R"({"to":[)" + to + R"(],"subject":"Many","text":"x"})";
    for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(str(send("alice", big), "outcome"), "sent") << i;
        sandbox_.advance_clock(std::chrono::seconds(61));  // stay under 30 a minute
    }
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "throttled") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "ErrorExceededMessageLimit");
    EXPECT_EQ(str(r, "sending_limit"), "daily");
    EXPECT_EQ(recorded(), 20u);
}

// A follow-up (threading fields) goes in sendMail's MIME form, which carries Message-ID,
// In-Reply-To and References; the result reports the Message-ID it carries.
TEST_F(OutlookSend, AFollowUpGoesAsMimeWithItsThreadingHeaders) {
    auto r = send("alice", R"({"to":[{"address":"casey@example.org"}],"subject":"Re: Your interview","text":"Any news?",
        "headers":[{"name":"x-nudge-id","value":"n-2"}],
        "message_id":"<nudge.2@contoso.example>","in_reply_to":"<nudge.1@contoso.example>",
        "references":["<nudge.1@contoso.example>"]})");
    ASSERT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(str(r, "internet_message_id"), "<nudge.2@contoso.example>");
    auto messages = sandbox_.messages(kWorkUser);
    ASSERT_EQ(messages.size(), 1u);
    const auto& m = messages[0];
    EXPECT_EQ(m.body_type, "MIME");
    EXPECT_EQ(m.from, kWorkUser);
    EXPECT_EQ(m.subject, "Re: Your interview");
    ASSERT_EQ(m.to.size(), 1u);
    EXPECT_EQ(m.to[0].address, "casey@example.org");
    EXPECT_EQ(m.message_id, "<nudge.2@contoso.example>");
    EXPECT_EQ(m.in_reply_to, "<nudge.1@contoso.example>");
    EXPECT_EQ(m.references, std::vector<std::string>{"<nudge.1@contoso.example>"});
    EXPECT_THAT(m.body_content, HasSubstr("x-nudge-id: n-2"));
}

TEST_F(OutlookSend, AFollowUpWithoutAMessageIdGetsOneAtTheMailboxsDomain) {
    auto r = send("alice", R"({"to":[{"address":"casey@example.org"}],"text":"Any news?",
        "in_reply_to":"<nudge.1@contoso.example>","references":["<nudge.1@contoso.example>"]})");
    ASSERT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_THAT(str(r, "internet_message_id"), ::testing::MatchesRegex("<.+@contoso\\.example>"));
    EXPECT_EQ(sandbox_.messages(kWorkUser).at(0).message_id, str(r, "internet_message_id"));
}

// Whether Exchange keeps a MIME message's Message-ID is unverified (outlook_plugin/docs/microsoft-behaviour.md §6d).
// With the stand-in replacing each one, nothing in the plugin breaks or reads it back: each follow-up still carries the
// whole thread the host gave it in References, and reports the id it submitted.
TEST_F(OutlookSend, WhenExchangeReplacesMessageIdsFollowUpsStillCarryTheThreadTheHostGave) {
    sandbox_.control("POST", "/_sandbox/settings", json::object{{"replace_message_id", true}});
    const std::string to = R"("to":[{"address":"casey@example.org"}],"subject":"Your interview","text":"x")";
    auto first = send("alice", "{" + to + R"(,"message_id":"<n1@contoso.example>"})");
    auto second = send("alice", "{" + to + R"(,"message_id":"<n2@contoso.example>",
        "in_reply_to":"<n1@contoso.example>","references":["<n1@contoso.example>"]})");
    auto third = send("alice", "{" + to + R"(,"message_id":"<n3@contoso.example>",
        "in_reply_to":"<n2@contoso.example>","references":["<n1@contoso.example>","<n2@contoso.example>"]})");
    EXPECT_EQ(str(first, "internet_message_id"), "<n1@contoso.example>") << json::serialize(first);
    EXPECT_EQ(str(second, "internet_message_id"), "<n2@contoso.example>");
    EXPECT_EQ(str(third, "internet_message_id"), "<n3@contoso.example>");
    auto messages = sandbox_.messages(kWorkUser);
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[2].submitted_message_id, "<n3@contoso.example>");
    EXPECT_NE(messages[2].message_id, "<n3@contoso.example>") << "the switch replaced it";
    EXPECT_EQ(messages[2].in_reply_to, "<n2@contoso.example>");
    EXPECT_EQ(messages[2].references, (std::vector<std::string>{"<n1@contoso.example>", "<n2@contoso.example>"}));
}

TEST_F(OutlookSend, AMessageWithoutThreadingFieldsKeepsTheJsonForm) {
    auto r = send("alice");
    ASSERT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_FALSE(r.contains("internet_message_id")) << "Exchange chooses it, and sendMail does not return it";
    auto m = sandbox_.messages(kWorkUser).at(0);
    EXPECT_NE(m.body_type, "MIME");
    EXPECT_EQ(m.message_id, "");
}

// The 4 MB request limit holds for the MIME form too, where base64 grows the whole message by 4/3.
TEST_F(OutlookSend, AFollowUpOverFourMegabytesAsBase64IsRefusedBeforeSending) {
    constexpr std::size_t kMiB = 1024 * 1024;
    // Random bytes, so that GMime base64-encodes the attachment (it would pick quoted-printable for text).
    std::mt19937 rng(7);
    std::string content(29 * kMiB / 10, '\0');
    for (char& c : content) c = static_cast<char>(rng());
    json::object msg{
        {"to", json::array{json::object{{"address", "casey@example.org"}}}},
        {"text", "see attachment"},
        {"attachments",
         json::array{json::object{{"name", "big.bin"}, {"content_base64", ep::message::base64_encode(content)}}}}};
    auto ok = send("alice", json::serialize(msg));
    ASSERT_EQ(str(ok, "outcome"), "sent") << "3.9 MB fits as JSON";
    msg["in_reply_to"] = "<nudge.1@contoso.example>";
    auto refusal = outlook_->send("alice", json::serialize(msg), [](std::string_view) {});
    ASSERT_TRUE(refusal) << "as MIME the same message is about 5.3 MB once base64-encoded";
    auto doc = parse(refusal->document);
    EXPECT_EQ(str(doc, "field"), "attachments");
    EXPECT_THAT(str(doc, "message"), HasSubstr("4 MB"));
    EXPECT_EQ(sendmail_requests(), 1);
}

TEST_F(OutlookSend, AnAccountWithoutAMailboxIsRejectedPermanently) {
    ASSERT_EQ(str(connect("noah", kNoMailboxUser), "outcome"), "connected");
    auto r = send("noah");
    EXPECT_EQ(str(r, "outcome"), "rejected");
    EXPECT_EQ(str(r, "code"), "MailboxNotEnabledForRESTAPI");
}

TEST_F(OutlookSend, A401RefreshesOnceAndRetriesOnceThenReportsAuthExpired) {
    fault(json::object{{"endpoint", "sendMail"}, {"status", 401}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(r["attempts"].as_int64(), 2);
    EXPECT_EQ(refreshes(), 1);
    fault(json::object{{"endpoint", "sendMail"}, {"status", 401}, {"times", 2}});
    r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "auth_expired") << json::serialize(r);
    EXPECT_EQ(refreshes(), 2);
    EXPECT_EQ(recorded(), 1u);
    // A fresh token refused again: the connection leaves "connected" (issue 12), so neither
    // this plugin nor a host's outbox retries it until the user reconnects.
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "expired") << json::serialize(s);
    EXPECT_EQ(str(s, "reason"), "signin_required");
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    EXPECT_EQ(refreshes(), 2);
    EXPECT_EQ(sendmail_requests(), 4) << "nothing more is sent or refreshed";
    EXPECT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
}

TEST_F(OutlookSend, ServerErrorsAndLostAnswersAreIndeterminateAndNeverRetried) {
    for (int status : {500, 502, 503, 504}) {
        fault(json::object{{"endpoint", "sendMail"}, {"status", status}});
        auto r = send("alice");
        EXPECT_EQ(str(r, "outcome"), "indeterminate") << status;
        EXPECT_EQ(r["attempts"].as_int64(), 1);
    }
    EXPECT_EQ(sendmail_requests(), 4);
    // Recorded, then 504: the message went out although the answer says otherwise.
    fault(json::object{{"endpoint", "sendMail"}, {"action", "status_after_record"}, {"status", 504}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "indeterminate");
    EXPECT_EQ(recorded(), 1u) << "exactly one message, never a silent second one";
    // The connection reset after the request was read.
    fault(json::object{{"endpoint", "sendMail"}, {"action", "drop_before_response"}});
    r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "indeterminate") << json::serialize(r);
    EXPECT_EQ(r["attempts"].as_int64(), 1);
}

TEST_F(OutlookSend, ATimeoutAfterTheBodyWentOutIsIndeterminate) {
    auto config = base_config();
    config["timeouts"] = json::object{{"request_ms", 500}};
    outlook_ = create(config);
    fault(json::object{{"endpoint", "sendMail"}, {"action", "delay"}, {"delay_ms", 1500}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "indeterminate") << json::serialize(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(recorded(), 1u) << "the stand-in processed it: resending would have duplicated it";
}

TEST_F(OutlookSend, FailuresBeforeSendingAreTransientAndRetriedAutomatically) {
    // Connection refused: a closed port.
    auto config = base_config();
    config["endpoints"].as_object()["graph"] = "https://127.0.0.1:9/v1.0";
    outlook_ = create(config);
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "transient") << json::serialize(r);
    EXPECT_EQ(r["attempts"].as_int64(), 3);
    // TLS: a server certificate from a CA we do not trust is refused, never bypassed.
    config = base_config();
    config["tls"] = json::object{{"ca_file", (sandbox_.tls_dir() / "other-ca.pem").string()}};
    config["send"].as_object()["max_attempts"] = 1;
    outlook_ = create(config);
    r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "transient") << json::serialize(r);
    EXPECT_EQ(recorded(), 0u);
    // A reset before the body was read: the retry goes through, exactly one message.
    outlook_ = create(base_config());
    fault(json::object{{"endpoint", "sendMail"}, {"action", "reset_before_body"}});
    r = send("alice");
    EXPECT_THAT(str(r, "outcome"), ::testing::AnyOf("sent", "indeterminate")) << json::serialize(r);
    EXPECT_LE(recorded(), 1u);
}

TEST_F(OutlookSend, ThrottlingHonoursRetryAfterPerMailbox) {
    ASSERT_EQ(str(connect("megan", kPersonalUser), "outcome"), "connected");
    // Short Retry-After: waited out inside the plugin, then sent.
    fault(json::object{{"endpoint", "sendMail"}, {"user", kWorkUser}, {"status", 429}, {"retry_after", "0.2"}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(r["attempts"].as_int64(), 2);
    // A storm on alice's mailbox with a long Retry-After goes back to the host as throttled,
    // while megan's mailbox keeps sending at full speed.
    fault(json::object{
        {"endpoint", "sendMail"}, {"user", kWorkUser}, {"status", 429}, {"retry_after", "30"}, {"times", -1}});
    Completions alice_done, megan_done;
    for (int i = 0; i < 8; ++i) EXPECT_FALSE(outlook_->send("alice", message(), alice_done.callback()));
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(outlook_->send("megan", message(), megan_done.callback()));
    auto megan_results = megan_done.wait(20);
    auto megan_time = std::chrono::steady_clock::now() - start;
    for (auto& m : megan_results) EXPECT_EQ(str(m, "outcome"), "sent");
    EXPECT_LT(megan_time, std::chrono::seconds(5)) << "another mailbox's throttling must not slow this one";
    auto alice_results = alice_done.wait(8);
    for (auto& a : alice_results) {
        EXPECT_EQ(str(a, "outcome"), "throttled") << json::serialize(a);
        EXPECT_GE(a["retry_after_ms"].as_int64(), 25'000);
    }
    EXPECT_EQ(recorded(kPersonalUser), 20u);
    EXPECT_LE(sandbox_.counters().max_concurrent_send["adele@contoso.example"], 4);
}

TEST_F(OutlookSend, RetryAfterAsAnHttpDateIsHonoured) {
    auto when = sandbox_.now() + std::chrono::seconds(40);
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    char date[64];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    fault(json::object{{"endpoint", "sendMail"}, {"status", 429}, {"retry_after", date}});
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "throttled");
    EXPECT_NEAR(static_cast<double>(r["retry_after_ms"].as_int64()), 40'000.0, 2'000.0);
}

TEST_F(OutlookSend, PerMailboxConcurrencyNeverExceedsFour) {
    fault(json::object{{"endpoint", "sendMail"}, {"action", "delay"}, {"delay_ms", 100}, {"times", -1}});
    Completions done;
    for (int i = 0; i < 24; ++i) EXPECT_FALSE(outlook_->send("alice", message(), done.callback()));
    for (auto& r : done.wait(24)) EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(sandbox_.counters().max_concurrent_send["adele@contoso.example"], 4);
}

TEST_F(OutlookSend, AFullQueueIsAClearBusyResult) {
    auto config = base_config();
    config["send"].as_object()["queue_limit"] = 2;
    outlook_ = create(config);
    fault(json::object{{"endpoint", "sendMail"}, {"action", "delay"}, {"delay_ms", 300}, {"times", -1}});
    Completions done;
    int accepted = 0, busy = 0;
    for (int i = 0; i < 10; ++i) {
        auto refusal = outlook_->send("alice", message(), done.callback());
        if (!refusal) {
            ++accepted;
        } else {
            ++busy;
            EXPECT_EQ(refusal->status, EP_ERR_BUSY);
            EXPECT_EQ(str(parse(refusal->document), "outcome"), "throttled");
        }
    }
    EXPECT_GT(busy, 0);
    EXPECT_EQ(done.wait(accepted).size(), static_cast<std::size_t>(accepted));
}

TEST_F(OutlookSend, DestroyWithSendsInFlightCompletesEachExactlyOnceAndNeverAfter) {
    fault(json::object{{"endpoint", "sendMail"}, {"action", "delay"}, {"delay_ms", 300}, {"times", -1}});
    std::atomic<int> callbacks{0}, sent{0}, cancelled{0};
    std::atomic<bool> destroyed{false}, late{false};
    for (int i = 0; i < 40; ++i)
        EXPECT_FALSE(outlook_->send("alice", message(), [&](std::string_view result) {
            if (destroyed) late = true;
            ++callbacks;
            auto doc = parse(std::string(result));
            if (str(doc, "outcome") == "sent")
                ++sent;
            else if (str(doc, "outcome") == "transient" && str(doc, "code") == "cancelled")
                ++cancelled;
        }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    outlook_.reset();
    destroyed = true;
    EXPECT_EQ(callbacks.load(), 40);
    EXPECT_FALSE(late.load());
    EXPECT_EQ(sent + cancelled, 40);
    EXPECT_GE(cancelled.load(), 30) << "only the four in flight complete";
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(recorded(), static_cast<std::size_t>(sent.load()));
}

class OutlookSendMany : public OutlookFixture {
protected:
    OutlookSendMany() : OutlookFixture(SandboxSettings{true, 0, 4, 20}) {}
};

TEST_F(OutlookSendMany, TwoHundredConcurrentSendsAcrossTwentyAccountsAreRecordedExactlyOnce) {
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(str(connect("acct" + std::to_string(i), "user" + std::to_string(i) + "@contoso.example"), "outcome"),
                  "connected");
    Completions done;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                int n = t * 50 + i;
                std::string msg = message("nudge " + std::to_string(n));
                EXPECT_FALSE(outlook_->send("acct" + std::to_string(n % 20), msg, done.callback()));
            }
        });
    for (auto& t : threads) t.join();
    auto results = done.wait(200);
    ASSERT_EQ(results.size(), 200u);
    for (auto& r : results) EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    auto messages = sandbox_.messages();
    ASSERT_EQ(messages.size(), 200u);
    std::set<std::string> subjects;
    for (const auto& m : messages) subjects.insert(m.sender + "|" + m.subject);
    EXPECT_EQ(subjects.size(), 200u) << "no message twice";
}

TEST_F(OutlookSend, ACompletionNeverRunsInsideSendEvenWhenDecidedThere) {
    // A refresh failure puts alice in backoff, so a send for her learns synchronously (inside
    // send) that there is no token. Called from another send's completion — that is, on the
    // plugin's I/O thread — its own completion must still come later, never inside send().
    ASSERT_EQ(str(connect("megan", kPersonalUser), "outcome"), "connected");
    advance(std::chrono::seconds(3600));
    fault(json::object{{"endpoint", "token"}, {"user", kWorkUser}, {"status", 503}, {"retry_after", "60"}});
    ASSERT_EQ(str(send("alice"), "outcome"), "transient");
    ASSERT_EQ(str(send("megan"), "outcome"), "sent");  // megan's token is fresh again
    std::atomic<bool> inside_send{false}, nested{false};
    Completions done;
    auto record = done.callback();
    EXPECT_FALSE(outlook_->send("megan", message(), [&](std::string_view first) {
        record(first);
        inside_send = true;
        auto refusal = outlook_->send("alice", message(), [&](std::string_view second) {
            if (inside_send) nested = true;
            record(second);
        });
        inside_send = false;
        EXPECT_FALSE(refusal.has_value());
    }));
    auto results = done.wait(2);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(str(results[1], "outcome"), "transient");
    EXPECT_FALSE(nested.load()) << "the callback ran inside send()";
}
