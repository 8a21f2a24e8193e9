// The host's own data in its SQLite file, next to the plugins' secrets: host users, their
// communication settings, and the durable outbox of nudges.
#pragma once

#include "host_database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace host {

struct User {
    std::string id;
    std::string display_name;
};

struct CommunicationSettings {
    std::string preferred_channel = "email";
    std::string email_provider;  // provider id; empty until chosen
};

// queued -> sending -> sent | held | throttled | failed | needs_review (see outbox.hpp)
enum class NudgeState { queued, sending, sent, held, throttled, failed, needs_review };
const char* to_string(NudgeState);
std::optional<NudgeState> nudge_state_from(std::string_view);

struct Nudge {
    int64_t id = 0;
    std::string user_id;
    std::string provider;
    std::string message_json;  // ep.message/1, with client_request_id set
    std::string client_request_id;
    NudgeState state = NudgeState::queued;
    int attempts = 0;
    int64_t not_before_ms = 0;
    std::string last_outcome, last_code, last_message, request_id;
    int64_t created_ms = 0, updated_ms = 0, sent_ms = 0;
    // For listings: taken from the message.
    std::string to, subject;
};

class HostStore {
public:
    explicit HostStore(HostDatabase db);

    // Users and settings.
    void upsert_user(const User& user);
    std::vector<User> users();
    std::optional<User> user(const std::string& id);
    void delete_user(const std::string& id);  // cascades to settings and outbox
    CommunicationSettings settings(const std::string& user_id);
    void save_settings(const std::string& user_id, const CommunicationSettings& s);

    // Outbox. Every method commits before it returns (synchronous=FULL).
    int64_t enqueue(const std::string& user_id, const std::string& provider, const std::string& message_json,
                    const std::string& client_request_id, int64_t now_ms);
    // Atomically moves up to `limit` due nudges (queued/throttled with not_before <= now) to
    // sending, at most `per_user` sending per user, and returns them.
    std::vector<Nudge> claim_due(int64_t now_ms, int limit, int per_user = 4);
    // Records a provider's outcome for a nudge that is `sending` (and only then: a late or
    // duplicate completion never overwrites a newer state). Returns whether it applied.
    struct Outcome {
        int64_t id = 0;
        NudgeState state = NudgeState::sent;
        std::string outcome, code, message, request_id;
        int64_t not_before_ms = 0;
    };
    // Many outcomes in one transaction (one fsync for a burst of completions).
    int record_outcomes(const std::vector<Outcome>& outcomes, int64_t now_ms);
    // held -> queued for a user (after a reconnect); returns how many.
    int release_held(const std::string& user_id, const std::string& provider, int64_t now_ms);
    // needs_review -> queued, only by a person's decision; a new client request id marks the resend.
    bool resend(int64_t id, const std::string& user_id, int64_t now_ms);
    // After a crash or restart: whatever was `sending` may have been sent. Returns how many.
    int mark_interrupted(int64_t now_ms);
    std::vector<Nudge> outbox(const std::string& user_id, int limit = 50);
    std::optional<Nudge> nudge(int64_t id);
    std::vector<std::string> users_with_held();
    int64_t earliest_not_before();  // 0 when nothing waits

private:
    HostDatabase db_;
};

}  // namespace host
