// Access tokens for sending: cached in memory for recently active accounts (bounded LRU),
// refreshed ahead of expiry by the configured skew, one refresh per account at a time in
// this process (everyone else waits for it), and compare-and-swap on the stored grant across
// processes (the loser uses the winner's tokens). Refresh failures are classified: a dead
// grant expires the connection and deletes its tokens; an operator error keeps them; a
// transient failure changes nothing and backs off (honouring Retry-After).
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/token_protocol.hpp"
#include "ep_kit/work_queue.hpp"

#include <email_provider/ep_sdk.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ep::kit {

using AccessToken = std::shared_ptr<const SecretString>;

// What the manager reports to the host's metrics through ep::sdk::Host::count_event (ABI 1.3):
// one event per call to the token endpoint, with how it ended (SCHEMAS.md "events").
inline constexpr std::string_view kTokenRefreshEvent = "token_refresh";
inline constexpr std::string_view kRefreshOk = "ok";                                     // new tokens stored
inline constexpr std::string_view kRefreshInvalidGrant = "invalid_grant";                // the grant is dead: reconnect
inline constexpr std::string_view kRefreshInteractionRequired = "interaction_required";  // the user must act
inline constexpr std::string_view kRefreshPermissionDenied = "permission_denied";        // a needed permission removed
inline constexpr std::string_view kRefreshConfigurationError = "configuration_error";    // the app's registration
inline constexpr std::string_view kRefreshTransient = "transient";  // network, 5xx, 429, the store failed
inline constexpr std::string_view kRefreshConflict = "conflict";    // another instance changed the grant first

struct TokenOutcome {
    enum class Kind {
        ok,
        not_connected,        // no grant stored (never connected, or disconnected)
        expired,              // the connection ended (dead grant, approval, unreadable)
        configuration_error,  // operator problem; the connection itself is kept
        transient,            // try again later
    };
    Kind kind = Kind::ok;
    AccessToken token;
    std::string code;
    std::string message;
    int64_t retry_after_ms = -1;
};

// How a connection the provider refused for good ends (see TokenManager::end_connection).
struct ConnectionEnd {
    GrantState state = GrantState::expired;  // expired or permission_denied
    std::string reason;                      // ep.status/1 reason code
    std::string message;                     // for the user
    std::string code;                        // the provider's code
    std::string claims;                      // a challenge the next sign-in must carry (Microsoft's CAE claims, JSON)
};

struct TokenSettings {
    int64_t refresh_skew_ms = 300'000;             // refresh this long before an access token expires
    std::size_t access_token_cache_size = 10'000;  // accounts whose access token stays in memory
    int64_t refresh_lease_ms = 40'000;             // how long one instance may hold a grant's refresh
};

class TokenManager {
public:
    using Callback = std::function<void(TokenOutcome)>;
    using Log = std::function<void(ep_log_level, const std::string&)>;

    TokenManager(TokenSettings settings, const AccountStore& store, HttpEngine& http, WorkQueue& work,
                 const TokenProtocol& protocol, ep::sdk::Host host, Log log);
    ~TokenManager();  // waits until no refresh is in flight

    // Calls `done` exactly once: right away (on this thread) when a fresh token is cached,
    // otherwise later on a worker thread. `rejected` (may be null) is a token the API refused
    // with 401: it is never handed out again and forces a refresh.
    void acquire(const std::string& account, const AccessToken& rejected, Callback done);

    // For a connection check: asks the provider for a new token even when a fresh one is cached
    // (only the token endpoint knows about a password change or an administrator's revoke,
    // and a grant that is refreshed never dies of inactivity). A refresh already in flight
    // answers instead. The cached token stays in use until the refresh replaces it. `done`
    // runs once, on a worker thread, never on this one.
    void refresh_now(const std::string& account, Callback done);

    // The API refused `rejected` in a way no refresh cures (401 again after a refresh, a claims
    // challenge, 403 ErrorAccessDenied): the stored connection leaves `connected` (its tokens
    // are deleted) unless it changed since that token was stored, and `done` runs afterwards on
    // a worker thread. Until the user reconnects nothing uses the grant, so nothing retries.
    void end_connection(const std::string& account, const AccessToken& rejected, ConnectionEnd end,
                        std::function<void()> done);

    // After a successful connect: cache the fresh token.
    void remember(const std::string& account, const SecretString& token, int64_t expires_at_ms,
                  int64_t refresh_after_ms);
    // After disconnect: drop whatever is cached.
    void forget(const std::string& account);

    // Token endpoint calls made for refreshes (tests and benchmarks).
    int64_t refresh_requests() const { return refresh_requests_.load(); }
    std::size_t cached_accounts() const;

private:
    class RefreshReport;
    struct Entry {
        AccessToken token;
        int64_t expires_at_ms = 0;
        int64_t refresh_after_ms = 0;
        bool refreshing = false;
        std::vector<Callback> waiters;
        int64_t retry_not_before_ms = 0;  // backoff after a transient failure
        int failures = 0;
        TokenOutcome last_failure;
        std::list<std::string>::iterator lru;
        bool in_lru = false;
    };

    bool fresh(const Entry& e, int64_t now) const;
    // Worker thread. `replace` (may be null) is the token this refresh must not hand back:
    // the one the API rejected, or the cached one a proactive refresh replaces.
    // `force`: refresh even when the store holds a fresh token (refresh_now).
    void start_refresh(const std::string& account, AccessToken replace, int attempt, bool force = false);
    // Another instance holds the refresh lease: start_refresh again after a short wait.
    void look_again_later(const std::string& account, AccessToken replace, int attempt, bool force);
    // The lease is ours: ask the token endpoint (finish_refresh runs on a worker thread).
    void submit_refresh(const std::string& account, StoredGrant grant, int attempt);
    void finish_refresh(const std::string& account, StoredGrant grant, HttpResponse response, int attempt);
    // New tokens: stored with the grant (rotation), unless a required permission was removed.
    void store_refreshed(const std::string& account, StoredGrant grant, RefreshAnswer& answer, int64_t now_ms,
                         int attempt, RefreshReport& report);
    // The provider refused the refresh: retry later, report an operator error, or end the connection.
    void refresh_refused(const std::string& account, StoredGrant grant, const GrantFailure& verdict,
                         int64_t retry_after_ms, int64_t now_ms, int attempt, RefreshReport& report);
    void complete(const std::string& account, const TokenOutcome& outcome, const GrantRecord* fresh_record);
    void touch(const std::string& account, Entry& e);  // under mutex_
    void evict_if_needed();                            // under mutex_
    TokenOutcome outcome_for_record(const GrantRecord& r) const;
    // The record a connection leaves behind when it ends: identity kept, no token.
    static GrantRecord ended_record(const GrantRecord& from, const ConnectionEnd& end, int64_t now_ms);
    static TokenOutcome failure(TokenOutcome::Kind kind, std::string code, std::string message);
    static TokenOutcome contention();
    static TokenOutcome shutting_down();

    const TokenSettings settings_;
    const AccountStore& store_;
    HttpEngine& http_;
    WorkQueue& work_;
    const TokenProtocol& protocol_;
    ep::sdk::Host host_;
    Log log_;
    const std::string instance_id_;  // names this instance's refresh leases in the shared store

    mutable std::mutex mutex_;
    std::condition_variable idle_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> lru_;   // front: most recently used; only entries holding a token
    int refreshes_in_flight_ = 0;  // refreshes and end_connection tasks: the destructor waits for both
    std::atomic<int64_t> refresh_requests_{0};
};

}  // namespace ep::kit
