#include "outbox/outbox.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <unistd.h>

#include <chrono>

namespace host {
namespace {

namespace json = boost::json;

constexpr int kMaxInFlight = 256;    // nudges handed to providers and not yet completed
constexpr int kPerUserInFlight = 4;  // of one user, across every host
// A claim round looks at the users of the first (room x this) due nudges: enough to fill the
// room when users have a few queued, and as cheap with a backlog of 30,000 as of 30.
constexpr int kDueWindowPerSlot = 2;
constexpr int kSmallestDueWindow = 8 * kPerUserInFlight;
// A daily-limit refusal without a retry-after: the mailbox is tried again after this long.
constexpr int64_t kDailyHoldWithoutRetryAfterMs = 60 * 60 * 1000;
constexpr int64_t kHeldCheckIntervalMs = 5000;  // how often held users' connections are looked at
constexpr int64_t kMaxBackoffMs = 10 * 60 * 1000;

constexpr int64_t kRecordRetryMs = 500;        // after the database refused an outcome
constexpr int64_t kDueRecheckMs = 50;          // due nudges this host could not claim
constexpr int64_t kLongestSleepMs = 1000;      // the outbox is looked at again at least this often
constexpr int64_t kShortestTimerSleepMs = 10;  // a timer due now is not a busy loop

int64_t backoff_ms(int attempts) { return std::min<int64_t>(int64_t{2000} << std::min(attempts, 12), kMaxBackoffMs); }

// The owner names the machine and process, for whoever reads the outbox table.
std::string lease_owner() {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    return std::string(name) + ":" + std::to_string(getpid()) + ":" + random_hex(6);
}

// The user's email provider (`which`: "chosen", "current"), or OutboxError saying why it
// cannot take a nudge.
std::shared_ptr<ProviderHandle> email_provider(const ProviderSet& providers, const std::string& id, const char* which) {
    try {
        return providers.require(id);
    } catch (const ProviderUnavailable& e) {
        throw OutboxError(std::string("the ") + which + " email provider '" + id + "' is not available" +
                          (e.configured() ? ": " + e.reason() : std::string()));
    }
}

}  // namespace

Outbox::Outbox(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock, int64_t lease_ms,
               HostMetrics* metrics)
    : store_(store),
      providers_(providers),
      logger_(logger),
      clock_(std::move(clock)),
      metrics_(metrics),
      lease_{lease_owner(), lease_ms},
      sending_limits_(logger, clock_),
      record_retry_("record outcomes", kRecordRetryMs, steady_ms),
      lease_renewal_("renew and expire leases", std::max<int64_t>(lease_ms / 3, 100), steady_ms),
      held_sweep_("release or strand held nudges", kHeldCheckIntervalMs, clock_) {}

Outbox::~Outbox() {
    stop_dispatching();
    finish();
}

void Outbox::start() {
    int interrupted = store_.mark_interrupted(clock_());
    if (interrupted > 0)
        logger_.log(EP_LOG_WARN, "outbox",
                    std::to_string(interrupted) + " nudge(s) were being sent when the host stopped; they need review");
    dispatching_ = true;
    worker_ = std::thread([this] { run(); });
}

void Outbox::stop_dispatching() {
    std::unique_lock lock(mutex_);
    dispatching_ = false;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !calling_providers_; });
}

