// Connection checks (ABI 1.1 check_connection): "connected" must mean a nudge sent now would
// go out, so the host asks the provider to check with its service when it matters — the CLI's
// `check`, the settings page (never blocking on it), before releasing held nudges — and sweeps
// every connected account at an interval well inside the refresh token's 90 days of allowed
// inactivity, so a grant in use never dies of it. The sweep spreads accounts evenly over the
// interval (each at its own fixed offset) and never starts more than max_checks_per_second,
// so 100,000 accounts cost 100,000 / 7 days ≈ 0.17 token requests a second, never a storm.
#pragma once

#include "core/host_config.hpp"
#include "providers/host_services.hpp"
#include "store/host_store.hpp"
#include "core/logger.hpp"
#include "providers/provider_set.hpp"

#include <boost/json/object.hpp>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace host {

class ConnectionChecker {
public:
    struct Checked {
        boost::json::object status;  // the provider's ep.status/1 answer
        int64_t checked_at_ms = 0;   // host clock; 0 while never checked
        bool in_flight = false;
    };

    ConnectionChecker(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock, KeepAliveSettings settings);
    ~ConnectionChecker();  // stop()

    // Checks now and waits for the answer (the CLI, held nudges). Throws std::runtime_error
    // when the provider is unavailable.
    boost::json::object check_now(const std::string& provider, const std::string& user);
    // Starts a check unless one is in flight or the last is recent (the settings page): the
    // page shows last_known() meanwhile.
    void check_if_stale(const std::string& provider, const std::string& user);
    std::optional<Checked> last_known(const std::string& provider, const std::string& user);

    // The keep-alive sweep thread (tests drive sweep_once instead).
    void start();
    void stop();       // the sweep, then wait_idle()
    void wait_idle();  // until every check started has been answered
    // Starts the checks due at `now_ms` that the rate allows; returns how many it started.
    int sweep_once(int64_t now_ms);
    // Where in each interval an account is checked: a fixed offset from a hash of its key.
    int64_t offset_of(const std::string& provider, const std::string& user) const;

    const KeepAliveSettings& settings() const { return settings_; }
    int64_t checks_started() const;

private:
    using Key = std::pair<std::string, std::string>;  // provider, user
    void start_check(const Key& key);                  // asynchronous; records the answer
    void record(const Key& key, boost::json::object status);
    std::vector<Key> list_accounts();                  // reads the store; not under mutex_
    void refresh_accounts(const std::vector<Key>& accounts, int64_t now_ms);  // under mutex_
    void run();

    HostStore& store_;
    ProviderSet& providers_;
    Logger& logger_;
    Clock clock_;
    const KeepAliveSettings settings_;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<Key, Checked> known_;
    // The sweep's schedule (host clock), by account and by time: a tick looks only at what is due.
    std::map<Key, int64_t> next_due_;
    std::set<std::pair<int64_t, Key>> schedule_;
    int64_t accounts_listed_ms_ = 0;
    double tokens_ = 0;                // rate limiter: checks the sweep may start now
    int64_t tokens_at_ms_ = 0;
    int in_flight_ = 0;
    int64_t started_ = 0;
    bool stopping_ = false;
    std::thread sweeper_;
};

}  // namespace host
