// The storage engines through the one interface the host uses (storage.hpp): every
// parameterised test runs on SQLite and on a real, throw-away PostgreSQL server
// (support/pg_cluster.hpp). The secret store's compare-and-swap, atomic prefix deletion and
// version rules; the host's tables; the outbox's claims, per-user cap and leases across
// connections (as several host processes hold them); and the schema version a host refuses.
#include "pg_cluster.hpp"
#include "process.hpp"

#include "store/pg_database.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_secret_store.hpp"
#include "store/storage.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <latch>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

class StoreTest : public ::testing::TestWithParam<host::StoreEngine> {
protected:
    StoreTest() {
        settings_.engine = GetParam();
        settings_.sqlite_path = dir_ / "host.db";
        if (GetParam() == host::StoreEngine::postgresql)
            settings_.pg_conninfo = test_support::PgCluster::shared().create_database();
        storage_ = host::open_storage(settings_);
    }

    // Another connection to the same database: what another host process has.
    std::unique_ptr<host::Storage> another() { return host::open_storage(settings_); }

    // Writes the schema version behind the host's back, as a newer host would have; below 7,
    // without the open nudges' due index, as an older host left the database.
    void set_schema_version(int version) {
        if (version < 7) exec("DROP INDEX IF EXISTS outbox_open_due");
        exec("UPDATE schema_version SET version = " + std::to_string(version));
    }

    // The columns schema version 5 added (a nudge's thread), as a version 4 database lacks them.
    void drop_thread_columns() {
        for (const char* column :
             {"message_id", "follows_id", "thread_root_id", "sent_message_id", "provider_thread_id"})
            exec(std::string("ALTER TABLE outbox DROP COLUMN ") + column);
    }

    void exec(const std::string& sql) {
        if (GetParam() == host::StoreEngine::sqlite) {
            host::SqliteDb db(settings_.sqlite_path);
            db.exec(sql);
        } else {
            host::PgConnection c(settings_.pg_conninfo, "");
            c.exec(sql);
        }
    }

    void add_users(host::HostStore& s, int count) {
        for (int u = 0; u < count; ++u) {
            s.upsert_user(host::User{"user" + std::to_string(u), "User " + std::to_string(u)});
            s.save_settings("user" + std::to_string(u), host::CommunicationSettings{"email", "mock"});
        }
    }

    int64_t enqueue(host::HostStore& s, const std::string& user, int n) {
        std::string crid = "crid-" + user + "-" + std::to_string(n);
        return s.enqueue(user, "mock", "",
                         R"({"to":[{"address":"casey@example.org"}],"subject":"nudge )" + std::to_string(n) +
                             R"(","text":"hi","client_request_id":")" + crid + "\"}",
                         crid, 1);
    }

    // Takes the database back to before version 6 (pacing), as an older host left it.
    void drop_pacing_columns() {
        exec("DROP INDEX outbox_mailbox_sends");
        exec("ALTER TABLE outbox DROP COLUMN handed_ms");
        exec("ALTER TABLE outbox DROP COLUMN recipients");
    }

    // A nudge of `user` from `mailbox` to `recipients` addresses.
    int64_t enqueue_from(host::HostStore& s, const std::string& user, const std::string& mailbox, int n,
                         int recipients = 1) {
        json::array to;
        for (int r = 0; r < recipients; ++r)
            to.push_back(json::object{{"address", "c" + std::to_string(r) + "@example.org"}});
        std::string crid = "crid-" + user + "-" + mailbox + "-" + std::to_string(n);
        json::object m{{"to", to}, {"subject", "s"}, {"text", "t"}, {"client_request_id", crid}};
        return s.enqueue(user, "mock", mailbox, json::serialize(m), crid, 1);
    }

    static void record_all(host::HostStore& s, const std::vector<host::Nudge>& claimed, const host::OutboxLease& lease,
                           int64_t now, host::NudgeState state = host::NudgeState::sent) {
        std::vector<host::HostStore::Outcome> done;
        for (const auto& n : claimed)
            done.push_back(host::HostStore::Outcome{n.id, state, host::to_string(state), "", "", "", 0, "", ""});
        s.record_outcomes(done, lease, now);
    }

    std::map<host::NudgeState, int> states_of(const std::string& user) {
        std::map<host::NudgeState, int> out;
        for (const auto& n : host_store().outbox(user, 1000)) ++out[n.state];
        return out;
    }

    TempDir dir_;
    host::StoreSettings settings_;
    std::unique_ptr<host::Storage> storage_;
    host::SecretStore& store() { return storage_->secrets(); }
    host::HostStore& host_store() { return storage_->host(); }
};

std::string engine_name(const ::testing::TestParamInfo<host::StoreEngine>& info) {
    return info.param == host::StoreEngine::sqlite ? "sqlite" : "postgresql";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Store, StoreTest, ::testing::Values(host::StoreEngine::sqlite, host::StoreEngine::postgresql),
                         engine_name);

TEST_P(StoreTest, CompareAndSwapFollowsTheVersion) {
    EXPECT_FALSE(store().get("k").has_value());
    auto v1 = store().put("k", bytes("one"), 0);
    ASSERT_TRUE(v1);
    EXPECT_FALSE(store().put("k", bytes("again"), 0)) << "expected_version 0 means: must not exist";
    auto v2 = store().put("k", bytes("two"), *v1);
    ASSERT_TRUE(v2);
    EXPECT_GT(*v2, *v1);
    EXPECT_FALSE(store().put("k", bytes("stale"), *v1)) << "a stale version must conflict";
    auto e = store().get("k");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, bytes("two"));
    EXPECT_EQ(e->version, *v2);
}

