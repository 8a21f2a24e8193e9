#include "isolated_provider.hpp"

#include "../message_check.hpp"
#include "outcomes.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/array.hpp>

#include <algorithm>

namespace ep::loader::isolated {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

const json::value& member(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) throw channel::ProtocolError("hello's result has no \"" + std::string(key) + "\"");
    return *v;
}

// "5 minutes", "90 s": a quarantine window as people read it.
std::string window_text(milliseconds d) {
    if (d.count() % 60'000 == 0)
        return std::to_string(d.count() / 60'000) + (d.count() == 60'000 ? " minute" : " minutes");
    return duration_text(d);
}

}  // namespace

IsolatedProvider::IsolatedProvider(const Manifest& manifest, const ep_host_api* host, std::string_view config_json,
                                   const IsolationOptions& options, std::filesystem::path runner)
    : host_(host),
      config_(config_json),
      options_(options),
      runner_(std::move(runner)),
      who_(manifest.display_name.empty() ? manifest.id : manifest.display_name) {
    info_.manifest = manifest;
}

IsolatedProvider::~IsolatedProvider() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    supervisor_cv_.notify_all();
    if (supervisor_.joinable()) supervisor_.join();  // never this thread: it runs no callback of the host's
    // No other thread changes session_ or retired_ now.
    if (session_ && !session_->ended()) session_->shut_down(options_.deadlines.shutdown);
    if (session_) session_->join_reader();
    for (const auto& s : retired_) s->join_reader();
    // The pools (members) then run the completions the readers posted last, and stop.
}

void IsolatedProvider::start() {
    std::shared_ptr<RunnerSession> first = start_session(true);
    std::lock_guard lock(mutex_);
    session_ = std::move(first);
    state_ = State::running;
    supervisor_ = std::thread([this] { supervise(); });
}

std::shared_ptr<RunnerSession> IsolatedProvider::start_session(bool first) {
    const Clock::time_point spawned = Clock::now();
    SessionContext context{host_, who_, &completions_, &services_, [this] {
                               std::lock_guard lock(mutex_);
                               supervisor_cv_.notify_all();
                           }};
    std::shared_ptr<RunnerSession> session =
        RunnerSession::start(RunnerProcess::spawn(runner_, options_), std::move(context));
    try {
        say_hello(*session, first);
    } catch (...) {
        // Its reader must be done before this returns: a host-service task may keep the session
        // alive past the provider, and a reader reports to the provider.
        session->kill("it failed to start");
        session->join_reader();
        throw;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - spawned).count();
    if (host_->log_enabled(host_->host_ctx, EP_LOG_DEBUG)) {
        const std::string line = "provider '" + info_.manifest.id + "': runner " + std::to_string(session->pid()) +
                                 " ready in " + std::to_string(ms) + " ms";
        host_->log(host_->host_ctx, EP_LOG_DEBUG, ep_str{line.data(), line.size()});
    }
    return session;
}

void IsolatedProvider::say_hello(RunnerSession& session, bool first) {
    int32_t log_levels = 0;
    for (ep_log_level level = EP_LOG_TRACE; level <= EP_LOG_ERROR; ++level)
        if (host_->log_enabled(host_->host_ctx, level)) log_levels |= int32_t{1} << level;
    const Reply reply = session.call("hello",
                                     json::object{{"manifest", info_.manifest.manifest_path.string()},
                                                  {"config", config_},
                                                  {"host_abi_minor", options_.host_abi_minor},
                                                  {"log_levels", log_levels}},
                                     options_.deadlines.hello);
    const std::string prefix =
        "provider '" + info_.manifest.id + "' (manifest " + info_.manifest.manifest_path.string() + "): ";
    if (reply.error) throw LoadError(error_message(*reply.error));  // the runner's loader said it
    if (!reply.result)
        throw LoadError(prefix + (reply.failure_code == "deadline_exceeded"
                                      ? "its runner " + reply.failure
                                      : "its runner died while loading the provider (" + reply.failure + ")"));
    if (!first) return;  // info() stays what the first runner said: read by any thread since
    try {
        read_hello(reply);
    } catch (const std::exception& e) {
        throw LoadError(prefix + "its runner answered hello with a malformed result: " + e.what());
    }
}

void IsolatedProvider::read_hello(const Reply& reply) {
    if (!reply.result->is_object()) throw channel::ProtocolError("hello's result is not an object");
    const json::object& r = reply.result->as_object();
    info_.provider_name = channel::string_member(r, "provider_name");
    info_.provider_version = channel::string_member(r, "provider_version");
    info_.abi_major = static_cast<uint16_t>(channel::integer_member(r, "abi_major"));
    info_.abi_minor = static_cast<uint16_t>(channel::integer_member(r, "abi_minor"));
    info_.plugin_abi_minor = static_cast<uint16_t>(channel::integer_member(r, "plugin_abi_minor"));
    info_.capabilities = static_cast<uint64_t>(channel::integer_member(r, "capabilities"));
    info_.can_check = member(r, "can_check").as_bool();
    info_.threads_messages = member(r, "threads_messages").as_bool();
    for (const json::value& w : member(r, "warnings").as_array()) info_.warnings.emplace_back(w.as_string());
}

