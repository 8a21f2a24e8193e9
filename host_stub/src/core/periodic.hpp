// Named periodic work for the host's loops. A task has a name, an interval and the next time it
// is due on the clock it is timed by: the host clock (which tests and web.debug_clock move) or
// a steady one, for timers that must not move with it. A loop that interleaves its tasks with
// other work (the outbox) asks each task whether it is due, runs them in the order its work
// requires and waits for the earliest next one or a wake-up; PeriodicRunner is that loop for a
// thread that does nothing else (the keep-alive sweep).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace host {

class PeriodicTask {
public:
    using Clock = std::function<int64_t()>;  // milliseconds

    // Due at once. Throws std::invalid_argument naming the task when the interval is not
    // positive or there is no clock.
    PeriodicTask(std::string name, int64_t interval_ms, Clock clock);

    const std::string& name() const { return name_; }
    int64_t interval_ms() const { return interval_ms_; }
    int64_t now() const { return clock_(); }

    bool due() const { return due_at(now()); }
    bool due_at(int64_t now_ms) const { return !next_due_ms_ || now_ms >= *next_due_ms_; }
    // Whether it waits for a time (even one already past), rather than being due at once as it
    // is when created or woken.
    bool scheduled() const { return next_due_ms_.has_value(); }
    // How long until it is due, on its clock; 0 when due.
    int64_t ms_until_due() const;
    // nullopt: due at once.
    const std::optional<int64_t>& next_due_ms() const { return next_due_ms_; }

    // A round at `at_ms` (its start or its end, as the loop counts): the next is due an
    // interval later.
    void schedule_after(int64_t at_ms) { next_due_ms_ = at_ms + interval_ms_; }
    // A wake-up: due at once, whatever the schedule said.
    void make_due() { next_due_ms_.reset(); }

private:
    std::string name_;
    int64_t interval_ms_;
    Clock clock_;
    std::optional<int64_t> next_due_ms_;  // nullopt: due at once
};

// How long a loop may sleep: until the earliest of `tasks` is due, but never less than
// `shortest_ms` (a task due and not runnable yet must not turn the loop into a busy one) nor
// more than `longest_ms`. Throws std::invalid_argument when shortest_ms > longest_ms.
int64_t ms_until_earliest(std::initializer_list<const PeriodicTask*> tasks, int64_t shortest_ms, int64_t longest_ms);

// A thread that runs its tasks, each when due, until stopped. A task's next round is due an
// interval after its last one ended, so a slow round never makes the next one start at once.
// Work must not throw: the thread has nobody to tell (catch and log in the work).
class PeriodicRunner {
public:
    PeriodicRunner() = default;
    PeriodicRunner(const PeriodicRunner&) = delete;
    PeriodicRunner& operator=(const PeriodicRunner&) = delete;
    ~PeriodicRunner();  // stop()

    // Before start(). Throws std::invalid_argument when a task of that name exists.
    void add(PeriodicTask task, std::function<void()> work);
    void start();
    // Returns once the thread has ended (a round in progress finishes first); no round starts
    // after it. Safe to call more than once, and without start().
    void stop();
    // The named task is due at once (and the thread wakes to run it). Throws
    // std::invalid_argument for a name it does not know.
    void wake(std::string_view name);

    // One pass (the thread's, or a test's): runs the due tasks, the earliest due first (ties in
    // the order added); returns their names in the order run.
    std::vector<std::string> run_due();

private:
    struct Entry {
        PeriodicTask task;
        std::function<void()> work;
    };
    void run();

    std::mutex mutex_;  // tasks_' schedules, stopping_, woken_
    std::condition_variable cv_;
    std::vector<Entry> tasks_;
    bool stopping_ = false;
    bool woken_ = false;
    std::thread thread_;
};

}  // namespace host
