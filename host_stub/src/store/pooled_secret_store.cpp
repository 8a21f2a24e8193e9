#include "store/pooled_secret_store.hpp"

namespace host {

PooledSecretStore::PooledSecretStore(std::vector<std::unique_ptr<SecretStore>> lanes) : lanes_(std::move(lanes)) {
    for (auto& lane : lanes_) free_.push_back(lane.get());
    if (free_.empty()) throw StoreError("store: a pooled secret store needs at least one connection");
}

template <class Op>
auto PooledSecretStore::on_free_lane(Op op) {
    SecretStore* lane;
    {
        std::unique_lock lock(mutex_);
        freed_.wait(lock, [&] { return !free_.empty(); });
        lane = free_.back();
        free_.pop_back();
    }
    struct GiveBack {
        PooledSecretStore& pool;
        SecretStore* lane;
        ~GiveBack() {
            {
                std::lock_guard lock(pool.mutex_);
                pool.free_.push_back(lane);
            }
            pool.freed_.notify_one();
        }
    } give_back{*this, lane};
    return op(*lane);
}

std::optional<SecretStore::Entry> PooledSecretStore::get(std::string_view key) {
    return on_free_lane([&](SecretStore& s) { return s.get(key); });
}

std::optional<uint64_t> PooledSecretStore::put(std::string_view key, std::span<const uint8_t> value,
                                               uint64_t expected_version) {
    return on_free_lane([&](SecretStore& s) { return s.put(key, value, expected_version); });
}

bool PooledSecretStore::erase(std::string_view key, uint64_t expected_version) {
    return on_free_lane([&](SecretStore& s) { return s.erase(key, expected_version); });
}

void PooledSecretStore::erase_prefix(std::string_view prefix) {
    on_free_lane([&](SecretStore& s) { s.erase_prefix(prefix); });
}

std::size_t PooledSecretStore::count_prefix(std::string_view prefix) {
    return on_free_lane([&](SecretStore& s) { return s.count_prefix(prefix); });
}

}  // namespace host
