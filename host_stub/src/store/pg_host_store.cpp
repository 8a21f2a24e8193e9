#include "store/pg_host_store.hpp"

#include "store/pg_adapter.hpp"

namespace host {
namespace {

// The server's clock in ms: every host compares leases with this one clock.
constexpr const char* kPgNowMs = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// Array literals, so that a batch is one statement (one round trip) however long it is.
std::string int_array(const std::vector<int64_t>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
    return out + "}";
}

std::string text_array(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (char ch : values[i]) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    return out + "}";
}

// What PostgreSQL does its own way: other hosts work on the same rows at the same time, so
// claims lock rows and skip those another host holds, and a batch is one statement.
class PgHostDialect final : public HostStoreDialect {
public:
    std::string_view now_ms() const override { return kPgNowMs; }
    std::string_view greatest() const override { return "greatest"; }

    void upsert_user(SqlAdapter& db, const User& u) const override {
        // An unchanged name writes nothing (no new row version for every host's upsert).
        db.exec(upsert_user_sql_, {u.id, u.display_name});
    }

    void delete_user(SqlAdapter& db, const std::string& id) const override {
        // One statement: the checks and the user go together.
        db.exec("WITH checks AS (DELETE FROM connection_checks WHERE user_id = ?1) DELETE FROM users WHERE id = ?1",
                {id});
    }

    // A queue's plan must not depend on how fresh the table's statistics are: the outbox grows by
    // thousands of rows a minute, and with an estimate from before a backlog PostgreSQL picks a
    // bitmap scan that reads and sorts every open nudge (177 ms at 31,000) over the index walk
    // that stops after the window (8 ms).
    void read_in_index_order(SqlAdapter& db, std::string_view sql, SqlParams params,
                             const SqlRowHandler& each) const override {
        SqlTransaction tx(db);
        db.exec("SET LOCAL enable_bitmapscan = off");
        db.exec("SET LOCAL enable_seqscan = off");
        db.read(sql, params, each);
        tx.commit();
    }

    std::vector<Nudge> claim_due(SqlAdapter& db, int64_t now_ms, int limit, const OutboxLease& lease, int per_user,
                                 const std::vector<std::string>& users) const override {
        // 1. Lock the users this host serves in this round, from the round's due senders, the
        //    longest waiting first; users another host is claiming for right now are skipped, not
        //    waited for. Users already at the cap are left out, or a crowd of them could fill the
        //    limit and starve everyone behind; and no more users than the batch can fill are
        //    locked, so that hosts claiming together split the users. Each candidate costs an
        //    index lookup: a backlog of 30,000 costs the round no more than one of 30.
        std::vector<std::string> locked;
        if (users.empty()) return {};
        db.exec(lock_users_sql_, {text_array(users), int64_t{(limit + per_user - 1) / per_user}, int64_t{per_user}},
                [&](const SqlRow& r) { locked.push_back(r.text(0)); });
        if (locked.empty()) return {};
        // 2. A new statement, so a new snapshot: it sees every claim committed before the locks
        //    were taken, and no other host can claim for these users until this commits.
        std::vector<Nudge> out;
        db.exec(claim_sql_, {now_ms, limit, per_user, lease.owner, lease.duration_ms, text_array(locked)},
                [&](const SqlRow& r) { out.push_back(read_nudge(r)); });
        // The locks stay until the caller commits, after pacing what was claimed (sql_pacing.hpp).
        return out;
    }

    void renew_leases(SqlAdapter& db, const std::vector<int64_t>& ids, const OutboxLease& lease) const override {
        db.exec(renew_sql_, {int_array(ids), lease.owner, lease.duration_ms});
    }

