// The host's single SQLite file (the default engine): secrets (for the plugins), users,
// settings and the outbox. One connection per process, shared behind one mutex.
#pragma once

#include "store/sqlite_db.hpp"

#include <filesystem>
#include <memory>
#include <mutex>

namespace host {

struct SqliteHostDatabase {
    std::shared_ptr<SqliteDb> db;
    std::shared_ptr<std::mutex> mutex;

    // Opens (creating if needed) with WAL and synchronous=FULL: a write that returned
    // survives a crash or power loss, which the outbox's "nothing lost" promise needs; brings
    // the schema up to date, and refuses (StoreError) one newer than this host knows.
    static SqliteHostDatabase open(const std::filesystem::path& path);
};

}  // namespace host
