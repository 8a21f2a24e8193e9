// One runner process seen from the host: its channel, the reader thread, and every call still
// waiting for an answer (ISOLATION.md). A session ends once: when the runner crashes, is killed
// or shuts down; a restarted runner is a new session.
//
// Threads: callers block in call()/send() on their own condition variable; the reader thread
// answers them, records send_started, and posts host code (completions, host services) to the
// pools; the supervisor calls expire(). All the tables below are guarded by mutex_, which is
// never held while host code runs or while writing to the channel.
#pragma once

#include "../channel/channel.hpp"
#include "email_provider/isolation.hpp"
#include "email_provider/provider_loader.hpp"
#include "runner_process.hpp"
#include "task_pool.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ep::loader::isolated {

using Clock = std::chrono::steady_clock;

// What a session needs from its provider. The pools outlive every reader thread.
struct SessionContext {
    const ep_host_api* host = nullptr;
    std::string display_name;         // the manifest's, for messages people read
    TaskPool* completions = nullptr;  // send_done, check answers
    TaskPool* services = nullptr;     // now, secret_*
    std::function<void()> on_change;  // a session ended or a deadline was added
};

// A sync call's outcome: the runner's result or JSON-RPC error, else why there is none.
struct Reply {
    std::optional<boost::json::value> result;
    std::optional<boost::json::object> error;
    std::string failure_code;  // provider_crashed | deadline_exceeded, when neither came
    std::string failure;       // how the runner ended, or which deadline passed
};

// The {"status", "document"} a call answers; ProtocolError when it is not that.
CallResult call_result_of(const boost::json::value& result);
// A JSON-RPC error's message, for people.
std::string error_message(const boost::json::object& error);

class RunnerSession : public std::enable_shared_from_this<RunnerSession> {
public:
    static std::shared_ptr<RunnerSession> start(RunnerProcess process, SessionContext context);
    ~RunnerSession();
    RunnerSession(const RunnerSession&) = delete;
    RunnerSession& operator=(const RunnerSession&) = delete;

    // Requests `method` and waits at most `deadline`; past it the runner is killed.
    Reply call(std::string_view method, boost::json::object params, std::chrono::milliseconds deadline);
    // Requests `send` and returns at once (nullopt): `done` runs once on the completions pool,
    // with the runner's send_done, its refusal, or an outcome made here (a deadline, a crash).
    // Only when the runner had already ended is the refusal returned, and `done` never runs.
    std::optional<CallResult> send(std::string_view account, std::string_view message_json,
                                   std::string client_request_id, Provider::SendDone done,
                                   const CallDeadlines& deadlines);
    // Requests `check_connection`; `done` runs once on the completions pool.
    void check(std::string_view account, Provider::CheckDone done, std::chrono::milliseconds deadline);

    // Completes the sends and checks past their deadlines (a check's kills the runner); returns
    // the next deadline.
    Clock::time_point expire(Clock::time_point now);
    // Requests `shutdown`; waits for the runner to end, killing it past the deadline.
    void shut_down(std::chrono::milliseconds deadline);
    // Kills the runner; `cause` says why in what callers and later messages read.
    void kill(const std::string& cause);

    bool ended() const;
    std::string end_description() const;  // how it ended ("killed by signal 11, SIGSEGV")
    void join_reader();
    pid_t pid() const { return process_.pid(); }

private:
    struct Waiter {
        std::condition_variable cv;
        std::optional<boost::json::object> response;
        bool abandoned = false;  // the session ended first
    };
    struct Send {
        Provider::SendDone done;
        std::string client_request_id;
        bool started = false;                                   // its send_started was read
        bool accepting = true;                                  // the runner has not answered the request yet
        std::optional<std::string> early_result;                // send_done read before the acceptance
        Clock::time_point deadline = Clock::time_point::max();  // of the acceptance, then of send_done
        std::chrono::milliseconds accept_deadline{};
        std::chrono::milliseconds completion_deadline{};
    };
    struct Check {
        Provider::CheckDone done;
        Clock::time_point deadline;
        std::chrono::milliseconds limit{};
    };

    RunnerSession(RunnerProcess process, SessionContext context);
    boost::json::object stamped(boost::json::object params) const;
    uint64_t register_waiter(const std::shared_ptr<Waiter>& waiter);
    Reply wait(uint64_t id, const std::shared_ptr<Waiter>& waiter, std::string_view method,
               std::chrono::milliseconds deadline);
    bool write(const boost::json::object& message);

    bool channel_readable() const;
    void read_loop();
    void dispatch(boost::json::object message);
    void on_response(uint64_t id, boost::json::object message);
    void on_notification(std::string_view method, const boost::json::object& params);
    void serve(uint64_t id, const std::string& method, const boost::json::object& params);
    void finish(const std::optional<std::string>& protocol_error);
    void answer_unfinished(std::vector<Send>& sends, std::vector<Check>& checks);
    void on_send_response(std::map<uint64_t, Send>::iterator it, const boost::json::object& message,
                          std::unique_lock<std::mutex>& lock);
    bool schedule(Clock::time_point deadline);

    void complete_send(Send send, std::string result);
    void complete_check(Check check, CallResult status);

    RunnerProcess process_;
    SessionContext context_;
    channel::LineWriter writer_;
    std::thread reader_;

    mutable std::mutex mutex_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::shared_ptr<Waiter>> waiters_;
    std::map<uint64_t, Send> sends_;
    std::map<uint64_t, Check> checks_;
    Clock::time_point scheduled_ = Clock::time_point::max();  // when the supervisor next calls expire()
    std::optional<std::string> kill_cause_;                   // why the host killed it, when it did
    bool ended_ = false;
    std::string end_description_;
    std::condition_variable ended_cv_;
};

}  // namespace ep::loader::isolated
