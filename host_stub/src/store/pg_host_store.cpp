#include "store/pg_host_store.hpp"

#include "store/secret_store.hpp"

namespace host {
namespace {

// The server's clock in ms: every host compares leases with this one clock.
constexpr const char* kDbNowMs = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// Why a held nudge waits for the user ($4: the mailbox connected now): said once per change.
constexpr const char* kMailboxChanged =
    "('Queued to leave from ' || mailbox || ', but the connected mailbox is now ' || $4::text || "
    "'. Confirm to send it from ' || $4::text || ', or discard it.')";

Nudge read_nudge(const PgResult& r, int row) {
    Nudge n;
    n.id = r.integer(row, 0);
    n.user_id = r.text(row, 1);
    n.provider = r.text(row, 2);
    n.message_json = r.text(row, 3);
    n.client_request_id = r.text(row, 4);
    n.state = nudge_state_from(r.text(row, 5)).value_or(NudgeState::needs_review);
    n.attempts = static_cast<int>(r.integer(row, 6));
    n.not_before_ms = r.integer(row, 7);
    n.last_outcome = r.text(row, 8);
    n.last_code = r.text(row, 9);
    n.last_message = r.text(row, 10);
    n.request_id = r.text(row, 11);
    n.created_ms = r.integer(row, 12);
    n.updated_ms = r.integer(row, 13);
    n.sent_ms = r.integer(row, 14);
    n.mailbox = r.text(row, 15);
    describe_message(n);
    return n;
}

std::vector<Nudge> read_nudges(const PgResult& r) {
    std::vector<Nudge> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_nudge(r, i));
    return out;
}

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

}  // namespace

PgHostStore::PgHostStore(PgDatabase db) : db_(std::move(db)) {}

void PgHostStore::upsert_user(const User& u) {
    std::lock_guard lock(*db_.mutex);
    db_.connection->exec("INSERT INTO users (id, display_name, created_ms) VALUES ($1, $2, " + std::string(kDbNowMs) +
                             ") ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name "
                             "WHERE users.display_name IS DISTINCT FROM excluded.display_name",
                         {u.id, u.display_name});
}

std::vector<User> PgHostStore::users() {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT id, display_name FROM users ORDER BY display_name, id", {}, true);
    std::vector<User> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(User{r.text(i, 0), r.text(i, 1)});
    return out;
}

std::optional<User> PgHostStore::user(const std::string& id) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT id, display_name FROM users WHERE id = $1", {id}, true);
    if (r.rows() == 0) return std::nullopt;
    return User{r.text(0, 0), r.text(0, 1)};
}

void PgHostStore::delete_user(const std::string& id) {
    std::lock_guard lock(*db_.mutex);
    // One statement: the checks and the user go together.
    db_.connection->exec("WITH checks AS (DELETE FROM connection_checks WHERE user_id = $1) "
                         "DELETE FROM users WHERE id = $1", {id});
}

CommunicationSettings PgHostStore::settings(const std::string& user_id) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "SELECT preferred_channel, email_provider FROM communication_settings WHERE user_id = $1", {user_id}, true);
    CommunicationSettings c;
    if (r.rows() == 1) {
        c.preferred_channel = r.text(0, 0);
        c.email_provider = r.text(0, 1);
    }
    return c;
}

void PgHostStore::save_settings(const std::string& user_id, const CommunicationSettings& c) {
    std::lock_guard lock(*db_.mutex);
    db_.connection->exec("INSERT INTO communication_settings (user_id, preferred_channel, email_provider) VALUES ($1, $2, $3) "
                         "ON CONFLICT (user_id) DO UPDATE SET preferred_channel = excluded.preferred_channel, "
                         "email_provider = excluded.email_provider",
                         {user_id, c.preferred_channel, c.email_provider});
}

int64_t PgHostStore::enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                             const std::string& message_json, const std::string& client_request_id, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "INSERT INTO outbox (user_id, provider, message, client_request_id, state, created_ms, updated_ms, mailbox) "
        "VALUES ($1, $2, $3, $4, 'queued', $5, $5, $6) RETURNING id",
        {user_id, provider, message_json, client_request_id, now_ms, mailbox});
    return r.integer(0, 0);
}

