#include "ep_kit/token_manager.hpp"

#include "ep_kit/encoding.hpp"
#include "ep_kit/retry_after.hpp"

#include <boost/algorithm/string/join.hpp>

#include <algorithm>
#include <utility>

namespace ep::kit {
namespace {

// A refresh that loses a compare-and-swap or finds the grant rotated by another instance
// starts over from the store; this bounds how often.
constexpr int kMaxRefreshAttempts = 4;

// How often an instance waiting on another instance's refresh lease looks at the store.
constexpr int64_t kLeasePollMs = 100;

int64_t refresh_backoff_ms(int failures) {
    // 1 s, 2 s, 4 s ... capped at 5 minutes.
    return std::min<int64_t>(int64_t{1000} << std::min(failures, 9), 300'000);
}

}  // namespace

// Reports the refresh that just finished to the host's metrics (ABI 1.3 count_event), once
// whichever way it ended: the first outcome reported is the refresh's.
class TokenManager::RefreshReport {
public:
    explicit RefreshReport(const ep::sdk::Host& host) : host_(host) {}
    void operator()(std::string_view outcome) {
        if (std::exchange(reported_, true)) return;
        host_.count_event(kTokenRefreshEvent, outcome);
    }

private:
    const ep::sdk::Host& host_;
    bool reported_ = false;
};

TokenManager::TokenManager(TokenSettings settings, const AccountStore& store, HttpEngine& http, WorkQueue& work,
                           const TokenProtocol& protocol, ep::sdk::Host host, Log log)
    : settings_(settings),
      store_(store),
      http_(http),
      work_(work),
      protocol_(protocol),
      host_(host),
      log_(std::move(log)),
      instance_id_(random_uuid()) {}

TokenOutcome TokenManager::failure(TokenOutcome::Kind kind, std::string code, std::string message) {
    TokenOutcome o;
    o.kind = kind;
    o.code = std::move(code);
    o.message = std::move(message);
    return o;
}

TokenOutcome TokenManager::contention() {
    return failure(TokenOutcome::Kind::transient, "store_contention",
                   "The connection kept changing while refreshing; will retry.");
}

TokenOutcome TokenManager::shutting_down() {
    return failure(TokenOutcome::Kind::transient, "cancelled", "The provider is shutting down.");
}

TokenManager::~TokenManager() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return refreshes_in_flight_ == 0; });
}

bool TokenManager::fresh(const Entry& e, int64_t now) const {
    return e.token && now < e.expires_at_ms - settings_.refresh_skew_ms;
}

void TokenManager::touch(const std::string& account, Entry& e) {
    if (e.in_lru) {
        lru_.splice(lru_.begin(), lru_, e.lru);  // no allocation on the hot path
        return;
    }
    lru_.push_front(account);
    e.lru = lru_.begin();
    e.in_lru = true;
    evict_if_needed();
}

void TokenManager::evict_if_needed() {
    // Only the least recently used accounts lose their cached token; a refresh in progress is
    // never evicted (its waiters hold the entry).
    auto it = lru_.end();
    while (lru_.size() > settings_.access_token_cache_size && it != lru_.begin()) {
        --it;
        auto found = entries_.find(*it);
        if (found == entries_.end() || found->second.refreshing || !found->second.waiters.empty()) continue;
        it = lru_.erase(it);
        entries_.erase(found);
    }
}

