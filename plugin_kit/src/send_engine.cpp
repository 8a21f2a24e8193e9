#include "ep_kit/send_engine.hpp"

#include "ep_kit/encoding.hpp"
#include "ep_kit/retry_after.hpp"

#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <algorithm>

namespace ep::kit {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

int64_t since_ms(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Backoff when the API throttles without Retry-After, or a connection fails: 1 s, 2 s, 4 s...
int64_t send_backoff_ms(int attempt) { return std::min<int64_t>(int64_t{1000} << std::min(attempt - 1, 8), 60'000); }

}  // namespace

struct SendEngine::Job {
    std::string account;
    PreparedMessage message;  // built once
    std::string client_request_id;
    ep::sdk::SendCallback done;
    Clock::time_point accepted_at = Clock::now();
    int attempts = 0;  // HTTP requests made
    bool retried_after_401 = false;
    AccessToken token;
    bool in_flight = false;

    Job(std::string a, PreparedMessage m, std::string crid, ep::sdk::SendCallback d)
        : account(std::move(a)), message(std::move(m)), client_request_id(std::move(crid)), done(std::move(d)) {}
};

SendEngine::SendEngine(SendSettings settings, const SendProtocol& protocol, HttpEngine& http, TokenManager& tokens,
                       ep::sdk::Host host, Log log)
    : settings_(settings), protocol_(protocol), http_(http), tokens_(tokens), host_(host), log_(std::move(log)) {}

SendEngine::~SendEngine() { shutdown(); }

// Written directly (a send result is built for every message, on the I/O thread).
std::string SendEngine::result(const Job& job, std::string_view outcome, std::string_view code,
                               std::string_view message, int64_t retry_after_ms, std::string_view request_id) const {
    using ep::sdk::append_json_string;
    std::string r = "{\"schema\":\"ep.send_result/1\",\"outcome\":";
    r.reserve(160 + message.size());
    append_json_string(r, outcome);
    r += ",\"client_request_id\":";
    append_json_string(r, job.client_request_id);
    r += ",\"attempts\":" + std::to_string(job.attempts) +
         ",\"elapsed_ms\":" + std::to_string(since_ms(job.accepted_at));
    if (!code.empty()) {
        r += ",\"code\":";
        append_json_string(r, code);
    }
    if (!message.empty()) {
        r += ",\"message\":";
        append_json_string(r, message);
    }
    if (retry_after_ms >= 0) r += ",\"retry_after_ms\":" + std::to_string(retry_after_ms);
    if (!request_id.empty()) {
        r += ",\"request_id\":";
        append_json_string(r, request_id);
    }
    return r + "}";
}

// A sent result with the ids a follow-up threads on (SCHEMAS.md, ABI 1.2).
std::string SendEngine::sent_result(const Job& job, const HttpResponse& r, std::string_view request_id) const {
    using ep::sdk::append_json_string;
    std::string doc = result(job, "sent", "", "", -1, request_id);
    doc.pop_back();
    if (!job.message.internet_message_id.empty()) {
        doc += ",\"internet_message_id\":";
        append_json_string(doc, job.message.internet_message_id);
    }
    if (std::string thread = protocol_.thread_id(r); !thread.empty()) {
        doc += ",\"thread_id\":";
        append_json_string(doc, thread);
    }
    return doc + "}";
}

ep::sdk::SendAdmission SendEngine::submit(std::string_view account, std::string_view message_json,
                                          ep::sdk::SendCallback done) {
    auto refusal = [](ep_status status, std::string_view outcome, const std::string& code, const std::string& message,
                      const std::string& field, int64_t retry_after_ms) {
        json::object r{{"schema", "ep.send_result/1"}, {"outcome", outcome}, {"code", code}, {"message", message}};
        if (!field.empty()) r["field"] = field;
        if (retry_after_ms >= 0) r["retry_after_ms"] = retry_after_ms;
        return ep::sdk::SendAdmission{status, json::serialize(r)};
    };
    PreparedMessage prepared;
    std::string crid;
    try {
        ep::message::Message m = ep::message::parse_message(message_json);
        prepared = protocol_.prepare(account, m);
        crid = m.client_request_id.empty() ? random_uuid() : m.client_request_id;
    } catch (const ep::sdk::Error& e) {
        return refusal(e.status(), "rejected", e.code(), e.what(), e.field(), -1);
    } catch (const NotConnected& e) {
        return refusal(EP_ERR_NOT_FOUND, "auth_expired", "not_connected", e.what(), "", -1);
    }

    struct SubmitScope {
        explicit SubmitScope(int* depth) : depth_(depth) {
            if (depth_) ++*depth_;
        }
        ~SubmitScope() {
            if (depth_) --*depth_;
        }
        int* depth_;
    } inside_submit(http_.on_io_thread() ? &io_thread_submit_depth_ : nullptr);
    auto job = std::make_shared<Job>(std::string(account), std::move(prepared), std::move(crid), std::move(done));
    Ready to_start;
    {
        std::lock_guard lock(mutex_);
        if (stopping_)
            return refusal(EP_ERR_SHUTTING_DOWN, "transient", "shutting_down", "The provider is shutting down.", "",
                           -1);
        if (queued_ >= settings_.queue_limit)
            return refusal(EP_ERR_BUSY, "throttled", "queue_full",
                           "Too many messages are waiting to be sent; try again shortly.", "", 1000);
        mailboxes_[job->account].queue.push_back(job);
        ++queued_;
        ++pending_;
        pump(job->account, to_start);
    }
    dispatch(std::move(to_start));
    return ep::sdk::SendAdmission::accepted();
}

void SendEngine::pump(const std::string& account, Ready& ready) {
    auto it = mailboxes_.find(account);
    if (it == mailboxes_.end()) return;
    Mailbox& mb = it->second;
    auto now = Clock::now();
    if (mb.paused_until > now) {
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(mb.paused_until - now).count();
        if (wait_ms > settings_.max_throttle_wait_ms) {
            // A long pause goes back to the host (which keeps the message durably) instead of
            // holding messages here for minutes.
            for (auto& job : mb.queue) ready.throttled.emplace_back(std::move(job), wait_ms);
            queued_ -= mb.queue.size();
            mb.queue.clear();
        } else if (!mb.queue.empty() && !mb.resume_scheduled) {
            mb.resume_scheduled = true;
            http_.schedule(mb.paused_until, [this, account](bool) { resume(account); });
        }
        return;
    }
    while (mb.in_flight < settings_.max_concurrency_per_mailbox && !mb.queue.empty()) {
        JobPtr job = std::move(mb.queue.front());
        mb.queue.pop_front();
        --queued_;
        ++mb.in_flight;
        job->in_flight = true;
        ready.start.push_back(std::move(job));
    }
    if (mb.in_flight == 0 && mb.queue.empty() && !mb.resume_scheduled && mb.paused_until <= now)
        mailboxes_.erase(it);  // idle: nothing kept per account
}

void SendEngine::resume(const std::string& account) {
    Ready to_start;
    {
        std::lock_guard lock(mutex_);
        auto it = mailboxes_.find(account);
        if (it == mailboxes_.end()) return;
        it->second.resume_scheduled = false;
        pump(account, to_start);
    }
    dispatch(std::move(to_start));
}

void SendEngine::dispatch(Ready ready) {
    for (auto& job : ready.start)
        tokens_.acquire(job->account, nullptr, [this, job](TokenOutcome t) { send_with_token(job, std::move(t)); });
    for (auto& [job, wait_ms] : ready.throttled)
        deliver(job, result(*job, "throttled", "mailbox_throttled", protocol_.mailbox_throttled_message(), wait_ms));
}

void SendEngine::send_with_token(const JobPtr& job, TokenOutcome t) {
    using Kind = TokenOutcome::Kind;
    switch (t.kind) {
        case Kind::ok:
            break;
        case Kind::not_connected:
        case Kind::expired:
            return finish(job, result(*job, "auth_expired", t.code, t.message));
        case Kind::configuration_error:
            // Nothing was sent; the operator must fix the deployment. Safe to retry later.
            return finish(job, result(*job, "transient", "configuration_error", t.message, 60'000));
        case Kind::transient:
            return finish(job, result(*job, "transient", t.code, t.message, std::max<int64_t>(t.retry_after_ms, 0)));
    }
    job->token = t.token;
    HttpRequest request = protocol_.request(job->message, t.token->view(), job->client_request_id);
    ++job->attempts;
    http_.submit(std::move(request), [this, job](HttpResponse&& r) { on_response(job, std::move(r)); });
}

void SendEngine::on_response(const JobPtr& job, HttpResponse&& r) {
    std::string request_id = protocol_.request_id(r);
    if (protocol_.accepted(r)) {
        if (host_.log_enabled(EP_LOG_DEBUG))
            log_(EP_LOG_DEBUG, "sent message " + job->client_request_id + " for account " + job->account +
                                   " (request-id " + request_id + ")");
        return finish(job, sent_result(*job, r, request_id));
    }
    if (r.failure == TransferFailure::cancelled)
        return finish(job,
                      result(*job, "transient", "cancelled", "The provider shut down before the message was sent."));
    if (r.failure == TransferFailure::not_sent) {
        if (job->attempts < settings_.max_send_attempts && !stopping_requested())
            return requeue_after(job, send_backoff_ms(job->attempts));
        return finish(
            job, result(*job, "transient", "network",
                        protocol_.api_name() + " could not be reached (" + r.error + "); the message was not sent."));
    }
    if (r.failure == TransferFailure::after_sending && r.status == 0)
        return finish(job, result(*job, "indeterminate", "no_response",
                                  "The message went out but no answer came back (" + r.error +
                                      "); it may have been sent. It will not be resent automatically.",
                                  -1, request_id));

    auto retry_after = parse_retry_after_ms(r.header("retry-after"), host_.now_unix_ms());
    SendClassification c = protocol_.classify(r, retry_after.has_value(), host_.now_unix_ms());
    switch (c.outcome) {
        case SendOutcome::sent:
            return finish(job, sent_result(*job, r, request_id));
        case SendOutcome::auth_expired:
            return on_token_refused(job, r, c, request_id);
        case SendOutcome::throttled: {
            // Retry-After, else a time the answer names (a daily sending limit), else backoff.
            int64_t wait = retry_after          ? *retry_after
                           : c.retry_at_unix_ms ? std::max<int64_t>(*c.retry_at_unix_ms - host_.now_unix_ms(), 0)
                                                : send_backoff_ms(job->attempts);
            pause_mailbox(job->account, wait);  // throttling is per mailbox: its other messages wait too
            if (job->attempts < settings_.max_send_attempts && wait <= settings_.max_throttle_wait_ms &&
                !stopping_requested())
                return requeue_after(job, wait);
            std::string doc = result(*job, "throttled", c.code, c.user_message, wait, request_id);
            // The mailbox's daily limit: the host holds every message of it until then (SCHEMAS.md).
            if (c.sending_limit) doc.insert(doc.size() - 1, ",\"sending_limit\":\"daily\"");
            return finish(job, std::move(doc));
        }
        case SendOutcome::indeterminate:
            if (retry_after) pause_mailbox(job->account, *retry_after);  // 503 + Retry-After: give the mailbox a rest
            return finish(job,
                          result(*job, "indeterminate", c.code, c.user_message, retry_after.value_or(-1), request_id));
        case SendOutcome::rejected:
            log_(EP_LOG_INFO,
                 "message " + job->client_request_id + " for account " + job->account + " rejected: " + c.code);
            return finish(job, result(*job, "rejected", c.code, c.user_message, -1, request_id));
        case SendOutcome::transient:
            return finish(job, result(*job, "transient", c.code, c.user_message, -1, request_id));
    }
}

void SendEngine::on_token_refused(const JobPtr& job, const HttpResponse& r, const SendClassification& c,
                                  const std::string& request_id) {
    SendProtocol::TokenRefusal refusal = protocol_.token_refused(r, c);
    if (refusal.refresh_may_cure && !job->retried_after_401) {
        job->retried_after_401 = true;
        return tokens_.acquire(job->account, job->token,
                               [this, job](TokenOutcome t) { send_with_token(job, std::move(t)); });
    }
    // Refused again with a fresh token, or refused for good: only signing in again helps, and
    // until then nothing may retry (the host holds the message while not connected).
    end_connection(job, std::move(refusal.end), request_id);
}

void SendEngine::end_connection(const JobPtr& job, ConnectionEnd end, const std::string& request_id) {
    std::string message = end.message + " The message was not sent.";
    std::string code = end.state == GrantState::permission_denied ? "permission_denied" : end.code;
    tokens_.end_connection(job->account, job->token, std::move(end), [this, job, code, message, request_id] {
        finish(job, result(*job, "auth_expired", code, message, -1, request_id));
    });
}

void SendEngine::pause_mailbox(const std::string& account, int64_t delay_ms) {
    Ready ready;
    {
        std::lock_guard lock(mutex_);
        Mailbox& mb = mailboxes_[account];
        mb.paused_until = std::max(mb.paused_until, Clock::now() + std::chrono::milliseconds(delay_ms));
        pump(account, ready);
    }
    dispatch(std::move(ready));
}

void SendEngine::requeue_after(const JobPtr& job, int64_t delay_ms) {
    Ready to_start;
    {
        std::lock_guard lock(mutex_);
        if (job->in_flight) {
            // Its slot goes to the mailbox's other messages meanwhile (unless the mailbox is paused).
            job->in_flight = false;
            --mailboxes_[job->account].in_flight;
            pump(job->account, to_start);
        }
    }
    dispatch(std::move(to_start));
    http_.schedule(Clock::now() + std::chrono::milliseconds(delay_ms), [this, job](bool) {
        Ready ready;
        bool stopping;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
            if (!stopping) {
                mailboxes_[job->account].queue.push_front(job);
                ++queued_;
                pump(job->account, ready);
            }
        }
        if (stopping)
            return deliver(
                job, result(*job, "transient", "cancelled", "The provider shut down before the message was sent."));
        dispatch(std::move(ready));
    });
}

bool SendEngine::stopping_requested() {
    std::lock_guard lock(mutex_);
    return stopping_;
}

void SendEngine::finish(const JobPtr& job, std::string result_json) {
    Ready to_start;
    {
        std::lock_guard lock(mutex_);
        if (job->in_flight) {
            job->in_flight = false;
            auto it = mailboxes_.find(job->account);
            if (it != mailboxes_.end()) {
                --it->second.in_flight;
                pump(job->account, to_start);
            }
        }
    }
    dispatch(std::move(to_start));
    deliver(job, std::move(result_json));
}

void SendEngine::deliver(const JobPtr& job, std::string result_json) {
    auto run = [this, job, result_json = std::move(result_json)](bool) {
        job->done(result_json);
        std::lock_guard lock(mutex_);
        --pending_;
        drained_.notify_all();
    };
    if (http_.on_io_thread() && io_thread_submit_depth_ == 0)
        run(false);
    else
        http_.schedule(Clock::now(), std::move(run));
}

void SendEngine::cancel_account(const std::string& account) {
    std::deque<JobPtr> cancelled;
    {
        std::lock_guard lock(mutex_);
        auto it = mailboxes_.find(account);
        if (it == mailboxes_.end()) return;
        cancelled.swap(it->second.queue);
        queued_ -= cancelled.size();
    }
    for (auto& job : cancelled)
        deliver(job, result(*job, "auth_expired", "disconnected",
                            "The account was disconnected before this message was sent."));
}

void SendEngine::shutdown() {
    std::vector<JobPtr> cancelled;
    {
        std::unique_lock lock(mutex_);
        if (!stopping_) {
            stopping_ = true;
            for (auto& [account, mb] : mailboxes_) {
                for (auto& job : mb.queue) cancelled.push_back(std::move(job));
                mb.queue.clear();
            }
            queued_ = 0;
        }
    }
    for (auto& job : cancelled)
        deliver(job, result(*job, "transient", "cancelled", "The provider shut down before the message was sent."));
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [&] { return pending_ == 0; });
}

}  // namespace ep::kit