std::vector<Nudge> PgHostStore::claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user) {
    std::lock_guard lock(*db_.mutex);
    PgConnection& c = *db_.connection;
    PgTransaction tx(c);
    // 1. Lock the users this host serves in this round; users another host is claiming for
    //    right now are skipped, not waited for. Users already at the cap are left out, or a
    //    crowd of them could fill the limit and starve everyone behind; and no more users than
    //    the batch can fill are locked, so that hosts claiming together split the users.
    PgResult users = c.exec(
        "SELECT u.id FROM users u JOIN (SELECT user_id, min(not_before_ms) AS due FROM outbox "
        "  WHERE state IN ('queued','throttled') AND not_before_ms <= $1 GROUP BY user_id) d ON d.user_id = u.id "
        "WHERE (SELECT count(*) FROM outbox b WHERE b.user_id = u.id AND b.state = 'sending') < $3 "
        "ORDER BY d.due LIMIT $2 FOR NO KEY UPDATE OF u SKIP LOCKED",
        {now_ms, int64_t{(limit + per_user - 1) / per_user}, int64_t{per_user}});
    if (users.rows() == 0) return {};
    std::vector<std::string> locked;
    for (int i = 0; i < users.rows(); ++i) locked.push_back(users.text(i, 0));
    // 2. A new statement, so a new snapshot: it sees every claim committed before the locks
    //    were taken, and no other host can claim for these users until this commits.
    PgResult claimed = c.exec(
        std::string("UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_ms = $1, "
                    "lease_owner = $4, lease_expires_ms = ") + kDbNowMs + " + $5 "
        "WHERE id IN (SELECT id FROM outbox WHERE state IN ('queued','throttled') AND id IN ("
        "    SELECT id FROM (SELECT d.id, ROW_NUMBER() OVER (PARTITION BY d.user_id ORDER BY d.not_before_ms, d.id) AS position,"
        "        (SELECT count(*) FROM outbox b WHERE b.user_id = d.user_id AND b.state = 'sending') AS busy"
        "      FROM outbox d WHERE d.user_id = ANY($6::text[]) AND d.state IN ('queued','throttled') AND d.not_before_ms <= $1) c"
        "    WHERE position + busy <= $3)"
        "  ORDER BY not_before_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING " + kNudgeColumns,
        {now_ms, int64_t{limit}, int64_t{per_user}, lease.owner, lease.duration_ms, text_array(locked)});
    auto out = read_nudges(claimed);
    tx.commit();
    return out;
}

void PgHostStore::renew_leases(const std::vector<int64_t>& ids, const OutboxLease& lease) {
    if (ids.empty()) return;
    std::lock_guard lock(*db_.mutex);
    db_.connection->exec(std::string("UPDATE outbox SET lease_expires_ms = ") + kDbNowMs +
                             " + $3 WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND state = 'sending'",
                         {int_array(ids), lease.owner, lease.duration_ms});
}

int PgHostStore::expire_leases(int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        std::string("UPDATE outbox SET state = 'needs_review', last_outcome = 'indeterminate', last_code = 'lease_expired', "
                    "last_message = $2, updated_ms = $1 WHERE state = 'sending' AND lease_expires_ms < ") + kDbNowMs,
        {now_ms, kInterruptedMessage});
    return static_cast<int>(r.affected());
}

int PgHostStore::record_outcomes(const std::vector<Outcome>& outcomes, const OutboxLease& lease, int64_t now_ms) {
    if (outcomes.empty()) return 0;
    std::vector<int64_t> ids, not_before;
    std::vector<std::string> states, results, codes, messages, request_ids;
    for (const auto& o : outcomes) {
        ids.push_back(o.id);
        not_before.push_back(o.not_before_ms);
        states.push_back(to_string(o.state));
        results.push_back(o.outcome);
        codes.push_back(o.code);
        messages.push_back(o.message);
        request_ids.push_back(o.request_id);
    }
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "UPDATE outbox o SET state = v.state, last_outcome = v.outcome, last_code = v.code, last_message = v.message, "
        "request_id = v.request_id, not_before_ms = v.not_before_ms, updated_ms = $8, "
        "sent_ms = CASE WHEN v.state = 'sent' THEN $8 ELSE o.sent_ms END "
        "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) "
        "  AS v(id, state, outcome, code, message, request_id, not_before_ms) "
        "WHERE o.id = v.id AND o.lease_owner = $9 "
        "AND (o.state = 'sending' OR (o.state = 'needs_review' AND o.last_code = 'lease_expired'))",
        {int_array(ids), text_array(states), text_array(results), text_array(codes), text_array(messages),
         text_array(request_ids), int_array(not_before), now_ms, lease.owner});
    return static_cast<int>(r.affected());
}

HostStore::Release PgHostStore::release_held(const std::string& user_id, const std::string& provider,
                                             const std::string& mailbox, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgConnection& c = *db_.connection;
    PgTransaction tx(c);
    Release out;
    out.released = static_cast<int>(
        c.exec("UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = $3, mailbox = $4 "
               "WHERE user_id = $1 AND provider = $2 AND state = 'held' AND (mailbox = '' OR mailbox = $4) AND NOT " +
                   std::string(kStrandedForItsProvider),
               {user_id, provider, now_ms, mailbox})
            .affected());
    out.needs_confirm = static_cast<int>(
        c.exec(std::string("UPDATE outbox SET last_code = $5, updated_ms = $3, last_message = ") + kMailboxChanged +
                   " WHERE user_id = $1 AND provider = $2 AND state = 'held' AND mailbox <> '' AND mailbox <> $4 "
                   "AND NOT (last_code = $5 AND last_message = " + kMailboxChanged + ") AND NOT " + kStrandedForItsProvider,
               {user_id, provider, now_ms, mailbox, std::string(stranded::mailbox_changed)})
            .affected());
    tx.commit();
    return out;
}

