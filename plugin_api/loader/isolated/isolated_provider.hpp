// A provider served by an ep-provider-runner process (ISOLATION.md): what start_isolated
// returns. Private to the loader.
//
// Threads and what guards what (no data race by design):
// - mutex_ guards the state machine (state_, session_, retired_, crash times, restart time).
//   Callers take it only to pick the current session, never while waiting for a runner.
// - Each RunnerSession guards its own tables; its lock is taken after mutex_ (supervisor ->
//   expire()), never before it (the session's on_change takes mutex_ with no lock held).
// - The supervisor thread accounts crashes, restarts runners and expires deadlines; of the
//   host's code it calls only the log and on_runner_event, with mutex_ released. Readers call only the log too.
//   Completions and host services run on the two pools.
// - info_ is written once, before start_isolated returns, and only read afterwards.
#pragma once

#include "email_provider/provider_loader.hpp"
#include "runner_session.hpp"
#include "task_pool.hpp"

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ep::loader::isolated {

class IsolatedProvider final : public Provider {
public:
    IsolatedProvider(const Manifest& manifest, const ep_host_api* host, std::string_view config_json,
                     const IsolationOptions& options, std::filesystem::path runner);
    // Shuts the runner down (every accepted send called back first), or kills it past the
    // shutdown deadline. May run on any thread, one of the pools' included.
    ~IsolatedProvider() override;
    IsolatedProvider(const IsolatedProvider&) = delete;
    IsolatedProvider& operator=(const IsolatedProvider&) = delete;

    // Starts the first runner and reads the provider's info from hello. Throws LoadError.
    void start();

    const ProviderInfo& info() const override { return info_; }
    std::optional<std::string> unavailable_reason() const override;
    std::optional<std::string> restarting() const override;

    CallResult begin_connect(std::string_view account, std::string_view request_json) override;
    CallResult complete_connect(std::string_view account, std::string_view callback_json) override;
    CallResult status(std::string_view account) override;
    CallResult disconnect(std::string_view account) override;
    CallResult forget_account(std::string_view account) override;
    std::optional<CallResult> send(std::string_view account, std::string_view message_json, SendDone done) override;
    void check_connection(std::string_view account, CheckDone done) override;
    CallResult sending_limits(std::string_view account) override;

private:
    enum class State { starting, running, restarting, quarantined };
    struct Unavailable {
        std::string code;  // provider_restarting | provider_quarantined
        std::string message;
    };

    std::shared_ptr<RunnerSession> start_session(bool first);
    void say_hello(RunnerSession& session, bool first);
    void read_hello(const Reply& reply);
    std::shared_ptr<RunnerSession> usable_session(Unavailable& why) const;
    CallResult call(std::string_view method, std::string_view account, const std::string* document,
                    std::chrono::milliseconds deadline, std::string_view activity);
    CallResult result_of(RunnerSession& session, const Reply& reply, std::string_view method,
                         std::string_view activity) const;

    void supervise();
    void note_crash(std::unique_lock<std::mutex>& lock, const std::string& how);
    void restart(std::unique_lock<std::mutex>& lock);
    // Tells the host's observer, if any, what the last crash (or restart) led to; with mutex_ released.
    void report_crash(bool quarantined) const;
    void report(RunnerEvent event) const;
    std::string reason_locked() const;

    const ep_host_api* host_;
    std::string config_;
    IsolationOptions options_;
    std::filesystem::path runner_;
    ProviderInfo info_;
    std::string who_;  // the manifest's display name (else its id), in messages people read

    // Declared before the sessions: destroyed after them, and after every reader is joined.
    TaskPool completions_{2};
    TaskPool services_{2};

    mutable std::mutex mutex_;
    std::condition_variable supervisor_cv_;
    State state_ = State::starting;
    bool stopping_ = false;
    std::shared_ptr<RunnerSession> session_;
    std::vector<std::shared_ptr<RunnerSession>> retired_;  // ended; their readers not yet joined
    std::deque<Clock::time_point> crashes_;                // within the quarantine window
    std::string last_failure_;                             // how the last runner ended
    Clock::time_point restart_at_{};
    std::thread supervisor_;
};

}  // namespace ep::loader::isolated
