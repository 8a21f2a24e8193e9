#include "store/sql_host_store.hpp"

#include "store/secret_store.hpp"
#include "store/sql_pacing.hpp"

#include <algorithm>

namespace host {
namespace {

// The SQL condition on a held nudge stranded because its provider went or the user switched away
// from it: a reconnect never releases one (that is the user's decision), the provider's return
// un-strands it.
constexpr const char* kStrandedForItsProvider =
    "last_code IN ('provider_removed', 'provider_unavailable', 'provider_switched')";

// Why a held nudge waits for the user (?4: the mailbox connected now): said once per change.
constexpr const char* kMailboxChanged =
    "('Queued to leave from ' || mailbox || ', but the connected mailbox is now ' || CAST(?4 AS TEXT) || "
    "'. Confirm to send it from ' || CAST(?4 AS TEXT) || ', or discard it.')";

// Statements put together from the parts above, once.
const std::string kReleaseHeld =
    std::string(
        "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?3, mailbox = ?4 "
        "WHERE user_id = ?1 AND provider = ?2 AND state = 'held' "
        "AND (mailbox = '' OR mailbox = ?4) AND NOT ") +
    kStrandedForItsProvider;
const std::string kKeepHeldForMailbox =
    std::string("UPDATE outbox SET last_code = ?5, updated_ms = ?3, last_message = ") + kMailboxChanged +
    " WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND mailbox <> '' AND mailbox <> ?4 "
    "AND NOT (last_code = ?5 AND last_message = " +
    kMailboxChanged + ") AND NOT " + kStrandedForItsProvider;
const std::string kCountReleasable = std::string(
                                         "SELECT count(*) FROM outbox WHERE user_id = ?1 AND provider = ?2 "
                                         "AND state = 'held' AND (mailbox = '' OR mailbox = ?3) AND NOT ") +
                                     kStrandedForItsProvider;
const std::string kUnstrandHeld = std::string(
                                      "UPDATE outbox SET last_code = ?3, last_message = ?4, updated_ms = ?5 "
                                      "WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND ") +
                                  kStrandedForItsProvider;
const std::string kUserOutbox =
    std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2";
const std::string kOneNudge = std::string("SELECT ") + kNudgeColumns + " FROM outbox WHERE id = ?1";

std::vector<std::string> texts(SqlAdapter& db, std::string_view sql, SqlParams params) {
    std::vector<std::string> out;
    db.read(sql, params, [&](const SqlRow& row) { out.push_back(row.text(0)); });
    return out;
}

int64_t integer_or(SqlAdapter& db, std::string_view sql, SqlParams params, int64_t none) {
    int64_t out = none;
    db.read_first(sql, params, [&](const SqlRow& row) {
        if (!row.is_null(0)) out = row.integer(0);
    });
    return out;
}

}  // namespace

Nudge read_nudge(const SqlRow& r) {
    Nudge n;
    n.id = r.integer(0);
    n.user_id = r.text(1);
    n.provider = r.text(2);
    n.message_json = r.text(3);
    n.client_request_id = r.text(4);
    n.state = nudge_state_from(r.text(5)).value_or(NudgeState::needs_review);
    n.attempts = static_cast<int>(r.integer(6));
    n.not_before_ms = r.integer(7);
    n.last_outcome = r.text(8);
    n.last_code = r.text(9);
    n.last_message = r.text(10);
    n.request_id = r.text(11);
    n.created_ms = r.integer(12);
    n.updated_ms = r.integer(13);
    n.sent_ms = r.integer(14);
    n.mailbox = r.text(15);
    n.thread = {r.text(16), r.integer(17), r.integer(18), r.text(19), r.text(20)};
    describe_message(n);
    return n;
}

std::string expire_leases_sql(const HostStoreDialect& dialect) {
    return "UPDATE outbox SET state = 'needs_review', last_outcome = 'indeterminate', last_code = 'lease_expired', "
           "last_message = ?2, updated_ms = ?1 WHERE state = 'sending' AND lease_expires_ms < " +
           std::string(dialect.now_ms());
}

SqlHostStore::SqlHostStore(std::unique_ptr<SqlAdapter> db, std::shared_ptr<std::mutex> mutex,
                           const HostStoreDialect& dialect)
    : db_(std::move(db)),
      mutex_(std::move(mutex)),
      dialect_(dialect),
      expire_leases_sql_(expire_leases_sql(dialect)),
      record_check_sql_(
          "INSERT INTO connection_checks (user_id, provider, claimed_ms, checked_ms) VALUES (?1, ?2, ?3, ?3) "
          "ON CONFLICT (user_id, provider) DO UPDATE SET checked_ms = " +
          std::string(dialect.greatest()) + "(connection_checks.checked_ms, ?3)"),
      hold_mailbox_sql_("UPDATE outbox SET state = 'paced', not_before_ms = " + std::string(dialect.greatest()) +
                        "(not_before_ms, ?2), last_code = ?3, last_message = ?4, updated_ms = ?5 "
                        "WHERE state IN ('queued','throttled','paced') AND (user_id, provider, mailbox) = "
                        "(SELECT user_id, provider, mailbox FROM outbox WHERE id = ?1)") {}

// Users and settings.

void SqlHostStore::upsert_user(const User& u) {
    std::lock_guard lock(*mutex_);
    dialect_.upsert_user(*db_, u);
}

std::optional<User> SqlHostStore::user(const std::string& id) {
    std::lock_guard lock(*mutex_);
    std::optional<User> out;
    db_->read_first("SELECT id, display_name FROM users WHERE id = ?1", {id}, [&](const SqlRow& r) {
        out = User{r.text(0), r.text(1)};
    });
    return out;
}

void SqlHostStore::delete_user(const std::string& id) {
    std::lock_guard lock(*mutex_);
    dialect_.delete_user(*db_, id);
}

CommunicationSettings SqlHostStore::settings(const std::string& user_id) {
    std::lock_guard lock(*mutex_);
    CommunicationSettings c;
    db_->read_first("SELECT preferred_channel, email_provider FROM communication_settings WHERE user_id = ?1",
                    {user_id}, [&](const SqlRow& r) {
                        c.preferred_channel = r.text(0);
                        c.email_provider = r.text(1);
                    });
    return c;
}

std::vector<std::pair<std::string, std::string>> SqlHostStore::email_providers() {
    std::lock_guard lock(*mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    db_->read("SELECT user_id, email_provider FROM communication_settings WHERE email_provider <> ''", {},
              [&](const SqlRow& r) { out.emplace_back(r.text(0), r.text(1)); });
    return out;
}

void SqlHostStore::save_settings(const std::string& user_id, const CommunicationSettings& c) {
    std::lock_guard lock(*mutex_);
    db_->exec(
        "INSERT INTO communication_settings (user_id, preferred_channel, email_provider) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (user_id) DO UPDATE SET preferred_channel = excluded.preferred_channel, "
        "email_provider = excluded.email_provider",
        {user_id, c.preferred_channel, c.email_provider});
}

// Outbox.

int64_t SqlHostStore::enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                              const std::string& message_json, const std::string& client_request_id, int64_t now_ms,
                              const NudgeThread& thread) {
    std::lock_guard lock(*mutex_);
    std::optional<int64_t> id;
    db_->exec(
        "INSERT INTO outbox (user_id, provider, message, client_request_id, state, created_ms, updated_ms, mailbox, "
        "message_id, follows_id, thread_root_id) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5, ?6, ?7, ?8, ?9) RETURNING "
        "id",
        {user_id, provider, message_json, client_request_id, now_ms, mailbox, thread.message_id, thread.follows_id,
         thread.root_id},
        [&](const SqlRow& r) { id = r.integer(0); });
    if (!id) throw StoreError(db_->where() + ": enqueue returned no id");
    return *id;
}

std::vector<Nudge> SqlHostStore::claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user,
                                           const DueSenders* due) {
    std::lock_guard lock(*mutex_);
    // This round's due senders, longest waiting first: as the caller read them for their limits
    // (before the claim's transaction: a read is a transaction of its own on PostgreSQL), or read
    // here. Users at the cap since are re-checked when the claim locks them.
    std::vector<std::string> users;
    auto add = [&users](const std::string& user) {
        if (std::find(users.begin(), users.end(), user) == users.end()) users.push_back(user);
    };
    if (due != nullptr) {
        for (const auto& [provider, user] : due->in_due_order) add(user);
    } else {
        for (const auto& [provider, user] : due_senders_locked(now_ms, std::max(2 * limit, 8 * per_user), per_user))
            add(user);
    }
    // Twice the users the claim can fill (it locks no more), for those other hosts hold: locking
    // from a longer list costs the round more and claims nothing more.
    const std::size_t enough = 2 * static_cast<std::size_t>((limit + per_user - 1) / per_user) + 8;
    if (users.size() > enough) users.resize(enough);
    SqlTransaction tx(*db_);  // SQLite: BEGIN IMMEDIATE, one claimer at a time, across processes too
    std::vector<Nudge> out = dialect_.claim_due(*db_, now_ms, limit, lease, per_user, users);
    if (due != nullptr && !out.empty()) out = pace_claimed(*db_, std::move(out), due->limits, now_ms);
    tx.commit();
    return out;
}

