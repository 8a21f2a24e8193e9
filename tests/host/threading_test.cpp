// Follow-ups in the candidate's conversation (ABI 1.2 threading): the message model's msg-id
// rules, and the host giving each nudge a Message-ID and a follow-up the In-Reply-To and
// References of the message it follows (RFC 5322 §3.6.4), through the real host runtime and the
// mock provider, which writes each message as an .eml file.
#include "process.hpp"

#include "core/host_runtime.hpp"
#include "outbox/threading.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

std::string message_with(const std::string& threading_fields) {
    return R"({"to":[{"address":"casey@example.org"}],"subject":"s","text":"t")" + threading_fields + "}";
}

std::string refusal_field(const std::string& doc) {
    try {
        ep::message::parse_message(doc);
    } catch (const ep::sdk::Error& e) {
        return e.field() + ": " + e.what();
    }
    return "accepted";
}

}  // namespace

TEST(MessageThreadingFields, ReadsMessageIdsAndThreadId) {
    auto m = ep::message::parse_message(message_with(
        R"(,"message_id":"<b@contoso.com>","in_reply_to":"<a@contoso.com>","references":["<a@contoso.com>"],"thread_id":"18c2f0a9")"));
    EXPECT_EQ(m.message_id, "<b@contoso.com>");
    EXPECT_EQ(m.in_reply_to, "<a@contoso.com>");
    EXPECT_THAT(m.references, ElementsAre("<a@contoso.com>"));
    EXPECT_EQ(m.thread_id, "18c2f0a9");
    EXPECT_TRUE(ep::message::is_valid_message_id("<nudge.1f.x@[192.0.2.1]>"));
}

TEST(MessageThreadingFields, RefusesWhatIsNotAMsgIdNamingTheField) {
    EXPECT_THAT(refusal_field(message_with(R"(,"message_id":"a@contoso.com")")), HasSubstr("message_id: "));
    EXPECT_THAT(refusal_field(message_with(R"(,"in_reply_to":"<no-at-sign>")")), HasSubstr("in_reply_to: "));
    EXPECT_THAT(refusal_field(message_with(R"(,"in_reply_to":"<a b@contoso.com>")")), HasSubstr("in_reply_to: "));
    EXPECT_THAT(refusal_field(message_with(R"(,"references":["<a@x.org>","<a@x.org>\r\nBcc: x@y.org"])")),
                HasSubstr("references[1]: "));
    EXPECT_THAT(refusal_field(message_with(R"(,"references":"<a@x.org>")")), HasSubstr("references: "));
    EXPECT_THAT(refusal_field(message_with(R"(,"thread_id":"has space")")), HasSubstr("thread_id: "));
    std::string many = R"(,"references":[)";
    for (int i = 0; i <= 100; ++i) many += (i ? "," : "") + std::string("\"<") + std::to_string(i) + "@x.org>\"";
    EXPECT_THAT(refusal_field(message_with(many + "]")), HasSubstr("the limit is 100"));
    EXPECT_FALSE(ep::message::is_valid_message_id("<" + std::string(250, 'a') + "@x.org>"));
}

