// A small RAII layer over the SQLite C API: one connection, prepared statements, and
// errors that name the statement that failed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace host {

class SqliteDb;

class Statement {
public:
    Statement(SqliteDb& db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, std::span<const uint8_t> blob);
    Statement& bind(int index, int64_t value);
    Statement& bind_null(int index);
    // Steps once: true when a row is available, false when done. Throws StoreError.
    bool step();
    // Runs to completion and resets, ready for reuse.
    void run();
    void reset();

    int64_t column_int(int col) const;
    std::string column_text(int col) const;
    std::span<const uint8_t> column_blob(int col) const;
    bool column_is_null(int col) const;

private:
    SqliteDb& db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

class SqliteDb {
public:
    explicit SqliteDb(const std::filesystem::path& path);
    ~SqliteDb();
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    void exec(std::string_view sql);
    int64_t changes() const { return sqlite3_changes64(db_); }
    sqlite3* handle() const { return db_; }
    const std::filesystem::path& path() const { return path_; }
    [[noreturn]] void fail(std::string_view what) const;

private:
    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed.
class Transaction {
public:
    explicit Transaction(SqliteDb& db);
    ~Transaction();
    void commit();

private:
    SqliteDb& db_;
    bool done_ = false;
};

}  // namespace host
