// The durable outbox through the real host runtime and the mock provider: every outcome
// lands in its state, nothing is lost across a restart, nothing is resent behind a person's
// back, and deleting a user makes every provider forget the account.
#include "process.hpp"

#include "core/host_runtime.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

class OutboxTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml","retry_after_seconds":1}}]})");
        start();
    }

    void start() {
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        rt_->start_outbox();
    }

    void choose_mock(const std::string& user) {
        rt_->store->save_settings(user, host::CommunicationSettings{"email", "mock"});
        ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect(user, "{}").ok());
    }

    static json::object nudge(const std::string& subject, const std::string& forced_outcome = "") {
        json::object m{{"to", json::array{json::object{{"address", "casey@example.org"}}}},
                       {"subject", subject},
                       {"text", "hello"}};
        if (!forced_outcome.empty())
            m["headers"] = json::array{json::object{{"name", "x-mock-outcome"}, {"value", forced_outcome}}};
        return m;
    }

    host::NudgeState wait_state(int64_t id, std::function<bool(host::NudgeState)> done) {
        test_support::wait_until(
            [&] {
                auto n = rt_->store->nudge(id);
                return n && done(n->state);
            },
            std::chrono::seconds(4));
        return rt_->store->nudge(id)->state;
    }

    host::NudgeState settle(int64_t id) {
        return wait_state(
            id, [](host::NudgeState s) { return s != host::NudgeState::queued && s != host::NudgeState::sending; });
    }

    int eml_count() {
        int n = 0;
        if (!std::filesystem::exists(dir_ / "eml")) return 0;
        for (const auto& e : std::filesystem::directory_iterator(dir_ / "eml")) n += e.path().extension() == ".eml";
        return n;
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
};

}  // namespace

TEST_F(OutboxTest, EachOutcomeLandsInItsState) {
    choose_mock("rita");
    const std::pair<const char*, host::NudgeState> cases[] = {
        {"sent", host::NudgeState::sent},
        {"rejected", host::NudgeState::failed},
        {"auth_expired", host::NudgeState::held},
        {"throttled", host::NudgeState::throttled},
        {"indeterminate", host::NudgeState::needs_review},
    };
    for (const auto& [outcome, state] : cases) {
        int64_t id = rt_->outbox->enqueue("rita", nudge(std::string("nudge ") + outcome, outcome));
        EXPECT_EQ(settle(id), state) << outcome;
        auto n = rt_->store->nudge(id);
        EXPECT_EQ(n->last_outcome, outcome);
    }
    EXPECT_EQ(eml_count(), 1);
}

TEST_F(OutboxTest, ThrottledAndTransientNudgesAreRescheduledNotFailed) {
    choose_mock("rita");
    int64_t throttled = rt_->outbox->enqueue("rita", nudge("t", "throttled"));
    EXPECT_EQ(settle(throttled), host::NudgeState::throttled);
    auto n = rt_->store->nudge(throttled);
    EXPECT_GT(n->not_before_ms, n->updated_ms - 1) << "rescheduled at the provider's retry-after";
    int64_t transient = rt_->outbox->enqueue("rita", nudge("x", "transient"));
    // A transient failure goes back to queued with a backoff (it certainly was not sent).
    test_support::wait_until([&] { return !rt_->store->nudge(transient)->last_outcome.empty(); },
                             std::chrono::seconds(4));
    auto t = rt_->store->nudge(transient);
    EXPECT_EQ(t->last_outcome, "transient");
    EXPECT_EQ(t->state, host::NudgeState::queued);
    EXPECT_EQ(t->attempts, 1);
    EXPECT_GT(t->not_before_ms, t->updated_ms) << "retried later, not at once";
}

TEST_F(OutboxTest, NeedsReviewIsNeverResentUnlessAPersonChooses) {
    choose_mock("rita");
    int64_t id = rt_->outbox->enqueue("rita", nudge("maybe", "indeterminate"));
    ASSERT_EQ(settle(id), host::NudgeState::needs_review);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(rt_->store->nudge(id)->state, host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(id)->attempts, 1);
    EXPECT_FALSE(rt_->store->resend(id, "sam", 0)) << "only the nudge's own user may resend it";
    std::string first_id = rt_->store->nudge(id)->client_request_id;
    // A person decides; the mock still answers indeterminate because of the header, so the
    // nudge comes back to review with a new client request id.
    ASSERT_TRUE(rt_->store->resend(id, "rita", 0));
    rt_->outbox->wake();
    EXPECT_EQ(wait_state(id, [](host::NudgeState s) { return s == host::NudgeState::needs_review; }),
              host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(id)->attempts, 2);
    EXPECT_NE(rt_->store->nudge(id)->client_request_id, first_id);
}

