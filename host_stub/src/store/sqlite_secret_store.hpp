// SecretStore on SQLite: WAL, synchronous=FULL (a put that returned is on disk), and
// secure_delete so a deleted or overwritten blob's bytes are zeroed in the database file.
#pragma once

#include "store/sqlite_host_database.hpp"
#include "store/secret_store.hpp"
#include "store/sqlite_db.hpp"

#include <memory>
#include <mutex>

namespace host {

class SqliteSecretStore final : public SecretStore {
public:
    // Shares the host's database connection (and its mutex); SqliteHostDatabase::open made the tables.
    SqliteSecretStore(std::shared_ptr<SqliteDb> db, std::shared_ptr<std::mutex> db_mutex);
    explicit SqliteSecretStore(const SqliteHostDatabase& db) : SqliteSecretStore(db.db, db.mutex) {}

    std::optional<Entry> get(std::string_view key) override;
    std::optional<uint64_t> put(std::string_view key, std::span<const uint8_t> value,
                                uint64_t expected_version) override;
    bool erase(std::string_view key, uint64_t expected_version) override;
    void erase_prefix(std::string_view prefix) override;
    std::size_t count_prefix(std::string_view prefix) override;

private:
    uint64_t next_version();  // inside a write transaction
    void truncate_wal();

    std::shared_ptr<SqliteDb> db_;
    std::shared_ptr<std::mutex> mutex_;
    Statement select_;
    Statement insert_;
    Statement update_;
    Statement delete_any_;
    Statement delete_version_;
    Statement delete_range_;
    Statement count_range_;
    Statement bump_version_;
};

}  // namespace host