std::vector<std::pair<std::string, std::string>> SqlHostStore::due_senders(int64_t now_ms, int window, int per_user) {
    std::lock_guard lock(*mutex_);
    return due_senders_locked(now_ms, window, per_user);
}

std::vector<std::pair<std::string, std::string>> SqlHostStore::due_senders_locked(int64_t now_ms, int window,
                                                                                  int per_user) {
    std::vector<std::pair<std::string, std::string>> out;
    // Walks the open nudges' index (outbox_open_due) in due order and stops after `window`;
    // the users at the cap are found once (a few hundred sending rows), not once per row.
    const std::string sql =
        "SELECT provider, user_id FROM (SELECT o.provider, o.user_id, o.not_before_ms, o.id FROM outbox o "
        "WHERE o.state IN ('queued','throttled','paced') AND o.not_before_ms >= 0 AND o.not_before_ms <= ?1 "
        "AND o.user_id NOT IN (" +
        std::string(kUsersAtCapSql) +
        ") ORDER BY o.not_before_ms, o.id LIMIT ?2) w GROUP BY provider, user_id ORDER BY min(not_before_ms), min(id)";
    dialect_.read_in_index_order(*db_, sql, {now_ms, int64_t{window}, int64_t{per_user}},
                                 [&](const SqlRow& r) { out.emplace_back(r.text(0), r.text(1)); });
    return out;
}