TEST_P(StoreTest, VersionsAreNeverReusedAfterDeleteAndRecreate) {
    auto v1 = store().put("k", bytes("one"), 0);
    ASSERT_TRUE(store().erase("k", 0));
    auto v2 = store().put("k", bytes("new"), 0);
    ASSERT_TRUE(v1 && v2);
    EXPECT_NE(*v1, *v2);
    EXPECT_FALSE(store().put("k", bytes("x"), *v1)) << "an old version of a deleted key must not match the new key";
}

TEST_P(StoreTest, ConditionalDeleteConflictsOnAChangedVersion) {
    auto v1 = store().put("k", bytes("one"), 0);
    auto v2 = store().put("k", bytes("two"), *v1);
    EXPECT_FALSE(store().erase("k", *v1));
    EXPECT_TRUE(store().get("k").has_value());
    EXPECT_TRUE(store().erase("k", *v2));
    EXPECT_FALSE(store().get("k").has_value());
    EXPECT_TRUE(store().erase("absent", 7)) << "deleting an absent key is not a conflict";
}

TEST_P(StoreTest, PrefixDeleteRemovesExactlyThePrefix) {
    store().put("outlook/account/alice/grant", bytes("a"), 0);
    store().put("outlook/account/alice/pending", bytes("b"), 0);
    store().put("outlook/account/alice2/grant", bytes("c"), 0);
    store().put("outlook/account/bob/grant", bytes("d"), 0);
    store().erase_prefix("outlook/account/alice/");
    EXPECT_EQ(store().count_prefix("outlook/account/alice/"), 0u);
    EXPECT_TRUE(store().get("outlook/account/alice2/grant"));
    EXPECT_TRUE(store().get("outlook/account/bob/grant"));
    EXPECT_THROW(store().erase_prefix(""), host::StoreError);
}

// Issue 16: a prefix is bytes, not a pattern ('%' and '_' are literal), and every key under
// it goes, whatever bytes follow (0xff included).
TEST_P(StoreTest, PrefixDeleteTakesEveryKeyUnderThePrefixAndNoOther) {
    store().put("mock/a%_/x", bytes("1"), 0);
    store().put("mock/a%_/\xff\xff", bytes("2"), 0);
    store().put("mock/ab_/x", bytes("3"), 0);
    store().put("mock/a%_", bytes("4"), 0);
    store().put("mock/a%_0", bytes("5"), 0);
    store().erase_prefix("mock/a%_/");
    EXPECT_FALSE(store().get("mock/a%_/x"));
    EXPECT_FALSE(store().get("mock/a%_/\xff\xff")) << "a key with 0xff bytes after the prefix must go too";
    EXPECT_TRUE(store().get("mock/ab_/x")) << "'%' and '_' are not wildcards";
    EXPECT_TRUE(store().get("mock/a%_"));
    EXPECT_TRUE(store().get("mock/a%_0")) << "'0' follows '/': just past the range";
    store().put("\xff\xff/k", bytes("5"), 0);
    EXPECT_EQ(store().count_prefix("\xff"), 1u) << "a prefix of 0xff bytes has no upper bound";
    store().erase_prefix("\xff");
    EXPECT_FALSE(store().get("\xff\xff/k"));
}

TEST_P(StoreTest, EmptyAndBinaryValuesRoundTrip) {
    std::vector<uint8_t> binary = {0, 255, 10, 13, 0, '\\', 'x'};
    store().put("bin", binary, 0);
    store().put("empty", {}, 0);
    store().put(std::string("key\0with nul", 12), bytes("nul"), 0);
    EXPECT_EQ(store().get("bin")->value, binary);
    ASSERT_TRUE(store().get("empty"));
    EXPECT_TRUE(store().get("empty")->value.empty());
    EXPECT_EQ(store().get(std::string("key\0with nul", 12))->value, bytes("nul"));
    EXPECT_FALSE(store().get("key")) << "a key is every byte of it, NUL included";
}

// Two connections stand for two host processes: their compare-and-swaps on one key never
// lose an update.
TEST_P(StoreTest, ConcurrentIncrementsFromTwoConnectionsLoseNoUpdate) {
    auto other = another();
    store().put("counter", bytes("0"), 0);
    constexpr int kThreads = 4, kIncrements = 40;
    std::vector<std::thread> threads;
    std::atomic<int> conflicts{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            host::SecretStore& s = t % 2 ? other->secrets() : store();
            for (int i = 0; i < kIncrements; ++i) {
                while (true) {
                    auto e = s.get("counter");
                    int n = std::stoi(std::string(e->value.begin(), e->value.end()));
                    if (s.put("counter", bytes(std::to_string(n + 1)), e->version)) break;
                    ++conflicts;
                }
            }
        });
    for (auto& t : threads) t.join();
    auto e = store().get("counter");
    EXPECT_EQ(std::string(e->value.begin(), e->value.end()), std::to_string(kThreads * kIncrements));
}

TEST_P(StoreTest, TwoConnectionsSeeEachOthersVersionsAndDeletions) {
    auto other = another();
    auto v1 = store().put("shared", bytes("from A"), 0);
    auto seen = other->secrets().get("shared");
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->version, *v1);
    EXPECT_TRUE(other->secrets().put("shared", bytes("from B"), *v1));
    EXPECT_FALSE(store().put("shared", bytes("late A"), *v1)) << "the other process won the race";
    other->secrets().erase_prefix("sha");
    EXPECT_FALSE(store().get("shared")) << "deleted for every connection";
}

TEST_P(StoreTest, ANewerSchemaIsRefusedWithAClearMessage) {
    store().put("kept", bytes("v"), 0);
    storage_.reset();
    ASSERT_NO_THROW(storage_ = another()) << "reopening a current schema is fine";
    storage_.reset();
    set_schema_version(99);
    try {
        another();
        FAIL() << "a schema newer than the host knows must be refused";
    } catch (const host::StoreError& e) {
        EXPECT_THAT(e.what(), HasSubstr("schema is version 99, newer than this host knows (7)"));
    }
    set_schema_version(7);
    storage_ = another();
    EXPECT_TRUE(store().get("kept")) << "nothing was touched by the refusal";
}