namespace {

class ThreadingTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml","retry_after_seconds":1,
                                    "address":"rita@contoso.com"}}]})");
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        rt_->start_outbox();
        for (const char* user : {"rita", "sam"}) {
            rt_->store->save_settings(user, host::CommunicationSettings{"email", "mock"});
            EXPECT_TRUE(rt_->providers->instance("mock")->begin_connect(user, "{}").ok());
        }
    }

    static json::object nudge(const std::string& subject, const std::string& to = "casey@example.org") {
        json::object m{{"to", json::array{json::object{{"address", to}}}}, {"text", "hello"}};
        if (!subject.empty()) m["subject"] = subject;
        return m;
    }

    host::Nudge settled(int64_t id) {
        test_support::wait_until(
            [&] {
                auto n = rt_->store->nudge(id);
                return n && n->state != host::NudgeState::queued && n->state != host::NudgeState::sending;
            },
            std::chrono::seconds(4));
        return *rt_->store->nudge(id);
    }

    // The headers of the .eml the mock wrote with this Message-ID (folded lines joined).
    std::map<std::string, std::string> eml_headers(const std::string& message_id) {
        for (const auto& e : std::filesystem::directory_iterator(dir_ / "eml")) {
            std::ifstream in(e.path(), std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            std::string s = text.str();
            std::string head = s.substr(0, s.find("\r\n\r\n"));
            if (head.find("Message-ID: " + message_id + "\r\n") == std::string::npos) continue;
            std::map<std::string, std::string> headers;
            std::string last;
            std::istringstream lines(head);
            for (std::string line; std::getline(lines, line);) {
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (!line.empty() && line.front() == ' ') {
                    headers[last] += line;
                } else if (auto colon = line.find(':'); colon != std::string::npos) {
                    last = line.substr(0, colon);
                    auto value = line.find_first_not_of(' ', colon + 1);
                    headers[last] = value == std::string::npos ? "" : line.substr(value);
                }
            }
            return headers;
        }
        ADD_FAILURE() << "no .eml carries Message-ID " << message_id;
        return {};
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

}  // namespace

TEST_F(ThreadingTest, AFirstMessageAndTwoFollowUpsFormOneThread) {
    int64_t first = rt_->outbox->enqueue("rita", nudge("Your application"));
    host::Nudge n1 = settled(first);
    ASSERT_EQ(n1.state, host::NudgeState::sent) << n1.last_message;
    EXPECT_THAT(n1.thread.message_id, ::testing::MatchesRegex("<nudge\\.[0-9a-f]{32}@contoso\\.com>"));
    EXPECT_EQ(n1.thread.sent_message_id, n1.thread.message_id) << "the mock reports the id it was given";

    int64_t second = rt_->outbox->enqueue("rita", nudge(""), host::FollowUp{first, ""});
    host::Nudge n2 = settled(second);
    int64_t third = rt_->outbox->enqueue("rita", nudge("Re: Your application"),
                                         host::parse_follow_up("#" + std::to_string(second)));
    host::Nudge n3 = settled(third);
    ASSERT_EQ(n3.state, host::NudgeState::sent) << n3.last_message;

    auto h1 = eml_headers(n1.thread.message_id), h2 = eml_headers(n2.thread.message_id),
         h3 = eml_headers(n3.thread.message_id);
    EXPECT_EQ(h1.count("In-Reply-To"), 0u);
    EXPECT_EQ(h2["In-Reply-To"], n1.thread.message_id);
    EXPECT_EQ(h2["References"], " " + n1.thread.message_id) << "folded: one msg-id a line";
    EXPECT_EQ(h2["Subject"], "Re: Your application") << "a follow-up without a subject answers the first";
    EXPECT_EQ(h3["In-Reply-To"], n2.thread.message_id);
    EXPECT_EQ(h3["References"], " " + n1.thread.message_id + " " + n2.thread.message_id);

    EXPECT_EQ(n2.thread.follows_id, first);
    EXPECT_EQ(n3.thread.follows_id, second);
    EXPECT_EQ(n3.thread.root_id, first);
    EXPECT_EQ(host::thread_label(n3), "in thread with #" + std::to_string(first));
    EXPECT_EQ(host::thread_label(n1), "");
}

TEST_F(ThreadingTest, AFollowUpOfAMessageSentElsewhereAnswersItsMessageId) {
    int64_t id =
        rt_->outbox->enqueue("rita", nudge("Following up"), host::parse_follow_up("<CAF=first@mail.example.org>"));
    host::Nudge n = settled(id);
    ASSERT_EQ(n.state, host::NudgeState::sent);
    auto h = eml_headers(n.thread.message_id);
    EXPECT_EQ(h["In-Reply-To"], "<CAF=first@mail.example.org>");
    EXPECT_EQ(h["References"], " <CAF=first@mail.example.org>");
    EXPECT_EQ(n.thread.follows_id, 0);
}

TEST_F(ThreadingTest, AFollowUpNeverOvertakesTheNudgeItFollows) {
    json::object first = nudge("Held back");
    first["headers"] = json::array{json::object{{"name", "x-mock-outcome"}, {"value", "throttled"}}};
    int64_t id = rt_->outbox->enqueue("rita", first);
    ASSERT_EQ(settled(id).state, host::NudgeState::throttled);
    int64_t follow_up = rt_->outbox->enqueue("rita", nudge("Re: Held back"), host::FollowUp{id, ""});
    host::Nudge n = settled(follow_up);
    EXPECT_EQ(n.state, host::NudgeState::throttled);
    EXPECT_EQ(n.last_code, "follows_unsent");
    EXPECT_THAT(n.last_message, HasSubstr("after nudge #" + std::to_string(id)));
    EXPECT_TRUE(std::filesystem::is_empty(dir_ / "eml")) << "nothing went out";
}

TEST_F(ThreadingTest, RefusesWhatCannotBeFollowedSayingWhy) {
    int64_t sams = rt_->outbox->enqueue("sam", nudge("Sam's"));
    settled(sams);
    auto refusal = [&](const std::string& user, const host::FollowUp& f, const std::string& to = "casey@example.org") {
        try {
            rt_->outbox->enqueue(user, nudge("x", to), f);
        } catch (const host::OutboxError& e) {
            return std::string(e.what());
        }
        return std::string("queued");
    };
    EXPECT_THAT(refusal("rita", {sams, ""}), HasSubstr("is not one of your nudges"));
    EXPECT_THAT(refusal("rita", {999, ""}), HasSubstr("nudge #999 is not one of your nudges"));
    EXPECT_THAT(refusal("sam", {sams, ""}, "drew@example.org"),
                HasSubstr("went to casey@example.org; a follow-up goes to the same candidate"));
    json::object rejected = nudge("Rejected");
    rejected["headers"] = json::array{json::object{{"name", "x-mock-outcome"}, {"value", "rejected"}}};
    int64_t failed = rt_->outbox->enqueue("sam", rejected);
    ASSERT_EQ(settled(failed).state, host::NudgeState::failed);
    EXPECT_THAT(refusal("sam", {failed, ""}), HasSubstr("was never sent (it failed)"));
    for (const char* bad : {"", "12a", "-3", "0", "<not-a-msg-id>", "a@b.org"})
        EXPECT_THROW(host::parse_follow_up(bad), host::OutboxError) << bad;
}

TEST_F(ThreadingTest, TheMessageAProviderGetsFollowsWhatItCanThread) {
    int64_t first = rt_->outbox->enqueue("rita", nudge("First"));
    ASSERT_EQ(settled(first).state, host::NudgeState::sent);
    // Stopped, so that the follow-up stays queued and can be looked at as a provider would get it.
    rt_->outbox->stop_dispatching();
    int64_t second = rt_->outbox->enqueue("rita", nudge("Re: First"), host::FollowUp{first, ""});
    host::Nudge n = *rt_->store->nudge(second);

    json::value plain = json::parse(host::message_for_provider(*rt_->store, n, false).json);
    for (const char* key : {"message_id", "in_reply_to", "references", "thread_id"})
        EXPECT_FALSE(plain.as_object().contains(key)) << key << ": a provider that cannot thread gets none";

    // The provider reported a thread id and another Message-ID for the first nudge (Exchange may
    // replace ours): the follow-up names both ids and, from the same mailbox, the thread.
    host::OutboxLease lease{"test", 60000};
    int64_t third =
        rt_->store->enqueue("rita", "mock", n.mailbox, R"({"to":[{"address":"casey@example.org"}],"text":"x"})",
                            "crid-3", 0, host::NudgeThread{"<c@contoso.com>", 0, 0, "", ""});
    ASSERT_EQ(rt_->store->claim_due(1, 10, lease).size(), 2u);
    rt_->store->record_outcomes({host::HostStore::Outcome{third, host::NudgeState::sent, "sent", "", "", "", 0,
                                                          "<replaced@exchange.example>", "thread-7"}},
                                lease, 2);
    n.thread.follows_id = third;
    json::value threaded = json::parse(host::message_for_provider(*rt_->store, n, true).json);
    EXPECT_EQ(threaded.at("in_reply_to"), "<replaced@exchange.example>");
    EXPECT_EQ(threaded.at("thread_id"), "thread-7");
    EXPECT_EQ(threaded.at("references").as_array().back(), "<replaced@exchange.example>");

    n.mailbox = "another@contoso.com";
    json::value elsewhere = json::parse(host::message_for_provider(*rt_->store, n, true).json);
    EXPECT_FALSE(elsewhere.as_object().contains("thread_id")) << "a thread id means nothing in another mailbox";
    EXPECT_EQ(elsewhere.at("in_reply_to"), "<replaced@exchange.example>") << "the headers still thread";
}