// ---- Calls ---------------------------------------------------------------------------

std::shared_ptr<RunnerSession> IsolatedProvider::usable_session(Unavailable& why) const {
    std::lock_guard lock(mutex_);
    if (state_ == State::running) return session_;
    why.code = state_ == State::quarantined ? "provider_quarantined" : "provider_restarting";
    why.message = who_ + " is unavailable: " + reason_locked() + ".";
    return nullptr;
}

CallResult IsolatedProvider::call(std::string_view method, std::string_view account, const std::string* document,
                                  milliseconds deadline, std::string_view activity) {
    Unavailable why;
    std::shared_ptr<RunnerSession> session = usable_session(why);
    if (!session) return CallResult{EP_ERR_INTERNAL, ep::sdk::error_document(why.code, why.message)};
    json::object params{{"account", account}};
    if (document != nullptr) params["document"] = *document;
    return result_of(*session, session->call(method, std::move(params), deadline), method, activity);
}

CallResult IsolatedProvider::result_of(RunnerSession& session, const Reply& reply, std::string_view method,
                                       std::string_view activity) const {
    if (reply.result) {
        try {
            return call_result_of(*reply.result);
        } catch (const channel::ProtocolError& e) {
            const std::string cause = std::string("it broke the channel protocol: ") + e.what();
            session.kill(cause);
            return CallResult{EP_ERR_INTERNAL,
                              ep::sdk::error_document("provider_crashed", crashed_message(who_, cause, activity))};
        }
    }
    if (reply.error)
        return CallResult{EP_ERR_INTERNAL,
                          ep::sdk::error_document("internal", who_ + "'s runner could not run " + std::string(method) +
                                                                  ": " + error_message(*reply.error))};
    if (reply.failure_code == "deadline_exceeded")
        return CallResult{
            EP_ERR_INTERNAL,
            ep::sdk::error_document("deadline_exceeded", who_ + " did not answer in time while " +
                                                             std::string(activity) + " (" + reply.failure +
                                                             "); it was stopped and restarts: try again in a moment.")};
    return CallResult{EP_ERR_INTERNAL,
                      ep::sdk::error_document("provider_crashed", crashed_message(who_, reply.failure, activity))};
}

CallResult IsolatedProvider::begin_connect(std::string_view account, std::string_view request_json) {
    const std::string document(request_json);
    return call("begin_connect", account, &document, options_.deadlines.quick, "connecting");
}

CallResult IsolatedProvider::complete_connect(std::string_view account, std::string_view callback_json) {
    const std::string document(callback_json);
    return call("complete_connect", account, &document, options_.deadlines.slow, "connecting");
}

CallResult IsolatedProvider::status(std::string_view account) {
    return call("get_status", account, nullptr, options_.deadlines.quick, "reading the connection's status");
}

CallResult IsolatedProvider::disconnect(std::string_view account) {
    return call("disconnect", account, nullptr, options_.deadlines.slow, "disconnecting");
}

CallResult IsolatedProvider::forget_account(std::string_view account) {
    return call("forget_account", account, nullptr, options_.deadlines.slow, "forgetting the account");
}

CallResult IsolatedProvider::sending_limits(std::string_view account) {
    return call("get_sending_limits", account, nullptr, options_.deadlines.quick, "reading the sending limits");
}

std::optional<CallResult> IsolatedProvider::send(std::string_view account, std::string_view message_json,
                                                 SendDone done) {
    std::string client_request_id;
    if (auto refusal = refuse_invalid_message(message_json, &client_request_id)) return refusal;
    Unavailable why;
    std::shared_ptr<RunnerSession> session = usable_session(why);
    // transient: certainly not sent, so hosts retry it later (SCHEMAS.md ep.send_result/1).
    if (!session)
        return CallResult{
            EP_ERR_INTERNAL,
            send_result_document("transient", why.code, why.message + " The message was not sent.", client_request_id)};
    return session->send(account, message_json, std::move(client_request_id), std::move(done), options_.deadlines);
}

void IsolatedProvider::check_connection(std::string_view account, CheckDone done) {
    Unavailable why;
    std::shared_ptr<RunnerSession> session = usable_session(why);
    if (!session) {
        done(CallResult{EP_OK, check_failed_document(why.code, why.message)});
        return;
    }
    session->check(account, std::move(done), options_.deadlines.check);
}

// ---- Crashes, restarts, quarantine -----------------------------------------------------