TEST_F(OutboxTest, HeldNudgesResumeAfterReconnecting) {
    rt_->store->save_settings("rita", host::CommunicationSettings{"email", "mock"});
    int64_t id = rt_->outbox->enqueue("rita", nudge("before connecting"));
    ASSERT_EQ(settle(id), host::NudgeState::held) << "not connected yet: held, not failed";
    ASSERT_TRUE(rt_->providers->instance("mock")->begin_connect("rita", "{}").ok());
    rt_->outbox->on_connected("rita", "mock");
    EXPECT_EQ(wait_state(id, [](host::NudgeState s) { return s == host::NudgeState::sent; }), host::NudgeState::sent);
    EXPECT_EQ(eml_count(), 1);
}

TEST_F(OutboxTest, EnqueueRefusesWithoutAChosenProvider) {
    try {
        rt_->outbox->enqueue("rita", nudge("x"));
        FAIL();
    } catch (const host::OutboxError& e) {
        EXPECT_THAT(std::string(e.what()), HasSubstr("no email provider is chosen"));
    }
    EXPECT_TRUE(rt_->store->outbox("rita").empty());
}

TEST_F(OutboxTest, ARestartTurnsSendingIntoNeedsReviewAndLosesNothing) {
    choose_mock("rita");
    int64_t sent = rt_->outbox->enqueue("rita", nudge("done"));
    ASSERT_EQ(settle(sent), host::NudgeState::sent);
    // Simulate a crash while a nudge was with the provider: claim it without completing.
    rt_->outbox->stop_dispatching();
    int64_t in_flight = rt_->store->enqueue("rita", "mock", "", json::serialize(nudge("crashed")), "crid-crash", 0);
    auto claimed = rt_->store->claim_due(1, 10, host::OutboxLease{"a host that crashes", 60000});
    ASSERT_EQ(claimed.size(), 1u);
    int64_t queued = rt_->store->enqueue("rita", "mock", "", json::serialize(nudge("still queued")), "crid-q", 0);
    rt_.reset();
    start();
    EXPECT_EQ(rt_->store->nudge(in_flight)->state, host::NudgeState::needs_review);
    EXPECT_EQ(rt_->store->nudge(in_flight)->last_code, "interrupted");
    EXPECT_EQ(settle(queued), host::NudgeState::sent) << "a queued nudge survives a restart and goes out";
    EXPECT_EQ(rt_->store->nudge(sent)->state, host::NudgeState::sent);
    EXPECT_EQ(rt_->store->outbox("rita").size(), 3u);
}

TEST_F(OutboxTest, DeletingAUserMakesEveryProviderForgetTheAccount) {
    choose_mock("rita");
    choose_mock("sam");
    rt_->outbox->enqueue("rita", nudge("x"));
    ASSERT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 1u);
    rt_->delete_user("rita");
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/rita"), 0u);
    EXPECT_EQ(rt_->secrets->count_prefix("mock/account/sam"), 1u);
    EXPECT_FALSE(rt_->store->user("rita"));
    EXPECT_TRUE(rt_->store->outbox("rita").empty());
}

TEST_F(OutboxTest, ManyNudgesFromManyUsersAreEachSentExactlyOnce) {
    std::vector<int64_t> ids;
    for (int u = 0; u < 5; ++u) {
        std::string user = "user" + std::to_string(u);
        rt_->store->upsert_user(host::User{user, user});
        choose_mock(user);
        for (int i = 0; i < 40; ++i) ids.push_back(rt_->outbox->enqueue(user, nudge(user + "-" + std::to_string(i))));
    }
    for (int64_t id : ids) EXPECT_EQ(settle(id), host::NudgeState::sent);
    EXPECT_EQ(eml_count(), 200);
}

// ---- stranded nudges, mailbox changes and reload ------------------------------------------

