// SecretStore on PostgreSQL: every operation is one statement, so compare-and-swap holds
// across host processes without explicit locks (an UPDATE ... WHERE version = expected that
// lost a race re-checks the row and matches nothing). Versions come from one sequence.
#pragma once

#include "store/pg_database.hpp"
#include "store/secret_store.hpp"

namespace host {

class PgSecretStore final : public SecretStore {
public:
    explicit PgSecretStore(PgDatabase db) : db_(std::move(db)) {}

    std::optional<Entry> get(std::string_view key) override;
    std::optional<uint64_t> put(std::string_view key, std::span<const uint8_t> value, uint64_t expected_version) override;
    bool erase(std::string_view key, uint64_t expected_version) override;
    void erase_prefix(std::string_view prefix) override;
    std::size_t count_prefix(std::string_view prefix) override;

private:
    PgDatabase db_;
};

}  // namespace host