void Outbox::finish() {
    {
        std::lock_guard lock(mutex_);
        finishing_ = true;
        cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
}

void Outbox::wake() {
    std::lock_guard lock(mutex_);
    woken_ = true;
    cv_.notify_all();
}

int64_t Outbox::enqueue(const std::string& user_id, json::object message, const FollowUp& follows) {
    CommunicationSettings settings = store_.settings(user_id);
    if (settings.preferred_channel != "email")
        throw OutboxError("the preferred channel is not Email: choose Email in Settings > Communication");
    if (settings.email_provider.empty())
        throw OutboxError("no email provider is chosen: pick one in Settings > Communication");
    auto p = email_provider(providers_, settings.email_provider, "chosen");
    std::string mailbox = p->connected_mailbox(user_id).value_or("");
    std::string crid = "nudge-" + random_hex(16);
    message["client_request_id"] = crid;
    NudgeThread thread = thread_new_nudge(store_, user_id, mailbox, follows, message);
    // Refused now, with the field named, rather than queued to fail at the provider later.
    try {
        ep::message::parse_message(json::serialize(message));
    } catch (const ep::sdk::Error& e) {
        throw OutboxError(std::string("the nudge is not a valid message: ") + e.what());
    }
    int64_t id =
        store_.enqueue(user_id, settings.email_provider, mailbox, json::serialize(message), crid, clock_(), thread);
    logger_.log(EP_LOG_INFO, "outbox",
                "nudge " + std::to_string(id) + " queued for " + user_id + " via " + settings.email_provider + " (" +
                    crid + (thread.follows_id ? ", follows nudge " + std::to_string(thread.follows_id) : "") + ")");
    wake();
    return id;
}

void Outbox::on_connected(const std::string& user_id, const std::string& provider) {
    auto p = providers_.available(provider);
    if (p == nullptr) return;  // the held sweep strands them
    auto mailbox = p->connected_mailbox(user_id);
    if (!mailbox) return;
    sending_limits_.forget(provider, user_id);  // maybe another mailbox, with other limits
    auto r = store_.release_held(user_id, provider, *mailbox, clock_());
    if (r.released > 0)
        logger_.log(EP_LOG_INFO, "outbox", std::to_string(r.released) + " held nudge(s) of " + user_id + " resumed");
    if (r.needs_confirm > 0)
        logger_.log(EP_LOG_INFO, "outbox",
                    std::to_string(r.needs_confirm) + " held nudge(s) of " + user_id +
                        " were queued from another mailbox: kept until the user confirms");
    wake();
}

std::optional<DailyAllowance> Outbox::daily_allowance(const std::string& user_id) {
    CommunicationSettings settings = store_.settings(user_id);
    auto p = settings.preferred_channel == "email" ? providers_.available(settings.email_provider) : nullptr;
    auto mailbox = p ? p->connected_mailbox(user_id) : std::nullopt;
    if (!mailbox) return std::nullopt;
    auto limits = sending_limits_.limits(*p, user_id);
    if (!limits) return std::nullopt;
    return DailyAllowance{*mailbox, *limits, store_.sent_today(user_id, p->id(), *mailbox, clock_())};
}

Nudge Outbox::nudge_of_user(int64_t id, const std::string& user_id) {
    auto n = store_.nudge(id);
    if (!n || n->user_id != user_id)
        throw OutboxError("there is no nudge " + std::to_string(id) + " of user '" + user_id + "'");
    return *n;
}

void Outbox::requeue(int64_t id, const std::string& user_id) {
    Nudge n = nudge_of_user(id, user_id);
    if (n.state != NudgeState::held)
        throw OutboxError("nudge " + std::to_string(id) + " is " + to_string(n.state) +
                          ", not held: only held nudges can be sent again this way");
    CommunicationSettings settings = store_.settings(user_id);
    if (settings.email_provider.empty())
        throw OutboxError("no email provider is chosen: pick one in Settings > Communication first");
    auto p = email_provider(providers_, settings.email_provider, "current");
    std::string mailbox = p->connected_mailbox(user_id).value_or("");
    if (!store_.requeue(id, user_id, settings.email_provider, mailbox, clock_()))
        throw OutboxError("nudge " + std::to_string(id) + " changed meanwhile (it is no longer held): look again");
    logger_.log(
        EP_LOG_INFO, "outbox",
        "nudge " + std::to_string(id) + " of " + user_id + " requeued via " + settings.email_provider + " by a person");
    wake();
}

void Outbox::fail(int64_t id, const std::string& user_id, const std::string& code, const std::string& message) {
    nudge_of_user(id, user_id);
    if (!store_.fail(id, user_id, code, message, clock_()))
        throw OutboxError(
            "nudge " + std::to_string(id) + " is " + to_string(nudge_of_user(id, user_id).state) +
            ": only a nudge that is not with a provider (queued, throttled, paced, held, needs review) can be failed");
    logger_.log(EP_LOG_INFO, "outbox",
                "nudge " + std::to_string(id) + " of " + user_id + " failed by a person (" + code + ")");
}

std::vector<std::shared_ptr<ProviderHandle>> Outbox::release_instances() {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<ProviderHandle>> out;
    for (auto& entry : claimed_)
        if (entry.second) out.push_back(std::move(entry.second));
    return out;
}

void Outbox::recheck_held() {
    std::lock_guard lock(mutex_);
    held_sweep_.make_due();
    woken_ = true;
    cv_.notify_all();
}

void Outbox::dispatch(const Nudge& n) {
    auto p = providers_.find(n.provider);
    // Holds nothing of the instance: the last reference must never go on a plugin thread.
    auto completion = [this, id = n.id, attempts = n.attempts, provider = n.provider,
                       created_ms = n.created_ms](std::string_view result) {
        std::lock_guard lock(mutex_);
        completions_.push_back(Completion{id, std::string(result), attempts, provider, created_ms});
        --in_flight_;
        cv_.notify_all();
    };
    if (p == nullptr || !p->available()) {
        // Held, not failed: the held sweep says why and the user decides.
        json::object r{{"outcome", "auth_expired"},
                       {"code", p == nullptr ? stranded::provider_removed : stranded::provider_unavailable},
                       {"message", "The email provider '" + n.provider + "' is not available" +
                                       (p == nullptr ? std::string(".") : ": " + p->unavailable_reason())}};
        completion(json::serialize(r));
        return;
    }
    {
        std::lock_guard lock(mutex_);
        claimed_[n.id] = p;
    }
    OutgoingMessage outgoing = message_for_provider(store_, n, p->threads_messages());
    if (outgoing.waits_for != 0) return completion(waiting_for_followed_result(outgoing.waits_for));
    auto refusal = p->send(n.user_id, outgoing.json, completion);
    if (refusal) completion(refusal->result.document);
}

// Asked before the claim, outside the store's lock (a provider may take a moment to answer):
// a pair that became due meanwhile has no entry, and the claim leaves its nudges for the
// next round. A provider that is not available gets no pacing: dispatch holds its nudges.
DueSenders Outbox::due_senders_and_limits(int64_t now_ms, int room) {
    DueSenders out;
    const int window = std::max(kSmallestDueWindow, kDueWindowPerSlot * room);
    out.in_due_order = store_.due_senders(now_ms, window, kPerUserInFlight);
    for (const auto& [provider, user_id] : out.in_due_order) {
        auto p = providers_.available(provider);
        out.limits[{provider, user_id}] = p ? sending_limits_.limits(*p, user_id) : std::nullopt;
    }
    return out;
}

void Outbox::record(const std::vector<Completion>& completions) {
    int64_t now = clock_();
    std::vector<HostStore::Outcome> outcomes;
    std::vector<std::pair<int64_t, int64_t>> holds;  // nudge, until: its mailbox reached its daily limit
    for (auto& c : completions) {
        HostStore::Outcome o;
        o.id = c.id;
        boost::system::error_code ec;
        json::value v = json::parse(c.result_json, ec);
        json::object r = (!ec && v.is_object()) ? v.as_object() : json::object{};
        o.outcome = json_str(r, "outcome");
        o.code = json_str(r, "code");
        o.message = json_str(r, "message");
        o.request_id = json_str(r, "request_id");
        int64_t retry_after = 0;
        if (auto it = r.find("retry_after_ms"); it != r.end() && it->value().is_int64())
            retry_after = it->value().as_int64();
        switch (send_outcome_from(o.outcome)) {
            case SendOutcome::sent:
                o.state = NudgeState::sent;
                o.sent_message_id = json_str(r, "internet_message_id");
                o.provider_thread_id = json_str(r, "thread_id");
                break;
            case SendOutcome::rejected:
                o.state = NudgeState::failed;
                break;
            case SendOutcome::auth_expired:
                o.state = NudgeState::held;
                break;
            case SendOutcome::throttled:
                o.state = NudgeState::throttled;
                o.not_before_ms = now + std::max<int64_t>(retry_after, 1000);
                if (json_str(r, "sending_limit") == "daily") {
                    o.state = NudgeState::paced;
                    if (retry_after <= 0) o.not_before_ms = now + kDailyHoldWithoutRetryAfterMs;
                    holds.emplace_back(o.id, o.not_before_ms);
                }
                break;
            case SendOutcome::transient:
                o.state = NudgeState::queued;
                o.not_before_ms = now + (retry_after > 0 ? retry_after : backoff_ms(c.attempts));
                break;
            case SendOutcome::indeterminate:
            case SendOutcome::unknown:
                // Never resend automatically what may have gone out, or what this host cannot read.
                o.state = NudgeState::needs_review;
                if (o.outcome.empty()) o.message = "The provider's answer could not be read.";
                break;
        }
        logger_.log(o.state == NudgeState::sent ? EP_LOG_DEBUG : EP_LOG_INFO, "outbox",
                    "nudge " + std::to_string(o.id) + ": " + (o.outcome.empty() ? "?" : o.outcome) +
                        (o.code.empty() ? "" : " (" + o.code + ")") + " -> " + to_string(o.state));
        outcomes.push_back(std::move(o));
    }
    store_.record_outcomes(outcomes, lease_, now);
    count_recorded(completions, outcomes, now);
    hold_mailboxes(holds, now);
}

// Counted once recorded: a batch the database refused is recorded (and counted) again later.
void Outbox::count_recorded(const std::vector<Completion>& completions, const std::vector<HostStore::Outcome>& outcomes,
                            int64_t now_ms) {
    if (metrics_ == nullptr) return;
    for (std::size_t i = 0; i < completions.size(); ++i) {
        SendOutcome outcome = send_outcome_from(outcomes[i].outcome);
        metrics_->send_recorded(completions[i].provider, outcome);
        if (outcome == SendOutcome::sent)
            metrics_->queued_to_sent(completions[i].provider,
                                     static_cast<double>(now_ms - completions[i].created_ms) / 1000);
    }
}

// Nothing from a mailbox at its daily limit goes out before the provider's retry-after, so
// its waiting nudges wait (paced) instead of each being sent to be refused. Run again when the
// batch is recorded again after an error: the hold is the same.
void Outbox::hold_mailboxes(const std::vector<std::pair<int64_t, int64_t>>& holds, int64_t now_ms) {
    for (const auto& [id, until] : holds) {
        int held = store_.hold_mailbox(
            id, until,
            "The mailbox reached its daily sending limit: its nudges go out from " + ep::sdk::iso_time(until) + ".",
            now_ms);
        logger_.log(EP_LOG_WARN, "outbox",
                    "nudge " + std::to_string(id) + ": its mailbox reached its daily sending limit; " +
                        std::to_string(held) + " nudge(s) wait until " + ep::sdk::iso_time(until));
    }
}

// Live hosts keep their claims; claims of hosts that died turn needs_review.
void Outbox::renew_and_expire_leases() {
    std::vector<int64_t> ids;
    {
        std::lock_guard lock(mutex_);
        for (const auto& entry : claimed_) ids.push_back(entry.first);
    }
    store_.renew_leases(ids, lease_);
    int expired = store_.expire_leases(clock_());
    if (expired > 0)
        logger_.log(EP_LOG_WARN, "outbox",
                    std::to_string(expired) +
                        " nudge(s) of a host that stopped answering may have been sent; they need review");
}

// Held nudges go out again once their user is connected to the provider they wait for; those
// that cannot (the provider is gone, unavailable or no longer the user's choice) are
// stranded with the reason, for the user to decide.
void Outbox::release_or_strand_held() {
    for (const auto& user_id : store_.users_with_held()) {
        try {
            release_or_strand_held(user_id);
        } catch (const std::exception& e) {
            // One user's trouble (a provider gone mid-check, a database error) holds up no one else.
            logger_.log(EP_LOG_ERROR, "outbox", "could not look at the held nudges of " + user_id + ": " + e.what());
        }
    }
}

void Outbox::release_or_strand_held(const std::string& user_id) {
    CommunicationSettings s = store_.settings(user_id);
    auto current = providers_.find(s.email_provider);
    for (const auto& provider : store_.held_providers(user_id)) {
        auto p = providers_.find(provider);
        if (auto why = stranding_of(provider, p.get(), s.email_provider, current.get())) {
            if (store_.strand_held(user_id, provider, std::string(why->code), why->message, clock_()) > 0)
                logger_.log(EP_LOG_INFO, "outbox",
                            "held nudges of " + user_id + " via " + provider + " are stranded (" +
                                std::string(why->code) + ")");
            continue;
        }
        store_.unstrand_held(user_id, provider, clock_());
        auto mailbox = p->connected_mailbox(user_id);
        if (!mailbox) continue;
        // Nothing to release (only nudges from another mailbox, which on_connected marks
        // for the user's confirmation): no check needed.
        if (store_.count_releasable(user_id, provider, *mailbox) > 0 && release_check_ &&
            !release_confirmed(user_id, provider))
            continue;
        on_connected(user_id, provider);
    }
}

bool Outbox::release_confirmed(const std::string& user_id, const std::string& provider) {
    if (!release_retries_.may_check(user_id, provider, clock_())) return false;
    bool confirmed = release_check_(user_id, provider);
    release_retries_.checked(user_id, provider, confirmed, clock_());
    return confirmed;
}

// The worker: outcomes are recorded first, then leases renewed when due; then held nudges are
// looked at when due and due nudges claimed and handed over; then it sleeps until woken, a
// completion arrives, the next nudge or timer is due.
void Outbox::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (!completions_.empty() && record_retry_.due()) {
            if (!record_completions(lock)) return;
            continue;
        }
        if (lease_renewal_.due()) {
            renew_leases(lock);
            continue;
        }
        // Every handed-over send calls back (a plugin's destroy cancels what it had not started).
        if (finishing_ && completions_.empty() && in_flight_ == 0) return;
        if (dispatch_due(lock)) continue;
        wait_for_work(lock);
    }
}