namespace {

// A host whose config the test rewrites and reloads: providers "mock" and, when asked, "spare"
// (the same library under another id), each with its own settings.
class ReloadTest : public OutboxTest {
protected:
    void SetUp() override {
        dir_.write("spare.json", R"({"file_format_version":"1.0.0","provider":{"id":"spare","display_name":"Spare",
            "library_path":")" EP_BUILD_DIR R"(/lib/libmock_provider.so","abi_version":"1.1","capabilities":[]}})");
        write_config({{"mock", R"("outcome":"auth_expired")"}});
        start();
    }

    // provider id -> extra mock settings
    void write_config(const std::vector<std::pair<std::string, std::string>>& providers) {
        std::string list;
        for (const auto& [id, extra] : providers) {
            std::string manifest = id == "mock" ? EP_BUILD_DIR "/manifests/mock.json" : (dir_ / "spare.json").string();
            list += std::string(list.empty() ? "" : ",") + R"({"manifest":")" + manifest +
                    R"(","config":{"outbox_dir":"${config_dir}/eml","retry_after_seconds":1)" +
                    (extra.empty() ? "" : "," + extra) + "}}";
        }
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],"providers":[)" +
                                    list + "]}");
    }

    void choose(const std::string& user, const std::string& provider) {
        rt_->store->save_settings(user, host::CommunicationSettings{"email", provider});
        ASSERT_TRUE(rt_->providers->instance(provider)->begin_connect(user, "{}").ok());
    }

    host::Nudge wait_code(int64_t id, std::string_view code) {
        test_support::wait_until([&] { return rt_->store->nudge(id)->last_code == code; }, std::chrono::seconds(8));
        return *rt_->store->nudge(id);
    }
};

}  // namespace

TEST_F(ReloadTest, ARemovedProvidersHeldNudgesAreStrandedThenSentWithTheNewProviderOrDiscarded) {
    choose("rita", "mock");
    int64_t keep = rt_->outbox->enqueue("rita", nudge("keep"));
    int64_t drop = rt_->outbox->enqueue("rita", nudge("drop"));
    EXPECT_EQ(settle(keep), host::NudgeState::held);
    EXPECT_EQ(settle(drop), host::NudgeState::held);

    write_config({{"spare", ""}});
    auto report = rt_->reload();
    EXPECT_EQ(report.removed, std::vector<std::string>{"mock"});
    EXPECT_EQ(report.added, std::vector<std::string>{"spare"});
    auto n = wait_code(keep, host::stranded::provider_removed);
    EXPECT_EQ(n.state, host::NudgeState::held);
    EXPECT_TRUE(host::is_stranded(n));
    EXPECT_THAT(n.last_message, AllOf(HasSubstr("'mock' was removed"), HasSubstr("discard")));

    // Nothing to send with yet: the user's choice is still the removed provider.
    EXPECT_THROW(rt_->outbox->requeue(keep, "rita"), host::OutboxError);
    EXPECT_THROW(rt_->outbox->requeue(keep, "sam"), host::OutboxError) << "not sam's nudge";
    EXPECT_THROW(rt_->outbox->requeue(4242, "rita"), host::OutboxError);

    choose("rita", "spare");
    rt_->outbox->requeue(keep, "rita");
    EXPECT_EQ(settle(keep), host::NudgeState::sent);
    EXPECT_EQ(rt_->store->nudge(keep)->provider, "spare");
    rt_->outbox->fail(drop, "rita", "discarded", "Discarded by the user.");
    EXPECT_EQ(rt_->store->nudge(drop)->state, host::NudgeState::failed);
    EXPECT_THROW(rt_->outbox->requeue(drop, "rita"), host::OutboxError) << "a discarded nudge stays discarded";
    EXPECT_EQ(eml_count(), 1);
}

TEST_F(ReloadTest, SwitchingProviderStrandsTheOldOnesHeldNudges) {
    write_config({{"mock", R"("outcome":"auth_expired")"}, {"spare", ""}});
    rt_->reload();
    choose("rita", "mock");
    int64_t id = rt_->outbox->enqueue("rita", nudge("switch"));
    EXPECT_EQ(settle(id), host::NudgeState::held);
    choose("rita", "spare");
    rt_->outbox->recheck_held();
    auto n = wait_code(id, host::stranded::provider_switched);
    EXPECT_THAT(n.last_message, HasSubstr("your email provider is now Spare"));
    // Connecting the old provider again (its card is still there) does not decide for the user.
    rt_->outbox->on_connected("rita", "mock");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(rt_->store->nudge(id)->last_code, host::stranded::provider_switched) << "still the user's decision";
    rt_->outbox->requeue(id, "rita");
    EXPECT_EQ(settle(id), host::NudgeState::sent);
}

