// A few threads that run host code for an isolated provider: completions (send_done, check
// answers) and the host services a runner asks for. The reader of a runner's channel never runs
// host code itself: a completion may take host locks while another host thread holds one and
// waits for that runner's answer, which only the reader can deliver.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ep::loader::isolated {

class TaskPool {
public:
    explicit TaskPool(std::size_t threads);
    // Runs every task already posted, then stops. May run on one of the pool's own threads (a
    // completion that dropped the provider's last reference): that thread is detached, never
    // joined from itself, and touches nothing but the queue it shares with the pool.
    ~TaskPool();
    TaskPool(const TaskPool&) = delete;
    TaskPool& operator=(const TaskPool&) = delete;

    // Queues a task (which must not throw). Ignored once the pool is stopping.
    void post(std::function<void()> task);

private:
    struct Queue {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<std::function<void()>> tasks;
        bool stopping = false;
    };
    static void work(const std::shared_ptr<Queue>& queue);

    std::shared_ptr<Queue> queue_;
    std::vector<std::thread> threads_;
};

}  // namespace ep::loader::isolated