bool Outbox::record_completions(std::unique_lock<std::mutex>& lock) {
    std::vector<Completion> batch(completions_.begin(), completions_.end());
    lock.unlock();
    bool recorded = false;
    try {
        record(batch);
        recorded = true;
    } catch (const std::exception& e) {
        logger_.log(EP_LOG_ERROR, "outbox", std::string("could not record outcomes (kept, retrying): ") + e.what());
    }
    lock.lock();
    if (!recorded) {
        record_retry_.schedule_after(steady_ms());
        return !(finishing_ && !dispatching_ && in_flight_ == 0);  // stopping: the leases will say what happened
    }
    // Completions that arrived meanwhile were appended behind the batch.
    completions_.erase(completions_.begin(), completions_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    std::vector<std::shared_ptr<ProviderHandle>> drained;
    for (const auto& c : batch)
        if (auto it = claimed_.find(c.id); it != claimed_.end()) {
            drained.push_back(std::move(it->second));
            claimed_.erase(it);
        }
    record_retry_.make_due();
    // A replaced instance whose last send this was is destroyed here, unlocked.
    lock.unlock();
    drained.clear();
    lock.lock();
    return true;
}

void Outbox::renew_leases(std::unique_lock<std::mutex>& lock) {
    lease_renewal_.schedule_after(steady_ms());
    lock.unlock();
    try {
        renew_and_expire_leases();
    } catch (const std::exception& e) {
        logger_.log(EP_LOG_ERROR, "outbox", std::string("could not renew the outbox leases: ") + e.what());
    }
    lock.lock();
}

bool Outbox::dispatch_due(std::unique_lock<std::mutex>& lock) {
    if (!dispatching_ || in_flight_ >= kMaxInFlight) return false;
    int64_t now = clock_();
    int room = kMaxInFlight - in_flight_;
    calling_providers_ = true;
    bool sweep_held = held_sweep_.due_at(now);
    if (sweep_held) held_sweep_.schedule_after(now);
    lock.unlock();
    if (sweep_held) {
        try {
            release_or_strand_held();
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "outbox", std::string("could not look at the held nudges: ") + e.what());
        }
    }
    std::vector<Nudge> due;
    try {
        DueSenders senders = due_senders_and_limits(now, room);
        due = store_.claim_due(now, room, lease_, kPerUserInFlight, &senders);
    } catch (const std::exception& e) {
        logger_.log(EP_LOG_ERROR, "outbox", std::string("could not read the outbox: ") + e.what());
    }
    lock.lock();
    in_flight_ += static_cast<int>(due.size());
    for (const auto& n : due) claimed_.emplace(n.id, nullptr);
    if (!due.empty()) {
        // Claimed nudges are handed over even if a stop came meanwhile: left claimed,
        // they would wait for review after the next start.
        lock.unlock();
        for (const auto& n : due) dispatch(n);
        lock.lock();
    }
    calling_providers_ = false;
    cv_.notify_all();
    return !due.empty();
}

// Sleeps until woken, a completion arrives, the next nudge becomes due or a timer is due. The
// held sweep is not waited for: it runs along with a dispatch, within kLongestSleepMs of due.
void Outbox::wait_for_work(std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    std::optional<int64_t> earliest;
    try {
        earliest = store_.earliest_not_before();
    } catch (const std::exception&) {}
    lock.lock();
    // Due now but not claimable (their users are at the cap, maybe on other hosts, whose
    // completions do not wake this one): look again soon.
    int64_t wait_ms =
        earliest ? std::clamp<int64_t>(*earliest - clock_(), kDueRecheckMs, kLongestSleepMs) : kLongestSleepMs;
    if (record_retry_.scheduled()) wait_ms = ms_until_earliest({&record_retry_}, kShortestTimerSleepMs, wait_ms);
    wait_ms = ms_until_earliest({&lease_renewal_}, kShortestTimerSleepMs, wait_ms);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        return woken_ || (!completions_.empty() && !record_retry_.scheduled()) || finishing_ || !dispatching_;
    });
    woken_ = false;
    if (!dispatching_)
        cv_.wait(lock, [&] {
            return (finishing_ && in_flight_ == 0) || (!completions_.empty() && !record_retry_.scheduled());
        });
}

}  // namespace host