void TokenManager::acquire(const std::string& account, const AccessToken& rejected, Callback done) {
    int64_t now = host_.now_unix_ms();
    std::unique_lock lock(mutex_);
    Entry& e = entries_[account];
    if (rejected && e.token && *e.token == *rejected) e.token.reset();
    if (fresh(e, now)) {
        AccessToken token = e.token;
        touch(account, e);
        bool refresh_early = e.refresh_after_ms && now >= e.refresh_after_ms && !e.refreshing;
        if (refresh_early) {
            // Serve the current token and refresh in the background (the provider asked for an
            // early refresh, as Microsoft's refresh_in does).
            e.refreshing = true;
            ++refreshes_in_flight_;
        }
        lock.unlock();
        if (refresh_early) work_.post([this, account, token] { start_refresh(account, token, 1); });
        TokenOutcome ok;
        ok.token = std::move(token);
        done(std::move(ok));
        return;
    }
    if (now < e.retry_not_before_ms && !rejected) {
        TokenOutcome wait = e.last_failure;
        wait.retry_after_ms = e.retry_not_before_ms - now;
        lock.unlock();
        done(std::move(wait));
        return;
    }
    e.waiters.push_back(std::move(done));
    if (e.refreshing) return;  // single flight: the refresh in progress answers everyone
    e.refreshing = true;
    ++refreshes_in_flight_;
    lock.unlock();
    work_.post([this, account, rejected] { start_refresh(account, rejected, 1); });
}

void TokenManager::refresh_now(const std::string& account, Callback done) {
    std::unique_lock lock(mutex_);
    Entry& e = entries_[account];
    e.waiters.push_back(std::move(done));
    if (e.refreshing) return;  // single flight: the refresh in progress answers the check too
    // The cached token stays: sends may use it until the refresh replaces it, and a transient
    // failure must not hold them for the back-off (complete() drops it when the grant is dead).
    e.refreshing = true;
    ++refreshes_in_flight_;
    lock.unlock();
    work_.post([this, account] { start_refresh(account, nullptr, 1, true); });
}

TokenOutcome TokenManager::outcome_for_record(const GrantRecord& r) const {
    TokenOutcome o;
    o.kind = TokenOutcome::Kind::expired;
    o.code = r.error_code.empty() ? r.reason : r.error_code;
    o.message = r.message;
    if (r.state == GrantState::permission_denied) o.code = "permission_denied";
    if (r.state == GrantState::admin_approval_required && o.message.empty())
        o.message = "Your organisation's administrator must approve this app before it can send.";
    return o;
}

GrantRecord TokenManager::ended_record(const GrantRecord& from, const ConnectionEnd& end, int64_t now_ms) {
    GrantRecord r;
    r.state = end.state;
    r.reason = end.reason;
    r.message = end.message;
    r.error_code = end.code;
    r.claims = end.claims;
    r.since_ms = now_ms;
    r.email = from.email;
    r.display_name = from.display_name;
    r.user_id = from.user_id;
    r.tenant_id = from.tenant_id;
    r.cloud = from.cloud;
    return r;
}

void TokenManager::end_connection(const std::string& account, const AccessToken& rejected, ConnectionEnd end,
                                  std::function<void()> done) {
    {
        std::lock_guard lock(mutex_);
        ++refreshes_in_flight_;
    }
    // Urgent: it finishes a send already under way.
    work_.post_urgent([this, account, rejected, end = std::move(end), done = std::move(done)] {
        try {
            for (int attempt = 0; attempt < kMaxRefreshAttempts; ++attempt) {
                AccountStore::LoadResult loaded = store_.load_grant(account);
                // A reconnect, or another instance's refresh, since the token was refused: keep it.
                if (!loaded.grant || loaded.grant->record.state != GrantState::connected ||
                    (rejected && !(loaded.grant->record.access_token == *rejected)))
                    break;
                if (store_.save_grant(account, ended_record(loaded.grant->record, end, host_.now_unix_ms()),
                                      loaded.grant->version)) {
                    log_(EP_LOG_WARN,
                         "the connection of account " + account + " ended: " + end.code + " (" + end.reason + ")");
                    break;
                }
            }
        } catch (const std::exception& e) {
            log_(EP_LOG_ERROR, "could not record that the connection of account " + account + " ended: " + e.what());
        }
        forget(account);
        done();
        std::lock_guard lock(mutex_);
        --refreshes_in_flight_;
        idle_.notify_all();
    });
}

