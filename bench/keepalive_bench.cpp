// The keep-alive sweep at scale (bench/README.md "Keep-alive sweep"): N connected accounts in
// the real host runtime (SQLite store on tmpfs, the mock provider answering every check on its
// worker thread), one sweep interval simulated on the sweep's own clock in the sweep thread's ticks. Reports
// the most checks started in any simulated second against the configured rate, when the last
// account was checked against the interval, whether any account was checked twice, and the p99
// of get_status lookups made from another thread while the sweep runs, against the same lookups
// with no sweep.
//
//   keepalive_bench [--accounts N] [--rate R] [--interval-seconds S]
#include "core/host_runtime.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

double p99_status_ms(host::HostRuntime& rt, int accounts, const std::atomic<bool>& stop, int max_samples) {
    std::vector<double> ms;
    auto& mock = *rt.providers->instance("mock");
    for (int i = 0; (max_samples == 0 || i < max_samples) && !stop.load(); ++i) {
        auto t0 = std::chrono::steady_clock::now();
        mock.status("u" + std::to_string(i * 7919 % accounts));
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() * 99 / 100];
}

}  // namespace

int main(int argc, char** argv) {
    int accounts = 100'000;
    double rate = 40;
    int64_t interval_s = 3600;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--accounts")
            accounts = std::atoi(argv[i + 1]);
        else if (a == "--rate")
            rate = std::atof(argv[i + 1]);
        else if (a == "--interval-seconds")
            interval_s = std::atoll(argv[i + 1]);
    }
    auto dir = std::filesystem::path(std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") /
               ("keepalive-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "host.json")
            << R"({"store":{"path":"host.db"},"log_level":"error","keep_alive":{"enabled":false,"interval_days":)"
            << static_cast<double>(interval_s) / 86400.0 << R"(,"max_checks_per_second":)" << rate
            << R"(,"max_in_flight":256},"providers":[{"manifest":")" BENCH_MANIFEST_DIR
               R"(/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})";
    }
    int rc = 0;
    {
        host::HostRuntime rt(dir / "host.json");
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < accounts; ++i) {
            std::string id = "u" + std::to_string(i);
            rt.store->upsert_user(host::User{id, id});
            rt.store->save_settings(id, host::CommunicationSettings{"email", "mock"});
            rt.providers->instance("mock")->begin_connect(id, "{}");
        }
        std::printf("setup: %d connected accounts in %.1f s\n", accounts,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        std::atomic<bool> stop{false};
        double idle_p99 = p99_status_ms(rt, accounts, stop, 20'000);

        host::ConnectionChecks& checks = *rt.checks;
        host::KeepAlive& keep_alive = *rt.keep_alive;
        const int64_t interval = keep_alive.settings().interval_ms;
        const int64_t start = int64_t{1'800'000'000'000} - int64_t{1'800'000'000'000} % interval;
        double busy_p99 = 0;
        std::thread lookups([&] { busy_p99 = p99_status_ms(rt, accounts, stop, 0); });
        std::map<int64_t, int> per_second;
        int64_t last_start_ms = 0;
        auto s0 = std::chrono::steady_clock::now();
        // One interval, in the ticks the sweep thread uses (1/rate, 10 ms to 1 s).
        const int64_t tick = std::clamp<int64_t>(static_cast<int64_t>(1000.0 / rate), 10, 1000);
        for (int64_t t = start; t < start + interval; t += tick) {
            int n = keep_alive.sweep_once(t);
            // Simulated time must not outrun the answers: each tick's checks finish within it
            // (as Microsoft's ~0.2 s answers do at these rates, with a few in flight).
            checks.wait_idle();
            if (n > 0) {
                per_second[(t - start) / 1000] += n;
                last_start_ms = t - start;
            }
        }
        checks.wait_idle();
        stop = true;
        lookups.join();
        double sweep_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();

        int max_per_second = 0;
        for (const auto& [sec, n] : per_second) max_per_second = std::max(max_per_second, n);
        int unchecked = 0;
        for (int i = 0; i < accounts; ++i) {
            auto k = checks.last_known("u" + std::to_string(i), "mock");
            if (!k || k->checked_at_ms == 0) ++unchecked;
        }
        int64_t started = checks.checks_started();
        std::printf("sweep: %lld checks started for %d accounts (twice: %lld, never: %d)\n",
                    static_cast<long long>(started), accounts,
                    static_cast<long long>(std::max<int64_t>(0, started - accounts)), unchecked);
        std::printf("rate: at most %d checks (token requests) started in any simulated second; configured %.1f/s\n",
                    max_per_second, rate);
        std::printf(
            "window: last check started %.0f s into the %lld s interval (%d accounts / %.1f per s = %.0f s minimum)\n",
            last_start_ms / 1000.0, static_cast<long long>(interval_s), accounts, rate, accounts / rate);
        std::printf("status lookups p99: %.3f ms idle, %.3f ms during the sweep (%.1f s of wall time)\n", idle_p99,
                    busy_p99, sweep_s);
        if (started != accounts || unchecked != 0 || max_per_second > static_cast<int>(rate + 0.999)) rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
