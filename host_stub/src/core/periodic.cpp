#include "core/periodic.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>

namespace host {

PeriodicTask::PeriodicTask(std::string name, int64_t interval_ms, Clock clock)
    : name_(std::move(name)), interval_ms_(interval_ms), clock_(std::move(clock)) {
    if (interval_ms_ <= 0)
        throw std::invalid_argument("periodic task '" + name_ + "': the interval must be positive, not " +
                                    std::to_string(interval_ms_) + " ms");
    if (!clock_) throw std::invalid_argument("periodic task '" + name_ + "' has no clock");
}

int64_t PeriodicTask::ms_until_due() const {
    if (!next_due_ms_) return 0;
    return std::max<int64_t>(*next_due_ms_ - now(), 0);
}

int64_t ms_until_earliest(std::initializer_list<const PeriodicTask*> tasks, int64_t shortest_ms, int64_t longest_ms) {
    if (shortest_ms > longest_ms)
        throw std::invalid_argument("the shortest wait (" + std::to_string(shortest_ms) +
                                    " ms) is longer than the longest (" + std::to_string(longest_ms) + " ms)");
    int64_t wait_ms = longest_ms;
    for (const PeriodicTask* task : tasks) wait_ms = std::clamp(task->ms_until_due(), shortest_ms, wait_ms);
    return wait_ms;
}

PeriodicRunner::~PeriodicRunner() { stop(); }

void PeriodicRunner::add(PeriodicTask task, std::function<void()> work) {
    std::lock_guard lock(mutex_);
    for (const auto& e : tasks_)
        if (e.task.name() == task.name())
            throw std::invalid_argument("there is already a periodic task '" + task.name() + "'");
    tasks_.push_back(Entry{std::move(task), std::move(work)});
}

void PeriodicRunner::start() {
    thread_ = std::thread([this] { run(); });
}

void PeriodicRunner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

void PeriodicRunner::wake(std::string_view name) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(tasks_.begin(), tasks_.end(), [&](const Entry& e) { return e.task.name() == name; });
    if (it == tasks_.end()) throw std::invalid_argument("there is no periodic task '" + std::string(name) + "'");
    it->task.make_due();
    woken_ = true;
    cv_.notify_all();
}

std::vector<std::string> PeriodicRunner::run_due() {
    std::unique_lock lock(mutex_);
    // The longest overdue first, measured on each task's own clock (tasks may be timed by
    // different ones); a woken task counts as overdue the longest.
    std::vector<std::pair<int64_t, size_t>> due;  // (-overdue ms, index): sorts the longest overdue first
    for (size_t i = 0; i < tasks_.size(); ++i) {
        const PeriodicTask& t = tasks_[i].task;
        int64_t now = t.now();
        if (!t.due_at(now)) continue;
        int64_t overdue = t.next_due_ms() ? now - *t.next_due_ms() : std::numeric_limits<int64_t>::max();
        due.emplace_back(-overdue, i);
    }
    std::sort(due.begin(), due.end());
    std::vector<std::string> ran;
    for (const auto& [unused, i] : due) {
        if (stopping_) break;
        PeriodicTask& task = tasks_[i].task;
        // Scheduled before it runs, so that a wake() meanwhile (which makes it due) is kept.
        task.schedule_after(task.now());
        lock.unlock();
        tasks_[i].work();
        lock.lock();
        if (task.scheduled()) task.schedule_after(task.now());
        ran.push_back(task.name());
    }
    return ran;
}

void PeriodicRunner::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        run_due();
        lock.lock();
        int64_t wait_ms = std::numeric_limits<int32_t>::max();
        for (const auto& e : tasks_) wait_ms = std::min(wait_ms, e.task.ms_until_due());
        cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || woken_; });
        woken_ = false;
    }
}

}  // namespace host
