// Asynchronous sending through a provider's API (its SendProtocol): a bounded queue, at most N
// requests in flight per mailbox (Graph's Outlook limit is 4), throttling honoured per mailbox
// so one throttled mailbox never slows another, one token refresh and retry on 401, and
// automatic retries only when the request certainly did not take effect. Every accepted send
// gets exactly one completion, on a plugin thread.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/send_outcome.hpp"
#include "ep_kit/send_protocol.hpp"
#include "ep_kit/token_manager.hpp"

#include <email_provider/ep_sdk.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ep::kit {

class SendEngine {
public:
    using Log = std::function<void(ep_log_level, const std::string&)>;

    SendEngine(SendSettings settings, const SendProtocol& protocol, HttpEngine& http, TokenManager& tokens,
               ep::sdk::Host host, Log log);
    ~SendEngine();  // shutdown() if not done

    // Validates and queues; see ep::sdk::Provider::send.
    ep::sdk::SendAdmission submit(std::string_view account, std::string_view message_json, ep::sdk::SendCallback done);

    // Queued sends of the account complete as auth_expired ("disconnected"); in-flight ones finish.
    void cancel_account(const std::string& account);

    // Stops accepting; queued sends complete as transient ("cancelled"); waits for in-flight
    // ones. No completion runs after this returns.
    void shutdown();

private:
    struct Job;
    struct Mailbox {
        int in_flight = 0;
        std::deque<std::shared_ptr<Job>> queue;
        std::chrono::steady_clock::time_point paused_until{};
        bool resume_scheduled = false;
    };

    using JobPtr = std::shared_ptr<Job>;
    // What pump decided, acted on outside the lock.
    struct Ready {
        std::vector<JobPtr> start;                          // may go now
        std::vector<std::pair<JobPtr, int64_t>> throttled;  // mailbox paused too long: back to the host
    };
    void pump(const std::string& account, Ready& ready);  // under mutex_
    void dispatch(Ready ready);
    void send_with_token(const JobPtr& job, TokenOutcome token);
    void on_response(const JobPtr& job, HttpResponse&& response);
    // The API refused the token (401, or 403 for a removed permission): one retry with a fresh
    // token where a refresh can cure it, otherwise the connection ends.
    void on_token_refused(const JobPtr& job, const HttpResponse& response, const SendClassification& verdict,
                          const std::string& request_id);
    void pause_mailbox(const std::string& account, int64_t delay_ms);
    // The connection is over until the user reconnects: record that, then finish as auth_expired.
    void end_connection(const JobPtr& job, ConnectionEnd end, const std::string& request_id);
    // Takes an in-flight job out of its slot and queues it again (at the front) after a delay.
    void requeue_after(const JobPtr& job, int64_t delay_ms);
    bool stopping_requested();
    // Ends a job that was in flight: frees its mailbox slot and delivers its result.
    void finish(const JobPtr& job, std::string result_json);
    // Runs the host's callback on the I/O thread (never on a host thread).
    void deliver(const JobPtr& job, std::string result_json);
    void resume(const std::string& account);
    std::string result(const Job& job, std::string_view outcome, std::string_view code, std::string_view message,
                       int64_t retry_after_ms = -1, std::string_view request_id = {}) const;
    std::string sent_result(const Job& job, const HttpResponse& accepted, std::string_view request_id) const;

    const SendSettings settings_;
    const SendProtocol& protocol_;
    HttpEngine& http_;
    TokenManager& tokens_;
    ep::sdk::Host host_;
    Log log_;

    std::mutex mutex_;
    std::condition_variable drained_;
    std::unordered_map<std::string, Mailbox> mailboxes_;  // only accounts with work
    std::size_t queued_ = 0;                              // accepted, not yet started
    std::size_t pending_ = 0;                             // accepted, completion not yet delivered
    bool stopping_ = false;
    // How deep the I/O thread is inside submit() (a host callback may send again): a completion
    // decided there must not reach the host before send() has returned. Only the I/O thread
    // touches it. A member, not a thread_local: dynamic TLS in a dlopen'ed plugin is what GCC 12's
    // LeakSanitizer misreads at exit (a bogus DTLS range, then a crash of its tracer).
    int io_thread_submit_depth_ = 0;
};

}  // namespace ep::kit
