#include "plugin_host.hpp"

#include "config.hpp"
#include "ep_kit/account_store.hpp"
#include "oauth.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/manifest.hpp>

#include <unistd.h>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace bench {

PluginHost::PluginHost(const std::filesystem::path& db_file, std::shared_ptr<HostClock> clock,
                       const std::string& provider_id)
    : db_(host::SqliteHostDatabase::open(db_file)),
      store_(std::make_unique<host::SqliteSecretStore>(db_.db, db_.mutex)),
      clock_(std::move(clock)),
      logger_(EP_LOG_WARN,
              [this](ep_log_level level, std::string_view source, std::string_view message) {
                  // Only problems are logged at this level: show the first few, count the rest.
                  if (problems_.fetch_add(1) < 5)
                      std::fprintf(stderr, "  [%s %s] %.*s\n", host::Logger::level_name(level),
                                   std::string(source).c_str(), static_cast<int>(message.size()), message.data());
              }),
      services_(
          std::make_unique<host::HostServices>(provider_id, *store_, logger_, [c = clock_] { return c->now(); })) {}

std::string account_id(std::size_t i) { return "acct-" + std::to_string(i); }

std::string outlook_config(const std::string& base_url, const std::string& ca_file,
                           const std::filesystem::path& key_file) {
    return json::serialize(
        json::object{{"client_id", "11111111-2222-4333-8444-555555555555"},  // the stand-in's public client
                     {"authority", "common"},
                     {"endpoints", json::object{{"login", base_url}, {"graph", base_url + "/v1.0"}}},
                     {"redirect_uri", "http://127.0.0.1/callback"},
                     {"tls", json::object{{"ca_file", ca_file}}},
                     {"token_encryption",
                      json::object{{"active_key", "k1"},
                                   {"keys", json::array{json::object{{"id", "k1"}, {"file", key_file.string()}}}}}},
                     {"send", json::object{{"max_throttle_wait_seconds", 5}}}});
}

void seed_accounts(PluginHost& host, const std::string& config_json, const std::vector<Grant>& grants,
                   std::size_t first_account, int64_t now_ms, bool fast) {
    outlook::OutlookConfig config = outlook::parse_config(config_json);  // the same key ring as the plugin's
    ep::kit::AccountStore store(ep::sdk::Host(host.api()), config.vault, std::string(outlook::kProviderName));
    if (fast) host.database().db->exec("PRAGMA synchronous=OFF");
    for (std::size_t i = 0; i < grants.size(); ++i) {
        const Grant& g = grants[i];
        // As ConnectFlow stores a fresh connection (outlook_plugin/src/connect_flow.cpp).
        outlook::GrantRecord r;
        r.state = outlook::GrantState::connected;
        r.refresh_token = outlook::SecretString(g.refresh_token);
        r.access_token = outlook::SecretString(g.access_token);
        r.access_expires_at_ms = now_ms + g.expires_in * 1000;
        r.refresh_after_ms = 0;
        r.scopes = outlook::read_granted_scopes(g.scope, true).scopes;
        r.connected_at_ms = now_ms;
        r.last_refresh_ms = now_ms;
        r.email = g.upn;
        r.display_name = g.upn;
        r.user_id = g.user_id;
        r.tenant_id = g.tenant_id;
        r.cloud = "global";
        if (!store.save_grant(account_id(first_account + i), r, 0))
            throw std::runtime_error("seeding: " + account_id(first_account + i) + " already exists");
    }
    if (fast) host.database().db->exec("PRAGMA synchronous=FULL");
}

std::shared_ptr<ep::loader::LoadedProvider> load_manifest(const std::filesystem::path& manifest) {
    return ep::loader::load_provider(ep::loader::read_manifest(manifest));
}

std::string small_message() {
    return json::serialize(json::object{
        {"to", json::array{json::object{{"address", "casey.candidate@example.org"}, {"name", "Casey Candidate"}}}},
        {"subject", "Following up on the Senior Engineer role"},
        {"text",
         "Hi Casey,\n\nJust following up on my last note about the role. Would Thursday work for a call?\n\nRita"}});
}

namespace {

bool is_sent(std::string_view result) { return result.find("\"outcome\":\"sent\"") != std::string_view::npos; }

}  // namespace

