// The pooled secret store (store/pooled_secret_store.hpp): operations run side by side on
// different lanes, never two at once on one lane, and a lane whose operation failed is given
// back.
#include "store/pooled_secret_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

// A lane that remembers how many callers were inside it at once, and in all lanes together.
class CountingLane final : public host::SecretStore {
public:
    explicit CountingLane(std::atomic<int>& inside_all, std::atomic<int>& most_all)
        : inside_all_(inside_all), most_all_(most_all) {}

    std::optional<Entry> get(std::string_view key) override {
        enter();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        leave();
        if (key == "fail") throw host::StoreError("store: the lane failed");
        return Entry{{1}, 1};
    }
    std::optional<uint64_t> put(std::string_view, std::span<const uint8_t>, uint64_t) override { return 1; }
    bool erase(std::string_view, uint64_t) override { return true; }
    void erase_prefix(std::string_view) override {}
    std::size_t count_prefix(std::string_view) override { return 0; }

    std::atomic<int> most_inside{0};

private:
    void enter() {
        int now = ++inside_;
        int before = most_inside.load();
        while (now > before && !most_inside.compare_exchange_weak(before, now)) {}
        int all = ++inside_all_;
        int seen = most_all_.load();
        while (all > seen && !most_all_.compare_exchange_weak(seen, all)) {}
    }
    void leave() {
        --inside_;
        --inside_all_;
    }

    std::atomic<int> inside_{0};
    std::atomic<int>& inside_all_;
    std::atomic<int>& most_all_;
};

TEST(PooledSecretStoreTest, RunsOnSeveralLanesButNeverTwiceOnOne) {
    std::atomic<int> inside_all{0}, most_all{0};
    std::vector<CountingLane*> lanes;
    std::vector<std::unique_ptr<host::SecretStore>> owned;
    for (int i = 0; i < 3; ++i) {
        auto lane = std::make_unique<CountingLane>(inside_all, most_all);
        lanes.push_back(lane.get());
        owned.push_back(std::move(lane));
    }
    host::PooledSecretStore pool(std::move(owned));
    std::vector<std::thread> callers;
    for (int t = 0; t < 8; ++t)
        callers.emplace_back([&] {
            for (int i = 0; i < 10; ++i) EXPECT_TRUE(pool.get("k"));
        });
    for (auto& c : callers) c.join();
    for (auto* lane : lanes)
        EXPECT_EQ(lane->most_inside.load(), 1) << "one operation at a time on a lane (its connection)";
    EXPECT_EQ(most_all.load(), 3) << "eight callers keep all three lanes busy at once";
}

TEST(PooledSecretStoreTest, ALaneWhoseOperationFailedIsGivenBack) {
    std::atomic<int> inside_all{0}, most_all{0};
    std::vector<std::unique_ptr<host::SecretStore>> owned;
    owned.push_back(std::make_unique<CountingLane>(inside_all, most_all));
    host::PooledSecretStore pool(std::move(owned));
    EXPECT_THROW(pool.get("fail"), host::StoreError);
    EXPECT_TRUE(pool.get("k")) << "the only lane is free again (a lost lane would block here for ever)";
}

TEST(PooledSecretStoreTest, NoLaneIsRefusedWithAClearError) {
    try {
        host::PooledSecretStore pool({});
        FAIL() << "a pool without connections must be refused";
    } catch (const host::StoreError& e) {
        EXPECT_STREQ(e.what(), "store: a pooled secret store needs at least one connection");
    }
}

}  // namespace
