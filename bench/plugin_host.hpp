// The host side of the benchmark, built from what the real host uses: host_stub's
// SqliteHostDatabase (one SQLite file) + SqliteSecretStore + HostServices (keys namespaced under the
// provider id), the real loader, and accounts stored by the plugin's own AccountStore.
#pragma once

#include "bench_util.hpp"
#include "raw_client.hpp"
#include "sandbox_process.hpp"

#include "core/logger.hpp"
#include "providers/host_services.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_secret_store.hpp"

#include <email_provider/provider_loader.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bench {

// The host clock: wall clock + an offset the benchmark moves (with the stand-in's) to expire tokens.
struct HostClock {
    std::atomic<int64_t> offset_ms{0};
    int64_t now() const { return unix_ms() + offset_ms.load(); }
};

class PluginHost {
public:
    PluginHost(const std::filesystem::path& db_file, std::shared_ptr<HostClock> clock,
               const std::string& provider_id = "outlook");
    const ep_host_api* api() const { return services_->api(); }
    host::SqliteHostDatabase& database() { return db_; }
    int problems() const { return problems_.load(); }  // warnings + errors the plugin logged

private:
    host::SqliteHostDatabase db_;
    std::unique_ptr<host::SqliteSecretStore> store_;
    std::shared_ptr<HostClock> clock_;
    std::atomic<int> problems_{0};
    host::Logger logger_;
    std::unique_ptr<host::HostServices> services_;
};

std::string account_id(std::size_t i);

// The plugin config the tests use (tests/outlook/outlook_fixture.hpp base_config), against
// the stand-in, with the token key from `key_file`.
std::string outlook_config(const std::string& base_url, const std::string& ca_file,
                           const std::filesystem::path& key_file);

// Stores grants[i] as account_id(i) exactly as the plugin's connect flow stores a fresh
// connection: AccountStore::save_grant of a connected GrantRecord, sealed by the key ring
// the config names. `fast`: synchronous=OFF while seeding (seeding time is not measured),
// FULL again afterwards.
void seed_accounts(PluginHost& host, const std::string& config_json, const std::vector<Grant>& grants,
                   std::size_t first_account, int64_t now_ms, bool fast);

std::shared_ptr<ep::loader::LoadedProvider> load_manifest(const std::filesystem::path& manifest);

// Closed-loop load through the plugin's ABI send: `concurrency` sends outstanding, the i-th
// to accounts[i % n]; a completion submits the next send from the callback (as soon as the
// plugin reports). Latency from send() to the completion callback; "sent" is success.
// `runner_pid` (when not 0): a process whose CPU counts as the client's too (an isolated
// provider's ep-provider-runner).
LoadRun plugin_run(ep::loader::Provider& instance, const std::vector<std::string>& accounts,
                   const std::string& message_json, const LoadSpec& spec, pid_t sandbox_pid, pid_t runner_pid = 0);

// Submits every (instance, account) send at once from this thread and waits for all.
struct BurstResult {
    int64_t sent = 0, other = 0;
    double submit_s = 0, drain_s = 0;  // time to submit all; time from first submit to last completion
    std::map<std::string, int> outcomes;
    std::string first_other;
    std::vector<double> latency_us;
};
BurstResult burst(const std::vector<std::pair<ep::loader::Provider*, std::string>>& sends,
                  const std::string& message_json, int max_outstanding = 0 /* 0 = no limit */);

// A plain one-recipient text message (ep.message/1), as in the outlook tests.
std::string small_message();

}  // namespace bench
