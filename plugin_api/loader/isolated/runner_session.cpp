#include "runner_session.hpp"

#include "host_services.hpp"
#include "outcomes.hpp"

#include <boost/json/serialize.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <vector>

namespace ep::loader::isolated {
namespace json = boost::json;

namespace {

// How long a runner whose channel ended may take to exit before it is killed: it has nothing
// left to do once it closed the channel (or the host stopped reading it).
constexpr std::chrono::milliseconds kExitGrace{2'000};

}  // namespace

std::string error_message(const json::object& error) {
    const json::value* m = error.if_contains("message");
    return m != nullptr && m->is_string() ? std::string(m->as_string()) : std::string("(no message)");
}

CallResult call_result_of(const json::value& result) {
    if (!result.is_object()) throw channel::ProtocolError("a call's result is not an object");
    const json::object& o = result.as_object();
    return CallResult{static_cast<ep_status>(channel::integer_member(o, "status")),
                      std::string(channel::string_member(o, "document"))};
}

std::shared_ptr<RunnerSession> RunnerSession::start(RunnerProcess process, SessionContext context) {
    std::shared_ptr<RunnerSession> session(new RunnerSession(std::move(process), std::move(context)));
    session->reader_ = std::thread([s = session.get()] { s->read_loop(); });
    return session;
}

RunnerSession::RunnerSession(RunnerProcess process, SessionContext context)
    : process_(std::move(process)), context_(std::move(context)), writer_(process_.channel()) {}

RunnerSession::~RunnerSession() {
    if (reader_.joinable()) {
        process_.kill();  // its channel then ends, and so does the reader
        reader_.join();
    }
}

void RunnerSession::join_reader() {
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
}

bool RunnerSession::ended() const {
    std::lock_guard lock(mutex_);
    return ended_;
}

std::string RunnerSession::end_description() const {
    std::lock_guard lock(mutex_);
    return end_description_;
}

void RunnerSession::kill(const std::string& cause) {
    {
        std::lock_guard lock(mutex_);
        if (!ended_ && !kill_cause_) kill_cause_ = cause;
    }
    process_.kill();
}

bool RunnerSession::write(const json::object& message) {
    if (writer_.write(message)) return true;
    // The runner stopped reading: it is going or gone. Make sure it goes; the reader then
    // finishes every waiting call with how it ended.
    process_.kill();
    return false;
}

// Every request carries the host's clock: the runner's clock is the host's as of the last
// request, run on from there (ISOLATION.md), so that a plugin's reading costs no round trip.
json::object RunnerSession::stamped(json::object params) const {
    params["now"] = context_.host->now_unix_ms(context_.host->host_ctx);
    return params;
}

uint64_t RunnerSession::register_waiter(const std::shared_ptr<Waiter>& waiter) {
    std::lock_guard lock(mutex_);
    if (ended_) return 0;
    const uint64_t id = next_id_++;
    waiters_.emplace(id, waiter);
    return id;
}

Reply RunnerSession::call(std::string_view method, json::object params, std::chrono::milliseconds deadline) {
    auto waiter = std::make_shared<Waiter>();
    const uint64_t id = register_waiter(waiter);
    if (id == 0) return Reply{std::nullopt, std::nullopt, "provider_crashed", end_description()};
    write(channel::request(id, method, stamped(std::move(params))));
    return wait(id, waiter, method, deadline);
}

Reply RunnerSession::wait(uint64_t id, const std::shared_ptr<Waiter>& waiter, std::string_view method,
                          std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    waiter->cv.wait_for(lock, deadline, [&] { return waiter->response || waiter->abandoned; });
    if (waiter->response) {
        json::object& r = *waiter->response;
        if (const json::value* result = r.if_contains("result")) return Reply{*result, std::nullopt, {}, {}};
        const json::value* error = r.if_contains("error");
        if (error != nullptr && error->is_object()) return Reply{std::nullopt, error->as_object(), {}, {}};
        return Reply{std::nullopt, json::object{{"message", "an answer with neither result nor error"}}, {}, {}};
    }
    if (waiter->abandoned) return Reply{std::nullopt, std::nullopt, "provider_crashed", end_description_};
    waiters_.erase(id);
    lock.unlock();
    const std::string cause = std::string(method) + " did not answer within " + duration_text(deadline);
    kill("killed after " + cause);
    return Reply{std::nullopt, std::nullopt, "deadline_exceeded", cause};
}

std::optional<CallResult> RunnerSession::send(std::string_view account, std::string_view message_json,
                                              std::string client_request_id, Provider::SendDone done,
                                              const CallDeadlines& deadlines) {
    uint64_t id = 0;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (!ended_) {
            id = next_id_++;
            auto [it, added] =
                sends_.emplace(id, Send{std::move(done), client_request_id, false, true, std::nullopt,
                                        Clock::now() + deadlines.quick, deadlines.quick, deadlines.send_completion});
            wake = schedule(it->second.deadline);
        }
    }
    if (id == 0)
        return CallResult{EP_ERR_INTERNAL, unfinished_send_document(
                                               false, "provider_crashed",
                                               stopped_while(context_.display_name, end_description(), "sending") + ".",
                                               client_request_id)};
    if (wake) context_.on_change();
    // Not waited for: the caller goes on, and the runner's acceptance or refusal is read by the
    // reader (on_send_response). A caller waiting here would cost a wake-up per send.
    write(channel::request(id, "send", stamped(json::object{{"account", account}, {"document", message_json}})));
    return std::nullopt;
}

// The runner's answer to a `send`: accepted (its send_done, or the completion deadline, ends it)
// or refused (the refusal goes to `done`). Called on the reader with mutex_ held by `lock`.
void RunnerSession::on_send_response(std::map<uint64_t, Send>::iterator it, const json::object& message,
                                     std::unique_lock<std::mutex>& lock) {
    std::optional<CallResult> outcome;
    // A malformed result throws ProtocolError: the reader ends the channel, and the end answers
    // this send with the others.
    if (const json::value* result = message.if_contains("result")) outcome = call_result_of(*result);
    if (outcome && outcome->ok()) {
        it->second.accepting = false;
        it->second.deadline = Clock::now() + it->second.completion_deadline;
        if (std::optional<std::string> result = std::move(it->second.early_result)) {
            Send accepted = std::move(it->second);
            sends_.erase(it);
            lock.unlock();
            complete_send(std::move(accepted), std::move(*result));
        } else if (schedule(it->second.deadline)) {
            lock.unlock();
            context_.on_change();
        }
        return;
    }
    Send refused = std::move(it->second);
    sends_.erase(it);
    lock.unlock();
    if (outcome) return complete_send(std::move(refused), std::move(outcome->document));
    const json::value* error = message.if_contains("error");
    const std::string why = error != nullptr && error->is_object() ? error_message(error->as_object()) : "no answer";
    const std::string crid = refused.client_request_id;
    complete_send(std::move(refused),
                  send_result_document("transient", "internal",
                                       context_.display_name + "'s runner could not take the message: " + why, crid));
}

void RunnerSession::check(std::string_view account, Provider::CheckDone done, std::chrono::milliseconds deadline) {
    uint64_t id = 0;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (!ended_) {
            id = next_id_++;
            auto [it, added] = checks_.emplace(id, Check{std::move(done), Clock::now() + deadline, deadline});
            wake = schedule(it->second.deadline);
        }
    }
    if (id == 0) {
        complete_check(Check{std::move(done), {}, deadline},
                       CallResult{EP_OK, check_failed_document("provider_crashed",
                                                               crashed_message(context_.display_name, end_description(),
                                                                               "checking the connection"))});
        return;
    }
    if (wake) context_.on_change();
    write(channel::request(id, "check_connection", stamped(json::object{{"account", account}})));
}