void TokenManager::start_refresh(const std::string& account, AccessToken replace, int attempt, bool force) {
    try {
        AccountStore::LoadResult loaded = store_.load_grant(account);
        if (loaded.absent()) {
            return complete(
                account, failure(TokenOutcome::Kind::not_connected, "not_connected", protocol_.not_connected_message()),
                nullptr);
        }
        if (loaded.unreadable) {
            return complete(
                account,
                failure(TokenOutcome::Kind::expired, "storage",
                        "The stored connection cannot be read (" + loaded.unreadable->problem + "). Connect again."),
                nullptr);
        }
        StoredGrant& grant = *loaded.grant;
        if (grant.record.state != GrantState::connected)
            return complete(account, outcome_for_record(grant.record), nullptr);

        // Another instance (or our own connect) may already hold a fresh token in the store.
        int64_t now = host_.now_unix_ms();
        GrantRecord& r = grant.record;
        bool stored_fresh = !force && !r.access_token.empty() &&
                            now < r.access_expires_at_ms - settings_.refresh_skew_ms &&
                            !(replace && r.access_token == *replace);
        if (stored_fresh) return complete(account, TokenOutcome{}, &r);

        // Another instance is refreshing this grant right now: wait for its result rather
        // than spend a second refresh (it either stores fresh tokens or lets the lease go).
        if (r.refresh_lease_until_ms > now && r.refresh_lease_owner != instance_id_)
            return look_again_later(account, replace, attempt, force);
        r.refresh_lease_until_ms = now + settings_.refresh_lease_ms;
        r.refresh_lease_owner = instance_id_;
        auto leased = store_.save_grant(account, r, grant.version);
        if (!leased) {
            // Someone changed the grant first (a refresh, a lease, a reconnect): look again.
            if (attempt < kMaxRefreshAttempts) return start_refresh(account, replace, attempt + 1);
            return complete(account, contention(), nullptr);
        }
        grant.version = *leased;
        submit_refresh(account, std::move(grant), attempt);
    } catch (const std::exception& e) {
        complete(account,
                 failure(TokenOutcome::Kind::transient, "storage",
                         std::string("The connection could not be read from storage: ") + e.what()),
                 nullptr);
    }
}

void TokenManager::look_again_later(const std::string& account, AccessToken replace, int attempt, bool force) {
    http_.schedule(
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kLeasePollMs),
        [this, account, replace, attempt, force](bool cancelled) {
            if (cancelled) return complete(account, shutting_down(), nullptr);
            work_.post([this, account, replace, attempt, force] { start_refresh(account, replace, attempt, force); });
        });
}

void TokenManager::submit_refresh(const std::string& account, StoredGrant grant, int attempt) {
    ++refresh_requests_;
    log_(EP_LOG_DEBUG, "refreshing the access token of account " + account);
    HttpRequest request = protocol_.refresh_request(grant.record.refresh_token.view());
    auto shared_grant = std::make_shared<StoredGrant>(std::move(grant));
    http_.submit(std::move(request), [this, account, shared_grant, attempt](HttpResponse&& response) {
        auto shared_response = std::make_shared<HttpResponse>(std::move(response));
        work_.post_urgent([this, account, shared_grant, shared_response, attempt] {
            finish_refresh(account, std::move(*shared_grant), std::move(*shared_response), attempt);
        });
    });
}

void TokenManager::finish_refresh(const std::string& account, StoredGrant grant, HttpResponse response, int attempt) {
    RefreshReport report(host_);
    try {
        int64_t now = host_.now_unix_ms();
        RefreshAnswer answer = protocol_.read_refresh(response, grant.record, now);
        if (answer.tokens) return store_refreshed(account, std::move(grant), answer, now, attempt, report);
        int64_t retry_after_ms = parse_retry_after_ms(response.header("retry-after"), now).value_or(-1);
        refresh_refused(account, std::move(grant), answer.failure, retry_after_ms, now, attempt, report);
    } catch (const std::exception& e) {
        report(kRefreshTransient);
        complete(account,
                 failure(TokenOutcome::Kind::transient, "storage",
                         std::string("The refreshed connection could not be stored: ") + e.what()),
                 nullptr);
    }
}

