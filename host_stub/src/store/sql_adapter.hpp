// What the host's SQL code needs from a database engine, in the spirit of SQLite's VFS: one
// small interface (statements with ?1, ?2 ... parameters, rows, transactions), one adapter per
// engine (SqliteAdapter, PgAdapter). The SQL itself is written once, for both engines; where
// the engines really differ, the code names the engine (see sql_host_store.hpp's dialect).
//
// An adapter is not thread-safe: its callers hold the database's one mutex around each use.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace host {

// One statement parameter: text, an integer or bytes (a BLOB in SQLite, bytea in PostgreSQL).
// Holds a view: the value it was made from outlives the statement's run.
class SqlValue {
public:
    enum class Kind { text, integer, bytes };

    SqlValue(std::string_view text) : kind_(Kind::text), data_(text) {}
    SqlValue(const std::string& text) : kind_(Kind::text), data_(text) {}
    SqlValue(const char* text) : kind_(Kind::text), data_(text) {}
    SqlValue(int64_t number) : kind_(Kind::integer), number_(number) {}
    SqlValue(int number) : kind_(Kind::integer), number_(number) {}
    static SqlValue bytes(std::span<const uint8_t> data) {
        return SqlValue(Kind::bytes, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
    static SqlValue bytes(std::string_view data) { return SqlValue(Kind::bytes, data); }

    Kind kind() const { return kind_; }
    std::string_view data() const { return data_; }  // text and bytes
    int64_t number() const { return number_; }

private:
    SqlValue(Kind kind, std::string_view data) : kind_(kind), data_(data) {}

    Kind kind_;
    std::string_view data_;
    int64_t number_ = 0;
};

using SqlParams = std::initializer_list<SqlValue>;

// One row of a result, valid only inside the handler it is given to.
class SqlRow {
public:
    virtual int64_t integer(int col) const = 0;
    virtual std::string text(int col) const = 0;
    virtual std::vector<uint8_t> bytes(int col) const = 0;
    virtual bool is_null(int col) const = 0;

protected:
    ~SqlRow() = default;
};

using SqlRowHandler = std::function<void(const SqlRow&)>;

class SqlAdapter {
public:
    virtual ~SqlAdapter() = default;

    // Runs a statement that may write and returns how many rows it changed; `each` sees the
    // rows it returns (RETURNING). Never run twice: it may have committed before an error.
    // Throws StoreError naming the statement (never its values).
    virtual int64_t exec(std::string_view sql, SqlParams params = {}, const SqlRowHandler& each = {}) = 0;
    // Runs a read-only statement; PostgreSQL runs it once more on a new connection when the
    // server went away (a read is safe to repeat).
    virtual void read(std::string_view sql, SqlParams params, const SqlRowHandler& each) = 0;
    // A read whose first row is all there is to read (a lookup by key, an aggregate): hands
    // `each` that row and stops there. False when there is no row.
    virtual bool read_first(std::string_view sql, SqlParams params, const SqlRowHandler& each) = 0;

    // SQLite: BEGIN IMMEDIATE (one writer at a time, across processes too); PostgreSQL: BEGIN.
    virtual void begin() = 0;
    virtual void commit() = 0;
    // Never throws: a connection that broke took its transaction with it.
    virtual void rollback() noexcept = 0;

    // Names the database in errors: "store <file>" or "store postgresql".
    virtual std::string where() const = 0;
};

// begin ... commit, rolled back if not committed.
class SqlTransaction {
public:
    explicit SqlTransaction(SqlAdapter& db) : db_(db) { db_.begin(); }
    ~SqlTransaction() {
        if (!done_) db_.rollback();
    }
    SqlTransaction(const SqlTransaction&) = delete;
    SqlTransaction& operator=(const SqlTransaction&) = delete;
    void commit() {
        db_.commit();
        done_ = true;
    }

private:
    SqlAdapter& db_;
    bool done_ = false;
};

}  // namespace host
