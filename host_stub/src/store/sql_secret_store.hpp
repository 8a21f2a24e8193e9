// The plugins' secret store (SecretStore) written once in SQL for both engines, over a
// SqlAdapter; what the engines do their own way is a SecretStoreDialect. SqliteSecretStore and
// PgSecretStore are this store with their engine's adapter and dialect.
#pragma once

#include "store/secret_store.hpp"
#include "store/sql_adapter.hpp"

#include <memory>
#include <mutex>

namespace host {

// The engine-specific parts of the secret store. Each runs with the database's mutex held.
class SecretStoreDialect {
public:
    virtual ~SecretStoreDialect() = default;

    // A key as the engine stores it (bytes, compared bytewise).
    virtual SqlValue key(std::string_view k) const = 0;
    // SQL: true when ?2, a key bound as above, is empty.
    virtual std::string_view upper_bound_is_empty() const = 0;
    // Writes under a new store-wide version when the current version is `expected_version`
    // (0: the key must be absent); nullopt on a version conflict.
    virtual std::optional<uint64_t> put(SqlAdapter& db, std::string_view key, std::span<const uint8_t> value,
                                        uint64_t expected_version) const = 0;
    // Deletes the key at `expected_version`: true when deleted or already absent, false when
    // another version is there.
    virtual bool erase_version(SqlAdapter& db, std::string_view key, uint64_t expected_version) const = 0;
    // After a delete: whatever the engine does so that the deleted bytes are gone from its files.
    virtual void scrub_deleted(SqlAdapter& db) const = 0;
};

class SqlSecretStore : public SecretStore {
public:
    // `dialect` outlives the store (the engines' dialects are constants).
    SqlSecretStore(std::unique_ptr<SqlAdapter> db, std::shared_ptr<std::mutex> mutex,
                   const SecretStoreDialect& dialect);

    std::optional<Entry> get(std::string_view key) override;
    std::optional<uint64_t> put(std::string_view key, std::span<const uint8_t> value,
                                uint64_t expected_version) override;
    bool erase(std::string_view key, uint64_t expected_version) override;
    void erase_prefix(std::string_view prefix) override;
    std::size_t count_prefix(std::string_view prefix) override;

private:
    std::unique_ptr<SqlAdapter> db_;
    std::shared_ptr<std::mutex> mutex_;
    const SecretStoreDialect& dialect_;
    // The keys in [?1, ?2), or from ?1 on when ?2 is empty.
    const std::string delete_range_sql_;
    const std::string count_range_sql_;
};

}  // namespace host
