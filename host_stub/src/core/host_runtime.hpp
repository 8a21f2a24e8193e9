// Everything a running host holds: its configuration, the storage (the plugins' secret
// store and the host's own tables, on the engine the config names), the log, the loaded
// providers and the outbox. The CLI and the web server both start from here.
#pragma once

#include "checks/connection_checks.hpp"
#include "checks/keep_alive.hpp"
#include "core/host_config.hpp"
#include "core/logger.hpp"
#include "metrics/host_metrics.hpp"
#include "outbox/outbox.hpp"
#include "providers/provider_set.hpp"
#include "store/host_store.hpp"
#include "store/storage.hpp"

#include <atomic>
#include <memory>
#include <mutex>

namespace host {

// The host clock: the system clock plus an offset that only a debug build of the story
// (web.debug_clock) moves, so a demo can show what happens an hour later.
class HostClock {
public:
    int64_t now_ms() const;
    // Refuses (returns false) a move that would take the clock more than 100 years from the
    // system clock: the offset stays far from overflowing however often it is moved.
    bool advance(int64_t ms);

private:
    std::atomic<int64_t> offset_ms_{0};
};

class HostRuntime {
public:
    // Throws ConfigError / StoreError with a message naming the file and the problem.
    explicit HostRuntime(const std::filesystem::path& config_file);
    ~HostRuntime();

    HostConfig config;
    Logger logger;
    HostClock clock;
    // Before everything that reports to it, so that it outlives them; `serve` exposes it when
    // the config has a "metrics" block.
    std::unique_ptr<HostMetrics> metrics;
    std::unique_ptr<Storage> storage;  // the engine the config names
    SecretStore* secrets = nullptr;    // storage->secrets()
    HostStore* store = nullptr;        // storage->host()
    std::unique_ptr<ProviderSet> providers;
    std::unique_ptr<Outbox> outbox;  // started by start_outbox()
    std::unique_ptr<ConnectionChecks> checks;
    std::unique_ptr<KeepAlive> keep_alive;  // config keep_alive; its sweep runs from start_outbox()

    // Starts the outbox and the keep-alive sweep (long-running processes: serve).
    void start_outbox();
    // Re-reads the config file and the manifests it names: providers are added, removed or
    // replaced (in-flight sends of a replaced or removed instance drain into it, new ones go to
    // the new instance), users are added or renamed; held nudges are looked at again. Other
    // settings (store, web, log level, keep-alive) take effect at the next start. Throws
    // ConfigError naming the file and field; then nothing changed.
    ReloadReport reload();
    // Deletes a host user: every provider forgets the account (its tokens are deleted), then
    // the user's settings and outbox rows go.
    void delete_user(const std::string& user_id);
    // Whether `id` is a user of the config as last (re)loaded: who may sign in.
    bool is_configured_user(const std::string& id) const;
    std::vector<HostUserSetting> configured_users() const;
    // /readyz: what keeps this host from serving (the database does not answer, an enabled
    // provider is not loaded or not available), one short line each; empty when ready.
    std::vector<std::string> not_ready();

private:
    mutable std::mutex users_mutex_;
    std::vector<HostUserSetting> users_;  // config.users, then each reload's
};

}  // namespace host