TEST_P(StoreTest, UsersSettingsAndOutboxRoundTripAndDeleteCascades) {
    add_users(host_store(), 2);
    EXPECT_TRUE(host_store().user("user1"));
    host_store().upsert_user(host::User{"undecided", "Has chosen no provider"});
    using Choice = std::pair<std::string, std::string>;
    auto chosen = host_store().email_providers();
    std::sort(chosen.begin(), chosen.end());
    EXPECT_EQ(chosen, (std::vector<Choice>{{"user0", "mock"}, {"user1", "mock"}})) << "the keep-alive sweep's listing";
    EXPECT_EQ(host_store().settings("user0").email_provider, "mock");
    EXPECT_EQ(host_store().settings("nobody").email_provider, "");
    int64_t id = enqueue(host_store(), "user0", 1);
    auto n = host_store().nudge(id);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->state, host::NudgeState::queued);
    EXPECT_EQ(n->to, "casey@example.org");
    EXPECT_EQ(n->subject, "nudge 1");
    EXPECT_EQ(host_store().earliest_not_before(), 0) << "due at once (not_before 0)";
    host_store().delete_user("user0");
    EXPECT_FALSE(host_store().user("user0"));
    EXPECT_FALSE(host_store().nudge(id)) << "the user's outbox goes with the user";
    EXPECT_TRUE(host_store().user("user1"));
    EXPECT_FALSE(host_store().earliest_not_before()) << "nothing waits";
}

// The metrics' outbox depth and /readyz's trivial query, on both engines.
TEST_P(StoreTest, NudgesAreCountedByTheStatesAskedForAndTheDatabaseAnswersAPing) {
    add_users(host_store(), 1);
    for (int i = 1; i <= 3; ++i) enqueue(host_store(), "user0", i);
    host::OutboxLease lease{"this-host", 60000};
    ASSERT_EQ(host_store().claim_due(1000, 1, lease).size(), 1u);
    const std::array asked{host::NudgeState::queued, host::NudgeState::sending, host::NudgeState::held};
    auto counts = host_store().count_by_state(asked);
    EXPECT_EQ(counts,
              (std::map<host::NudgeState, int64_t>{{host::NudgeState::queued, 2}, {host::NudgeState::sending, 1}}))
        << "a state with none is absent";
    EXPECT_EQ(host_store().count_by_state(std::array{host::NudgeState::sent}).size(), 0u);
    EXPECT_NO_THROW(host_store().ping());
}

// Connection checks: a claim holds for its window against every host, the last check is kept
// (never moved back by a late answer) and goes with the user.
TEST_P(StoreTest, AConnectionCheckIsClaimedByOneHostPerWindowAndRemembered) {
    add_users(host_store(), 1);
    auto other = another();
    EXPECT_EQ(host_store().last_checked("user0", "mock"), 0) << "never checked";
    EXPECT_TRUE(host_store().claim_check("user0", "mock", 1000, 500));
    EXPECT_FALSE(other->host().claim_check("user0", "mock", 1001, 501)) << "claimed at 1000, inside the window";
    EXPECT_TRUE(other->host().claim_check("user0", "other", 1001, 501)) << "each provider has its own record";
    EXPECT_TRUE(other->host().claim_check("user0", "mock", 2000, 1500)) << "the window passed";
    other->host().record_check("user0", "mock", 2100);
    host_store().record_check("user0", "mock", 2050);  // a slower host answers later
    EXPECT_EQ(host_store().last_checked("user0", "mock"), 2100);
    host_store().delete_user("user0");
    EXPECT_EQ(other->host().last_checked("user0", "mock"), 0) << "the record goes with the user";
}

// Three connections (three hosts) claim at once: each nudge is claimed by one of them only,
// and no user ever has more than 4 sending.
// Holds one nudge of user0 via mock, queued from `mailbox`: claimed and answered auth_expired.
int64_t held_nudge(host::HostStore& s, const std::string& mailbox, int n) {
    std::string crid = "crid-held-" + std::to_string(n);
    int64_t id = s.enqueue("user0", "mock", mailbox,
                           R"({"to":[{"address":"casey@example.org"}],"subject":"s","text":"t"})", crid, 1);
    host::OutboxLease lease{"host-a", 60000};
    auto claimed = s.claim_due(10, 10, lease);
    host::HostStore::Outcome o;
    o.id = id;
    o.state = host::NudgeState::held;
    o.outcome = "auth_expired";
    o.code = "token_expired";
    EXPECT_EQ(s.record_outcomes({o}, lease, 11), 1);
    return id;
}

