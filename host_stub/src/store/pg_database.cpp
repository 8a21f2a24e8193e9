#include "store/pg_database.hpp"

#include "store/schema.hpp"
#include "store/secret_store.hpp"

#include <poll.h>

#include <charconv>

namespace host {
namespace {

const std::vector<Migration> kPgMigrations = {
    {1,
     {"CREATE TABLE users ("
      " id text PRIMARY KEY,"
      " display_name text NOT NULL,"
      " created_ms bigint NOT NULL)",
      "CREATE TABLE communication_settings ("
      " user_id text PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
      " preferred_channel text NOT NULL,"
      " email_provider text NOT NULL)",
      "CREATE TABLE outbox ("
      " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
      " user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
      " provider text NOT NULL,"
      " message text NOT NULL,"
      " client_request_id text NOT NULL,"
      " state text NOT NULL CHECK (state IN ('queued','sending','sent','held','throttled','failed','needs_review')),"
      " attempts integer NOT NULL DEFAULT 0,"
      " not_before_ms bigint NOT NULL DEFAULT 0,"
      " last_outcome text NOT NULL DEFAULT '',"
      " last_code text NOT NULL DEFAULT '',"
      " last_message text NOT NULL DEFAULT '',"
      " request_id text NOT NULL DEFAULT '',"
      " created_ms bigint NOT NULL,"
      " updated_ms bigint NOT NULL,"
      " sent_ms bigint NOT NULL DEFAULT 0)",
      "CREATE INDEX outbox_due ON outbox (state, not_before_ms)", "CREATE INDEX outbox_user ON outbox (user_id, id)",
      "CREATE INDEX outbox_user_state ON outbox (user_id, state)",
      // Keys are bytea: compared bytewise, so a prefix is a range, never a LIKE pattern.
      "CREATE TABLE secrets (key bytea PRIMARY KEY, value bytea NOT NULL, version bigint NOT NULL)",
      // One store-wide sequence: a re-created key never reuses an old version (no ABA).
      "CREATE SEQUENCE secret_versions"}},
    {2,
     {"ALTER TABLE outbox ADD COLUMN lease_owner text NOT NULL DEFAULT '', "
      "ADD COLUMN lease_expires_ms bigint NOT NULL DEFAULT 0",
      "CREATE INDEX outbox_sending_lease ON outbox (lease_expires_ms) WHERE state = 'sending'"}},
    {3,
     // Keyed by the provider's account, which the CLI may check without a host user behind
     // it: no foreign key, delete_user removes the rows.
     {"CREATE TABLE connection_checks ("
      " user_id text NOT NULL,"
      " provider text NOT NULL,"
      " claimed_ms bigint NOT NULL,"
      " checked_ms bigint NOT NULL DEFAULT 0,"
      " PRIMARY KEY (user_id, provider))"}},
    // The mailbox a nudge was queued from (empty for older nudges: none was recorded).
    {4, {"ALTER TABLE outbox ADD COLUMN mailbox text NOT NULL DEFAULT ''"}},
    // A nudge's place in its candidate's conversation (NudgeThread).
    {5,
     {"ALTER TABLE outbox ADD COLUMN message_id text NOT NULL DEFAULT '', "
      "ADD COLUMN follows_id bigint NOT NULL DEFAULT 0, ADD COLUMN thread_root_id bigint NOT NULL DEFAULT 0, "
      "ADD COLUMN sent_message_id text NOT NULL DEFAULT '', ADD COLUMN provider_thread_id text NOT NULL DEFAULT ''"}},
    // What the pacing counts (when a nudge was handed to its provider, to how many recipients),
    // and the state paced.
    {6,
     {"ALTER TABLE outbox ADD COLUMN handed_ms bigint, ADD COLUMN recipients integer NOT NULL DEFAULT 0, "
      "DROP CONSTRAINT outbox_state_check, ADD CONSTRAINT outbox_state_check CHECK (state IN "
      "('queued','sending','sent','held','throttled','failed','needs_review','paced'))",
      "CREATE INDEX outbox_mailbox_sends ON outbox (user_id, provider, mailbox, handed_ms)"}},
    // The open nudges in due order, for a claim round that reads only the first few
    // (OutboxStore::due_senders) whatever the backlog. `not_before_ms >= 0` (always true) keeps
    // it to the queries that name it: one that looks up a few users' nudges must not walk every
    // open nudge on it when stale statistics say there are none.
    {7,
     {"CREATE INDEX outbox_open_due ON outbox (not_before_ms, id) "
      "WHERE state IN ('queued','throttled','paced') AND not_before_ms >= 0"}},
};

// Any constant: hosts starting together take this transaction-scoped lock to migrate in turn.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7261500215)";

void migrate(PgConnection& c) {
    PgTransaction tx(c);
    c.exec(kMigrationLock);
    c.exec("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
    PgResult r = c.exec("SELECT coalesce(max(version), 0) FROM schema_version");
    int64_t current = r.integer(0, 0);
    const int known = kPgMigrations.back().version;
    if (current > known) refuse_newer_schema("postgresql", current, known);
    for (const auto& m : kPgMigrations) {
        if (m.version <= current) continue;
        for (auto sql : m.statements) c.exec(sql);
    }
    if (current < known) {
        c.exec("DELETE FROM schema_version");
        c.exec("INSERT INTO schema_version (version) VALUES ($1)", {int64_t{known}});
    }
    tx.commit();
}

// A server's error, without DETAIL or the query: those may quote the values (a secret).
std::string primary_message(const PGresult* r, PGconn* conn) {
    std::string out;
    if (r != nullptr) {
        if (const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) out += std::string("[") + state + "] ";
        if (const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) return out + primary;
    }
    std::string text = conn ? PQerrorMessage(conn) : "no connection";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return out + text;
}

// The server's end of the socket is closed (it restarted, or ended this session): nothing
// sent now could reach it, so sending on a new connection cannot run a statement twice.
bool peer_closed(PGconn* conn) {
    pollfd p{PQsocket(conn), POLLIN | POLLRDHUP, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

int64_t PgResult::affected() const {
    const char* n = PQcmdTuples(r_.get());
    return n && *n ? std::stoll(n) : 0;
}

std::string PgResult::text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

int64_t PgResult::integer(int row, int col) const {
    const char* p = PQgetvalue(r_.get(), row, col);
    int64_t v = 0;
    std::from_chars(p, p + PQgetlength(r_.get(), row, col), v);
    return v;
}

std::vector<uint8_t> PgResult::bytes(int row, int col) const {
    std::size_t length = 0;
    unsigned char* raw =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &length);
    if (raw == nullptr) throw StoreError("store postgresql: out of memory reading a bytea value");
    std::vector<uint8_t> out(raw, raw + length);
    PQfreemem(raw);
    return out;
}

PgConnection::PgConnection(std::string conninfo, std::string password)
    : conninfo_(std::move(conninfo)), password_(std::move(password)) {
    connect();
}

PgConnection::~PgConnection() { PQfinish(conn_); }

void PgConnection::connect() {
    PQfinish(conn_);
    // The config's string is expanded as "dbname" (expand_dbname): keywords before it are
    // defaults it may override, the password after it comes from the env or file the config named.
    std::vector<const char*> keys = {"connect_timeout", "application_name", "dbname"};
    std::vector<const char*> values = {"10", "host_stub", conninfo_.c_str()};
    if (!password_.empty()) {
        keys.push_back("password");
        values.push_back(password_.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        // Freed here: thrown from the constructor, the destructor would not free it.
        std::string message = "store postgresql: cannot connect to the server: " + primary_message(nullptr, conn_);
        PQfinish(conn_);
        conn_ = nullptr;
        throw StoreError(message);
    }
    // libpq prints the server's notices on stderr by default; the host says what matters itself.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
}

void PgConnection::fail(std::string_view what, const PGresult* r) {
    throw StoreError("store postgresql: " + std::string(what) + ": " + primary_message(r, conn_));
}

PgResult PgConnection::exec(std::string_view sql, const std::vector<PgParam>& params, bool retry_if_reconnected) {
    // A server that restarted closed this connection meanwhile: reading what is pending
    // notices it, so the statement goes to a new connection instead of failing unsent.
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || peer_closed(conn_)) connect();
    std::string statement(sql);
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
        values.push_back(p.value.data());
        lengths.push_back(static_cast<int>(p.value.size()));
        formats.push_back(p.binary ? 1 : 0);
    }
    for (int attempt = 0;; ++attempt) {
        PGresult* raw = PQexecParams(conn_, statement.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                     lengths.data(), formats.data(), 0);
        auto status = PQresultStatus(raw);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgResult(raw);
        PgResult failed(raw);
        if (PQstatus(conn_) == CONNECTION_OK) fail("statement \"" + statement.substr(0, 60) + "\" failed", raw);
        // The server went away (restarted, failed over). A read is safe to run again.
        if (!retry_if_reconnected || attempt > 0) fail("the connection to the server was lost", raw);
        connect();
    }
}

PgTransaction::~PgTransaction() {
    if (done_) return;
    try {
        c_.exec("ROLLBACK");
    } catch (const StoreError&) {
        // The connection is gone: so is the transaction.
    }
}

PgDatabase PgDatabase::open(const std::string& conninfo, const std::string& password) {
    auto c = std::make_shared<PgConnection>(conninfo, password);
    migrate(*c);
    return PgDatabase{std::move(c), std::make_shared<std::mutex>()};
}

}  // namespace host