void TokenManager::store_refreshed(const std::string& account, StoredGrant grant, RefreshAnswer& answer, int64_t now,
                                   int attempt, RefreshReport& report) {
    GrantRecord& r = grant.record;
    RefreshAnswer::Tokens& s = *answer.tokens;
    // Rotation: the new refresh token replaces the old one in the same write.
    if (!s.refresh_token.empty()) r.refresh_token = std::move(s.refresh_token);
    r.access_token = std::move(s.access_token);
    r.access_expires_at_ms = now + s.expires_in_s * 1000;
    r.refresh_after_ms = s.refresh_in_s > 0 ? now + s.refresh_in_s * 1000 : 0;
    r.last_refresh_ms = now;
    r.operator_error.reset();
    r.refresh_lease_until_ms = 0;
    r.refresh_lease_owner.clear();
    if (!answer.missing.empty()) {
        // An administrator removed a permission the app needs: "Permission denied".
        ConnectionEnd end{GrantState::permission_denied,
                          "permission_removed",
                          protocol_.permission_denied_message(),
                          "missing_" + boost::algorithm::join(answer.missing, "_"),
                          {}};
        if (!store_.save_grant(account, ended_record(r, end, now), grant.version) && attempt < kMaxRefreshAttempts) {
            report(kRefreshConflict);
            return start_refresh(account, nullptr, attempt + 1);
        }
        report(kRefreshPermissionDenied);
        log_(EP_LOG_WARN, "the connection of account " + account + " lost permission " +
                              boost::algorithm::join(answer.missing, ", ") + " at " + protocol_.service_name() +
                              "; the user must contact IT and reconnect");
        return complete(account, failure(TokenOutcome::Kind::expired, "permission_denied", end.message), nullptr);
    }
    if (answer.extras != r.extra_scopes && !answer.extras.empty())
        log_(EP_LOG_WARN, "account " + account + ": " + protocol_.least_privilege_notice(answer.extras));
    r.scopes = answer.scopes;
    r.extra_scopes = answer.extras;
    auto saved = store_.save_grant(account, r, grant.version);
    if (saved) {
        report(kRefreshOk);
        log_(EP_LOG_DEBUG, "refreshed the access token of account " + account);
        return complete(account, TokenOutcome{}, &r);
    }
    // The grant changed under our lease (a reconnect or disconnect): use what is there now.
    report(kRefreshConflict);
    if (attempt < kMaxRefreshAttempts) return start_refresh(account, nullptr, attempt + 1);
    complete(account, contention(), nullptr);
}

void TokenManager::refresh_refused(const std::string& account, StoredGrant grant, const GrantFailure& verdict,
                                   int64_t retry_after_ms, int64_t now, int attempt, RefreshReport& report) {
    if (verdict.kind != GrantFailureKind::dead_grant && verdict.kind != GrantFailureKind::interaction) {
        // Let other instances try again without waiting for the lease to run out.
        grant.record.refresh_lease_until_ms = 0;
        grant.record.refresh_lease_owner.clear();
        if (auto v = store_.save_grant(account, grant.record, grant.version)) grant.version = *v;
    }
    if (verdict.kind == GrantFailureKind::transient) {
        TokenOutcome o = failure(TokenOutcome::Kind::transient, verdict.code, verdict.message);
        o.retry_after_ms = retry_after_ms;
        report(kRefreshTransient);
        log_(EP_LOG_WARN, "token refresh for account " + account + " failed temporarily (" + verdict.code + ")");
        return complete(account, o, nullptr);
    }
    if (verdict.kind == GrantFailureKind::operator_error) {
        GrantRecord& r = grant.record;
        if (!r.operator_error || r.operator_error->code != verdict.code) {
            r.operator_error = OperatorError{verdict.code, verdict.message, now};
            store_.save_grant(account, r, grant.version);  // best effort: a conflict means newer news
        }
        report(kRefreshConfigurationError);
        log_(EP_LOG_ERROR, "token refresh for account " + account + " failed: " + verdict.message);
        return complete(account, failure(TokenOutcome::Kind::configuration_error, verdict.code, verdict.message),
                        nullptr);
    }

    // A dead grant, unless another instance rotated the refresh token meanwhile: re-read
    // the store before declaring the connection over.
    // The end is answered only once it is recorded (or the grant is gone): a caller told
    // "expired" must find the same in the store, and the log must not claim what is not so.
    AccountStore::LoadResult current = store_.load_grant(account);
    if (current.grant) {
        GrantRecord expired = ended_record(
            grant.record, ConnectionEnd{GrantState::expired, verdict.reason, verdict.message, verdict.code, {}}, now);
        bool recorded = current.grant->version == grant.version && store_.save_grant(account, expired, grant.version);
        if (!recorded) {
            report(kRefreshConflict);
            if (attempt < kMaxRefreshAttempts) return start_refresh(account, nullptr, attempt + 1);
            return complete(account, contention(), nullptr);
        }
    }
    report(verdict.kind == GrantFailureKind::dead_grant ? kRefreshInvalidGrant : kRefreshInteractionRequired);
    log_(EP_LOG_WARN, "the connection of account " + account + " ended: " + verdict.code + " (" + verdict.reason + ")");
    complete(account, failure(TokenOutcome::Kind::expired, verdict.code, verdict.message), nullptr);
}

