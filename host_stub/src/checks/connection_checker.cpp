#include "checks/connection_checker.hpp"

#include "providers/documents.hpp"
#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <vector>

namespace host {
namespace {

namespace json = boost::json;

ConnectionState state_of(const json::object& s) { return connection_state_from(json_str(s, "state")); }

// FNV-1a: stable across runs and builds, so an account keeps its place in the interval.
uint64_t fnv1a(std::string_view a, std::string_view b) {
    uint64_t h = 1469598103934665603ull;
    for (std::string_view part : {a, std::string_view("\x1f", 1), b})
        for (unsigned char c : part) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace

ConnectionChecker::ConnectionChecker(HostStore& store, ProviderSet& providers, Logger& logger, Clock clock,
                                     KeepAliveSettings settings)
    : store_(store), providers_(providers), logger_(logger), clock_(std::move(clock)), settings_(settings) {}

ConnectionChecker::~ConnectionChecker() { stop(); }

int64_t ConnectionChecker::offset_of(const std::string& provider, const std::string& user) const {
    return static_cast<int64_t>(fnv1a(provider, user) % static_cast<uint64_t>(settings_.interval_ms));
}

int64_t ConnectionChecker::checks_started() const {
    std::lock_guard lock(mutex_);
    return started_;
}

std::optional<ConnectionChecker::Checked> ConnectionChecker::last_known(const std::string& provider,
                                                                         const std::string& user) {
    // The store has the last check of any host (and from before a restart).
    int64_t stored = store_.last_checked(user, provider);
    std::lock_guard lock(mutex_);
    auto it = known_.find({provider, user});
    if (it == known_.end() && stored == 0) return std::nullopt;
    Checked c = it == known_.end() ? Checked{} : it->second;
    c.checked_at_ms = std::max(c.checked_at_ms, stored);
    return c;
}

void ConnectionChecker::record(const Key& key, json::object status) {
    // Checked only when the provider reached its service: not a failed check, nor the last
    // known state a provider that cannot check (or refused to) answers instead.
    bool checked = status.contains("checked_at") && !status.contains("check_failed");
    int64_t now = clock_();
    if (checked) {
        try {
            store_.record_check(key.second, key.first, now);
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks", "could not record the check of the " + key.first +
                                                    " connection of user " + key.second + ": " + e.what());
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
    if (before == ConnectionState::connected && after != ConnectionState::unknown && after != ConnectionState::connected)
        // The page tells the user; nudges stay held until they reconnect.
        logger_.log(EP_LOG_WARN, "checks", "the " + key.first + " connection of user " + key.second + " is " + to_string(after) +
                                               " (found by a check, before any nudge failed)");
}

void ConnectionChecker::start_check(const Key& key) {
    auto p = providers_.available(key.first);
    if (p == nullptr) throw std::runtime_error("provider '" + key.first + "' is not available");
    {
        std::lock_guard lock(mutex_);
        known_[key].in_flight = true;
        ++in_flight_;
        ++started_;
    }
    try {
        // Not holding the instance: its last reference must never drop on the plugin's own
        // thread. A replaced instance's destroy answers its checks in flight (CONTRACT.md).
        p->check(key.second, [this, key](json::object answer) { record(key, std::move(answer)); });
    } catch (...) {
        record(key, check_failed("not_started", "the check could not be started"));  // or stop() would wait forever
        throw;
    }
}

json::object ConnectionChecker::check_now(const std::string& provider, const std::string& user) {
    auto p = providers_.available(provider);
    if (p == nullptr) throw std::runtime_error("provider '" + provider + "' is not available");
    Key key{provider, user};
    {
        std::lock_guard lock(mutex_);
        known_[key].in_flight = true;
        ++in_flight_;
        ++started_;
    }
    json::object answer;
    try {
        answer = p->check_blocking(user);
    } catch (...) {
        record(key, check_failed("not_started", "the check could not be started"));  // stop() must not wait for it
        throw;
    }
    record(key, answer);
    return answer;
}

void ConnectionChecker::check_if_stale(const std::string& provider, const std::string& user) {
    int64_t now = clock_();
    {
        std::lock_guard lock(mutex_);
        auto it = known_.find({provider, user});
        if (it != known_.end() && (it->second.in_flight || now - it->second.checked_at_ms < settings_.page_check_after_ms))
            return;
    }
    // Not when another host (or this one, before a restart) started one recently.
    if (!store_.claim_check(user, provider, now, now - settings_.page_check_after_ms)) return;
    start_check({provider, user});
}

std::vector<ConnectionChecker::Key> ConnectionChecker::list_accounts() {
    std::vector<Key> out;
    for (const auto& u : store_.users()) {
        std::string provider = store_.settings(u.id).email_provider;
        if (!provider.empty()) out.emplace_back(std::move(provider), u.id);
    }
    return out;
}

void ConnectionChecker::refresh_accounts(const std::vector<Key>& accounts, int64_t now_ms) {
    std::map<Key, int64_t> next;
    for (const auto& key : accounts) {
        if (auto it = next_due_.find(key); it != next_due_.end()) {
            next.emplace(key, it->second);
            continue;
        }
        // Its fixed offset in the current interval; past already: the next interval's. A host
        // that starts therefore never checks everyone at once.
        int64_t due = now_ms - now_ms % settings_.interval_ms + offset_of(key.first, key.second);
        if (due < now_ms) due += settings_.interval_ms;
        next.emplace(key, due);
    }
    next_due_ = std::move(next);
    schedule_.clear();
    for (const auto& [key, when] : next_due_) schedule_.emplace(when, key);
    accounts_listed_ms_ = now_ms;
}

int ConnectionChecker::sweep_once(int64_t now_ms) {
    bool list = false;
    {
        std::lock_guard lock(mutex_);
        // Accounts connected since the last listing have fresh grants: they can wait a tenth of
        // an interval to join the schedule, and listing 100,000 users costs a second.
        list = accounts_listed_ms_ == 0 || now_ms - accounts_listed_ms_ >= settings_.interval_ms / 10;
    }
    // Read from the store unlocked: the lock also serves check answers and every page.
    std::vector<Key> accounts;
    if (list) accounts = list_accounts();
    std::vector<Key> due;
    {
        std::lock_guard lock(mutex_);
        if (list) refresh_accounts(accounts, now_ms);
        double elapsed_s = tokens_at_ms_ == 0 ? 1.0 : static_cast<double>(now_ms - tokens_at_ms_) / 1000.0;
        // At most one tick's worth banked (a tick is 10 ms at the fastest): no burst above the rate.
        tokens_ = std::min(std::max(1.0, settings_.max_checks_per_second / 100.0),
                           tokens_ + std::max(0.0, elapsed_s) * settings_.max_checks_per_second);
        tokens_at_ms_ = now_ms;
        // The longest overdue first.
        while (!schedule_.empty() && schedule_.begin()->first <= now_ms && tokens_ >= 1.0 &&
               in_flight_ + static_cast<int>(due.size()) < settings_.max_in_flight) {
            auto [when, key] = *schedule_.begin();
            schedule_.erase(schedule_.begin());
            tokens_ -= 1.0;
            // The next one keeps the account's offset: checks stay evenly spread.
            int64_t next = when + settings_.interval_ms * ((now_ms - when) / settings_.interval_ms + 1);
            next_due_[key] = next;
            schedule_.emplace(next, key);
            due.push_back(key);
        }
    }
    int started = 0;
    for (const auto& key : due) {
        try {
            auto p = providers_.available(key.first);
            if (p == nullptr) continue;
            // Only live grants need keeping alive; an ended one waits for its user.
            if (!p->connected_mailbox(key.second)) continue;
            // Hosts sharing a database share the schedule (every host computes the same offsets):
            // the first to claim the account checks it, the others skip it for this interval.
            if (!store_.claim_check(key.second, key.first, now_ms, now_ms - settings_.interval_ms / 2)) continue;
            start_check(key);
            ++started;
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks", "could not check the " + key.first + " connection of user " + key.second +
                                                    ": " + e.what());
        }
    }
    return started;
}

void ConnectionChecker::start() {
    if (!settings_.enabled) return;
    sweeper_ = std::thread([this] { run(); });
}

void ConnectionChecker::stop() {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
    lock.unlock();
    if (sweeper_.joinable()) sweeper_.join();
    // Callbacks record into this object: it must outlive every check it started.
    wait_idle();
}

void ConnectionChecker::wait_idle() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void ConnectionChecker::run() {
    // A tick every 1/rate seconds (at most every second) starts what is due and allowed.
    auto tick = std::chrono::milliseconds(
        std::clamp<int64_t>(static_cast<int64_t>(1000.0 / std::max(settings_.max_checks_per_second, 0.001)), 10, 1000));
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        try {
            sweep_once(clock_());
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks", std::string("keep-alive sweep: ") + e.what());
        }
        lock.lock();
        cv_.wait_for(lock, tick, [&] { return stopping_; });
    }
}

}  // namespace host
