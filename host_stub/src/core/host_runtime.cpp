#include "core/host_runtime.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <algorithm>
#include <chrono>

namespace host {

int64_t HostClock::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count() +
           offset_ms_.load();
}

bool HostClock::advance(int64_t ms) {
    constexpr int64_t kLimitMs = int64_t{100} * 366 * 24 * 3600 * 1000;
    if (ms > kLimitMs || ms < -kLimitMs) return false;
    int64_t current = offset_ms_.load();
    int64_t next = 0;
    do {
        next = current + ms;  // both within ±kLimitMs: cannot overflow
        if (next > kLimitMs || next < -kLimitMs) return false;
    } while (!offset_ms_.compare_exchange_weak(current, next));
    return true;
}

HostRuntime::HostRuntime(const std::filesystem::path& config_file)
    : config(read_host_config(config_file)), metrics(std::make_unique<HostMetrics>()) {
    logger.set_level(config.log_level);
    logger.set_format(config.log_format);
    // Every isolated provider's supervisor reports here (the options are copied into each).
    config.isolation.on_runner_event = [m = metrics.get()](std::string_view provider, ep::loader::RunnerEvent e) {
        m->runner_event(provider, e);
    };
    storage = open_storage(config.store);
    secrets = &storage->secrets();
    store = &storage->host();
    for (const auto& u : config.users) store->upsert_user(User{u.id, u.display_name});
    users_ = config.users;
    providers = std::make_unique<ProviderSet>(config, *secrets, logger, [this] { return clock.now_ms(); });
    providers->set_event_sink(
        [m = metrics.get()](std::string_view provider, std::string_view event, std::string_view outcome) {
            if (event == "token_refresh") m->token_refresh(provider, outcome);
        });
    outbox = std::make_unique<Outbox>(
        *store, *providers, logger, [this] { return clock.now_ms(); }, config.store.outbox_lease_ms, metrics.get());
    checks = std::make_unique<ConnectionChecks>(
        *store, *providers, logger, [this] { return clock.now_ms(); }, config.keep_alive.page_check_after_ms,
        metrics.get());
    metrics->watch_outbox(*store);
    keep_alive = std::make_unique<KeepAlive>(
        *store, *providers, *checks, logger, [this] { return clock.now_ms(); }, config.keep_alive);
    // Held nudges go out again only when a check confirms the connection, not on the last
    // known state alone.
    outbox->set_release_check([this](const std::string& user_id, const std::string& provider) {
        auto p = providers->find(provider);
        bool can_check = p && p->can_check();
        ProviderStatus s = parse_status(checks->check_now(user_id, provider));
        if (s.state != ConnectionState::connected || s.check_failed) return false;
        // A provider that checks confirms only by reaching its service (checked_at), not with a
        // last known state; a 1.0 provider's status is all there is.
        return !can_check || !s.checked_at.empty();
    });
}

HostRuntime::~HostRuntime() {
    // No new dispatches; then providers finish (every accepted send completes); then the
    // outbox records those last outcomes before the database goes.
    outbox->stop_dispatching();
    keep_alive->stop();
    checks->wait_idle();  // the checks started: their answers land in it
    {
        // The last references, here on this thread: each destroy cancels what it had not sent.
        auto in_flight = outbox->release_instances();
        providers.reset();
    }
    outbox->finish();
}

void HostRuntime::start_outbox() {
    outbox->start();
    keep_alive->start();
}

ReloadReport HostRuntime::reload() {
    HostConfig next = read_host_config(config.file);
    next.isolation.on_runner_event = config.isolation.on_runner_event;
    for (const auto& u : next.users) store->upsert_user(User{u.id, u.display_name});
    ReloadReport report = providers->reload(next);
    {
        // A user removed from the config can no longer sign in; their data stays (as at a start).
        std::lock_guard lock(users_mutex_);
        users_ = next.users;
    }
    outbox->recheck_held();
    return report;
}

bool HostRuntime::is_configured_user(const std::string& id) const {
    std::lock_guard lock(users_mutex_);
    return std::any_of(users_.begin(), users_.end(), [&](const HostUserSetting& u) { return u.id == id; });
}

std::vector<HostUserSetting> HostRuntime::configured_users() const {
    std::lock_guard lock(users_mutex_);
    return users_;
}

std::vector<std::string> HostRuntime::not_ready() {
    std::vector<std::string> out;
    try {
        store->ping();
    } catch (const std::exception&) {
        out.push_back("database: does not answer");  // its error may name the server: the log has it
    }
    for (const auto& e : providers->entries()) {
        if (!e.enabled) continue;
        const std::string who = "provider " + (e.id.empty() ? e.manifest_path.filename().string() : e.id);
        if (e.instance == nullptr)
            out.push_back(who + ": not loaded");
        else if (!e.available())
            out.push_back(who + ": not available");
    }
    return out;
}

void HostRuntime::delete_user(const std::string& user_id) {
    for (const auto& p : providers->handles()) {
        if (!p->available()) continue;
        auto r = p->forget_account(user_id);
        if (!r.result.ok())
            throw std::runtime_error("provider '" + p->id() + "' could not forget the account: " + r.result.document);
    }
    store->delete_user(user_id);
    logger.log(EP_LOG_INFO, "host", "user " + user_id + " deleted; every provider forgot the account");
}

}  // namespace host
