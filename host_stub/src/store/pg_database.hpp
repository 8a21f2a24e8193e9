// The PostgreSQL engine's connection: libpq, one connection per process shared behind one
// mutex (as with SQLite), re-established when the server went away. Statements use
// PQexecParams: text parameters and results, bytea parameters in binary.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace host {

struct PgParam {
    std::string value;
    bool binary = false;

    PgParam(std::string_view text) : value(text) {}
    PgParam(const std::string& text) : value(text) {}
    PgParam(const char* text) : value(text) {}
    PgParam(int64_t number) : value(std::to_string(number)) {}
    static PgParam bytes(std::string_view data) {
        PgParam p(data);
        p.binary = true;
        return p;
    }
    static PgParam bytes(std::span<const uint8_t> data) {
        return bytes(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
};

class PgResult {
public:
    explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
    int rows() const { return PQntuples(r_.get()); }
    int64_t affected() const;  // rows an INSERT/UPDATE/DELETE touched
    std::string text(int row, int col) const;
    int64_t integer(int row, int col) const;
    bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
    std::vector<uint8_t> bytes(int row, int col) const;  // a bytea column (hex text format)

private:
    std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

class PgConnection {
public:
    // Connects at once: an unreachable server is a StoreError naming what failed (the
    // connection string itself never appears: it may carry a password).
    PgConnection(std::string conninfo, std::string password);
    ~PgConnection();
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    // Runs one statement. A statement that fails throws StoreError; a connection that broke
    // is re-established by the next call (a read-only statement, `retry_if_reconnected`, is
    // tried once more on the new connection; a write is not, since it may have committed).
    PgResult exec(std::string_view sql, const std::vector<PgParam>& params = {}, bool retry_if_reconnected = false);
    // Another connection to the same server as the same user.
    std::shared_ptr<PgConnection> another() const { return std::make_shared<PgConnection>(conninfo_, password_); }

private:
    void connect();
    [[noreturn]] void fail(std::string_view what, const PGresult* r = nullptr);

    std::string conninfo_;
    std::string password_;
    PGconn* conn_ = nullptr;
};

// BEGIN ... COMMIT on a PgConnection, rolled back if not committed.
class PgTransaction {
public:
    explicit PgTransaction(PgConnection& c) : c_(c) { c_.exec("BEGIN"); }
    ~PgTransaction();
    void commit() {
        c_.exec("COMMIT");
        done_ = true;
    }

private:
    PgConnection& c_;
    bool done_ = false;
};

struct PgDatabase {
    std::shared_ptr<PgConnection> connection;
    std::shared_ptr<std::mutex> mutex;

    // Connects, brings the schema up to date (one host at a time, under an advisory lock),
    // and refuses (StoreError) a schema newer than this host knows.
    static PgDatabase open(const std::string& conninfo, const std::string& password);
    // A database of its own connection (and lock) on the same server: for work that must not
    // wait behind this one's.
    PgDatabase another() const { return PgDatabase{connection->another(), std::make_shared<std::mutex>()}; }
};

}  // namespace host
