#include "checks/keep_alive.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>

namespace host {
namespace {

// FNV-1a: stable across runs and builds, so an account keeps its place in the interval.
uint64_t fnv1a(std::string_view a, std::string_view b) {
    uint64_t h = 1469598103934665603ull;
    for (std::string_view part : {a, std::string_view("\x1f", 1), b})
        for (unsigned char c : part) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace

KeepAlive::KeepAlive(HostStore& store, ProviderSet& providers, ConnectionChecks& checks, Logger& logger, Clock clock,
                     KeepAliveSettings settings)
    : store_(store),
      providers_(providers),
      checks_(checks),
      logger_(logger),
      clock_(std::move(clock)),
      settings_(settings) {
    // A tick every 1/rate seconds (at most every second) starts what is due and allowed.
    int64_t tick_ms =
        std::clamp<int64_t>(static_cast<int64_t>(1000.0 / std::max(settings_.max_checks_per_second, 0.001)), 10, 1000);
    runner_.add(PeriodicTask("keep-alive sweep", tick_ms, steady_ms), [this] {
        try {
            sweep_once(clock_());
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks", std::string("keep-alive sweep: ") + e.what());
        }
    });
}

KeepAlive::~KeepAlive() { stop(); }

void KeepAlive::start() {
    if (settings_.enabled) runner_.start();
}

void KeepAlive::stop() { runner_.stop(); }

int64_t KeepAlive::offset_of(const std::string& user_id, const std::string& provider) const {
    return static_cast<int64_t>(fnv1a(provider, user_id) % static_cast<uint64_t>(settings_.interval_ms));
}

std::vector<KeepAlive::Key> KeepAlive::list_accounts() {
    std::vector<Key> out;
    for (auto& [user, provider] : store_.email_providers()) out.emplace_back(std::move(provider), std::move(user));
    return out;
}

void KeepAlive::refresh_accounts(const std::vector<Key>& accounts, int64_t now_ms) {
    std::map<Key, int64_t> next;
    for (const auto& key : accounts) {
        if (auto it = next_due_.find(key); it != next_due_.end()) {
            next.emplace(key, it->second);
            continue;
        }
        // Its fixed offset in the current interval; past already: the next interval's. A host
        // that starts therefore never checks everyone at once.
        int64_t due = now_ms - now_ms % settings_.interval_ms + offset_of(key.second, key.first);
        if (due < now_ms) due += settings_.interval_ms;
        next.emplace(key, due);
    }
    next_due_ = std::move(next);
    schedule_.clear();
    for (const auto& [key, when] : next_due_) schedule_.emplace(when, key);
    accounts_listed_ms_ = now_ms;
}

int KeepAlive::sweep_once(int64_t now_ms) {
    bool list = false;
    {
        std::lock_guard lock(mutex_);
        // Accounts connected since the last listing have fresh grants: they can wait a tenth of
        // an interval to join the schedule, and a listing reads every account (a million rows
        // on the largest deployment measured).
        list = accounts_listed_ms_ == 0 || now_ms - accounts_listed_ms_ >= settings_.interval_ms / 10;
    }
    // Read from the store unlocked: a listing may take a second.
    std::vector<Key> accounts;
    if (list) accounts = list_accounts();
    {
        std::lock_guard lock(mutex_);
        if (list) refresh_accounts(accounts, now_ms);
    }
    int started = 0;
    for (const auto& key : take_due(now_ms)) {
        try {
            auto p = providers_.available(key.first);
            if (p == nullptr) continue;
            // Only live grants need keeping alive; an ended one waits for its user.
            if (!p->connected_mailbox(key.second)) continue;
            // Hosts sharing a database share the schedule (every host computes the same offsets):
            // the first to claim the account checks it, the others skip it for this interval.
            if (!store_.claim_check(key.second, key.first, now_ms, now_ms - settings_.interval_ms / 2)) continue;
            checks_.start_check(key.second, key.first);
            ++started;
        } catch (const std::exception& e) {
            logger_.log(EP_LOG_ERROR, "checks",
                        "could not check the " + key.first + " connection of user " + key.second + ": " + e.what());
        }
    }
    return started;
}

std::vector<KeepAlive::Key> KeepAlive::take_due(int64_t now_ms) {
    int in_flight = checks_.in_flight();
    std::vector<Key> due;
    std::lock_guard lock(mutex_);
    double elapsed_s = tokens_at_ms_ == 0 ? 1.0 : static_cast<double>(now_ms - tokens_at_ms_) / 1000.0;
    // At most one tick's worth banked (a tick is 10 ms at the fastest): no burst above the rate.
    tokens_ = std::min(std::max(1.0, settings_.max_checks_per_second / 100.0),
                       tokens_ + std::max(0.0, elapsed_s) * settings_.max_checks_per_second);
    tokens_at_ms_ = now_ms;
    // The longest overdue first.
    while (!schedule_.empty() && schedule_.begin()->first <= now_ms && tokens_ >= 1.0 &&
           in_flight + static_cast<int>(due.size()) < settings_.max_in_flight) {
        auto [when, key] = *schedule_.begin();
        schedule_.erase(schedule_.begin());
        tokens_ -= 1.0;
        // The next one keeps the account's offset: checks stay evenly spread.
        int64_t next = when + settings_.interval_ms * ((now_ms - when) / settings_.interval_ms + 1);
        next_due_[key] = next;
        schedule_.emplace(next, key);
        due.push_back(key);
    }
    return due;
}

}  // namespace host