LoadRun plugin_run(ep::loader::Provider& instance, const std::vector<std::string>& accounts,
                   const std::string& message_json, const LoadSpec& spec, pid_t sandbox_pid, pid_t runner_pid) {
    struct Loop {
        Loop(ep::loader::Provider& i, const std::vector<std::string>& a, const std::string& m)
            : instance(i), accounts(a), message(m) {}
        ep::loader::Provider& instance;
        const std::vector<std::string>& accounts;
        const std::string& message;
        std::atomic<std::size_t> next{0};
        std::atomic<bool> measuring{false}, stopping{false};
        Clock::time_point measure_from{}, measure_to{};
        std::mutex mutex;
        std::condition_variable cv;
        int outstanding = 0;  // logical sends in progress
        int deferred = 0;     // resubmissions handed to the driver thread
        LoadRun result;

        void record(Clock::time_point issued, Clock::time_point done, bool ok, std::string_view text) {
            if (done < measure_from || done > measure_to) return;  // the window is by timestamps only
            if (ok) {
                ++result.ok;
                result.latency_us.push_back(us_between(issued, done));
            } else {
                ++result.failed;
                if (result.first_failure.empty()) result.first_failure = std::string(text.substr(0, 300));
            }
        }

        // One send; on completion the callback submits the next one. A callback that runs on
        // the thread that is inside send() (possible on the plugin's I/O thread) defers to the
        // driver thread instead of recursing.
        void submit() {
            static thread_local int depth = 0;
            const std::string& account = accounts[next.fetch_add(1) % accounts.size()];
            auto issued = Clock::now();
            ++depth;
            auto refusal = instance.send(account, message, [this, issued](std::string_view r) {
                auto done = Clock::now();
                std::unique_lock lock(mutex);
                record(issued, done, is_sent(r), r);
                if (stopping.load()) {
                    --outstanding;
                    cv.notify_all();
                } else if (depth > 0) {
                    ++deferred;
                    cv.notify_all();
                } else {
                    lock.unlock();
                    submit();
                }
            });
            --depth;
            if (refusal) {
                std::lock_guard lock(mutex);
                record(issued, Clock::now(), false, refusal->document);
                if (stopping.load())
                    --outstanding;
                else
                    ++deferred;
                cv.notify_all();
            }
        }
    } loop(instance, accounts, message_json);

    const auto start = Clock::now();
    loop.measure_from =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.warmup_s));
    loop.measure_to =
        loop.measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.measure_s));
    {
        std::lock_guard lock(loop.mutex);
        loop.outstanding = spec.concurrency;
    }
    for (int i = 0; i < spec.concurrency; ++i) loop.submit();

    auto serve_deferred_until = [&](Clock::time_point until) {
        std::unique_lock lock(loop.mutex);
        while (Clock::now() < until) {
            loop.cv.wait_until(lock, until, [&] { return loop.deferred > 0; });
            while (loop.deferred > 0 && !loop.stopping.load()) {
                --loop.deferred;
                lock.unlock();
                loop.submit();
                lock.lock();
            }
        }
    };
    serve_deferred_until(loop.measure_from);
    auto client_cpu = [&] {
        return process_cpu_seconds(getpid()) + (runner_pid ? process_cpu_seconds(runner_pid) : 0);
    };
    double cpu0 = client_cpu(), sb0 = process_cpu_seconds(sandbox_pid);
    loop.measuring = true;
    serve_deferred_until(loop.measure_to);
    {
        std::lock_guard lock(loop.mutex);
        loop.stopping = true;
        loop.outstanding -= loop.deferred;  // deferred resubmissions are not made
        loop.deferred = 0;
    }
    loop.result.client_cpu_s = client_cpu() - cpu0;
    loop.result.sandbox_cpu_s = process_cpu_seconds(sandbox_pid) - sb0;
    loop.result.window_s = std::chrono::duration<double>(loop.measure_to - loop.measure_from).count();
    std::unique_lock lock(loop.mutex);
    loop.cv.wait(lock, [&] { return loop.outstanding <= 0; });
    return std::move(loop.result);
}

BurstResult burst(const std::vector<std::pair<ep::loader::Provider*, std::string>>& sends,
                  const std::string& message_json, int max_outstanding) {
    struct Shared {
        std::mutex mutex;
        std::condition_variable cv;
        std::size_t done = 0;
        int outstanding = 0;
        Clock::time_point last{};
        BurstResult r;
    } s;
    auto start = Clock::now();
    auto finish = [&s](Clock::time_point issued, std::string_view text) {
        auto now = Clock::now();
        std::lock_guard lock(s.mutex);
        if (is_sent(text)) {
            ++s.r.sent;
        } else {
            ++s.r.other;
            if (s.r.first_other.empty()) s.r.first_other = std::string(text.substr(0, 300));
        }
        auto o = text.find("\"outcome\":\"");
        if (o != std::string_view::npos) {
            auto b = o + 11;
            ++s.r.outcomes[std::string(text.substr(b, text.find('"', b) - b))];
        }
        s.r.latency_us.push_back(us_between(issued, now));
        s.last = now;
        ++s.done;
        --s.outstanding;
        s.cv.notify_all();
    };
    for (const auto& [instance, account] : sends) {
        if (max_outstanding > 0) {
            std::unique_lock lock(s.mutex);
            s.cv.wait(lock, [&] { return s.outstanding < max_outstanding; });
        }
        {
            std::lock_guard lock(s.mutex);
            ++s.outstanding;
        }
        auto issued = Clock::now();
        auto refusal =
            instance->send(account, message_json, [&finish, issued](std::string_view r) { finish(issued, r); });
        if (refusal) finish(issued, refusal->document);
    }
    s.r.submit_s = seconds_since(start);
    std::unique_lock lock(s.mutex);
    s.cv.wait(lock, [&] { return s.done == sends.size(); });
    s.r.drain_s = std::chrono::duration<double>(s.last - start).count();
    return std::move(s.r);
}

}  // namespace bench
