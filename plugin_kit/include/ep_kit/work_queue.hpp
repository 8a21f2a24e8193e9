// A small pool of worker threads for the plugin's blocking work (secret-store reads and
// compare-and-swap writes, vault crypto) so that neither host threads nor the HTTP I/O
// thread wait on the host's storage.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ep::kit {

class WorkQueue {
public:
    explicit WorkQueue(int threads);
    ~WorkQueue();  // runs everything already posted, then joins
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    void post(std::function<void()> task);
    // Ahead of everything queued: for work that finishes something already started (a refresh
    // answer), so a storm of new starts cannot starve the completions waiting behind them.
    void post_urgent(std::function<void()> task);

private:
    void run();

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace ep::kit