    int record_outcomes(SqlAdapter& db, const std::vector<OutboxStore::Outcome>& outcomes, const OutboxLease& lease,
                        int64_t now_ms) const override {
        std::vector<int64_t> ids, not_before;
        std::vector<std::string> states, results, codes, messages, request_ids, sent_ids, thread_ids;
        for (const auto& o : outcomes) {
            ids.push_back(o.id);
            not_before.push_back(o.not_before_ms);
            states.push_back(to_string(o.state));
            results.push_back(o.outcome);
            codes.push_back(o.code);
            messages.push_back(o.message);
            request_ids.push_back(o.request_id);
            sent_ids.push_back(o.sent_message_id);
            thread_ids.push_back(o.provider_thread_id);
        }
        return static_cast<int>(db.exec(
            "UPDATE outbox o SET state = v.state, last_outcome = v.outcome, last_code = v.code, last_message = "
            "v.message, "
            "request_id = v.request_id, not_before_ms = v.not_before_ms, updated_ms = ?8, "
            "sent_ms = CASE WHEN v.state = 'sent' THEN ?8 ELSE o.sent_ms END, sent_message_id = v.sent_id, "
            "provider_thread_id = v.thread_id, "
            "handed_ms = CASE WHEN v.state IN ('sent','needs_review') THEN o.handed_ms END "
            "FROM unnest(?1::bigint[], ?2::text[], ?3::text[], ?4::text[], ?5::text[], ?6::text[], ?7::bigint[], "
            "?10::text[], ?11::text[]) AS v(id, state, outcome, code, message, request_id, not_before_ms, sent_id, "
            "thread_id) "
            "WHERE o.id = v.id AND o.lease_owner = ?9 "
            "AND (o.state = 'sending' OR (o.state = 'needs_review' AND o.last_code = 'lease_expired'))",
            {int_array(ids), text_array(states), text_array(results), text_array(codes), text_array(messages),
             text_array(request_ids), int_array(not_before), now_ms, lease.owner, text_array(sent_ids),
             text_array(thread_ids)}));
    }

    // Other hosts may be sending right now: only what no live host's lease covers.
    int mark_interrupted(SqlAdapter& db, int64_t now_ms) const override {
        return static_cast<int>(db.exec(expire_sql_, {now_ms, kInterruptedMessage}));
    }

private:
    // ?1: the round's due senders, longest waiting first (due_senders): each costs an index
    // lookup, however long the backlog.
    const std::string lock_users_sql_ =
        "SELECT u.id FROM users u WHERE u.id = ANY(?1::text[]) AND u.id NOT IN (" + std::string(kUsersAtCapSql) +
        ") ORDER BY array_position(?1::text[], u.id) LIMIT ?2 FOR NO KEY UPDATE OF u SKIP LOCKED";
    const std::string upsert_user_sql_ =
        std::string("INSERT INTO users (id, display_name, created_ms) VALUES (?1, ?2, ") + kPgNowMs +
        ") ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name "
        "WHERE users.display_name IS DISTINCT FROM excluded.display_name";
    // The claim itself: the users are locked by this transaction, so no other host claims their
    // nudges meanwhile. Each user's few open nudges come from outbox_user_state, never from a walk
    // over every open nudge, and the rows are then updated by primary key: no plan, whatever the
    // statistics say, costs more than the users' own rows (a self-join here once took a minute a
    // round at 16,000 queued, after an ANALYZE taken while the outbox was empty).
    const std::string claim_sql_ =
        std::string(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_ms = ?1, "
            "lease_owner = ?4, lease_expires_ms = ") +
        kPgNowMs +
        " + ?5 "
        "WHERE state IN ('queued','throttled','paced') AND id = ANY(ARRAY("
        "  SELECT c.id FROM (SELECT d.id, d.not_before_ms, "
        "      ROW_NUMBER() OVER (PARTITION BY d.user_id ORDER BY d.not_before_ms, d.id) AS position, s.busy "
        "    FROM unnest(?6::text[]) AS u(id) "
        "    CROSS JOIN LATERAL (SELECT count(*) AS busy FROM outbox b WHERE b.user_id = u.id AND b.state = 'sending') "
        "s "
        "    JOIN outbox d ON d.user_id = u.id AND d.state IN ('queued','throttled','paced') AND d.not_before_ms <= "
        "?1) c "
        "  WHERE c.position + c.busy <= ?3 ORDER BY c.not_before_ms, c.id LIMIT ?2)) RETURNING " +
        kNudgeColumns;
    const std::string renew_sql_ = std::string("UPDATE outbox SET lease_expires_ms = ") + kPgNowMs +
                                   " + ?3 WHERE id = ANY(?1::bigint[]) AND lease_owner = ?2 AND state = 'sending'";
    const std::string expire_sql_ = expire_leases_sql(*this);
};

const PgHostDialect kPgHostDialect;

}  // namespace

PgHostStore::PgHostStore(const PgDatabase& db)
    : SqlHostStore(std::make_unique<PgAdapter>(db.connection), db.mutex, kPgHostDialect) {}

}  // namespace host
