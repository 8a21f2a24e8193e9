// Issue 25's test of pacing: 300 nudges queued at once from one Outlook mailbox go out at no
// more than 30 a minute, with no throttling answer from the Microsoft stand-in, none lost and
// none failed. The real Outlook plugin runs in the real host (its outbox, SQLite store) against
// the in-process stand-in; the host clock and the stand-in's clock are moved together, a minute
// at a time, so ten minutes of sending take seconds.
//
// Exchange Online allows 30 messages a minute per mailbox ("Message rate limit", Exchange Online
// limits:
// https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1),
// which OutlookProvider::sending_limits declares and the stand-in enforces (its scenario's
// mailbox_limits.messages_per_minute, refused with 429 ApplicationThrottled).
#include "process.hpp"

#include "core/host_runtime.hpp"

#include <ms_sandbox/sandbox.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace {

namespace json = boost::json;

constexpr const char* kUpn = "adele@contoso.example";
constexpr int kNudges = 300;
constexpr int kPerMinute = 30;

class OutboxPacingWithOutlook : public ::testing::Test {
protected:
    OutboxPacingWithOutlook() : sandbox_(options()) {}

    static ms_sandbox::Options options() {
        ms_sandbox::Options o;
        o.log_requests = false;
        return o;
    }

    void SetUp() override {
        dir_.write("token.key", std::string(64, '5'));
        json::object outlook{
            {"client_id", "11111111-2222-4333-8444-555555555555"},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"redirect_uri", "http://127.0.0.1/callback"},
            {"token_encryption",
             json::object{{"active_key", "k"},
                          {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
        json::object config{{"store", json::object{{"path", "host.db"}}},
                            {"log_level", "error"},
                            {"users", json::array{json::object{{"id", "rita"}, {"display_name", "Rita"}}}},
                            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                                   {"config", outlook}}}}};
        dir_.write("host.json", json::serialize(config));
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        rt_->store->save_settings("rita", host::CommunicationSettings{"email", "outlook"});
        auto& outlook_instance = *rt_->providers->instance("outlook");
        auto begin = outlook_instance.begin_connect("rita", "{}");
        ASSERT_TRUE(begin.ok()) << begin.document;
        std::string url(json::parse(begin.document).as_object()["authorization_url"].as_string());
        std::string callback = sandbox_.autopilot(url, kUpn);
        auto done =
            outlook_instance.complete_connect("rita", json::serialize(json::object{{"callback_url", callback}}));
        ASSERT_TRUE(done.ok()) << done.document;
    }

    std::map<host::NudgeState, int> states() {
        std::map<host::NudgeState, int> out;
        for (const auto& n : rt_->store->outbox("rita", kNudges + 10)) ++out[n.state];
        return out;
    }

    // Nothing more goes out until the clock moves: none sending, none queued, every paced one due later.
    bool settled() {
        const int64_t now = rt_->clock.now_ms();
        for (const auto& n : rt_->store->outbox("rita", kNudges + 10))
            if (n.state == host::NudgeState::sending || n.state == host::NudgeState::queued ||
                n.state == host::NudgeState::throttled ||
                (n.state == host::NudgeState::paced && n.not_before_ms <= now))
                return false;
        return true;
    }

    test_support::TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
    std::unique_ptr<host::HostRuntime> rt_;
};

}  // namespace

TEST_F(OutboxPacingWithOutlook, ThreeHundredNudgesGoOutAtThirtyAMinuteWithNoThrottlingAndNoneLost) {
    rt_->start_outbox();
    for (int i = 0; i < kNudges; ++i)
        rt_->outbox->enqueue("rita", json::object{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                                                  {"subject", "nudge " + std::to_string(i)},
                                                  {"text", "hello"}});
    std::vector<int> sent_per_round;
    int sent_before = 0;
    for (int round = 0; round < 2 * kNudges / kPerMinute && sent_before < kNudges; ++round) {
        test_support::wait_until([&] { return settled(); }, std::chrono::seconds(30));
        ASSERT_TRUE(settled()) << "round " << round << ": the outbox did not settle";
        int sent = states()[host::NudgeState::sent];
        sent_per_round.push_back(sent - sent_before);
        sent_before = sent;
        // The next minute, on both clocks (the host's pacing adds a second of margin).
        sandbox_.advance_clock(std::chrono::seconds(61));
        rt_->clock.advance(61000);
        rt_->outbox->wake();
    }
    auto s = states();
    EXPECT_EQ(s[host::NudgeState::sent], kNudges) << "every nudge went out";
    EXPECT_EQ(s[host::NudgeState::failed], 0);
    EXPECT_EQ(s[host::NudgeState::throttled], 0);
    EXPECT_EQ(s[host::NudgeState::needs_review], 0);
    for (const auto& n : rt_->store->outbox("rita", kNudges + 10))
        EXPECT_EQ(n.attempts, 1) << "nudge " << n.id << " was handed over more than once (refused, then retried)";
    for (std::size_t r = 0; r < sent_per_round.size(); ++r) EXPECT_LE(sent_per_round[r], kPerMinute) << "minute " << r;
    EXPECT_GE(sent_per_round.size(), static_cast<std::size_t>(kNudges / kPerMinute)) << "paced, not all at once";

    // The stand-in's own record: every message it accepted, and at most 30 in any 60 seconds.
    auto accepted = sandbox_.messages(kUpn);
    ASSERT_EQ(accepted.size(), static_cast<std::size_t>(kNudges));
    std::vector<int64_t> at;
    for (const auto& m : accepted) at.push_back(m.sent_at_unix);
    std::sort(at.begin(), at.end());
    for (std::size_t i = 0; i < at.size(); ++i) {
        auto in_window = std::lower_bound(at.begin(), at.end(), at[i] + 60) - (at.begin() + static_cast<long>(i));
        EXPECT_LE(in_window, kPerMinute) << "60 s from " << at[i];
    }
    int send_requests = 0;
    for (const auto& [endpoint, count] : sandbox_.counters().requests)
        if (endpoint.find("sendMail") != std::string::npos) send_requests += count;
    EXPECT_EQ(send_requests, kNudges) << "no send was refused (a throttled one is asked again)";
}
