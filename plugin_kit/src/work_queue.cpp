#include "ep_kit/work_queue.hpp"

namespace ep::kit {

WorkQueue::WorkQueue(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkQueue::~WorkQueue() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

// Notified under the lock: the task may finish, and its owner destroy this queue, before a
// notify made after unlocking would have returned.
void WorkQueue::post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    cv_.notify_one();
}

void WorkQueue::post_urgent(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    tasks_.push_front(std::move(task));
    cv_.notify_one();
}

void WorkQueue::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping and drained
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        lock.lock();
    }
}

}  // namespace ep::kit
