#include "outbox.hpp"

#include "documents.hpp"
#include "host_util.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <unistd.h>

#include <chrono>

namespace host {
namespace {

namespace json = boost::json;

constexpr int kMaxInFlight = 256;              // nudges handed to providers and not yet completed
constexpr int64_t kHeldCheckIntervalMs = 5000; // how often held users' connections are looked at
constexpr int64_t kMaxBackoffMs = 10 * 60 * 1000;

constexpr int64_t kRecordRetryMs = 500;       // after the database refused an outcome
constexpr int64_t kDueRecheckMs = 50;         // due nudges this host could not claim

int64_t backoff_ms(int attempts) { return std::min<int64_t>(int64_t{2000} << std::min(attempts, 12), kMaxBackoffMs); }

// For the worker's own timers: the host clock may be moved (web.debug_clock), these may not.
int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The owner names the machine and process, for whoever reads the outbox table.
std::string lease_owner() {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    return std::string(name) + ":" + std::to_string(getpid()) + ":" + random_hex(6);
}

}  // namespace

Outbox::Outbox(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock, int64_t lease_ms)
    : store_(store), providers_(providers), logger_(logger), clock_(std::move(clock)), lease_{lease_owner(), lease_ms} {}

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

int64_t Outbox::enqueue(const std::string& user_id, json::object message) {
    CommunicationSettings settings = store_.settings(user_id);
    if (settings.preferred_channel != "email")
        throw OutboxError("the preferred channel is not Email: choose Email in Settings > Communication");
    if (settings.email_provider.empty())
        throw OutboxError("no email provider is chosen: pick one in Settings > Communication");
    ProviderEntry* p = providers_.find(settings.email_provider);
    if (p == nullptr || !p->available())
        throw OutboxError("the chosen email provider '" + settings.email_provider + "' is not available" +
                          (p ? ": " + p->error : std::string()));
    std::string crid = "nudge-" + random_hex(16);
    message["client_request_id"] = crid;
    // Refused now, with the field named, rather than queued to fail at the provider later.
    try {
        ep::message::parse_message(json::serialize(message));
    } catch (const ep::sdk::Error& e) {
        throw OutboxError(std::string("the nudge is not a valid message: ") + e.what());
    }
    int64_t id = store_.enqueue(user_id, settings.email_provider, json::serialize(message), crid, clock_());
    logger_.log(EP_LOG_INFO, "outbox", "nudge " + std::to_string(id) + " queued for " + user_id + " via " +
                                           settings.email_provider + " (" + crid + ")");
    wake();
    return id;
}

void Outbox::on_connected(const std::string& user_id, const std::string& provider) {
    int released = store_.release_held(user_id, provider, clock_());
    if (released > 0)
        logger_.log(EP_LOG_INFO, "outbox", std::to_string(released) + " held nudge(s) of " + user_id + " resumed");
    wake();
}

void Outbox::dispatch(const Nudge& n) {
    ProviderEntry* p = providers_.find(n.provider);
    auto completion = [this, id = n.id, attempts = n.attempts](std::string_view result) {
        std::lock_guard lock(mutex_);
        completions_.push_back(Completion{id, std::string(result), attempts});
        --in_flight_;
        cv_.notify_all();
    };
    if (p == nullptr || !p->available()) {
        completion(R"({"outcome":"auth_expired","code":"provider_unavailable","message":"The email provider is not available."})");
        return;
    }
    auto refusal = p->instance->send(n.user_id, n.message_json, completion);
    if (refusal) completion(refusal->document);
}

void Outbox::record(const std::vector<Completion>& completions) {
    int64_t now = clock_();
    std::vector<HostStore::Outcome> outcomes;
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
        if (auto it = r.find("retry_after_ms"); it != r.end() && it->value().is_int64()) retry_after = it->value().as_int64();
        switch (send_outcome_from(o.outcome)) {
            case SendOutcome::sent: o.state = NudgeState::sent; break;
            case SendOutcome::rejected: o.state = NudgeState::failed; break;
            case SendOutcome::auth_expired: o.state = NudgeState::held; break;
            case SendOutcome::throttled:
                o.state = NudgeState::throttled;
                o.not_before_ms = now + std::max<int64_t>(retry_after, 1000);
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
}

// Live hosts keep their claims; claims of hosts that died turn needs_review.
void Outbox::renew_and_expire_leases() {
    std::vector<int64_t> ids;
    {
        std::lock_guard lock(mutex_);
        ids.assign(claimed_.begin(), claimed_.end());
    }
    store_.renew_leases(ids, lease_);
    int expired = store_.expire_leases(clock_());
    if (expired > 0)
        logger_.log(EP_LOG_WARN, "outbox",
                    std::to_string(expired) + " nudge(s) of a host that stopped answering may have been sent; they need review");
}

void Outbox::release_reconnected_users() {
    for (const auto& user_id : store_.users_with_held()) {
        CommunicationSettings s = store_.settings(user_id);
        ProviderEntry* p = providers_.find(s.email_provider);
        if (p == nullptr || !p->available()) continue;
        auto status = p->instance->status(user_id);
        boost::system::error_code ec;
        json::value v = json::parse(status.document, ec);
        if (ec || parse_status(v).state != ConnectionState::connected) continue;
        if (release_check_ && !release_check_(user_id, s.email_provider)) continue;
        on_connected(user_id, s.email_provider);
    }
}

void Outbox::run() {
    int64_t next_held_check = 0, next_lease_check = 0, record_retry_at = 0;
    std::unique_lock lock(mutex_);
    while (true) {
        if (!completions_.empty() && steady_ms() >= record_retry_at) {
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
            if (recorded) {
                // Completions that arrived meanwhile were appended behind the batch.
                completions_.erase(completions_.begin(), completions_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
                for (const auto& c : batch) claimed_.erase(c.id);
                record_retry_at = 0;
            } else {
                record_retry_at = steady_ms() + kRecordRetryMs;
                if (finishing_ && !dispatching_ && in_flight_ == 0) return;  // stopping: the leases will say what happened
            }
            continue;
        }
        if (steady_ms() >= next_lease_check) {
            next_lease_check = steady_ms() + std::max<int64_t>(lease_.duration_ms / 3, 100);
            lock.unlock();
            try {
                renew_and_expire_leases();
            } catch (const std::exception& e) {
                logger_.log(EP_LOG_ERROR, "outbox", std::string("could not renew the outbox leases: ") + e.what());
            }
            lock.lock();
            continue;
        }
        if (finishing_ && completions_.empty() && (!dispatching_ || in_flight_ == 0)) return;

        int64_t now = clock_();
        std::vector<Nudge> due;
        if (dispatching_ && in_flight_ < kMaxInFlight) {
            int room = kMaxInFlight - in_flight_;
            calling_providers_ = true;
            lock.unlock();
            try {
                if (now >= next_held_check) {
                    release_reconnected_users();
                    next_held_check = now + kHeldCheckIntervalMs;
                }
                due = store_.claim_due(now, room, lease_);
            } catch (const std::exception& e) {
                logger_.log(EP_LOG_ERROR, "outbox", std::string("could not read the outbox: ") + e.what());
            }
            lock.lock();
            in_flight_ += static_cast<int>(due.size());
            for (const auto& n : due) claimed_.insert(n.id);
            if (!due.empty()) {
                // Claimed nudges are handed over even if a stop came meanwhile: left claimed,
                // they would wait for review after the next start.
                lock.unlock();
                for (const auto& n : due) dispatch(n);
                lock.lock();
            }
            calling_providers_ = false;
            cv_.notify_all();
            if (!due.empty()) continue;
        }
        // Sleep until woken, a completion arrives, or the next nudge becomes due.
        int64_t wait_ms = 1000;
        lock.unlock();
        std::optional<int64_t> earliest;
        try {
            earliest = store_.earliest_not_before();
        } catch (const std::exception&) {
        }
        lock.lock();
        // Due now but not claimable (their users are at the cap, maybe on other hosts, whose
        // completions do not wake this one): look again soon.
        if (earliest) wait_ms = std::clamp<int64_t>(*earliest - clock_(), kDueRecheckMs, 1000);
        if (record_retry_at > 0) wait_ms = std::clamp<int64_t>(record_retry_at - steady_ms(), 10, wait_ms);
        wait_ms = std::clamp<int64_t>(next_lease_check - steady_ms(), 10, wait_ms);
        cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                     [&] { return woken_ || (!completions_.empty() && record_retry_at == 0) || finishing_ || !dispatching_; });
        woken_ = false;
        if (!dispatching_ && !finishing_)
            cv_.wait(lock, [&] { return finishing_ || (!completions_.empty() && record_retry_at == 0); });
    }
}

}  // namespace host