TEST_P(StoreTest, AHeldNudgeGoesOutOnlyFromTheMailboxItWasQueuedFrom) {
    add_users(host_store(), 1);
    auto& s = host_store();
    int64_t same = held_nudge(s, "rita@example.org", 1);
    int64_t other = held_nudge(s, "old@example.org", 2);
    int64_t unknown = held_nudge(s, "", 3);
    int64_t switched = held_nudge(s, "rita@example.org", 4);
    ASSERT_EQ(s.strand_held("user0", "mock", std::string(host::stranded::provider_switched), "switched", 15), 4);
    ASSERT_EQ(s.unstrand_held("user0", "mock", 16), 4);  // the user chose it again
    ASSERT_EQ(s.strand_held("user0", "mock", std::string(host::stranded::provider_switched), "switched", 17), 4);
    EXPECT_EQ(s.count_releasable("user0", "mock", "rita@example.org"), 0) << "stranded: the user decides";
    auto none = s.release_held("user0", "mock", "rita@example.org", 18);
    EXPECT_EQ(none.released, 0);
    EXPECT_EQ(none.needs_confirm, 0) << "a stranded nudge keeps its reason";
    ASSERT_EQ(s.unstrand_held("user0", "mock", 19), 4);
    ASSERT_TRUE(s.fail(switched, "user0", "discarded", "Discarded", 19));
    EXPECT_EQ(s.nudge(same)->mailbox, "rita@example.org");

    EXPECT_EQ(s.count_releasable("user0", "mock", "rita@example.org"), 2);
    auto r = s.release_held("user0", "mock", "rita@example.org", 20);
    EXPECT_EQ(r.released, 2) << "the same mailbox, and the nudge queued when none was known";
    EXPECT_EQ(r.needs_confirm, 1);
    EXPECT_EQ(s.nudge(same)->state, host::NudgeState::queued);
    EXPECT_EQ(s.nudge(unknown)->state, host::NudgeState::queued);
    EXPECT_EQ(s.nudge(unknown)->mailbox, "rita@example.org") << "it leaves from the mailbox connected now";
    auto kept = s.nudge(other);
    EXPECT_EQ(kept->state, host::NudgeState::held);
    EXPECT_EQ(kept->last_code, host::stranded::mailbox_changed);
    EXPECT_THAT(kept->last_message, AllOf(HasSubstr("old@example.org"), HasSubstr("now rita@example.org")));
    EXPECT_TRUE(host::is_stranded(*kept));
    EXPECT_EQ(s.release_held("user0", "mock", "rita@example.org", 30).needs_confirm, 0) << "said once, not every sweep";

    EXPECT_FALSE(s.requeue(other, "user1", "mock", "rita@example.org", 40)) << "not that user's nudge";
    EXPECT_FALSE(s.requeue(same, "user0", "mock", "rita@example.org", 40)) << "not held";
    ASSERT_TRUE(s.requeue(other, "user0", "mock", "rita@example.org", 40)) << "the user confirmed";
    EXPECT_EQ(s.nudge(other)->state, host::NudgeState::queued);
    EXPECT_EQ(s.nudge(other)->mailbox, "rita@example.org");
}

TEST_P(StoreTest, StrandedNudgesAreRequeuedWithAnotherProviderOrFailed) {
    add_users(host_store(), 1);
    auto& s = host_store();
    int64_t a = held_nudge(s, "rita@example.org", 1);
    int64_t b = held_nudge(s, "rita@example.org", 2);
    EXPECT_EQ(s.held_providers("user0"), std::vector<std::string>{"mock"});
    EXPECT_EQ(s.strand_held("user0", "mock", "provider_removed", "gone", 20), 2);
    EXPECT_EQ(s.strand_held("user0", "mock", "provider_removed", "gone", 21), 0) << "unchanged rows are not rewritten";
    EXPECT_EQ(s.strand_held("user0", "other", "provider_removed", "gone", 21), 0) << "only that provider's";
    EXPECT_TRUE(host::is_stranded(*s.nudge(a)));

    ASSERT_TRUE(s.requeue(a, "user0", "other", "rita@other.example", 30));
    auto moved = s.nudge(a);
    EXPECT_EQ(moved->provider, "other");
    EXPECT_EQ(moved->state, host::NudgeState::queued);

    EXPECT_FALSE(s.fail(b, "user1", "discarded", "Discarded.", 40)) << "not that user's nudge";
    ASSERT_TRUE(s.fail(b, "user0", "discarded", "Discarded.", 40));
    EXPECT_EQ(s.nudge(b)->state, host::NudgeState::failed);
    EXPECT_EQ(s.nudge(b)->last_code, "discarded");
    EXPECT_FALSE(s.fail(b, "user0", "discarded", "Discarded.", 41)) << "already failed";
    EXPECT_TRUE(s.held_providers("user0").empty());

    // Claimed (with a provider) nudges cannot be failed behind the provider's back.
    host::OutboxLease lease{"host-a", 60000};
    ASSERT_EQ(s.claim_due(50, 10, lease).size(), 1u);
    EXPECT_FALSE(s.fail(a, "user0", "discarded", "Discarded.", 51));
}

TEST_P(StoreTest, ANudgeStrandedForItsProvidersAbsenceWaitsAsUsualOnceItIsBack) {
    add_users(host_store(), 1);
    auto& s = host_store();
    int64_t gone = held_nudge(s, "rita@example.org", 1);
    ASSERT_EQ(s.strand_held("user0", "mock", "provider_removed", "gone", 20), 1);
    EXPECT_EQ(s.unstrand_held("user0", "mock", 21), 1);
    auto back = s.nudge(gone);
    EXPECT_EQ(back->state, host::NudgeState::held);
    EXPECT_EQ(back->last_code, host::stranded::provider_back);
    EXPECT_FALSE(host::is_stranded(*back));
    EXPECT_EQ(s.unstrand_held("user0", "mock", 22), 0);

    int64_t other_mailbox = held_nudge(s, "old@example.org", 2);
    ASSERT_EQ(s.release_held("user0", "mock", "rita@example.org", 23).needs_confirm, 1);
    EXPECT_EQ(s.unstrand_held("user0", "mock", 24), 0);
    EXPECT_TRUE(host::is_stranded(*s.nudge(other_mailbox))) << "a mailbox change still needs the user's confirmation";
}

TEST_P(StoreTest, AVersion3DatabaseGainsTheMailboxColumn) {
    add_users(host_store(), 1);
    int64_t id = enqueue(host_store(), "user0", 1);
    storage_.reset();
    drop_pacing_columns();
    drop_thread_columns();
    exec("ALTER TABLE outbox DROP COLUMN mailbox");
    set_schema_version(3);
    storage_ = another();
    EXPECT_EQ(host_store().nudge(id)->mailbox, "") << "older nudges have no mailbox recorded";
    int64_t next = host_store().enqueue("user0", "mock", "rita@example.org", R"({"subject":"s"})", "crid-next", 2);
    EXPECT_EQ(host_store().nudge(next)->mailbox, "rita@example.org");
}

