#include "store/sqlite_host_store.hpp"

#include "store/secret_store.hpp"

namespace host {
namespace {

// The database's wall clock in ms: leases are compared with one clock, not with host clocks
// that a debug offset may move.
constexpr const char* kDbNowMs = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

// Why a held nudge waits for the user (?4: the mailbox connected now): said once per change.
constexpr const char* kMailboxChanged =
    "('Queued to leave from ' || mailbox || ', but the connected mailbox is now ' || ?4 || "
    "'. Confirm to send it from ' || ?4 || ', or discard it.')";

Nudge read_nudge(Statement& s) {
    Nudge n;
    n.id = s.column_int(0);
    n.user_id = s.column_text(1);
    n.provider = s.column_text(2);
    n.message_json = s.column_text(3);
    n.client_request_id = s.column_text(4);
    n.state = nudge_state_from(s.column_text(5)).value_or(NudgeState::needs_review);
    n.attempts = static_cast<int>(s.column_int(6));
    n.not_before_ms = s.column_int(7);
    n.last_outcome = s.column_text(8);
    n.last_code = s.column_text(9);
    n.last_message = s.column_text(10);
    n.request_id = s.column_text(11);
    n.created_ms = s.column_int(12);
    n.updated_ms = s.column_int(13);
    n.sent_ms = s.column_int(14);
    n.mailbox = s.column_text(15);
    describe_message(n);
    return n;
}

}  // namespace

SqliteHostStore::SqliteHostStore(HostDatabase db) : db_(std::move(db)) {}

void SqliteHostStore::upsert_user(const User& u) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "INSERT INTO users (id, display_name, created_ms) VALUES (?1, ?2, strftime('%s','now') * 1000) "
              "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name")
        .bind(1, u.id).bind(2, u.display_name).run();
}

std::vector<User> SqliteHostStore::users() {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT id, display_name FROM users ORDER BY display_name, id");
    std::vector<User> out;
    while (s.step()) out.push_back(User{s.column_text(0), s.column_text(1)});
    return out;
}

std::optional<User> SqliteHostStore::user(const std::string& id) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT id, display_name FROM users WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return User{s.column_text(0), s.column_text(1)};
}

void SqliteHostStore::delete_user(const std::string& id) {
    std::lock_guard lock(*db_.mutex);
    Transaction tx(*db_.db);
    Statement(*db_.db, "DELETE FROM connection_checks WHERE user_id = ?1").bind(1, id).run();
    Statement(*db_.db, "DELETE FROM users WHERE id = ?1").bind(1, id).run();
    tx.commit();
}

CommunicationSettings SqliteHostStore::settings(const std::string& user_id) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT preferred_channel, email_provider FROM communication_settings WHERE user_id = ?1");
    s.bind(1, user_id);
    CommunicationSettings c;
    if (s.step()) {
        c.preferred_channel = s.column_text(0);
        c.email_provider = s.column_text(1);
    }
    return c;
}

void SqliteHostStore::save_settings(const std::string& user_id, const CommunicationSettings& c) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "INSERT INTO communication_settings (user_id, preferred_channel, email_provider) VALUES (?1, ?2, ?3) "
              "ON CONFLICT (user_id) DO UPDATE SET preferred_channel = excluded.preferred_channel, "
              "email_provider = excluded.email_provider")
        .bind(1, user_id).bind(2, c.preferred_channel).bind(3, c.email_provider).run();
}

int64_t SqliteHostStore::enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                                 const std::string& message_json, const std::string& client_request_id, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db,
                "INSERT INTO outbox (user_id, provider, message, client_request_id, state, created_ms, updated_ms, mailbox) "
                "VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5, ?6) RETURNING id");
    s.bind(1, user_id).bind(2, provider).bind(3, message_json).bind(4, client_request_id).bind(5, now_ms).bind(6, mailbox);
    if (!s.step()) db_.db->fail("enqueue returned no id");
    int64_t id = s.column_int(0);
    s.reset();
    return id;
}

std::vector<Nudge> SqliteHostStore::claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user) {
    std::lock_guard lock(*db_.mutex);
    Transaction tx(*db_.db);  // BEGIN IMMEDIATE: one claimer at a time, across processes too
    std::vector<Nudge> out;
    {
        // At most `per_user` nudges of one user are with the provider at a time: a nudge marked
        // sending becomes needs_review after a crash, so nothing is marked sending that is
        // only going to wait in the provider's own queue.
        Statement s(*db_.db, std::string("UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_ms = ?1, "
                                         "lease_owner = ?4, lease_expires_ms = ") + kDbNowMs + " + ?5 "
                                         "WHERE id IN (SELECT id FROM ("
                                         "  SELECT d.id, d.not_before_ms, ROW_NUMBER() OVER (PARTITION BY d.user_id "
                                         "      ORDER BY d.not_before_ms, d.id) AS position,"
                                         "    (SELECT count(*) FROM outbox b WHERE b.user_id = d.user_id AND b.state = 'sending') AS busy"
                                         "  FROM outbox d WHERE d.state IN ('queued','throttled') AND d.not_before_ms <= ?1)"
                                         " WHERE position + busy <= ?3 ORDER BY not_before_ms, id LIMIT ?2) RETURNING " +
                                 kNudgeColumns);
        s.bind(1, now_ms).bind(2, static_cast<int64_t>(limit)).bind(3, static_cast<int64_t>(per_user))
            .bind(4, lease.owner).bind(5, lease.duration_ms);
        while (s.step()) out.push_back(read_nudge(s));
    }
    tx.commit();
    return out;
}