Clock::time_point RunnerSession::expire(Clock::time_point now) {
    std::vector<Send> sends;
    std::vector<Check> checks;
    std::optional<std::chrono::milliseconds> hung;  // a send not taken in time
    Clock::time_point next = Clock::time_point::max();
    {
        std::lock_guard lock(mutex_);
        for (auto it = sends_.begin(); it != sends_.end();) {
            if (it->second.accepting && it->second.deadline <= now) {
                // The runner did not even take the message: it is stuck. Killed below; its end
                // answers this send (transient or indeterminate, by send_started) with the others.
                hung = it->second.accept_deadline;
                it->second.deadline = Clock::time_point::max();
                ++it;
            } else if (!it->second.accepting && it->second.deadline <= now) {
                sends.push_back(std::move(it->second));
                it = sends_.erase(it);
            } else {
                next = std::min(next, it->second.deadline);
                ++it;
            }
        }
        for (auto it = checks_.begin(); it != checks_.end();) {
            if (it->second.deadline <= now) {
                checks.push_back(std::move(it->second));
                it = checks_.erase(it);
            } else {
                next = std::min(next, it->second.deadline);
                ++it;
            }
        }
        scheduled_ = next;
    }
    const std::string& who = context_.display_name;
    if (hung) kill("killed after send did not answer within " + duration_text(*hung));
    // The runner keeps running for a send (its late send_done is dropped: no entry is left) ...
    for (Send& s : sends) {
        const std::string message =
            who + " did not report the outcome within " + duration_text(s.completion_deadline) + ".";
        const std::string crid = s.client_request_id;
        complete_send(std::move(s), unfinished_send_document(true, "deadline_exceeded", message, crid));
    }
    // ... but not for a check: the runner is stuck in it (ISOLATION.md's fault table).
    for (Check& c : checks) {
        const std::string cause = "check_connection did not answer within " + duration_text(c.limit);
        kill("killed after " + cause);
        complete_check(std::move(c),
                       CallResult{EP_OK, check_failed_document("deadline_exceeded", who +
                                                                                        " did not finish checking the "
                                                                                        "connection in time (" +
                                                                                        cause + ").")});
    }
    return next;
}

