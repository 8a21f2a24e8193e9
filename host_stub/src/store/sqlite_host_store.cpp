#include "store/sqlite_host_store.hpp"

#include "store/sqlite_adapter.hpp"

namespace host {
namespace {

// The database's wall clock in ms.
constexpr const char* kSqliteNowMs = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

// What SQLite does its own way: one machine, one claimer at a time (the claim's transaction is
// BEGIN IMMEDIATE), and
// batches as one prepared statement run per item inside one transaction.
class SqliteHostDialect final : public HostStoreDialect {
public:
    std::string_view now_ms() const override { return kSqliteNowMs; }
    std::string_view greatest() const override { return "max"; }

    void upsert_user(SqlAdapter& db, const User& u) const override {
        db.exec(
            "INSERT INTO users (id, display_name, created_ms) VALUES (?1, ?2, strftime('%s','now') * 1000) "
            "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name",
            {u.id, u.display_name});
    }

    void delete_user(SqlAdapter& db, const std::string& id) const override {
        SqlTransaction tx(db);
        db.exec("DELETE FROM connection_checks WHERE user_id = ?1", {id});
        db.exec("DELETE FROM users WHERE id = ?1", {id});
        tx.commit();
    }

    // One host claims at a time (BEGIN IMMEDIATE), with one statement over the whole outbox:
    // SQLite serves one machine's backlog, so `users` is not needed to bound it.
    std::vector<Nudge> claim_due(SqlAdapter& db, int64_t now_ms, int limit, const OutboxLease& lease, int per_user,
                                 const std::vector<std::string>&) const override {
        std::vector<Nudge> out;
        // At most `per_user` nudges of one user are with the provider at a time: a nudge marked
        // sending becomes needs_review after a crash, so nothing is marked sending that is
        // only going to wait in the provider's own queue.
        db.exec(claim_sql_, {now_ms, limit, per_user, lease.owner, lease.duration_ms},
                [&](const SqlRow& r) { out.push_back(read_nudge(r)); });
        return out;
    }

    void renew_leases(SqlAdapter& db, const std::vector<int64_t>& ids, const OutboxLease& lease) const override {
        SqlTransaction tx(db);
        for (int64_t id : ids) db.exec(renew_sql_, {id, lease.owner, lease.duration_ms});
        tx.commit();
    }

    int record_outcomes(SqlAdapter& db, const std::vector<OutboxStore::Outcome>& outcomes, const OutboxLease& lease,
                        int64_t now_ms) const override {
        SqlTransaction tx(db);
        int applied = 0;
        for (const auto& o : outcomes)
            applied += static_cast<int>(db.exec(
                "UPDATE outbox SET state = ?2, last_outcome = ?3, last_code = ?4, last_message = ?5, request_id = ?6, "
                "not_before_ms = ?7, updated_ms = ?8, sent_ms = CASE WHEN ?2 = 'sent' THEN ?8 ELSE sent_ms END, "
                "sent_message_id = ?10, provider_thread_id = ?11, "
                "handed_ms = CASE WHEN ?2 IN ('sent','needs_review') THEN handed_ms END "
                "WHERE id = ?1 AND lease_owner = ?9 AND "
                "(state = 'sending' OR (state = 'needs_review' AND last_code = 'lease_expired'))",
                {o.id, to_string(o.state), o.outcome, o.code, o.message, o.request_id, o.not_before_ms, now_ms,
                 lease.owner, o.sent_message_id, o.provider_thread_id}));
        tx.commit();
        return applied;
    }

    // One machine: a host starting finds no other host sending, so everything `sending` was
    // interrupted.
    int mark_interrupted(SqlAdapter& db, int64_t now_ms) const override {
        return static_cast<int>(
            db.exec("UPDATE outbox SET state = 'needs_review', last_outcome = 'indeterminate', "
                    "last_code = 'interrupted', last_message = ?2, updated_ms = ?1 WHERE state = 'sending'",
                    {now_ms, kInterruptedMessage}));
    }

private:
    const std::string claim_sql_ =
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_ms = ?1, lease_owner = ?4, "
        "lease_expires_ms = " +
        std::string(kSqliteNowMs) +
        " + ?5 WHERE id IN (SELECT id FROM ("
        "  SELECT d.id, d.not_before_ms, ROW_NUMBER() OVER (PARTITION BY d.user_id "
        "      ORDER BY d.not_before_ms, d.id) AS position,"
        "    (SELECT count(*) FROM outbox b WHERE b.user_id = d.user_id AND b.state = 'sending') AS busy"
        "  FROM outbox d WHERE d.state IN ('queued','throttled','paced') AND d.not_before_ms <= ?1)"
        " WHERE position + busy <= ?3 ORDER BY not_before_ms, id LIMIT ?2) RETURNING " +
        kNudgeColumns;
    const std::string renew_sql_ = "UPDATE outbox SET lease_expires_ms = " + std::string(kSqliteNowMs) +
                                   " + ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'sending'";
};

const SqliteHostDialect kSqliteHostDialect;

}  // namespace

SqliteHostStore::SqliteHostStore(const SqliteHostDatabase& db)
    : SqlHostStore(std::make_unique<SqliteAdapter>(db.db), db.mutex, kSqliteHostDialect) {}

}  // namespace host
