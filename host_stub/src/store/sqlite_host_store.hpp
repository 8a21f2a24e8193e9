// The host's store on its SQLite file (SqliteHostDatabase): one machine. The shared SQL
// (SqlHostStore) with SQLite's adapter and dialect; every write that takes more than one
// statement is a BEGIN IMMEDIATE transaction, so processes sharing the file take turns.
#pragma once

#include "store/sql_host_store.hpp"
#include "store/sqlite_host_database.hpp"

namespace host {

class SqliteHostStore final : public SqlHostStore {
public:
    explicit SqliteHostStore(const SqliteHostDatabase& db);
};

}  // namespace host
