#include "checks/connection_checks.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace host {
namespace {

namespace json = boost::json;

// What a check answered, as the provider's status document: its state.
ConnectionState state_of(const json::object& s) { return connection_state_from(json_str(s, "state")); }

}  // namespace

ConnectionChecks::ConnectionChecks(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock,
                                   int64_t page_check_after_ms, HostMetrics* metrics)
    : store_(store),
      providers_(providers),
      logger_(logger),
      clock_(std::move(clock)),
      page_check_after_ms_(page_check_after_ms),
      metrics_(metrics) {}

// Answers record into this object: it must outlive every check it started.
ConnectionChecks::~ConnectionChecks() { wait_idle(); }

int64_t ConnectionChecks::checks_started() const {
    std::lock_guard lock(mutex_);
    return started_;
}

int ConnectionChecks::in_flight() const {
    std::lock_guard lock(mutex_);
    return in_flight_;
}

std::optional<ConnectionChecks::Checked> ConnectionChecks::last_known(const std::string& user_id,
                                                                      const std::string& provider) {
    // The store has the last check of any host (and from before a restart).
    int64_t stored = store_.last_checked(user_id, provider);
    std::lock_guard lock(mutex_);
    auto it = known_.find({user_id, provider});
    if (it == known_.end() && stored == 0) return std::nullopt;
    Checked c = it == known_.end() ? Checked{} : it->second;
    c.checked_at_ms = std::max(c.checked_at_ms, stored);
    return c;
}

void ConnectionChecks::record(const Key& key, json::object status) {
    // Checked only when the provider reached its service: not a failed check, nor the last
    // known state a provider that cannot check (or refused to) answers instead.
    bool checked = status.contains("checked_at") && !status.contains("check_failed");
    if (metrics_ != nullptr) metrics_->connection_check(key.second, connection_check_result(status));
    int64_t now = clock_();
    if (checked) {
        try {
            store_.record_check(key.first, key.second, now);
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks",
                        "could not record the check of the " + key.second + " connection of user " + key.first + ": " +
                            e.what());
        }
    }
    ConnectionState before, after;
    {
        std::lock_guard lock(mutex_);
        Checked& c = known_[key];
        before = state_of(c.status);
        if (checked) c.checked_at_ms = now;
        // A failed check says nothing new about the state: what was known stays.
        if (status.contains("state") || c.status.empty()) c.status = std::move(status);
        after = state_of(c.status);
        c.in_flight = false;
        --in_flight_;
        cv_.notify_all();
    }
    if (before == ConnectionState::connected && after != ConnectionState::unknown &&
        after != ConnectionState::connected)
        // The page tells the user; nudges stay held until they reconnect.
        logger_.log(EP_LOG_WARN, "checks",
                    "the " + key.second + " connection of user " + key.first + " is " + to_string(after) +
                        " (found by a check, before any nudge failed)");
}

std::shared_ptr<ProviderHandle> ConnectionChecks::begin_check(const Key& key) {
    auto p = providers_.available(key.second);
    if (p == nullptr) throw std::runtime_error("provider '" + key.second + "' is not available");
    std::lock_guard lock(mutex_);
    known_[key].in_flight = true;
    ++in_flight_;
    ++started_;
    return p;
}

void ConnectionChecks::start_check(const std::string& user_id, const std::string& provider) {
    Key key{user_id, provider};
    auto p = begin_check(key);
    try {
        // Not holding the instance: its last reference must never drop on the plugin's own
        // thread. A replaced instance's destroy answers its checks in flight (CONTRACT.md).
        p->check(user_id, [this, key](json::object answer) { record(key, std::move(answer)); });
    } catch (...) {
        record(key, check_failed("not_started", "the check could not be started"));  // or stop() would wait forever
        throw;
    }
}

json::object ConnectionChecks::check_now(const std::string& user_id, const std::string& provider) {
    Key key{user_id, provider};
    auto p = begin_check(key);
    json::object answer;
    try {
        answer = p->check_blocking(user_id);
    } catch (...) {
        record(key, check_failed("not_started", "the check could not be started"));  // stop() must not wait for it
        throw;
    }
    record(key, answer);
    return answer;
}

void ConnectionChecks::check_if_stale(const std::string& user_id, const std::string& provider) {
    int64_t now = clock_();
    {
        std::lock_guard lock(mutex_);
        auto it = known_.find({user_id, provider});
        if (it != known_.end() && (it->second.in_flight || now - it->second.checked_at_ms < page_check_after_ms_))
            return;
    }
    // Not when another host (or this one, before a restart) started one recently.
    if (!store_.claim_check(user_id, provider, now, now - page_check_after_ms_)) return;
    start_check(user_id, provider);
}

void ConnectionChecks::wait_idle() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
}

}  // namespace host
