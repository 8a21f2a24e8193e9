// The durable outbox of nudges: queued by the host, claimed and sent under a lease by one
// host at a time, held while their provider cannot send, reviewed by a person when they may
// have been sent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace host {

// queued -> sending -> sent | held | throttled | failed | needs_review (see outbox.hpp);
// queued | throttled -> paced (the mailbox's sending limit) -> sending when its slot comes.
enum class NudgeState { queued, sending, sent, held, throttled, failed, needs_review, paced };
const char* to_string(NudgeState);
std::optional<NudgeState> nudge_state_from(std::string_view);

// A nudge's place in a conversation with its candidate (ABI 1.2 threading): the Message-ID the
// host gave it, the nudge it follows and the first nudge of that thread (0: none), and once it is
// sent, the ids its provider reported.
struct NudgeThread {
    std::string message_id;
    int64_t follows_id = 0;
    int64_t root_id = 0;
    std::string sent_message_id;     // the Message-ID the provider says the sent message carries
    std::string provider_thread_id;  // the provider's conversation id (Gmail's threadId), if any
};

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
    // The address the user's provider was connected as when the nudge was queued (empty when
    // none was known): a held nudge never leaves from another mailbox without the user's say.
    std::string mailbox;
    NudgeThread thread;
    // For listings: taken from the message.
    std::string to, subject;
};

// A host's claim on the nudges it is sending: while it renews the claim before `duration_ms`
// runs out, no other host touches them; after that they turn needs_review (they may have
// been sent), never queued again without a person.
struct OutboxLease {
    std::string owner;  // unique per host process
    int64_t duration_ms = 60000;
};

// What a mailbox may send (ep.sending_limits/1, SCHEMAS.md): each limit absent when the provider
// declares none. Days are the 24 hours before now (the schema's only `day`, rolling_24h).
struct SendingLimits {
    std::optional<int64_t> messages_per_minute, messages_per_day, recipients_per_day;
};
// The limits of each (provider, user) whose nudges may be claimed, looked up before the claim;
// a pair with no entry is not claimed this round (its limits are not known yet); an entry
// without limits is not paced.
using SendingLimitsByUser = std::map<std::pair<std::string, std::string>, std::optional<SendingLimits>>;
// A round's due senders as the outbox read them before its claim (OutboxStore::due_senders),
// with their limits. The claim takes nudges of these users only, longest waiting first, and does
// not read the due window a second time.
struct DueSenders {
    std::vector<std::pair<std::string, std::string>> in_due_order;  // (provider, user)
    SendingLimitsByUser limits;                                     // an entry for each pair of in_due_order
};

// Every method commits before it returns and throws StoreError on an engine failure.
class OutboxStore {
public:
    struct Outcome {
        int64_t id = 0;
        NudgeState state = NudgeState::sent;
        std::string outcome, code, message, request_id;
        int64_t not_before_ms = 0;
        std::string sent_message_id, provider_thread_id;  // a sent result's ids (NudgeThread)
    };

    virtual ~OutboxStore() = default;

