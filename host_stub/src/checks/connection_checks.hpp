// Connection checks (ABI 1.1 check_connection): "connected" must mean a nudge sent now would
// go out, so the host asks the provider to check with its service when it matters — the CLI's
// `check`, the settings page (never blocking on it), before releasing held nudges — and the
// keep-alive sweep (keep_alive.hpp) checks every connected account at an interval. This class
// starts the checks and keeps their answers: the last known state of each account.
#pragma once

#include "core/logger.hpp"
#include "metrics/host_metrics.hpp"
#include "providers/documents.hpp"
#include "providers/host_services.hpp"
#include "providers/provider_set.hpp"
#include "store/host_store.hpp"

#include <boost/json/object.hpp>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace host {

class ConnectionChecks {
public:
    struct Checked {
        boost::json::object status;  // the provider's ep.status/1 answer
        int64_t checked_at_ms = 0;   // host clock; 0 while never checked
        bool in_flight = false;
    };

    // The settings page checks a connection it shows when its last check is older than
    // page_check_after_ms (config keep_alive.page_check_after_seconds). `metrics` (may be null)
    // counts the answers by result.
    ConnectionChecks(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock, int64_t page_check_after_ms,
                     HostMetrics* metrics = nullptr);
    ~ConnectionChecks();  // wait_idle()

    // Checks now and waits for the answer (the CLI, held nudges). Throws std::runtime_error
    // when the provider is unavailable.
    boost::json::object check_now(const std::string& user_id, const std::string& provider);
    // Starts a check unless one is in flight or the last is recent (the settings page): the
    // page shows last_known() meanwhile.
    void check_if_stale(const std::string& user_id, const std::string& provider);
    // Starts a check and returns; its answer is kept when it comes (the keep-alive sweep).
    // Throws std::runtime_error when the provider is unavailable.
    void start_check(const std::string& user_id, const std::string& provider);
    std::optional<Checked> last_known(const std::string& user_id, const std::string& provider);

    void wait_idle();  // until every check started has been answered
    int in_flight() const;
    int64_t checks_started() const;
    int64_t page_check_after_ms() const { return page_check_after_ms_; }

private:
    using Key = std::pair<std::string, std::string>;  // user_id, provider
    // The provider to ask, the check counted in flight; throws when the provider is unavailable.
    std::shared_ptr<ProviderHandle> begin_check(const Key& key);
    void record(const Key& key, boost::json::object status);

    HostStore& store_;
    ProviderSet& providers_;
    Logger& logger_;
    Clock clock_;
    const int64_t page_check_after_ms_;
    HostMetrics* metrics_;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<Key, Checked> known_;
    int in_flight_ = 0;
    int64_t started_ = 0;
};

}  // namespace host