void SqliteHostStore::renew_leases(const std::vector<int64_t>& ids, const OutboxLease& lease) {
    if (ids.empty()) return;
    std::lock_guard lock(*db_.mutex);
    Transaction tx(*db_.db);
    Statement s(*db_.db, std::string("UPDATE outbox SET lease_expires_ms = ") + kDbNowMs +
                             " + ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'sending'");
    for (int64_t id : ids) s.bind(1, id).bind(2, lease.owner).bind(3, lease.duration_ms).run();
    tx.commit();
}

int SqliteHostStore::expire_leases(int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db, std::string("UPDATE outbox SET state = 'needs_review', last_outcome = 'indeterminate', "
                                   "last_code = 'lease_expired', last_message = ?2, updated_ms = ?1 "
                                   "WHERE state = 'sending' AND lease_expires_ms < ") + kDbNowMs)
        .bind(1, now_ms).bind(2, kInterruptedMessage).run();
    return static_cast<int>(db_.db->changes());
}

int SqliteHostStore::record_outcomes(const std::vector<Outcome>& outcomes, const OutboxLease& lease, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Transaction tx(*db_.db);
    int applied = 0;
    {
        Statement s(*db_.db,
                    "UPDATE outbox SET state = ?2, last_outcome = ?3, last_code = ?4, last_message = ?5, request_id = ?6, "
                    "not_before_ms = ?7, updated_ms = ?8, sent_ms = CASE WHEN ?2 = 'sent' THEN ?8 ELSE sent_ms END "
                    "WHERE id = ?1 AND lease_owner = ?9 AND "
                    "(state = 'sending' OR (state = 'needs_review' AND last_code = 'lease_expired'))");
        for (const auto& o : outcomes) {
            s.bind(1, o.id).bind(2, std::string_view(to_string(o.state))).bind(3, o.outcome).bind(4, o.code)
                .bind(5, o.message).bind(6, o.request_id).bind(7, o.not_before_ms).bind(8, now_ms).bind(9, lease.owner).run();
            applied += static_cast<int>(db_.db->changes());
        }
    }
    tx.commit();
    return applied;
}

HostStore::Release SqliteHostStore::release_held(const std::string& user_id, const std::string& provider,
                                                 const std::string& mailbox, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Transaction tx(*db_.db);
    Release r;
    Statement(*db_.db,
              "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?3, mailbox = ?4 "
              "WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND (mailbox = '' OR mailbox = ?4) "
              "AND NOT " + std::string(kStrandedForItsProvider))
        .bind(1, user_id).bind(2, provider).bind(3, now_ms).bind(4, mailbox).run();
    r.released = static_cast<int>(db_.db->changes());
    Statement(*db_.db,
              std::string("UPDATE outbox SET last_code = ?5, updated_ms = ?3, last_message = ") + kMailboxChanged +
                  " WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND mailbox <> '' AND mailbox <> ?4 "
                  "AND NOT (last_code = ?5 AND last_message = " + kMailboxChanged + ") AND NOT " + kStrandedForItsProvider)
        .bind(1, user_id).bind(2, provider).bind(3, now_ms).bind(4, mailbox).bind(5, stranded::mailbox_changed).run();
    r.needs_confirm = static_cast<int>(db_.db->changes());
    tx.commit();
    return r;
}

int SqliteHostStore::count_releasable(const std::string& user_id, const std::string& provider, const std::string& mailbox) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT count(*) FROM outbox WHERE user_id = ?1 AND provider = ?2 AND state = 'held' "
                         "AND (mailbox = '' OR mailbox = ?3) AND NOT " + std::string(kStrandedForItsProvider));
    s.bind(1, user_id).bind(2, provider).bind(3, mailbox);
    return s.step() ? static_cast<int>(s.column_int(0)) : 0;
}

std::vector<std::string> SqliteHostStore::held_providers(const std::string& user_id) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT DISTINCT provider FROM outbox WHERE user_id = ?1 AND state = 'held'");
    s.bind(1, user_id);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.column_text(0));
    return out;
}