int PgHostStore::count_releasable(const std::string& user_id, const std::string& provider, const std::string& mailbox) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT count(*) FROM outbox WHERE user_id = $1 AND provider = $2 AND state = 'held' "
                                      "AND (mailbox = '' OR mailbox = $3) AND NOT " + std::string(kStrandedForItsProvider),
                                      {user_id, provider, mailbox}, true);
    return static_cast<int>(r.integer(0, 0));
}

std::vector<std::string> PgHostStore::held_providers(const std::string& user_id) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT DISTINCT provider FROM outbox WHERE user_id = $1 AND state = 'held'",
                                      {user_id}, true);
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
}

int PgHostStore::strand_held(const std::string& user_id, const std::string& provider, const std::string& code,
                             const std::string& message, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "UPDATE outbox SET last_code = $3, last_message = $4, updated_ms = $5 "
        "WHERE user_id = $1 AND provider = $2 AND state = 'held' AND (last_code <> $3 OR last_message <> $4)",
        {user_id, provider, code, message, now_ms});
    return static_cast<int>(r.affected());
}

int PgHostStore::unstrand_held(const std::string& user_id, const std::string& provider, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "UPDATE outbox SET last_code = $3, last_message = $4, updated_ms = $5 WHERE user_id = $1 AND provider = $2 "
        "AND state = 'held' AND " + std::string(kStrandedForItsProvider),
        {user_id, provider, stranded::provider_back, stranded::provider_back_message, now_ms});
    return static_cast<int>(r.affected());
}

bool PgHostStore::requeue(int64_t id, const std::string& user_id, const std::string& provider, const std::string& mailbox,
                          int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = $5, provider = $3, mailbox = $4 "
        "WHERE id = $1 AND user_id = $2 AND state = 'held'",
        {id, user_id, provider, mailbox, now_ms});
    return r.affected() == 1;
}

bool PgHostStore::fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message,
                       int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "UPDATE outbox SET state = 'failed', last_code = $3, last_message = $4, updated_ms = $5 "
        "WHERE id = $1 AND user_id = $2 AND state IN ('held','queued','throttled','needs_review')",
        {id, user_id, code, message, now_ms});
    return r.affected() == 1;
}

bool PgHostStore::resend(int64_t id, const std::string& user_id, int64_t now_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = $3, lease_owner = '', "
                                      "client_request_id = client_request_id || '-resend' || attempts "
                                      "WHERE id = $1 AND user_id = $2 AND state = 'needs_review'",
                                      {id, user_id, now_ms});
    return r.affected() == 1;
}

// Other hosts may be sending right now: only what no live host's lease covers.
int PgHostStore::mark_interrupted(int64_t now_ms) { return expire_leases(now_ms); }

std::vector<Nudge> PgHostStore::outbox(const std::string& user_id, int limit) {
    std::lock_guard lock(*db_.mutex);
    return read_nudges(db_.connection->exec(
        std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        {user_id, int64_t{limit}}, true));
}

std::optional<Nudge> PgHostStore::nudge(int64_t id) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE id = $1", {id}, true);
    if (r.rows() == 0) return std::nullopt;
    return read_nudge(r, 0);
}

std::vector<std::string> PgHostStore::users_with_held() {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT DISTINCT user_id FROM outbox WHERE state = 'held'", {}, true);
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
}

std::optional<int64_t> PgHostStore::earliest_not_before() {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT min(not_before_ms) FROM outbox WHERE state IN ('queued','throttled')", {}, true);
    if (r.is_null(0, 0)) return std::nullopt;
    return r.integer(0, 0);
}

bool PgHostStore::claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                              int64_t unless_claimed_since_ms) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec(
        "INSERT INTO connection_checks (user_id, provider, claimed_ms) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id, provider) DO UPDATE SET claimed_ms = excluded.claimed_ms "
        "WHERE connection_checks.claimed_ms < $4",
        {user_id, provider, now_ms, unless_claimed_since_ms});
    return r.affected() == 1;
}

void PgHostStore::record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) {
    std::lock_guard lock(*db_.mutex);
    db_.connection->exec(
        "INSERT INTO connection_checks (user_id, provider, claimed_ms, checked_ms) VALUES ($1, $2, $3, $3) "
        "ON CONFLICT (user_id, provider) DO UPDATE SET checked_ms = greatest(connection_checks.checked_ms, $3)",
        {user_id, provider, checked_ms});
}

int64_t PgHostStore::last_checked(const std::string& user_id, const std::string& provider) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT checked_ms FROM connection_checks WHERE user_id = $1 AND provider = $2",
                                      {user_id, provider}, true);
    return r.rows() == 1 ? r.integer(0, 0) : 0;
}

}  // namespace host