std::optional<std::string> IsolatedProvider::unavailable_reason() const {
    std::lock_guard lock(mutex_);
    if (state_ != State::quarantined) return std::nullopt;
    return reason_locked();
}

std::optional<std::string> IsolatedProvider::restarting() const {
    std::lock_guard lock(mutex_);
    if (state_ != State::restarting) return std::nullopt;
    return reason_locked();
}

std::string IsolatedProvider::reason_locked() const {
    if (state_ == State::quarantined)
        return "quarantined: stopped unexpectedly " + std::to_string(crashes_.size()) + " times in " +
               window_text(options_.restart.quarantine_window) + " (last: " + last_failure_ + ")";
    const auto left = std::chrono::ceil<std::chrono::seconds>(std::max(restart_at_ - Clock::now(), Clock::duration{}));
    return "restarting after it stopped unexpectedly (" + last_failure_ + "); back in " + std::to_string(left.count()) +
           " s";
}

void IsolatedProvider::supervise() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (state_ == State::running && session_->ended()) {
            const std::string how = session_->end_description();
            retired_.push_back(std::move(session_));
            note_crash(lock, how);
            const std::string line = "provider '" + info_.manifest.id + "' " + reason_locked();
            const bool quarantined = state_ == State::quarantined;
            lock.unlock();  // the host's log and observer are host code: never under this lock
            host_->log(host_->host_ctx, EP_LOG_WARN, ep_str{line.data(), line.size()});
            report_crash(quarantined);
            lock.lock();
            continue;  // stopping_ may have changed meanwhile
        }
        if (state_ == State::restarting && Clock::now() >= restart_at_) {
            restart(lock);
            const bool restarted = state_ == State::running, quarantined = state_ == State::quarantined;
            lock.unlock();
            if (restarted)
                report(RunnerEvent::restarted);
            else
                report_crash(quarantined);  // the new runner failed to start: a crash too
            lock.lock();
            continue;
        }
        Clock::time_point next = session_ ? session_->expire(Clock::now()) : Clock::time_point::max();
        if (state_ == State::restarting) next = std::min(next, restart_at_);
        if (next == Clock::time_point::max())
            supervisor_cv_.wait(lock);
        else
            supervisor_cv_.wait_until(lock, next);
    }
}

// Counts a crash (or a runner that failed to start again): quarantined after
// quarantine_crashes within quarantine_window, else restarted after a backoff that doubles
// with each crash in the window.
void IsolatedProvider::note_crash(std::unique_lock<std::mutex>&, const std::string& how) {
    const Clock::time_point now = Clock::now();
    const RestartPolicy& policy = options_.restart;
    crashes_.push_back(now);
    while (!crashes_.empty() && crashes_.front() <= now - policy.quarantine_window) crashes_.pop_front();
    last_failure_ = how;
    if (static_cast<int>(crashes_.size()) >= policy.quarantine_crashes) {
        state_ = State::quarantined;
        return;
    }
    milliseconds backoff = policy.first_backoff;
    for (std::size_t i = 1; i < crashes_.size() && backoff < policy.max_backoff; ++i) backoff *= 2;
    restart_at_ = now + std::min(backoff, policy.max_backoff);
    state_ = State::restarting;
}

void IsolatedProvider::report(RunnerEvent event) const {
    if (options_.on_runner_event) options_.on_runner_event(info_.manifest.id, event);
}

void IsolatedProvider::report_crash(bool quarantined) const {
    report(RunnerEvent::crashed);
    if (quarantined) report(RunnerEvent::quarantined);
}

void IsolatedProvider::restart(std::unique_lock<std::mutex>& lock) {
    std::vector<std::shared_ptr<RunnerSession>> ended = std::move(retired_);
    retired_.clear();
    lock.unlock();
    for (const auto& s : ended) s->join_reader();
    ended.clear();
    std::shared_ptr<RunnerSession> fresh;
    std::string failure;
    try {
        fresh = start_session(false);
    } catch (const std::exception& e) {
        failure = e.what();
    }
    lock.lock();
    if (fresh) {
        session_ = std::move(fresh);
        state_ = State::running;
    } else {
        note_crash(lock, failure);
    }
}

}  // namespace ep::loader::isolated

namespace ep::loader {

std::unique_ptr<Provider> start_isolated(const Manifest& manifest, const ep_host_api* host,
                                         std::string_view config_json, const IsolationOptions& options) {
    std::filesystem::path runner;
    try {
        runner = isolated::find_runner(options);
    } catch (const LoadError& e) {
        throw LoadError("provider '" + manifest.id + "' (manifest " + manifest.manifest_path.string() +
                        "): " + e.what());
    }
    auto provider =
        std::make_unique<isolated::IsolatedProvider>(manifest, host, config_json, options, std::move(runner));
    provider->start();
    return provider;
}

}  // namespace ep::loader