TEST_P(StoreTest, AVersion4DatabaseGainsTheThreadColumns) {
    add_users(host_store(), 1);
    int64_t id = enqueue(host_store(), "user0", 1);
    storage_.reset();
    drop_pacing_columns();
    drop_thread_columns();
    set_schema_version(4);
    storage_ = another();
    EXPECT_EQ(host_store().nudge(id)->thread.message_id, "") << "older nudges start no thread";
    int64_t next = host_store().enqueue("user0", "mock", "", R"({"subject":"s"})", "crid-next", 2,
                                        host::NudgeThread{"<b@x.org>", id, id, "", ""});
    auto n = host_store().nudge(next);
    EXPECT_EQ(n->thread.message_id, "<b@x.org>");
    EXPECT_EQ(n->thread.follows_id, id);
    EXPECT_EQ(n->thread.root_id, id);
}

TEST_P(StoreTest, ConcurrentClaimsTakeEachNudgeOnceAndHoldThePerUserCap) {
    constexpr int kUsers = 10, kPerUser = 12, kHosts = 3;
    add_users(host_store(), kUsers);
    for (int u = 0; u < kUsers; ++u)
        for (int i = 0; i < kPerUser; ++i) enqueue(host_store(), "user" + std::to_string(u), i);
    std::vector<std::unique_ptr<host::Storage>> hosts;
    for (int h = 0; h < kHosts; ++h) hosts.push_back(another());

    std::mutex m;
    std::map<int64_t, int> claims;
    std::atomic<int> worst_cap{0};
    auto sending_per_user = [&](host::HostStore& s) {
        int worst = 0;
        for (int u = 0; u < kUsers; ++u) {
            int sending = 0;
            for (const auto& n : s.outbox("user" + std::to_string(u), 100))
                sending += n.state == host::NudgeState::sending;
            worst = std::max(worst, sending);
        }
        return worst;
    };
    std::vector<std::thread> threads;
    for (int h = 0; h < kHosts; ++h)
        threads.emplace_back([&, h] {
            host::HostStore& s = hosts[h]->host();
            host::OutboxLease lease{"host" + std::to_string(h), 60000};
            for (int round = 0; round < 200; ++round) {
                auto due = s.claim_due(10, 7, lease);
                int cap = sending_per_user(s);
                int seen = worst_cap.load();
                while (cap > seen && !worst_cap.compare_exchange_weak(seen, cap)) {}
                std::vector<host::HostStore::Outcome> done;
                for (const auto& n : due) {
                    std::lock_guard lock(m);
                    ++claims[n.id];
                    done.push_back(
                        host::HostStore::Outcome{n.id, host::NudgeState::sent, "sent", "", "", "", 0, "", ""});
                }
                EXPECT_EQ(s.record_outcomes(done, lease, 20), static_cast<int>(done.size()));
                std::lock_guard lock(m);
                if (claims.size() == static_cast<std::size_t>(kUsers * kPerUser)) return;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(claims.size(), static_cast<std::size_t>(kUsers * kPerUser)) << "every nudge was claimed";
    for (const auto& [id, count] : claims) EXPECT_EQ(count, 1) << "nudge " << id << " claimed " << count << " times";
    EXPECT_LE(worst_cap.load(), 4) << "a user had more than 4 sending";
    EXPECT_GE(worst_cap.load(), 1);
}

// Six hosts claim for one user at the same instant, round after round: together they never
// hold more than 4 of that user's nudges (each sees the others' claims, or skips the user).
TEST_P(StoreTest, SimultaneousClaimsFromSixHostsNeverExceedTheCap) {
    constexpr int kHosts = 6, kRounds = 5;
    add_users(host_store(), 1);
    for (int i = 0; i < 4 * kRounds; ++i) enqueue(host_store(), "user0", i);
    std::vector<std::unique_ptr<host::Storage>> hosts;
    for (int h = 0; h < kHosts; ++h) hosts.push_back(another());
    for (int round = 0; round < kRounds; ++round) {
        std::latch start(kHosts);
        std::vector<std::vector<host::Nudge>> claimed(kHosts);
        std::vector<std::thread> threads;
        for (int h = 0; h < kHosts; ++h)
            threads.emplace_back([&, h] {
                start.arrive_and_wait();
                claimed[h] = hosts[h]->host().claim_due(10, 10, host::OutboxLease{"host" + std::to_string(h), 60000});
            });
        for (auto& t : threads) t.join();
        std::size_t total = 0;
        for (int h = 0; h < kHosts; ++h) {
            total += claimed[h].size();
            std::vector<host::HostStore::Outcome> done;
            for (const auto& n : claimed[h])
                done.push_back(host::HostStore::Outcome{n.id, host::NudgeState::sent, "sent", "", "", "", 0, "", ""});
            hosts[h]->host().record_outcomes(done, host::OutboxLease{"host" + std::to_string(h), 60000}, 20);
        }
        EXPECT_EQ(total, 4u) << "round " << round << ": the user's cap is 4 across every host";
    }
}

TEST_P(StoreTest, TheCapCountsWhatOtherHostsAreSending) {
    add_users(host_store(), 1);
    for (int i = 0; i < 10; ++i) enqueue(host_store(), "user0", i);
    auto other = another();
    EXPECT_EQ(host_store().claim_due(10, 100, host::OutboxLease{"a", 60000}).size(), 4u);
    EXPECT_TRUE(other->host().claim_due(10, 100, host::OutboxLease{"b", 60000}).empty())
        << "user0 already has 4 sending on host a";
}

TEST_P(StoreTest, AnExpiredLeaseTurnsSendingIntoNeedsReviewAndARenewedOneDoesNot) {
    add_users(host_store(), 2);
    int64_t dead = enqueue(host_store(), "user0", 1);
    int64_t alive = enqueue(host_store(), "user1", 1);
    host::OutboxLease dead_host{"dead", 300}, live_host{"live", 300};
    ASSERT_EQ(host_store().claim_due(10, 1, dead_host).size(), 1u);
    ASSERT_EQ(another()->host().claim_due(10, 1, live_host).size(), 1u);
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        host_store().renew_leases({alive}, live_host);
        host_store().renew_leases({dead}, host::OutboxLease{"an impostor", 300});  // not its lease: no effect
    }
    EXPECT_EQ(host_store().expire_leases(30), 1);
    auto n = host_store().nudge(dead);
    EXPECT_EQ(n->state, host::NudgeState::needs_review);
    EXPECT_EQ(n->last_code, "lease_expired");
    EXPECT_EQ(host_store().nudge(alive)->state, host::NudgeState::sending) << "its host renewed the lease";
    EXPECT_TRUE(host_store().claim_due(40, 10, live_host).empty()) << "needs review is never claimed again";
}

TEST_P(StoreTest, OnlyTheLeaseOwnersCompletionLands) {
    add_users(host_store(), 1);
    int64_t id = enqueue(host_store(), "user0", 1);
    host::OutboxLease owner{"owner", 1};
    ASSERT_EQ(host_store().claim_due(10, 1, owner).size(), 1u);
    // Text that an array literal must quote: a batch of outcomes is one statement on PostgreSQL.
    std::string awkward = "a \"quoted\", back\\slash {braces} NULL\nnew line é";
    host::HostStore::Outcome sent{id, host::NudgeState::sent, "sent", "code,1", awkward, "req\"id",
                                  0,  "<a,\"b\"@x.org>",      awkward};
    EXPECT_EQ(host_store().record_outcomes({sent}, host::OutboxLease{"someone else", 1}, 20), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(host_store().expire_leases(20), 1);
    // The owner was slow, not dead: its answer says what really happened, and lands.
    EXPECT_EQ(host_store().record_outcomes({sent}, owner, 30), 1);
    auto n = host_store().nudge(id);
    EXPECT_EQ(n->state, host::NudgeState::sent);
    EXPECT_EQ(n->last_message, awkward);
    EXPECT_EQ(n->last_code, "code,1");
    EXPECT_EQ(n->request_id, "req\"id");
    EXPECT_EQ(n->thread.sent_message_id, "<a,\"b\"@x.org>");
    EXPECT_EQ(n->thread.provider_thread_id, awkward);
    EXPECT_EQ(host_store().record_outcomes({sent}, owner, 40), 0) << "a duplicate completion changes nothing";
}

// ---- SQLite only: the file itself ----------------------------------------------------

// ---- Pacing (issue 25): each mailbox's sending limits, counted inside the claim ----------

namespace {
host::DueSenders limits_for(const std::string& user, std::optional<int64_t> per_minute,
                            std::optional<int64_t> recipients_per_day = std::nullopt) {
    return {{{"mock", user}}, {{{"mock", user}, host::SendingLimits{per_minute, std::nullopt, recipients_per_day}}}};
}
constexpr int64_t kT0 = 1'800'000'000'000;
}  // namespace

TEST_P(StoreTest, AClaimOverTheMinuteLimitPacesTheRestUntilTheSlotComes) {
    add_users(host_store(), 1);
    for (int i = 0; i < 5; ++i) enqueue_from(host_store(), "user0", "rita@example.org", i);
    auto limits = limits_for("user0", 2);
    host::OutboxLease lease{"a", 60000};
    auto first = host_store().claim_due(kT0, 10, lease, 4, &limits);
    ASSERT_EQ(first.size(), 2u) << "two a minute";
    auto s = states_of("user0");
    EXPECT_EQ(s[host::NudgeState::sending], 2);
    EXPECT_EQ(s[host::NudgeState::paced], 3) << "the rest wait, none failed";
    int64_t slot = 0;
    for (const auto& n : host_store().outbox("user0"))
        if (n.state == host::NudgeState::paced) {
            EXPECT_EQ(n.last_code, "messages_per_minute");
            EXPECT_EQ(n.attempts, 0) << "a paced nudge was not handed over";
            slot = n.not_before_ms;
        }
    EXPECT_EQ(slot, kT0 + 60000 + 1000) << "when the first send leaves the window (plus the margin)";
    record_all(host_store(), first, lease, kT0 + 10);
    EXPECT_TRUE(host_store().claim_due(kT0 + 30000, 10, lease, 4, &limits).empty()) << "not due yet";
    EXPECT_EQ(host_store().earliest_not_before(), slot) << "the worker wakes for the slot";
    auto second = host_store().claim_due(slot, 10, lease, 4, &limits);
    EXPECT_EQ(second.size(), 2u);
    // A send the provider refused (throttled) does not count: its slot is free again.
    record_all(host_store(), second, lease, slot + 10, host::NudgeState::throttled);
    EXPECT_EQ(host_store().claim_due(slot + 20, 10, lease, 4, &limits).size(), 2u)
        << "the fifth and one refused (both refused are due again; the limit is two)";
}

TEST_P(StoreTest, OtherMailboxesAndProvidersWithoutLimitsAreNotPaced) {
    add_users(host_store(), 2);
    for (int i = 0; i < 3; ++i) {
        enqueue_from(host_store(), "user0", "rita@example.org", i);
        enqueue_from(host_store(), "user1", "sam@example.org", i);
    }
    host::DueSenders limits = limits_for("user0", 1);
    limits.in_due_order.emplace_back("mock", "user1");
    limits.limits[{"mock", "user1"}] = std::nullopt;  // declares none
    auto claimed = host_store().claim_due(kT0, 10, host::OutboxLease{"a", 60000}, 4, &limits);
    EXPECT_EQ(claimed.size(), 4u) << "one of user0's, all three of user1's";
    EXPECT_EQ(states_of("user1")[host::NudgeState::paced], 0);
    EXPECT_EQ(states_of("user0")[host::NudgeState::paced], 2);
}

TEST_P(StoreTest, ANudgeWhoseLimitsAreNotKnownYetWaitsForTheNextClaim) {
    add_users(host_store(), 1);
    int64_t id = enqueue_from(host_store(), "user0", "rita@example.org", 1);
    host::DueSenders none;
    EXPECT_TRUE(host_store().claim_due(kT0, 10, host::OutboxLease{"a", 60000}, 4, &none).empty());
    auto n = host_store().nudge(id);
    EXPECT_EQ(n->state, host::NudgeState::queued);
    EXPECT_EQ(n->attempts, 0);
}

TEST_P(StoreTest, RecipientsPerDayCountEveryAddress) {
    add_users(host_store(), 1);
    enqueue_from(host_store(), "user0", "rita@example.org", 1, 3);
    enqueue_from(host_store(), "user0", "rita@example.org", 2, 3);
    auto limits = limits_for("user0", std::nullopt, 5);
    host::OutboxLease lease{"a", 60000};
    EXPECT_EQ(host_store().claim_due(kT0, 10, lease, 4, &limits).size(), 1u) << "3 + 3 recipients > 5";
    auto today = host_store().sent_today("user0", "mock", "rita@example.org", kT0);
    EXPECT_EQ(today.messages, 1);
    EXPECT_EQ(today.recipients, 3);
    for (const auto& n : host_store().outbox("user0"))
        if (n.state == host::NudgeState::paced) {
            EXPECT_EQ(n.last_code, "recipients_per_day");
            EXPECT_EQ(n.not_before_ms, kT0 + 24 * 3600 * 1000 + 1000);
        }
}

// Hosts claim for one mailbox at the same instant, round after round: together they never hand
// over more than its limit (each counts the others' claims, or skips the user another locks).
TEST_P(StoreTest, SimultaneousClaimsFromSixHostsNeverShareTheLastSlot) {
    constexpr int kHosts = 6, kRounds = 4, kLimit = 3;
    add_users(host_store(), 1);
    for (int i = 0; i < 30; ++i) enqueue_from(host_store(), "user0", "rita@example.org", i);
    std::vector<std::unique_ptr<host::Storage>> hosts;
    for (int h = 0; h < kHosts; ++h) hosts.push_back(another());
    auto limits = limits_for("user0", kLimit);
    std::size_t total = 0;
    for (int round = 0; round < kRounds; ++round) {
        std::latch start(kHosts);
        std::vector<std::vector<host::Nudge>> claimed(kHosts);
        std::vector<std::thread> threads;
        for (int h = 0; h < kHosts; ++h)
            threads.emplace_back([&, h] {
                start.arrive_and_wait();
                claimed[h] = hosts[h]->host().claim_due(kT0 + round, 10,
                                                        host::OutboxLease{"h" + std::to_string(h), 60000}, 4, &limits);
            });
        for (auto& t : threads) t.join();
        for (int h = 0; h < kHosts; ++h) {
            total += claimed[h].size();
            record_all(hosts[h]->host(), claimed[h], host::OutboxLease{"h" + std::to_string(h), 60000}, kT0 + round);
        }
    }
    EXPECT_EQ(total, static_cast<std::size_t>(kLimit)) << "three in the minute, across every host and round";
    EXPECT_EQ(states_of("user0")[host::NudgeState::sent], kLimit);
    EXPECT_EQ(states_of("user0")[host::NudgeState::paced], 30 - kLimit);
}

TEST_P(StoreTest, ADailyHoldPacesEveryWaitingNudgeOfThatMailboxOnly) {
    add_users(host_store(), 2);
    int64_t refused = enqueue_from(host_store(), "user0", "rita@example.org", 1);
    int64_t waiting = enqueue_from(host_store(), "user0", "rita@example.org", 2);
    int64_t other_mailbox = enqueue_from(host_store(), "user0", "rita@other.example", 3);
    int64_t other_user = enqueue_from(host_store(), "user1", "rita@example.org", 4);
    host::OutboxLease lease{"a", 60000};
    auto claimed = host_store().claim_due(kT0, 1, lease);
    ASSERT_EQ(claimed.size(), 1u);
    ASSERT_EQ(claimed[0].id, refused);
    host_store().record_outcomes({host::HostStore::Outcome{refused, host::NudgeState::paced, "throttled", "limit",
                                                           "daily", "", kT0 + 3600000, "", ""}},
                                 lease, kT0);
    EXPECT_EQ(host_store().hold_mailbox(refused, kT0 + 3600000, "The mailbox reached its daily limit.", kT0), 2);
    for (int64_t id : {refused, waiting}) {
        auto n = host_store().nudge(id);
        EXPECT_EQ(n->state, host::NudgeState::paced) << id;
        EXPECT_EQ(n->not_before_ms, kT0 + 3600000) << id;
        EXPECT_EQ(n->last_code, "daily_limit") << id;
    }
    EXPECT_EQ(host_store().nudge(other_mailbox)->state, host::NudgeState::queued);
    EXPECT_EQ(host_store().nudge(other_user)->state, host::NudgeState::queued);
    // A nudge queued later waits for the hold too, without being handed over.
    enqueue_from(host_store(), "user0", "rita@example.org", 5);
    host::DueSenders no_limits{{{"mock", "user0"}, {"mock", "user1"}},
                               {{{"mock", "user0"}, std::nullopt}, {{"mock", "user1"}, std::nullopt}}};
    auto next = host_store().claim_due(kT0 + 10, 10, lease, 4, &no_limits);
    EXPECT_EQ(next.size(), 2u) << "the other mailbox's and the other user's";
    EXPECT_EQ(states_of("user0")[host::NudgeState::paced], 3);
    EXPECT_TRUE(host_store().fail(waiting, "user0", "discarded", "Discarded.", kT0)) << "a person may discard it";
}

TEST_P(StoreTest, AVersion4DatabaseGainsThePacedState) {
    add_users(host_store(), 1);
    int64_t id = enqueue_from(host_store(), "user0", "rita@example.org", 1);
    storage_.reset();
    drop_pacing_columns();
    drop_thread_columns();
    if (GetParam() == host::StoreEngine::sqlite) {
        host::SqliteDb db(settings_.sqlite_path);
        db.exec("PRAGMA writable_schema = ON");
        db.exec("UPDATE sqlite_schema SET sql = replace(sql, ',''paced''', '') WHERE name = 'outbox'");
        db.exec("PRAGMA writable_schema = OFF");
    } else {
        exec(
            "ALTER TABLE outbox DROP CONSTRAINT outbox_state_check, ADD CONSTRAINT outbox_state_check CHECK (state IN "
            "('queued','sending','sent','held','throttled','failed','needs_review'))");
    }
    set_schema_version(4);
    storage_ = another();
    EXPECT_EQ(host_store().hold_mailbox(id, kT0, "held", kT0), 1) << "the state paced is allowed now";
    EXPECT_EQ(host_store().nudge(id)->state, host::NudgeState::paced);
}

TEST(SqliteStore, TheDatabaseFilesAreReadableByTheirOwnerOnly) {
    TempDir dir;
    auto db = host::SqliteHostDatabase::open(dir / "host.db");
    host::SqliteSecretStore store(db);
    store.put("k", bytes("v"), 0);
    for (const char* name : {"host.db", "host.db-wal"}) {
        auto perms = std::filesystem::status(dir / name).permissions();
        EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
                  std::filesystem::perms::none)
            << name;
    }
}

TEST(SqliteStore, DeletedBlobBytesAreGoneFromTheFiles) {
    TempDir dir;
    auto db = host::SqliteHostDatabase::open(dir / "host.db");
    host::SqliteSecretStore store(db);
    std::string marker = "MARKER-blob-that-must-disappear-0123456789";
    ASSERT_TRUE(store.put("outlook/account/alice/grant", bytes(marker), 0));
    store.erase_prefix("outlook/account/alice/");
    for (const char* suffix : {"", "-wal"}) {
        std::string content = test_support::read_file(dir.path() / (std::string("host.db") + suffix));
        EXPECT_EQ(content.find(marker), std::string::npos) << "found in host.db" << suffix;
    }
}

// A file from before schema versions (issue 15) is version 1: it gains the lease columns and
// keeps every row.
TEST(SqliteStore, AFileFromBeforeVersioningIsMigratedInPlace) {
    TempDir dir;
    {
        host::SqliteDb old(dir / "host.db");
        old.exec(
            "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, display_name TEXT NOT NULL, created_ms INTEGER NOT "
            "NULL)");
        old.exec(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL REFERENCES users(id) ON "
            "DELETE CASCADE,"
            " provider TEXT NOT NULL, message TEXT NOT NULL, client_request_id TEXT NOT NULL, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, not_before_ms INTEGER NOT NULL DEFAULT 0, last_outcome TEXT NOT "
            "NULL DEFAULT '',"
            " last_code TEXT NOT NULL DEFAULT '', last_message TEXT NOT NULL DEFAULT '', request_id TEXT NOT NULL "
            "DEFAULT '',"
            " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, sent_ms INTEGER NOT NULL DEFAULT 0)");
        old.exec("INSERT INTO users VALUES ('rita', 'Rita', 0)");
        old.exec(
            "INSERT INTO outbox (user_id, provider, message, client_request_id, state, created_ms, updated_ms) "
            "VALUES ('rita', 'mock', '{}', 'c1', 'sending', 0, 0)");
    }
    host::StoreSettings settings;
    settings.sqlite_path = dir / "host.db";
    auto storage = host::open_storage(settings);
    EXPECT_EQ(storage->host().mark_interrupted(5), 1) << "the old row is there, and may have been sent";
    EXPECT_EQ(storage->host().nudge(1)->state, host::NudgeState::needs_review);
    host::SqliteDb check(dir / "host.db");
    host::Statement version(check, "SELECT version FROM schema_version");
    ASSERT_TRUE(version.step());
    EXPECT_EQ(version.column_int(0), 7);
    EXPECT_EQ(storage->host().nudge(1)->mailbox, "") << "no mailbox was recorded for it";
}

// ---- PostgreSQL only: the server -------------------------------------------------------

TEST(PostgresqlStore, AnUnreachableServerIsAClearErrorWithoutTheConnectionString) {
    host::StoreSettings settings;
    settings.engine = host::StoreEngine::postgresql;
    settings.pg_conninfo = "host=/nonexistent-socket-dir dbname=ep user=ep connect_timeout=2";
    settings.pg_password = "Sup3r-secret-password";
    try {
        host::open_storage(settings);
        FAIL() << "connected to nothing";
    } catch (const host::StoreError& e) {
        std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("store postgresql: cannot connect to the server"));
        EXPECT_THAT(what, ::testing::Not(HasSubstr("Sup3r-secret-password")));
    }
}

// The server restarts (a crash, -m immediate): the next statement fails, the one after that
// runs on a new connection, and nothing committed is lost.
TEST(PostgresqlStore, AHostReconnectsAfterTheServerRestarts) {
    test_support::PgCluster cluster;  // its own server: the shared one serves other tests meanwhile
    host::StoreSettings settings;
    settings.engine = host::StoreEngine::postgresql;
    settings.pg_conninfo = cluster.create_database();
    auto storage = host::open_storage(settings);
    auto v = storage->secrets().put("k", bytes("before the crash"), 0);
    ASSERT_TRUE(v);
    cluster.stop(true);
    EXPECT_THROW(storage->secrets().put("k", bytes("while down"), *v), host::StoreError);
    cluster.start();
    auto e = storage->secrets().get("k");  // a read retries once on the new connection
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, bytes("before the crash"));
    EXPECT_TRUE(storage->secrets().put("k", bytes("after"), e->version));
}