    // `thread` gives the message id, follows and root ids; its sent ids are recorded by record_outcomes.
    virtual int64_t enqueue(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                            const std::string& message_json, const std::string& client_request_id, int64_t now_ms,
                            const NudgeThread& thread = {}) = 0;
    // Atomically moves up to `limit` due nudges (queued/throttled/paced with not_before <= now)
    // to sending under `lease`, at most `per_user` sending per user across every host, and
    // returns them. With `due`, only its users are claimed for, in its order, and in the same
    // transaction each nudge is counted against its mailbox's sending limits; one over a limit
    // goes to paced until its slot comes, with the waiting nudges of that mailbox behind it (see
    // sql_pacing.hpp). Without, the claim reads the round's due senders itself and paces nothing.
    virtual std::vector<Nudge> claim_due(int64_t now_ms, int limit, const OutboxLease& lease, int per_user = 4,
                                         const DueSenders* due = nullptr) = 0;
    // The (provider, user) pairs the next claim may take nudges of, whose limits it needs, the
    // longest waiting first: the users of the first `window` due nudges in due order, leaving
    // out users who already have `per_user` sending. A round's cost follows the window, not the
    // backlog (30,000 queued cost as little as 30), and users at the cap cannot crowd the others
    // out of it.
    virtual std::vector<std::pair<std::string, std::string>> due_senders(int64_t now_ms, int window, int per_user) = 0;
    // The mailbox of nudge `id` reached its daily limit: every waiting nudge of it (queued,
    // throttled, paced; this one too) goes to paced until `until_ms` with `message`. Returns how many.
    virtual int hold_mailbox(int64_t id, int64_t until_ms, const std::string& message, int64_t now_ms) = 0;
    // What the mailbox (the user's, with this provider) sent in the 24 hours before now:
    // messages and recipients, as the pacing counts them.
    struct SentToday {
        int64_t messages = 0, recipients = 0;
    };
    virtual SentToday sent_today(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                                 int64_t now_ms) = 0;
    // Extends the lease on these nudges (still sending under lease.owner) by lease.duration_ms.
    virtual void renew_leases(const std::vector<int64_t>& ids, const OutboxLease& lease) = 0;
    // sending nudges whose lease ran out (their host died or lost the database) -> needs_review.
    virtual int expire_leases(int64_t now_ms) = 0;
    // Records a provider's outcome for a nudge that lease.owner is sending (and only then: a
    // late or duplicate completion never overwrites a newer state; a completion that comes
    // after the lease ran out still lands, since it says what really happened). Many outcomes
    // in one transaction (one commit for a burst of completions). Returns how many applied.
    virtual int record_outcomes(const std::vector<Outcome>& outcomes, const OutboxLease& lease, int64_t now_ms) = 0;
    struct Release {
        int released = 0;       // held -> queued
        int needs_confirm = 0;  // newly kept held: queued from another mailbox (code mailbox_changed)
    };
    // After a reconnect as `mailbox`: the user's held nudges for `provider` that were queued
    // from that mailbox (or when none was known) go back to queued; those queued from another
    // mailbox stay held with code mailbox_changed until the user confirms (requeue).
    virtual Release release_held(const std::string& user_id, const std::string& provider, const std::string& mailbox,
                                 int64_t now_ms) = 0;
    // How many of them release_held would release now (so a check is asked only when it matters).
    virtual int count_releasable(const std::string& user_id, const std::string& provider,
                                 const std::string& mailbox) = 0;
    // The providers a user's held nudges wait for.
    virtual std::vector<std::string> held_providers(const std::string& user_id) = 0;
    // Gives the user's held nudges for `provider` the reason they cannot go out as they are
    // (a stranded code: see is_stranded); returns how many changed.
    virtual int strand_held(const std::string& user_id, const std::string& provider, const std::string& code,
                            const std::string& message, int64_t now_ms) = 0;
    // The provider is back and the user's choice again: the user's held nudges for it that were
    // stranded for its absence (or a switch) wait for a reconnect like any other held nudge.
    virtual int unstrand_held(const std::string& user_id, const std::string& provider, int64_t now_ms) = 0;
    // A held nudge of this user -> queued with `provider` and `mailbox` (a person's decision:
    // send with the current provider, or from the now connected mailbox). False when it is
    // not held (any more) or not this user's.
    virtual bool requeue(int64_t id, const std::string& user_id, const std::string& provider,
                         const std::string& mailbox, int64_t now_ms) = 0;
    // A nudge that is not with a provider (held, queued, throttled, paced, needs_review) -> failed
    // with `code` and `message` (a person's decision: discard). False otherwise.
    virtual bool fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message,
                      int64_t now_ms) = 0;
    // needs_review -> queued, only by a person's decision; a new client request id marks the resend.
    virtual bool resend(int64_t id, const std::string& user_id, int64_t now_ms) = 0;
    // When a host starts: whatever may have been sent by a host that stopped turns needs_review.
    // SQLite (one machine): everything `sending`. PostgreSQL (other hosts may be sending right
    // now): only what the dead hosts' leases no longer cover. Returns how many.
    virtual int mark_interrupted(int64_t now_ms) = 0;
    virtual std::vector<Nudge> outbox(const std::string& user_id, int limit = 50) = 0;
    virtual std::optional<Nudge> nudge(int64_t id) = 0;
    virtual std::vector<std::string> users_with_held() = 0;
    // When the next queued, throttled or paced nudge is due (maybe already); nullopt when none waits.
    virtual std::optional<int64_t> earliest_not_before() = 0;
    // How many nudges are in each of `states` (a state with none is absent). One indexed
    // query (outbox_due starts with state): cheap for the waiting states even with a million
    // sent rows beside them.
    virtual std::map<NudgeState, int64_t> count_by_state(std::span<const NudgeState> states) = 0;
};

// What a nudge that may have been sent says when its host stopped (code "interrupted") or
// stopped renewing its lease (code "lease_expired").
inline constexpr std::string_view kInterruptedMessage =
    "The host stopped while this nudge was being sent; it may have been sent. Check, then resend if needed.";

// Held nudges that will not go out by themselves: their provider is gone, unavailable or no
// longer the user's choice, or the connected mailbox changed. The user sends them with the
// current provider (requeue) or discards them.
namespace stranded {
inline constexpr std::string_view provider_removed = "provider_removed";
inline constexpr std::string_view provider_unavailable = "provider_unavailable";
inline constexpr std::string_view provider_switched = "provider_switched";
inline constexpr std::string_view mailbox_changed = "mailbox_changed";
inline constexpr std::string_view provider_back = "provider_back";  // no longer stranded
inline constexpr std::string_view provider_back_message =
    "Its email provider is available again: it goes out when you connect again.";
}  // namespace stranded
bool is_stranded(const Nudge& n);

// Why a nudge is paced (its last_code): the limit its slot waits for, or the provider's refusal
// with sending_limit daily, which holds the whole mailbox.
namespace paced {
inline constexpr std::string_view messages_per_minute = "messages_per_minute";
inline constexpr std::string_view messages_per_day = "messages_per_day";
inline constexpr std::string_view recipients_per_day = "recipients_per_day";
inline constexpr std::string_view daily_limit = "daily_limit";
}  // namespace paced

// Fills a nudge's listing fields (to, subject) from its message.
void describe_message(Nudge& n);
// How many recipients an ep.message/1 has (to + cc + bcc, each counted), as sending limits count them.
int64_t recipient_count(const std::string& message_json);

}  // namespace host
