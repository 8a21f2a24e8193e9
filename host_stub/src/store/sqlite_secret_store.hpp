// SecretStore on SQLite: WAL, synchronous=FULL (a put that returned is on disk), and
// secure_delete so a deleted or overwritten blob's bytes are zeroed in the database file.
// The shared SQL (SqlSecretStore) with SQLite's adapter and dialect.
#pragma once

#include "store/sql_secret_store.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_host_database.hpp"

#include <memory>
#include <mutex>

namespace host {

class SqliteSecretStore final : public SqlSecretStore {
public:
    // Shares the host's database connection (and its mutex); SqliteHostDatabase::open made the tables.
    SqliteSecretStore(std::shared_ptr<SqliteDb> db, std::shared_ptr<std::mutex> db_mutex);
    explicit SqliteSecretStore(const SqliteHostDatabase& db) : SqliteSecretStore(db.db, db.mutex) {}
};

}  // namespace host
