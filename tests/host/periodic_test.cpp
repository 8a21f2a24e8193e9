// The host's periodic tasks (core/periodic.hpp) on a clock the test moves: due at once, then an
// interval after each round; woken early; run the longest overdue first; and a runner thread
// that wakes for a task and stops promptly.
#include "core/periodic.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using host::PeriodicRunner;
using host::PeriodicTask;
using namespace std::chrono_literals;

struct FakeClock {
    std::atomic<int64_t> now_ms{1000};
    PeriodicTask::Clock clock() {
        return [this] { return now_ms.load(); };
    }
};

TEST(PeriodicTask, IsDueAtOnceThenAnIntervalAfterEachRound) {
    FakeClock c;
    PeriodicTask task("leases", 300, c.clock());
    EXPECT_EQ(task.name(), "leases");
    EXPECT_TRUE(task.due());
    EXPECT_FALSE(task.scheduled());
    task.schedule_after(c.now_ms);
    EXPECT_TRUE(task.scheduled());
    EXPECT_FALSE(task.due());
    EXPECT_EQ(task.ms_until_due(), 300);
    c.now_ms += 299;
    EXPECT_FALSE(task.due());
    EXPECT_EQ(task.ms_until_due(), 1);
    c.now_ms += 1;
    EXPECT_TRUE(task.due());
    EXPECT_EQ(task.ms_until_due(), 0);
    EXPECT_TRUE(task.scheduled()) << "due by its time, not woken";
}

TEST(PeriodicTask, AWakeUpMakesItDueWhateverItsSchedule) {
    FakeClock c;
    PeriodicTask task("held nudges", 5000, c.clock());
    task.schedule_after(c.now_ms);
    ASSERT_FALSE(task.due());
    task.make_due();
    EXPECT_TRUE(task.due());
    EXPECT_FALSE(task.scheduled());
    EXPECT_EQ(task.ms_until_due(), 0);
}

TEST(PeriodicTask, RefusesANonPositiveIntervalOrNoClockNamingTheTask) {
    FakeClock c;
    try {
        PeriodicTask("sweep", 0, c.clock());
        FAIL() << "an interval of 0 was accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("'sweep'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("positive"), std::string::npos) << e.what();
    }
    EXPECT_THROW(PeriodicTask("sweep", -5, c.clock()), std::invalid_argument);
    EXPECT_THROW(PeriodicTask("sweep", 10, PeriodicTask::Clock{}), std::invalid_argument);
}

TEST(PeriodicTask, TheLoopSleepsUntilTheEarliestDueWithinItsBounds) {
    FakeClock c;
    PeriodicTask a("a", 400, c.clock()), b("b", 250, c.clock());
    a.schedule_after(c.now_ms);
    b.schedule_after(c.now_ms);
    EXPECT_EQ(host::ms_until_earliest({&a, &b}, 10, 1000), 250);
    EXPECT_EQ(host::ms_until_earliest({&a, &b}, 10, 100), 100) << "never longer than the longest";
    c.now_ms += 245;
    EXPECT_EQ(host::ms_until_earliest({&a, &b}, 10, 1000), 10) << "never shorter than the shortest";
    EXPECT_EQ(host::ms_until_earliest({}, 10, 1000), 1000);
    EXPECT_THROW(host::ms_until_earliest({&a}, 100, 10), std::invalid_argument);
}

TEST(PeriodicRunner, RunsTheDueTasksTheLongestOverdueFirstAndOnlyThose) {
    FakeClock c;
    std::vector<std::string> order;
    PeriodicRunner runner;
    for (auto [name, interval] : {std::pair{"slow", 300}, std::pair{"fast", 100}, std::pair{"mid", 200}})
        runner.add(PeriodicTask(name, interval, c.clock()),
                   [&order, name = std::string(name)] { order.push_back(name); });
    EXPECT_EQ(runner.run_due(), (std::vector<std::string>{"slow", "fast", "mid"}))
        << "all due at once: in the order added";
    EXPECT_TRUE(runner.run_due().empty()) << "nothing due right after a round";
    EXPECT_EQ(order, (std::vector<std::string>{"slow", "fast", "mid"}));

    c.now_ms += 350;  // fast overdue by 250, mid by 150, slow by 50
    EXPECT_EQ(runner.run_due(), (std::vector<std::string>{"fast", "mid", "slow"}));
    c.now_ms += 100;
    EXPECT_EQ(runner.run_due(), (std::vector<std::string>{"fast"}));
    runner.wake("slow");
    c.now_ms += 100;  // fast and mid due just now (a tie: in the order added); slow woken: overdue the longest
    EXPECT_EQ(runner.run_due(), (std::vector<std::string>{"slow", "fast", "mid"}));
    EXPECT_THROW(runner.wake("nonexistent"), std::invalid_argument);
    EXPECT_THROW(runner.add(PeriodicTask("fast", 1, c.clock()), [] {}), std::invalid_argument);
}

TEST(PeriodicRunner, ItsThreadWakesForATaskAndStopsPromptly) {
    auto steady = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    };
    std::atomic<int> rounds{0};
    PeriodicRunner runner;
    runner.add(PeriodicTask("sweep", 3'600'000, steady), [&] { ++rounds; });
    runner.start();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (rounds < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(rounds, 1) << "due at once";
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(rounds, 1) << "then not for an hour";

    runner.wake("sweep");
    while (rounds < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(rounds, 2) << "a wake-up runs it at once";

    auto before = std::chrono::steady_clock::now();
    runner.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s) << "stop does not wait for the hour";
    runner.wake("sweep");
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(rounds, 2) << "nothing runs after stop";
    runner.stop();  // again: harmless
}

TEST(PeriodicRunner, AWakeUpDuringARoundRunsItAgain) {
    FakeClock c;
    std::atomic<int> rounds{0};
    PeriodicRunner runner;
    runner.add(PeriodicTask("sweep", 1000, c.clock()), [&] {
        if (++rounds == 1) runner.wake("sweep");
    });
    EXPECT_EQ(runner.run_due().size(), 1u);
    EXPECT_EQ(runner.run_due().size(), 1u) << "the wake-up during the first round was kept";
    EXPECT_TRUE(runner.run_due().empty());
    EXPECT_EQ(rounds, 2);
}

}  // namespace