// Called with mutex_ held. Every send's completion deadline is the same length, so a new one is
// almost never the earliest: the supervisor is woken only when it is, not once per send.
bool RunnerSession::schedule(Clock::time_point deadline) {
    if (deadline >= scheduled_) return false;
    scheduled_ = deadline;
    return true;
}

void RunnerSession::shut_down(std::chrono::milliseconds deadline) {
    const Clock::time_point until = Clock::now() + deadline;
    call("shutdown", json::object{}, deadline);  // kills it past the deadline
    std::unique_lock lock(mutex_);
    if (!ended_cv_.wait_until(lock, std::max(until, Clock::now() + kExitGrace), [&] { return ended_; })) {
        lock.unlock();
        kill("killed after it did not exit within " + duration_text(deadline) + " of shutdown");
    } else {
        lock.unlock();
    }
    join_reader();
}

void RunnerSession::complete_send(Send send, std::string result) {
    context_.completions->post([done = std::move(send.done), result = std::move(result)] {
        try {
            done(result);
        } catch (...) {
            // A host callback's exception has nowhere to go: the pool thread must carry on.
        }
    });
}

void RunnerSession::complete_check(Check check, CallResult status) {
    context_.completions->post([done = std::move(check.done), status = std::move(status)] {
        try {
            done(status);
        } catch (...) {
            // As complete_send.
        }
    });
}

// ---- The reader thread ---------------------------------------------------------------

