// The durable outbox: nudges are persisted before enqueue returns, dispatched to the user's
// email provider by a worker thread, and move through
//
//   queued -> sending -> sent
//                     -> held          connection expired / approval required: kept, resumed
//                                      automatically once the user is connected again, from
//                                      the mailbox it was queued from; otherwise "stranded"
//                                      (stranded_policy.hpp) until the user or an operator
//                                      requeues it (current provider and mailbox) or fails it
//                     -> throttled     rescheduled at the provider's retry-after
//                     -> paced         the provider's daily limit was reached: every waiting
//                                      nudge of that mailbox waits until its retry-after
//   queued/throttled  -> paced         the mailbox's sending limits (sending_limits.hpp) leave
//                                      no slot now: claimed again when its slot comes, never
//                                      sent to be refused (store/sql_pacing.hpp)
//                     -> failed        rejected, with the reason
//                     -> needs_review  may have been sent (indeterminate): never resent
//                                      automatically; a person may choose to resend
//
// A transient failure (certainly not sent) goes back to queued with a backoff. A nudge that
// was `sending` when the process died becomes needs_review: at the next start on SQLite;
// on PostgreSQL, where other hosts carry on, once the dead host's lease on it runs out (live
// hosts renew theirs). Outcomes that cannot be recorded (the database is unreachable) are
// kept and recorded once it answers again.
#pragma once

#include "core/logger.hpp"
#include "core/periodic.hpp"
#include "metrics/host_metrics.hpp"
#include "outbox/sending_limits.hpp"
#include "outbox/stranded_policy.hpp"
#include "outbox/threading.hpp"
#include "providers/host_services.hpp"
#include "providers/provider_set.hpp"
#include "store/host_store.hpp"

#include <boost/json/object.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace host {

class OutboxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Outbox {
public:
    // `metrics` (may be null) counts the outcomes recorded and times the sent ones.
    Outbox(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock, int64_t lease_ms = 60000,
           HostMetrics* metrics = nullptr);
    ~Outbox();

    void start();
    // Stops dispatching new nudges and returns once the worker no longer calls into the
    // providers (a batch it had claimed is handed over first), so they may be destroyed next.
    // Completions still get recorded until finish().
    void stop_dispatching();
    // Records the last completions and joins the worker (after providers were destroyed).
    void finish();

    // Persists a nudge for the user's selected email provider. `message` is an ep.message/1
    // object without client_request_id (one is assigned) and without threading fields (the
    // host gives it a Message-ID, and a follow-up of `follows` its place in that conversation:
    // threading.hpp). Throws OutboxError saying why (no provider chosen, provider unavailable,
    // nothing to follow).
    int64_t enqueue(const std::string& user_id, boost::json::object message, const FollowUp& follows = {});

    // After a successful (re)connect: held nudges of this user and provider go out again, those
    // queued from the mailbox now connected; the others wait for the user to confirm.
    void on_connected(const std::string& user_id, const std::string& provider);
    // A person's decision on a held nudge (stranded, or waiting for a mailbox confirmation): it
    // goes out with the user's current provider, from the mailbox connected now. Throws
    // OutboxError saying why not (unknown nudge, not held, no provider available).
    void requeue(int64_t id, const std::string& user_id);
    // A person's decision: the nudge (not with a provider) will not be sent. Throws OutboxError.
    void fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message);
    // Looks at every held nudge soon (after a reload: providers may have gone or come back).
    void recheck_held();
    // At shutdown, after stop_dispatching(): the instances of the sends in flight, for the
    // caller to let go of with the provider set, so that their destroy cancels what they had
    // not started (the outcomes are still recorded by finish()).
    std::vector<std::shared_ptr<ProviderHandle>> release_instances();
    void wake();
    // What the user's chosen, connected mailbox may still send today; nullopt when none is
    // connected or its provider declares no limits.
    std::optional<DailyAllowance> daily_allowance(const std::string& user_id);
    // Asked before held nudges of a user whose last known state is connected go out again:
    // false keeps them held. Set before start(); without it the last known state decides.
    void set_release_check(std::function<bool(const std::string& user_id, const std::string& provider)> check) {
        release_check_ = std::move(check);
    }

private:
    struct Completion {
        int64_t id;
        std::string result_json;
        int attempts;
        std::string provider;  // for the metrics
        int64_t created_ms;
    };

    // The worker's loop and its steps, each called with mutex_ held in `lock`.
    void run();
    bool record_completions(std::unique_lock<std::mutex>& lock);  // false: stop (stopping, unrecorded)
    void renew_leases(std::unique_lock<std::mutex>& lock);
    bool dispatch_due(std::unique_lock<std::mutex>& lock);  // whether it handed nudges over
    void wait_for_work(std::unique_lock<std::mutex>& lock);

    void dispatch(const Nudge& n);
    DueSenders due_senders_and_limits(int64_t now_ms, int room);
    void record(const std::vector<Completion>& completions);
    void count_recorded(const std::vector<Completion>& completions, const std::vector<HostStore::Outcome>& outcomes,
                        int64_t now_ms);
    void hold_mailboxes(const std::vector<std::pair<int64_t, int64_t>>& holds, int64_t now_ms);
    void renew_and_expire_leases();
    void release_or_strand_held();
    void release_or_strand_held(const std::string& user_id);
    bool release_confirmed(const std::string& user_id, const std::string& provider);
    Nudge nudge_of_user(int64_t id, const std::string& user_id);

    HostStore& store_;
    ProviderSet& providers_;
    Logger& logger_;
    Clock clock_;
    HostMetrics* metrics_;
    OutboxLease lease_;  // this process's claim on the nudges it sends
    std::function<bool(const std::string&, const std::string&)> release_check_;
    ReleaseRetries release_retries_;  // the worker's own
    SendingLimitsCache sending_limits_;

    // The worker's periodic tasks (mutex_ guards held_sweep_, which recheck_held() wakes).
    PeriodicTask record_retry_;   // outcomes the database refused, again
    PeriodicTask lease_renewal_;  // this host's claims renewed, dead hosts' expired
    PeriodicTask held_sweep_;     // held nudges released or stranded

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Completion> completions_;
    // Sending under our lease, outcome not yet recorded, with the instance it was handed to:
    // held until the outcome is recorded, so a replaced instance lives until its sends drain.
    std::map<int64_t, std::shared_ptr<ProviderHandle>> claimed_;
    int in_flight_ = 0;
    bool dispatching_ = false;
    bool calling_providers_ = false;  // the worker is claiming or handing over a batch
    bool finishing_ = false;
    bool woken_ = false;
    std::thread worker_;
};

}  // namespace host
