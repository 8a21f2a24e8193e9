#include "process.hpp"

#include <host_database.hpp>
#include <sqlite_secret_store.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using test_support::TempDir;

namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

struct StoreFixture : ::testing::Test {
    TempDir dir;
    host::HostDatabase db = host::HostDatabase::open(dir / "host.db");
    host::SqliteSecretStore store{db.db, db.mutex};
};

}  // namespace

TEST_F(StoreFixture, CompareAndSwapFollowsTheVersion) {
    EXPECT_FALSE(store.get("k").has_value());
    auto v1 = store.put("k", bytes("one"), 0);
    ASSERT_TRUE(v1);
    EXPECT_FALSE(store.put("k", bytes("again"), 0)) << "expected_version 0 means: must not exist";
    auto v2 = store.put("k", bytes("two"), *v1);
    ASSERT_TRUE(v2);
    EXPECT_GT(*v2, *v1);
    EXPECT_FALSE(store.put("k", bytes("stale"), *v1)) << "a stale version must conflict";
    auto e = store.get("k");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, bytes("two"));
    EXPECT_EQ(e->version, *v2);
}

TEST_F(StoreFixture, VersionsAreNeverReusedAfterDeleteAndRecreate) {
    auto v1 = store.put("k", bytes("one"), 0);
    ASSERT_TRUE(store.erase("k", 0));
    auto v2 = store.put("k", bytes("new"), 0);
    ASSERT_TRUE(v1 && v2);
    EXPECT_NE(*v1, *v2);
    EXPECT_FALSE(store.put("k", bytes("x"), *v1)) << "an old version of a deleted key must not match the new key";
}

TEST_F(StoreFixture, ConditionalDeleteConflictsOnAChangedVersion) {
    auto v1 = store.put("k", bytes("one"), 0);
    auto v2 = store.put("k", bytes("two"), *v1);
    EXPECT_FALSE(store.erase("k", *v1));
    EXPECT_TRUE(store.get("k").has_value());
    EXPECT_TRUE(store.erase("k", *v2));
    EXPECT_FALSE(store.get("k").has_value());
    EXPECT_TRUE(store.erase("absent", 7)) << "deleting an absent key is not a conflict";
}

TEST_F(StoreFixture, PrefixDeleteRemovesExactlyThePrefix) {
    store.put("outlook/account/alice/grant", bytes("a"), 0);
    store.put("outlook/account/alice/pending", bytes("b"), 0);
    store.put("outlook/account/alice2/grant", bytes("c"), 0);
    store.put("outlook/account/bob/grant", bytes("d"), 0);
    store.erase_prefix("outlook/account/alice/");
    EXPECT_EQ(store.count_prefix("outlook/account/alice/"), 0u);
    EXPECT_TRUE(store.get("outlook/account/alice2/grant"));
    EXPECT_TRUE(store.get("outlook/account/bob/grant"));
    EXPECT_THROW(store.erase_prefix(""), host::StoreError);
}

// Issue 16: a prefix is bytes, not a pattern ('%' and '_' are literal), and every key under
// it goes, whatever bytes follow (0xff included: the old upper bound prefix + "\xff" kept it).
TEST_F(StoreFixture, PrefixDeleteTakesEveryKeyUnderThePrefixAndNoOther) {
    store.put("mock/a%_/x", bytes("1"), 0);
    store.put("mock/a%_/\xff\xff", bytes("2"), 0);
    store.put("mock/ab_/x", bytes("3"), 0);
    store.put("mock/a%_", bytes("4"), 0);
    store.erase_prefix("mock/a%_/");
    EXPECT_FALSE(store.get("mock/a%_/x"));
    EXPECT_FALSE(store.get("mock/a%_/\xff\xff")) << "a key with 0xff bytes after the prefix must go too";
    EXPECT_TRUE(store.get("mock/ab_/x")) << "'%' and '_' are not wildcards";
    EXPECT_TRUE(store.get("mock/a%_"));
    store.put("\xff\xff/k", bytes("5"), 0);
    EXPECT_EQ(store.count_prefix("\xff"), 1u) << "a prefix of 0xff bytes has no upper bound";
    store.erase_prefix("\xff");
    EXPECT_FALSE(store.get("\xff\xff/k"));
}

// Issue 16: the file holds every user's tokens and outbox; others may not read it.
TEST_F(StoreFixture, TheDatabaseFilesAreReadableByTheirOwnerOnly) {
    store.put("k", bytes("v"), 0);
    for (const char* name : {"host.db", "host.db-wal"}) {
        auto perms = std::filesystem::status(dir / name).permissions();
        EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
                  std::filesystem::perms::none)
            << name;
    }
}

TEST_F(StoreFixture, EmptyAndBinaryValuesRoundTrip) {
    std::vector<uint8_t> binary = {0, 255, 10, 13, 0};
    store.put("bin", binary, 0);
    store.put("empty", {}, 0);
    EXPECT_EQ(store.get("bin")->value, binary);
    EXPECT_TRUE(store.get("empty")->value.empty());
}

TEST_F(StoreFixture, ConcurrentIncrementsLoseNoUpdate) {
    store.put("counter", bytes("0"), 0);
    constexpr int kThreads = 8, kIncrements = 50;
    std::vector<std::thread> threads;
    std::atomic<int> conflicts{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kIncrements; ++i) {
                while (true) {
                    auto e = store.get("counter");
                    int n = std::stoi(std::string(e->value.begin(), e->value.end()));
                    if (store.put("counter", bytes(std::to_string(n + 1)), e->version)) break;
                    ++conflicts;
                }
            }
        });
    for (auto& t : threads) t.join();
    auto e = store.get("counter");
    EXPECT_EQ(std::string(e->value.begin(), e->value.end()), std::to_string(kThreads * kIncrements));
}

TEST_F(StoreFixture, TwoConnectionsToOneFileSeeEachOthersVersions) {
    auto other_db = host::HostDatabase::open(dir / "host.db");
    host::SqliteSecretStore other(other_db.db, other_db.mutex);
    auto v1 = store.put("shared", bytes("from A"), 0);
    auto seen = other.get("shared");
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->version, *v1);
    EXPECT_TRUE(other.put("shared", bytes("from B"), *v1));
    EXPECT_FALSE(store.put("shared", bytes("late A"), *v1)) << "the other process won the race";
}

TEST_F(StoreFixture, DeletedBlobBytesAreGoneFromTheFiles) {
    std::string marker = "MARKER-blob-that-must-disappear-0123456789";
    auto v = store.put("outlook/account/alice/grant", bytes(marker), 0);
    ASSERT_TRUE(v);
    store.erase_prefix("outlook/account/alice/");
    for (const char* suffix : {"", "-wal"}) {
        std::string content = test_support::read_file(dir.path() / (std::string("host.db") + suffix));
        EXPECT_EQ(content.find(marker), std::string::npos) << "found in host.db" << suffix;
    }
}
