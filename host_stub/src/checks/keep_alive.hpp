// The keep-alive sweep (config "keep_alive", KeepAliveSettings): every connected account is
// checked (connection_checks.hpp) at an interval well inside the shortest inactivity limit a
// provider documents for its refresh tokens (90 days; six months for another), so a grant in
// use never dies of it. The sweep spreads accounts evenly
// over the interval (each at its own fixed offset) and never starts more than
// max_checks_per_second, so 100,000 accounts cost 100,000 / 7 days ≈ 0.17 token requests a
// second, never a storm.
#pragma once

#include "checks/connection_checks.hpp"
#include "core/host_config.hpp"
#include "core/logger.hpp"
#include "core/periodic.hpp"
#include "providers/host_services.hpp"
#include "providers/provider_set.hpp"
#include "store/host_store.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace host {

class KeepAlive {
public:
    // The checks it starts are answered into `checks`, which must outlive them (wait_idle()).
    KeepAlive(HostStore& store, ProviderSet& providers, ConnectionChecks& checks, Logger& logger, Clock clock,
              KeepAliveSettings settings);
    ~KeepAlive();  // stop()

    // The sweep's thread, when enabled (tests drive sweep_once instead).
    void start();
    // Returns once the thread has ended; the checks it started may still be in flight.
    void stop();
    // Starts the checks due at `now_ms` that the rate allows; returns how many it started.
    int sweep_once(int64_t now_ms);
    // Where in each interval an account is checked: a fixed offset from a hash of its key.
    int64_t offset_of(const std::string& user_id, const std::string& provider) const;

    const KeepAliveSettings& settings() const { return settings_; }

private:
    using Key = std::pair<std::string, std::string>;                          // provider, user_id: the schedule's order
    std::vector<Key> list_accounts();                                         // reads the store; not under mutex_
    void refresh_accounts(const std::vector<Key>& accounts, int64_t now_ms);  // under mutex_
    std::vector<Key> take_due(int64_t now_ms);                                // the accounts whose check may start now

    HostStore& store_;
    ProviderSet& providers_;
    ConnectionChecks& checks_;
    Logger& logger_;
    Clock clock_;
    const KeepAliveSettings settings_;

    std::mutex mutex_;
    // The sweep's schedule (host clock), by account and by time: a tick looks only at what is due.
    std::map<Key, int64_t> next_due_;
    std::set<std::pair<int64_t, Key>> schedule_;
    int64_t accounts_listed_ms_ = 0;
    double tokens_ = 0;  // rate limiter: checks the sweep may start now
    int64_t tokens_at_ms_ = 0;
    PeriodicRunner runner_;
};

}  // namespace host
