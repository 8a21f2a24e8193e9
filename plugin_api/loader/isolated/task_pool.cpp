#include "task_pool.hpp"

namespace ep::loader::isolated {

TaskPool::TaskPool(std::size_t threads) : queue_(std::make_shared<Queue>()) {
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([queue = queue_] { work(queue); });
}

TaskPool::~TaskPool() {
    {
        std::lock_guard lock(queue_->mutex);
        queue_->stopping = true;
    }
    queue_->cv.notify_all();
    for (std::thread& t : threads_) {
        if (t.get_id() == std::this_thread::get_id())
            t.detach();  // returns to work(), finds the queue stopping and ends
        else
            t.join();
    }
}

void TaskPool::post(std::function<void()> task) {
    {
        std::lock_guard lock(queue_->mutex);
        if (queue_->stopping) return;
        queue_->tasks.push_back(std::move(task));
    }
    queue_->cv.notify_one();
}

void TaskPool::work(const std::shared_ptr<Queue>& queue) {
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock lock(queue->mutex);
            queue->cv.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
            if (queue->tasks.empty()) return;  // stopping, and nothing left to run
            task = std::move(queue->tasks.front());
            queue->tasks.pop_front();
        }
        task();
    }
}

}  // namespace ep::loader::isolated