void TokenManager::complete(const std::string& account, const TokenOutcome& outcome, const GrantRecord* fresh_record) {
    std::vector<Callback> waiters;
    TokenOutcome result = outcome;
    {
        std::lock_guard lock(mutex_);
        Entry& e = entries_[account];
        int64_t now = host_.now_unix_ms();
        if (fresh_record) {
            e.token = std::make_shared<const SecretString>(fresh_record->access_token.view());
            e.expires_at_ms = fresh_record->access_expires_at_ms;
            e.refresh_after_ms = fresh_record->refresh_after_ms;
            e.failures = 0;
            e.retry_not_before_ms = 0;
            result.token = e.token;
            touch(account, e);
        } else if (outcome.kind == TokenOutcome::Kind::transient) {
            ++e.failures;
            int64_t wait = outcome.retry_after_ms > 0 ? outcome.retry_after_ms : refresh_backoff_ms(e.failures - 1);
            e.retry_not_before_ms = now + wait;
            e.last_failure = outcome;
            result.retry_after_ms = wait;
        } else {
            e.token.reset();
        }
        e.refreshing = false;
        waiters.swap(e.waiters);
        if (!e.token && e.waiters.empty() && e.retry_not_before_ms <= now) {
            if (e.in_lru) lru_.erase(e.lru);
            entries_.erase(account);
        }
    }
    // A background refresh (refresh_in) has no waiters and its failure changes nothing.
    for (auto& w : waiters) w(result);
    // Last: the destructor waits for this, so nothing here may touch the manager afterwards
    // (hence the notify under the lock, before the condition variable can be destroyed).
    std::lock_guard lock(mutex_);
    --refreshes_in_flight_;
    idle_.notify_all();
}

void TokenManager::remember(const std::string& account, const SecretString& token, int64_t expires_at_ms,
                            int64_t refresh_after_ms) {
    std::lock_guard lock(mutex_);
    Entry& e = entries_[account];
    e.token = std::make_shared<const SecretString>(token.view());
    e.expires_at_ms = expires_at_ms;
    e.refresh_after_ms = refresh_after_ms;
    e.failures = 0;
    e.retry_not_before_ms = 0;
    touch(account, e);
}

void TokenManager::forget(const std::string& account) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(account);
    if (it == entries_.end()) return;
    it->second.token.reset();
    it->second.retry_not_before_ms = 0;
    if (it->second.refreshing) return;  // the refresh will find the grant gone
    if (it->second.in_lru) lru_.erase(it->second.lru);
    entries_.erase(it);
}

std::size_t TokenManager::cached_accounts() const {
    std::lock_guard lock(mutex_);
    return lru_.size();
}

}  // namespace ep::kit