TEST_F(ReloadTest, AHeldNudgeNeverLeavesSilentlyFromAnotherMailbox) {
    write_config({{"mock", R"("outcome":"auth_expired","address":"rita@old.example")"}});
    rt_->reload();
    choose("rita", "mock");
    int64_t id = rt_->outbox->enqueue("rita", nudge("mailbox"));
    EXPECT_EQ(settle(id), host::NudgeState::held);
    EXPECT_EQ(rt_->store->nudge(id)->mailbox, "rita@old.example");

    // The instance is replaced (now it sends) and the user reconnects as another mailbox.
    write_config({{"mock", R"("address":"rita@new.example")"}});
    EXPECT_EQ(rt_->reload().replaced, std::vector<std::string>{"mock"});
    choose("rita", "mock");
    rt_->outbox->on_connected("rita", "mock");
    auto n = wait_code(id, host::stranded::mailbox_changed);
    EXPECT_EQ(n.state, host::NudgeState::held);
    EXPECT_THAT(n.last_message, AllOf(HasSubstr("rita@old.example"), HasSubstr("now rita@new.example")));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(rt_->store->nudge(id)->state, host::NudgeState::held) << "not sent without the user's confirmation";
    EXPECT_EQ(eml_count(), 0);
    // While it waits for the user there is nothing to release: no check (a token request each).
    int64_t checks = rt_->checks->checks_started();
    for (int i = 0; i < 3; ++i) {
        rt_->outbox->recheck_held();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(rt_->checks->checks_started(), checks);

    rt_->outbox->requeue(id, "rita");  // the user confirms
    EXPECT_EQ(settle(id), host::NudgeState::sent);
    EXPECT_EQ(rt_->store->nudge(id)->mailbox, "rita@new.example");
}

TEST_F(ReloadTest, UsersAddedByAReloadMaySignInAndRemovedOnesMayNot) {
    EXPECT_TRUE(rt_->is_configured_user("rita"));
    dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
        "users":[{"id":"una","display_name":"Una"}],
        "providers":[{"manifest":")" EP_BUILD_DIR
                            R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})");
    rt_->reload();
    EXPECT_TRUE(rt_->is_configured_user("una"));
    EXPECT_TRUE(rt_->store->user("una")) << "added to the store";
    EXPECT_FALSE(rt_->is_configured_user("rita")) << "removed from the config: may no longer sign in";
    EXPECT_TRUE(rt_->store->user("rita")) << "her data stays, as at a start";
}

TEST_F(ReloadTest, AFailedReloadChangesNothing) {
    choose("rita", "mock");
    dir_.write("host.json", R"({"store":{"path":"host.db"},"providers":"not a list"})");
    EXPECT_THROW(rt_->reload(), std::exception);
    EXPECT_TRUE(rt_->providers->find("mock")->available());
}

TEST_F(ReloadTest, AnUnchangedProviderKeepsItsInstanceAndADuplicateIsStillRefused) {
    auto before = rt_->providers->instance("mock");
    auto report = rt_->reload();
    EXPECT_EQ(report.unchanged, std::vector<std::string>{"mock"});
    EXPECT_EQ(rt_->providers->instance("mock"), before) << "nothing changed: the same instance (its caches stay)";
    write_config({{"mock", R"("outcome":"auth_expired")"}, {"mock", R"("outcome":"auth_expired")"}});
    report = rt_->reload();
    ASSERT_EQ(report.failed.size(), 1u);
    auto entries = rt_->providers->entries();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_TRUE(entries[0].available());
    EXPECT_THAT(entries[1].error, HasSubstr("already used by"));
}

// Sends in flight while the provider is replaced, removed and added again, and another is
// added and removed: every nudge ends sent, or held/failed with a reason; none is lost and
// none is sent twice (one .eml per sent nudge, each client request id once).
TEST_F(ReloadTest, ReloadUnderLoadLosesNoNudgeAndSendsNoneTwice) {
    write_config({{"mock", R"("send_delay_ms":2)"}});
    rt_->reload();
    choose("rita", "mock");
    choose("sam", "mock");
    std::atomic<bool> done{false};
    std::vector<int64_t> ids;
    // Enqueues are refused while mock is removed, and a slow build (a sanitizer) spends longer
    // in that window: the producer goes on until enough nudges are queued to mean something.
    constexpr size_t kEnoughQueued = 150;
    std::thread producer([&] {
        for (int i = 0; i < 5000 && (i < 300 || ids.size() < kEnoughQueued); ++i) {
            try {
                ids.push_back(rt_->outbox->enqueue(i % 2 ? "rita" : "sam", nudge("load " + std::to_string(i))));
            } catch (const host::OutboxError&) {
                // Refused to the caller while the provider was removed: not queued, not lost.
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        done = true;
    });
    const std::vector<std::vector<std::pair<std::string, std::string>>> configs = {
        {{"mock", R"("send_delay_ms":3)"}},                 // replaced
        {{"mock", R"("send_delay_ms":3)"}, {"spare", ""}},  // added
        {{"spare", ""}},                                    // removed
        {{"mock", R"("send_delay_ms":1)"}},                 // back; spare removed
    };
    int reloads = 0, sending_at_reload = 0;
    while (!done) {
        write_config(configs[reloads % configs.size()]);
        for (const char* user : {"rita", "sam"})
            for (const auto& n : rt_->store->outbox(user, 400))
                sending_at_reload += n.state == host::NudgeState::sending;
        rt_->reload();
        ++reloads;
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    producer.join();
    write_config({{"mock", ""}});
    rt_->reload();
    EXPECT_GE(reloads, 4);
    EXPECT_GT(sending_at_reload, 0) << "no reload happened while sends were in flight: the test proves nothing";
    ASSERT_GE(ids.size(), kEnoughQueued);

    // Stranded ones (queued while mock was gone) are the user's to decide: send them now.
    test_support::wait_until(
        [&] {
            for (int64_t id : ids) {
                auto n = rt_->store->nudge(id);
                if (n->state == host::NudgeState::held && host::is_stranded(*n)) rt_->outbox->requeue(id, n->user_id);
                if (n->state != host::NudgeState::sent) return false;
            }
            return true;
        },
        std::chrono::seconds(30));
    std::set<std::string> crids;
    int sent = 0;
    for (int64_t id : ids) {
        auto n = rt_->store->nudge(id);
        ASSERT_TRUE(n) << "nudge " << id << " lost";
        EXPECT_EQ(n->state, host::NudgeState::sent) << id << ": " << n->last_code << " " << n->last_message;
        sent += n->state == host::NudgeState::sent;
        EXPECT_TRUE(crids.insert(n->client_request_id).second);
    }
    EXPECT_EQ(eml_count(), sent) << "one .eml per sent nudge: none sent twice";
}

// The stranded policy on its own (outbox/stranded_policy.hpp): why held nudges cannot wait for
// their provider, in words for the user, and when a release may be checked again.
TEST_F(OutboxTest, HeldNudgesAreStrandedWhenTheirProviderIsGoneUnavailableOrSwitchedAway) {
    auto mock = rt_->providers->find("mock");
    ASSERT_TRUE(mock && mock->available());
    const std::string name = mock->display_name().empty() ? std::string("mock") : mock->display_name();

    auto removed = host::stranding_of("gone", nullptr, "mock", mock.get());
    ASSERT_TRUE(removed);
    EXPECT_EQ(removed->code, host::stranded::provider_removed);
    EXPECT_THAT(removed->message, HasSubstr("'gone' was removed from this host"));

    auto entries = rt_->providers->entries();
    auto entry = std::find_if(entries.begin(), entries.end(), [](const auto& e) { return e.id == "mock"; });
    ASSERT_NE(entry, entries.end());
    auto copy = std::make_shared<host::ProviderEntry>(*entry);
    copy->instance.reset();
    auto unloaded = host::loaded_provider_handle(copy);
    auto unavailable = host::stranding_of("mock", unloaded.get(), "mock", unloaded.get());
    ASSERT_TRUE(unavailable);
    EXPECT_EQ(unavailable->code, host::stranded::provider_unavailable);
    EXPECT_THAT(unavailable->message, HasSubstr(name + " is not available on this host"));

    auto switched = host::stranding_of("mock", mock.get(), "other", nullptr);
    ASSERT_TRUE(switched);
    EXPECT_EQ(switched->code, host::stranded::provider_switched);
    EXPECT_THAT(switched->message, HasSubstr("Queued for " + name + ", but your email provider is now other"));
    EXPECT_THAT(host::stranding_of("mock", mock.get(), "", nullptr)->message, HasSubstr("is now none"));

    EXPECT_FALSE(host::stranding_of("mock", mock.get(), "mock", mock.get()))
        << "back and chosen: waits for a reconnect";
}

TEST_F(OutboxTest, AReleaseThatACheckDidNotConfirmIsCheckedAgainOnlyAfterAMinute) {
    host::ReleaseRetries retries;
    EXPECT_TRUE(retries.may_check("rita", "mock", 1000));
    retries.checked("rita", "mock", false, 1000);
    EXPECT_FALSE(retries.may_check("rita", "mock", 1000 + host::ReleaseRetries::kRetryMs - 1));
    EXPECT_TRUE(retries.may_check("sam", "mock", 1000)) << "one user's failed check holds up no one else";
    EXPECT_TRUE(retries.may_check("rita", "mock", 1000 + host::ReleaseRetries::kRetryMs));
    retries.checked("rita", "mock", true, 2000);
    EXPECT_TRUE(retries.may_check("rita", "mock", 2000)) << "confirmed: no wait";
}

// ---- pacing by each mailbox's sending limits (issue 25) -----------------------------------

namespace {

// The mock declares its config's sending limits; retry-afters are an hour, so that a
// throttled nudge waits while the test looks.
class PacingTest : public OutboxTest {
protected:
    void SetUp() override {
        write_config(R"("sending_limits":{"messages_per_minute":3,"messages_per_day":100})");
        start();
    }

    void write_config(const std::string& extra) {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"},{"id":"sam","display_name":"Sam"}],
            "providers":[{"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json",
                          "config":{"outbox_dir":"${config_dir}/eml","retry_after_seconds":3600,)" +
                                    extra + "}}]}");
    }

    std::map<host::NudgeState, int> states(const std::string& user) {
        std::map<host::NudgeState, int> out;
        for (const auto& n : rt_->store->outbox(user, 1000)) ++out[n.state];
        return out;
    }

    // Waits until `user` has `sent` nudges sent and none sending or queued.
    bool wait_sent(const std::string& user, int sent) {
        return test_support::wait_until(
            [&] {
                auto s = states(user);
                return s[host::NudgeState::sent] == sent && s[host::NudgeState::sending] == 0 &&
                       s[host::NudgeState::queued] == 0;
            },
            std::chrono::seconds(8));
    }

    void next_minute() {
        rt_->clock.advance(61000);
        rt_->outbox->wake();
    }

    static json::object daily_limit_refusal(const std::string& subject) {
        json::object m = nudge(subject, "throttled");
        m["headers"].as_array().push_back(json::object{{"name", "x-mock-sending-limit"}, {"value", "daily"}});
        return m;
    }
};

}  // namespace

TEST_F(PacingTest, AMailboxSendsAtItsLimitPerMinuteAndTheRestWaitPacedNoneLost) {
    choose_mock("rita");
    choose_mock("sam");
    for (int i = 0; i < 8; ++i) rt_->outbox->enqueue("rita", nudge("r" + std::to_string(i)));
    ASSERT_TRUE(wait_sent("rita", 3));
    EXPECT_EQ(states("rita")[host::NudgeState::paced], 5);
    EXPECT_EQ(eml_count(), 3) << "a paced nudge is never handed to the provider";
    for (const auto& n : rt_->store->outbox("rita"))
        if (n.state == host::NudgeState::paced) {
            EXPECT_GT(n.not_before_ms, rt_->clock.now_ms());
        }
    // Another user's mailbox has its own window.
    for (int i = 0; i < 3; ++i) rt_->outbox->enqueue("sam", nudge("s" + std::to_string(i)));
    ASSERT_TRUE(wait_sent("sam", 3));
    auto allowance = rt_->outbox->daily_allowance("rita");
    ASSERT_TRUE(allowance);
    EXPECT_EQ(host::describe(*allowance),
              "From mock.sender@example.com: about 97 more today (limit 100 in 24 hours), at most 3 a minute.");

    next_minute();
    ASSERT_TRUE(wait_sent("rita", 6));
    EXPECT_EQ(states("rita")[host::NudgeState::paced], 2);
    next_minute();
    ASSERT_TRUE(wait_sent("rita", 8));
    for (const auto& n : rt_->store->outbox("rita")) EXPECT_EQ(n.attempts, 1) << "nudge " << n.id;
    EXPECT_EQ(eml_count(), 11);
}

TEST_F(PacingTest, ADailyLimitRefusalHoldsEveryWaitingNudgeOfThatMailboxAndFailsNone) {
    choose_mock("rita");
    choose_mock("sam");
    int64_t throttled = rt_->outbox->enqueue("rita", nudge("waiting", "throttled"));
    int64_t other = rt_->outbox->enqueue("sam", nudge("sam's", "throttled"));
    ASSERT_EQ(settle(throttled), host::NudgeState::throttled);
    ASSERT_EQ(settle(other), host::NudgeState::throttled);
    int64_t refused = rt_->outbox->enqueue("rita", daily_limit_refusal("refused"));
    ASSERT_EQ(settle(refused), host::NudgeState::paced);
    auto r = rt_->store->nudge(refused);
    EXPECT_EQ(r->last_code, "daily_limit");
    EXPECT_THAT(r->last_message, HasSubstr("daily sending limit"));
    EXPECT_GE(r->not_before_ms, rt_->clock.now_ms() + 3500 * 1000) << "until the provider's retry-after";
    auto w = rt_->store->nudge(throttled);
    EXPECT_EQ(w->state, host::NudgeState::paced) << "the mailbox's waiting nudges are held too";
    EXPECT_EQ(w->not_before_ms, r->not_before_ms);
    EXPECT_EQ(rt_->store->nudge(other)->state, host::NudgeState::throttled) << "another mailbox is not held";

    // Queued meanwhile: held without being handed over; another mailbox sends on.
    int64_t later = rt_->outbox->enqueue("rita", nudge("later"));
    int64_t sams = rt_->outbox->enqueue("sam", nudge("sam sends"));
    EXPECT_EQ(settle(sams), host::NudgeState::sent);
    EXPECT_EQ(settle(later), host::NudgeState::paced);
    EXPECT_EQ(rt_->store->nudge(later)->attempts, 0);
    EXPECT_EQ(eml_count(), 1);
    EXPECT_EQ(states("rita")[host::NudgeState::failed], 0);

    // When the limit resets, they go out.
    rt_->clock.advance(3601 * 1000);
    rt_->outbox->wake();
    EXPECT_EQ(wait_state(later, [](host::NudgeState s) { return s == host::NudgeState::sent; }),
              host::NudgeState::sent);
}

TEST_F(PacingTest, AMailboxWhoseLimitsCannotBeReadIsSentFromWithoutPacing) {
    rt_.reset();
    write_config(R"("sending_limits":{"messages_per_minute":"thirty"})");
    start();
    choose_mock("rita");
    for (int i = 0; i < 5; ++i) rt_->outbox->enqueue("rita", nudge("r" + std::to_string(i)));
    ASSERT_TRUE(wait_sent("rita", 5)) << "no pacing, and nothing lost";
    EXPECT_FALSE(rt_->outbox->daily_allowance("rita"));
    try {
        host::parse_sending_limits(R"({"schema":"ep.sending_limits/1","messages_per_minute":"thirty"})");
        ADD_FAILURE() << "a malformed document was read";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("messages_per_minute")) << "the field is named";
    }
    EXPECT_THROW(host::parse_sending_limits(R"({"schema":"ep.sending_limits/2"})"), std::runtime_error);
    EXPECT_THROW(host::parse_sending_limits(R"({"schema":"ep.sending_limits/1","day":"calendar"})"),
                 std::runtime_error);
    auto ok = host::parse_sending_limits(R"({"schema":"ep.sending_limits/1","recipients_per_day":10000,"new":1})");
    EXPECT_EQ(ok.recipients_per_day, 10000);
    EXPECT_FALSE(ok.messages_per_minute);
}
