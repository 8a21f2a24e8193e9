// HostStore on PostgreSQL: several host processes share users, settings and the outbox.
// Hosts claim nudges with SELECT ... FOR UPDATE SKIP LOCKED under a lease (owner, expiry on
// the server's clock). The per-user cap holds across hosts: a claim first locks the users it
// serves (FOR NO KEY UPDATE SKIP LOCKED), so hosts split the users instead of racing for the
// same rows; and within a user it only ever targets the first (4 - sending) queued nudges,
// re-checked when locked, so even racing claimers could not take more.
#pragma once

#include "store/pg_database.hpp"
#include "store/host_store.hpp"

namespace host {

class PgHostStore final : public HostStore {
public:
    explicit PgHostStore(PgDatabase db);

    void upsert_user(const User& user) override;
    std::vector<User> users() override;
    std::optional<User> user(const std::string& id) override;
    void delete_user(const std::string& id) override;
    CommunicationSettings settings(const std::string& user_id) override;
    void save_settings(const std::string& user_id, const CommunicationSettings& s) override;
    int64_t enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                    const std::string& message_json, const std::string& client_request_id, int64_t now_ms) override;
    std::vector<Nudge> claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user = 4) override;
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
    bool claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                     int64_t unless_claimed_since_ms) override;
    void record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) override;
    int64_t last_checked(const std::string& user_id, const std::string& provider) override;

private:
    PgDatabase db_;
};

}  // namespace host