// Waits until the channel has bytes (true) or the runner ended with none left to read (false).
// Watching the pidfd too catches a runner that died while a process it forked still holds its
// end of the channel open: no end of stream would ever come.
bool RunnerSession::channel_readable() const {
    pollfd fds[2] = {{process_.channel(), POLLIN, 0}, {process_.pidfd(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0)
        if (errno != EINTR) return true;  // let the read report it
    return fds[0].revents != 0 || fds[1].revents == 0;
}

void RunnerSession::read_loop() {
    channel::LineReader reader;
    std::optional<std::string> protocol_error;
    try {
        while (channel_readable()) {
            const std::string bytes = channel::read_some(process_.channel());
            if (bytes.empty()) break;  // end of stream
            reader.feed(bytes);
            while (std::optional<json::object> message = reader.next()) dispatch(std::move(*message));
        }
    } catch (const std::exception& e) {  // ProtocolError, or a member of the wrong JSON type
        protocol_error = e.what();
    }
    finish(protocol_error);
}

void RunnerSession::dispatch(json::object message) {
    const std::optional<std::string_view> method = channel::method_of(message);
    const std::optional<uint64_t> id = channel::id_of(message);
    if (!method) {
        if (!id) throw channel::ProtocolError("a response without an id");
        on_response(*id, std::move(message));
    } else if (id) {
        context_.services->post([self = shared_from_this(), id = *id, method = std::string(*method),
                                 params = channel::params_of(message)] { self->serve(id, method, params); });
    } else {
        on_notification(*method, channel::params_of(message));
    }
}

void RunnerSession::serve(uint64_t id, const std::string& method, const json::object& params) {
    write(answer_host_request(*context_.host, id, method, params));
}

void RunnerSession::on_response(uint64_t id, json::object message) {
    std::unique_lock lock(mutex_);
    if (auto w = waiters_.find(id); w != waiters_.end()) {
        w->second->response = std::move(message);
        w->second->cv.notify_all();
        waiters_.erase(w);
        return;
    }
    if (auto s = sends_.find(id); s != sends_.end() && s->second.accepting) return on_send_response(s, message, lock);
    auto c = checks_.find(id);
    if (c == checks_.end()) return;  // an answer after its deadline: dropped
    Check check = std::move(c->second);
    checks_.erase(c);
    lock.unlock();
    CallResult status{EP_OK, check_failed_document("internal", context_.display_name + "'s runner could not check")};
    if (const json::value* result = message.if_contains("result")) {
        try {
            status = call_result_of(*result);
        } catch (const channel::ProtocolError&) {
            complete_check(std::move(check), std::move(status));
            throw;  // the channel is broken: the reader ends it
        }
    } else if (const json::value* error = message.if_contains("error"); error && error->is_object())
        status.document = check_failed_document(
            "internal", context_.display_name + "'s runner could not check: " + error_message(error->as_object()));
    complete_check(std::move(check), std::move(status));
}

void RunnerSession::on_notification(std::string_view method, const json::object& params) {
    if (method == "log") {
        const ep_host_api& host = *context_.host;
        const std::string_view text = channel::string_member(params, "message");
        const int64_t level = channel::integer_member(params, "level");
        if (level < EP_LOG_TRACE || level > EP_LOG_ERROR) throw channel::ProtocolError("a log line's level is unknown");
        host.log(host.host_ctx, static_cast<ep_log_level>(level), ep_str{text.data(), text.size()});
        return;
    }
    if (method == "count_event") {
        // Host code, so on the services pool like the secret store, never on this reader.
        context_.services->post([host = context_.host, event = std::string(channel::string_member(params, "event")),
                                 outcome = std::string(channel::string_member(params, "outcome"))] {
            count_host_event(*host, event, outcome);
        });
        return;
    }
    if (method != "send_started" && method != "send_done") return;  // a newer runner's news: not ours
    const auto id = static_cast<uint64_t>(channel::integer_member(params, "id"));
    std::string document;
    if (method == "send_done") document = channel::string_member(params, "document");
    std::unique_lock lock(mutex_);
    auto it = sends_.find(id);
    if (it == sends_.end()) return;  // after its deadline: dropped
    if (method == "send_started") {
        it->second.started = true;
    } else if (it->second.accepting) {
        it->second.early_result = std::move(document);
    } else {
        Send send = std::move(it->second);
        sends_.erase(it);
        lock.unlock();
        complete_send(std::move(send), std::move(document));
    }
}

// The channel ended: find out how the runner ended, then answer everything still waiting.
void RunnerSession::finish(const std::optional<std::string>& protocol_error) {
    if (protocol_error) process_.kill();
    std::optional<std::string> how = process_.wait_exit(kExitGrace);
    if (!how) {
        process_.kill();
        how = process_.wait_exit(std::chrono::milliseconds(-1));
    }
    std::vector<Send> sends;
    std::vector<Check> checks;
    {
        std::lock_guard lock(mutex_);
        end_description_ = kill_cause_      ? *kill_cause_
                           : protocol_error ? "it broke the channel protocol: " + *protocol_error
                                            : *how;
        ended_ = true;
        for (auto& [id, waiter] : waiters_) {
            waiter->abandoned = true;
            waiter->cv.notify_all();
        }
        waiters_.clear();
        for (auto& [id, send] : sends_) sends.push_back(std::move(send));
        sends_.clear();
        for (auto& [id, check] : checks_) checks.push_back(std::move(check));
        checks_.clear();
        ended_cv_.notify_all();
    }
    answer_unfinished(sends, checks);
    context_.on_change();
}

void RunnerSession::answer_unfinished(std::vector<Send>& sends, std::vector<Check>& checks) {
    const std::string how = end_description();
    for (Send& s : sends) {
        const std::string crid = s.client_request_id;
        const bool started = s.started;
        complete_send(std::move(s),
                      unfinished_send_document(started, "provider_crashed",
                                               stopped_while(context_.display_name, how, "sending") + ".", crid));
    }
    for (Check& c : checks)
        complete_check(
            std::move(c),
            CallResult{EP_OK, check_failed_document("provider_crashed", crashed_message(context_.display_name, how,
                                                                                        "checking the connection"))});
}

}  // namespace ep::loader::isolated
