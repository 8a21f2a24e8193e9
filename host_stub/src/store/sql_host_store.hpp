// The host's store (HostStore) written once in SQL for both engines, over a SqlAdapter. What
// the engines really do differently is a HostStoreDialect: SqliteHostStore and PgHostStore
// are this store with their engine's adapter and dialect.
#pragma once

#include "store/host_store.hpp"
#include "store/sql_adapter.hpp"

#include <memory>
#include <mutex>

namespace host {

// The engine-specific parts of the host's store. Each runs with the database's mutex held.
class HostStoreDialect {
public:
    virtual ~HostStoreDialect() = default;

    // SQL for the database's wall clock in ms: leases are compared with one clock, not with
    // host clocks that a debug offset may move.
    virtual std::string_view now_ms() const = 0;
    // The SQL function that returns the larger of two values.
    virtual std::string_view greatest() const = 0;

    virtual void upsert_user(SqlAdapter& db, const User& u) const = 0;
    virtual void delete_user(SqlAdapter& db, const std::string& id) const = 0;
    // Runs `sql`, a read whose ORDER BY ... LIMIT an index answers in order, on that index.
    virtual void read_in_index_order(SqlAdapter& db, std::string_view sql, SqlParams params,
                                     const SqlRowHandler& each) const {
        db.read(sql, params, each);
    }
    // Inside the caller's transaction (which paces what it claims before committing): due
    // nudges of `users` (the round's due senders, OutboxStore::due_senders).
    virtual std::vector<Nudge> claim_due(SqlAdapter& db, int64_t now_ms, int limit, const OutboxLease& lease,
                                         int per_user, const std::vector<std::string>& users) const = 0;
    virtual void renew_leases(SqlAdapter& db, const std::vector<int64_t>& ids, const OutboxLease& lease) const = 0;
    virtual int record_outcomes(SqlAdapter& db, const std::vector<OutboxStore::Outcome>& outcomes,
                                const OutboxLease& lease, int64_t now_ms) const = 0;
    // See OutboxStore::mark_interrupted: what "interrupted" means depends on who else may be sending.
    virtual int mark_interrupted(SqlAdapter& db, int64_t now_ms) const = 0;
};

// The users with `?3` (the per-user cap) nudges sending, across every host: one pass over the
// few sending rows, which a claim round then looks up instead of counting per user.
inline constexpr std::string_view kUsersAtCapSql =
    "SELECT user_id FROM outbox WHERE state = 'sending' GROUP BY user_id HAVING count(*) >= ?3";

class SqlHostStore : public HostStore {
public:
    // `dialect` outlives the store (the engines' dialects are constants).
    SqlHostStore(std::unique_ptr<SqlAdapter> db, std::shared_ptr<std::mutex> mutex, const HostStoreDialect& dialect);

    void upsert_user(const User& user) override;
    std::vector<std::pair<std::string, std::string>> email_providers() override;
    std::optional<User> user(const std::string& id) override;
    void delete_user(const std::string& id) override;
    CommunicationSettings settings(const std::string& user_id) override;
    void save_settings(const std::string& user_id, const CommunicationSettings& s) override;

    int64_t enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                    const std::string& message_json, const std::string& client_request_id, int64_t now_ms,
                    const NudgeThread& thread = {}) override;
    std::vector<Nudge> claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user = 4,
                                 const DueSenders* due = nullptr) override;
    std::vector<std::pair<std::string, std::string>> due_senders(int64_t now_ms, int window, int per_user) override;
    int hold_mailbox(int64_t id, int64_t until_ms, const std::string& message, int64_t now_ms) override;
    SentToday sent_today(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                         int64_t now_ms) override;
    void renew_leases(const std::vector<int64_t>& ids, const OutboxLease& lease) override;
    int expire_leases(int64_t now_ms) override;
    int record_outcomes(const std::vector<Outcome>& outcomes, const OutboxLease& lease, int64_t now_ms) override;
    Release release_held(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                         int64_t now_ms) override;
    int count_releasable(const std::string& user_id, const std::string& provider, const std::string& mailbox) override;
    std::vector<std::string> held_providers(const std::string& user_id) override;
    int strand_held(const std::string& user_id, const std::string& provider, const std::string& code,
                    const std::string& message, int64_t now_ms) override;
    int unstrand_held(const std::string& user_id, const std::string& provider, int64_t now_ms) override;
    bool requeue(int64_t id, const std::string& user_id, const std::string& provider, const std::string& mailbox,
                 int64_t now_ms) override;
    bool fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message,
              int64_t now_ms) override;
    bool resend(int64_t id, const std::string& user_id, int64_t now_ms) override;
    int mark_interrupted(int64_t now_ms) override;
    std::vector<Nudge> outbox(const std::string& user_id, int limit = 50) override;
    std::optional<Nudge> nudge(int64_t id) override;
    std::vector<std::string> users_with_held() override;
    std::optional<int64_t> earliest_not_before() override;
    std::map<NudgeState, int64_t> count_by_state(std::span<const NudgeState> states) override;
    void ping() override;

    bool claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                     int64_t unless_claimed_since_ms) override;
    void record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) override;
    int64_t last_checked(const std::string& user_id, const std::string& provider) override;

private:
    // due_senders without the lock (the caller holds it).
    std::vector<std::pair<std::string, std::string>> due_senders_locked(int64_t now_ms, int window, int per_user);

    std::unique_ptr<SqlAdapter> db_;
    std::shared_ptr<std::mutex> mutex_;
    const HostStoreDialect& dialect_;
    // Statements with a dialect's part in them, put together once.
    const std::string expire_leases_sql_;
    const std::string record_check_sql_;
    const std::string hold_mailbox_sql_;
};

// For the dialects: the outbox's columns as read_nudge reads them, in that order.
inline constexpr const char* kNudgeColumns =
    "id, user_id, provider, message, client_request_id, state, attempts, not_before_ms, last_outcome, last_code, "
    "last_message, request_id, created_ms, updated_ms, sent_ms, mailbox, message_id, follows_id, thread_root_id, "
    "sent_message_id, provider_thread_id";
Nudge read_nudge(const SqlRow& row);

// sending nudges whose lease ran out -> needs_review (code lease_expired), on `dialect`'s clock.
std::string expire_leases_sql(const HostStoreDialect& dialect);

}  // namespace host