int SqlHostStore::hold_mailbox(int64_t id, int64_t until_ms, const std::string& message, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return static_cast<int>(db_->exec(hold_mailbox_sql_, {id, until_ms, paced::daily_limit, message, now_ms}));
}

OutboxStore::SentToday SqlHostStore::sent_today(const std::string& user_id, const std::string& provider,
                                                const std::string& mailbox, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return mailbox_sent_today(*db_, user_id, provider, mailbox, now_ms);
}

void SqlHostStore::renew_leases(const std::vector<int64_t>& ids, const OutboxLease& lease) {
    if (ids.empty()) return;
    std::lock_guard lock(*mutex_);
    dialect_.renew_leases(*db_, ids, lease);
}

int SqlHostStore::expire_leases(int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return static_cast<int>(db_->exec(expire_leases_sql_, {now_ms, kInterruptedMessage}));
}

int SqlHostStore::record_outcomes(const std::vector<Outcome>& outcomes, const OutboxLease& lease, int64_t now_ms) {
    if (outcomes.empty()) return 0;
    std::lock_guard lock(*mutex_);
    return dialect_.record_outcomes(*db_, outcomes, lease, now_ms);
}

OutboxStore::Release SqlHostStore::release_held(const std::string& user_id, const std::string& provider,
                                                const std::string& mailbox, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    SqlTransaction tx(*db_);
    Release r;
    r.released = static_cast<int>(db_->exec(kReleaseHeld, {user_id, provider, now_ms, mailbox}));
    r.needs_confirm = static_cast<int>(
        db_->exec(kKeepHeldForMailbox, {user_id, provider, now_ms, mailbox, stranded::mailbox_changed}));
    tx.commit();
    return r;
}

int SqlHostStore::count_releasable(const std::string& user_id, const std::string& provider,
                                   const std::string& mailbox) {
    std::lock_guard lock(*mutex_);
    return static_cast<int>(integer_or(*db_, kCountReleasable, {user_id, provider, mailbox}, 0));
}

std::vector<std::string> SqlHostStore::held_providers(const std::string& user_id) {
    std::lock_guard lock(*mutex_);
    return texts(*db_, "SELECT DISTINCT provider FROM outbox WHERE user_id = ?1 AND state = 'held'", {user_id});
}

int SqlHostStore::strand_held(const std::string& user_id, const std::string& provider, const std::string& code,
                              const std::string& message, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return static_cast<int>(
        db_->exec("UPDATE outbox SET last_code = ?3, last_message = ?4, updated_ms = ?5 "
                  "WHERE user_id = ?1 AND provider = ?2 AND state = 'held' AND (last_code <> ?3 OR last_message <> ?4)",
                  {user_id, provider, code, message, now_ms}));
}

int SqlHostStore::unstrand_held(const std::string& user_id, const std::string& provider, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return static_cast<int>(db_->exec(
        kUnstrandHeld, {user_id, provider, stranded::provider_back, stranded::provider_back_message, now_ms}));
}

