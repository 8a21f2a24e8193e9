// A secret store over several lanes, each with its own database connection, one operation per
// lane at a time. A plugin's refresh is a compare-and-swap that waits for its commit to reach
// the disk; on one connection every other secret read and write of the host (other refreshes,
// the settings page's status reads) waited behind each such commit, and the outbox with them.
#pragma once

#include "store/secret_store.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace host {

class PooledSecretStore final : public SecretStore {
public:
    explicit PooledSecretStore(std::vector<std::unique_ptr<SecretStore>> lanes);

    std::optional<Entry> get(std::string_view key) override;
    std::optional<uint64_t> put(std::string_view key, std::span<const uint8_t> value,
                                uint64_t expected_version) override;
    bool erase(std::string_view key, uint64_t expected_version) override;
    void erase_prefix(std::string_view prefix) override;
    std::size_t count_prefix(std::string_view prefix) override;

private:
    // Runs `op` on a free lane, waiting for one when all are busy.
    template <class Op>
    auto on_free_lane(Op op);

    std::vector<std::unique_ptr<SecretStore>> lanes_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<SecretStore*> free_;
};

}  // namespace host