int SqliteHostStore::strand_held(const std::string& user_id, const std::string& provider, const std::string& code,
                                 const std::string& message, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET last_code = ?3, last_message = ?4, updated_ms = ?5 "
              "WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND (last_code <> ?3 OR last_message <> ?4)")
        .bind(1, user_id).bind(2, provider).bind(3, code).bind(4, message).bind(5, now_ms).run();
    return static_cast<int>(db_.db->changes());
}

int SqliteHostStore::unstrand_held(const std::string& user_id, const std::string& provider, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET last_code = ?3, last_message = ?4, updated_ms = ?5 WHERE user_id = ?1 AND provider = ?2 "
              "AND state = 'held' AND " + std::string(kStrandedForItsProvider))
        .bind(1, user_id).bind(2, provider).bind(3, stranded::provider_back).bind(4, stranded::provider_back_message)
        .bind(5, now_ms).run();
    return static_cast<int>(db_.db->changes());
}

bool SqliteHostStore::requeue(int64_t id, const std::string& user_id, const std::string& provider, const std::string& mailbox,
                              int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?5, provider = ?3, mailbox = ?4 "
              "WHERE id = ?1 AND user_id = ?2 AND state = 'held'")
        .bind(1, id).bind(2, user_id).bind(3, provider).bind(4, mailbox).bind(5, now_ms).run();
    return db_.db->changes() == 1;
}

bool SqliteHostStore::fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message,
                           int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET state = 'failed', last_code = ?3, last_message = ?4, updated_ms = ?5 "
              "WHERE id = ?1 AND user_id = ?2 AND state IN ('held','queued','throttled','needs_review')")
        .bind(1, id).bind(2, user_id).bind(3, code).bind(4, message).bind(5, now_ms).run();
    return db_.db->changes() == 1;
}

bool SqliteHostStore::resend(int64_t id, const std::string& user_id, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?3, lease_owner = '', "
              "client_request_id = client_request_id || '-resend' || attempts "
              "WHERE id = ?1 AND user_id = ?2 AND state = 'needs_review'")
        .bind(1, id).bind(2, user_id).bind(3, now_ms).run();
    return db_.db->changes() == 1;
}

int SqliteHostStore::mark_interrupted(int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "UPDATE outbox SET state = 'needs_review', last_outcome = 'indeterminate', last_code = 'interrupted', "
              "last_message = ?2, updated_ms = ?1 WHERE state = 'sending'")
        .bind(1, now_ms).bind(2, kInterruptedMessage).run();
    return static_cast<int>(db_.db->changes());
}

std::vector<Nudge> SqliteHostStore::outbox(const std::string& user_id, int limit) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2");
    s.bind(1, user_id).bind(2, static_cast<int64_t>(limit));
    std::vector<Nudge> out;
    while (s.step()) out.push_back(read_nudge(s));
    return out;
}

std::optional<Nudge> SqliteHostStore::nudge(int64_t id) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_nudge(s);
}

std::vector<std::string> SqliteHostStore::users_with_held() {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT DISTINCT user_id FROM outbox WHERE state = 'held'");
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.column_text(0));
    return out;
}

std::optional<int64_t> SqliteHostStore::earliest_not_before() {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT min(not_before_ms) FROM outbox WHERE state IN ('queued','throttled')");
    if (!s.step() || s.column_is_null(0)) return std::nullopt;
    return s.column_int(0);
}

bool SqliteHostStore::claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                                  int64_t unless_claimed_since_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "INSERT INTO connection_checks (user_id, provider, claimed_ms) VALUES (?1, ?2, ?3) "
              "ON CONFLICT (user_id, provider) DO UPDATE SET claimed_ms = excluded.claimed_ms "
              "WHERE connection_checks.claimed_ms < ?4")
        .bind(1, user_id).bind(2, provider).bind(3, now_ms).bind(4, unless_claimed_since_ms).run();
    return db_.db->changes() == 1;
}

void SqliteHostStore::record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) {
    std::lock_guard lock(*db_.mutex);
    Statement(*db_.db,
              "INSERT INTO connection_checks (user_id, provider, claimed_ms, checked_ms) VALUES (?1, ?2, ?3, ?3) "
              "ON CONFLICT (user_id, provider) DO UPDATE SET checked_ms = max(connection_checks.checked_ms, ?3)")
        .bind(1, user_id).bind(2, provider).bind(3, checked_ms).run();
}

int64_t SqliteHostStore::last_checked(const std::string& user_id, const std::string& provider) {
    std::lock_guard lock(*db_.mutex);
    Statement s(*db_.db, "SELECT checked_ms FROM connection_checks WHERE user_id = ?1 AND provider = ?2");
    s.bind(1, user_id).bind(2, provider);
    return s.step() ? s.column_int(0) : 0;
}

}  // namespace host