bool SqlHostStore::requeue(int64_t id, const std::string& user_id, const std::string& provider,
                           const std::string& mailbox, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return db_->exec(
               "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?5, provider = ?3, mailbox = ?4 "
               "WHERE id = ?1 AND user_id = ?2 AND state = 'held'",
               {id, user_id, provider, mailbox, now_ms}) == 1;
}

bool SqlHostStore::fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message,
                        int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return db_->exec(
               "UPDATE outbox SET state = 'failed', last_code = ?3, last_message = ?4, updated_ms = ?5 "
               "WHERE id = ?1 AND user_id = ?2 AND state IN ('held','queued','throttled','paced','needs_review')",
               {id, user_id, code, message, now_ms}) == 1;
}

bool SqlHostStore::resend(int64_t id, const std::string& user_id, int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return db_->exec(
               "UPDATE outbox SET state = 'queued', not_before_ms = 0, updated_ms = ?3, lease_owner = '', "
               "client_request_id = client_request_id || '-resend' || attempts "
               "WHERE id = ?1 AND user_id = ?2 AND state = 'needs_review'",
               {id, user_id, now_ms}) == 1;
}

int SqlHostStore::mark_interrupted(int64_t now_ms) {
    std::lock_guard lock(*mutex_);
    return dialect_.mark_interrupted(*db_, now_ms);
}

std::vector<Nudge> SqlHostStore::outbox(const std::string& user_id, int limit) {
    std::lock_guard lock(*mutex_);
    std::vector<Nudge> out;
    db_->read(kUserOutbox, {user_id, limit}, [&](const SqlRow& r) { out.push_back(read_nudge(r)); });
    return out;
}

std::optional<Nudge> SqlHostStore::nudge(int64_t id) {
    std::lock_guard lock(*mutex_);
    std::optional<Nudge> out;
    db_->read_first(kOneNudge, {id}, [&](const SqlRow& r) { out = read_nudge(r); });
    return out;
}

std::vector<std::string> SqlHostStore::users_with_held() {
    std::lock_guard lock(*mutex_);
    return texts(*db_, "SELECT DISTINCT user_id FROM outbox WHERE state = 'held'", {});
}

std::optional<int64_t> SqlHostStore::earliest_not_before() {
    std::lock_guard lock(*mutex_);
    std::optional<int64_t> out;
    db_->read_first(
        "SELECT min(not_before_ms) FROM outbox WHERE state IN ('queued','throttled','paced') AND not_before_ms >= 0",
        {}, [&](const SqlRow& r) {
            if (!r.is_null(0)) out = r.integer(0);
        });
    return out;
}

std::map<NudgeState, int64_t> SqlHostStore::count_by_state(std::span<const NudgeState> states) {
    std::map<NudgeState, int64_t> out;
    if (states.empty()) return out;
    // The names are this enum's own constants, never input: written into the statement.
    std::string in;
    for (NudgeState s : states) in += std::string(in.empty() ? "'" : ",'") + to_string(s) + "'";
    std::lock_guard lock(*mutex_);
    db_->read("SELECT state, count(*) FROM outbox WHERE state IN (" + in + ") GROUP BY state", {},
              [&](const SqlRow& r) {
                  if (auto state = nudge_state_from(r.text(0))) out[*state] = r.integer(1);
              });
    return out;
}

void SqlHostStore::ping() {
    std::lock_guard lock(*mutex_);
    db_->read_first("SELECT 1", {}, [](const SqlRow&) {});
}

// Connection checks.

bool SqlHostStore::claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                               int64_t unless_claimed_since_ms) {
    std::lock_guard lock(*mutex_);
    return db_->exec(
               "INSERT INTO connection_checks (user_id, provider, claimed_ms) VALUES (?1, ?2, ?3) "
               "ON CONFLICT (user_id, provider) DO UPDATE SET claimed_ms = excluded.claimed_ms "
               "WHERE connection_checks.claimed_ms < ?4",
               {user_id, provider, now_ms, unless_claimed_since_ms}) == 1;
}

void SqlHostStore::record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) {
    std::lock_guard lock(*mutex_);
    db_->exec(record_check_sql_, {user_id, provider, checked_ms});
}

int64_t SqlHostStore::last_checked(const std::string& user_id, const std::string& provider) {
    std::lock_guard lock(*mutex_);
    return integer_or(*db_, "SELECT checked_ms FROM connection_checks WHERE user_id = ?1 AND provider = ?2",
                      {user_id, provider}, 0);
}

}  // namespace host
