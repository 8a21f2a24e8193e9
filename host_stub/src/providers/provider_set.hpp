// The providers a host runs: every manifest named by the config is read, loaded and
// instantiated; one that fails is kept with its reason (the others still load), so the
// settings page and `host_stub providers` can say what went wrong.
//
// reload() swaps in what a re-read config names while sends are in flight: callers hold a
// provider's instance by shared_ptr for as long as they use it (the outbox until a send's
// outcome is recorded), so a replaced or removed instance is destroyed only when its last
// user lets go, after its in-flight sends called back; new calls already go to the new one.
#pragma once

#include "core/host_config.hpp"
#include "providers/host_services.hpp"

#include <email_provider/provider_loader.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace host {

struct ProviderEntry {
    std::filesystem::path manifest_path;
    std::string id;            // empty when the manifest itself could not be read
    std::string display_name;
    bool enabled = true;
    std::string error;         // why it is not available (empty when loaded)
    std::vector<std::string> warnings;
    std::shared_ptr<ep::host::LoadedProvider> loaded;
    // Also owns the services the instance uses, destroyed after it.
    std::shared_ptr<ep::host::ProviderInstance> instance;
    std::string fingerprint;   // the manifest text and the config's settings it was made from

    bool available() const { return instance != nullptr; }
};

// What a reload changed, by provider id (or manifest path when the manifest is unreadable).
struct ReloadReport {
    std::vector<std::string> added, removed, replaced, unchanged, failed;
    std::string summary() const;
};

class ProviderSet {
public:
    ProviderSet(const HostConfig& config, SecretStore& store, Logger& logger, Clock clock,
                ep::host::LoadOptions options = {});
    ~ProviderSet();

    // A snapshot: entries stay valid (and their instances alive) however the set changes.
    std::vector<ProviderEntry> entries() const;
    std::shared_ptr<const ProviderEntry> find(std::string_view id) const;
    // The instance for `id`, or throws std::runtime_error saying why it is unavailable.
    std::shared_ptr<ep::host::ProviderInstance> instance(std::string_view id) const;

    // Takes the providers `config` names: an entry whose manifest and settings did not change
    // keeps its instance; others are loaded anew (a failed one is retried). Safe while other
    // threads use the set.
    ReloadReport reload(const HostConfig& config);

private:
    std::vector<std::shared_ptr<const ProviderEntry>> load(const HostConfig& config,
                                                           const std::vector<std::shared_ptr<const ProviderEntry>>& keep,
                                                           ReloadReport* report);

    SecretStore& store_;
    Logger& logger_;
    Clock clock_;
    ep::host::LoadOptions options_;
    std::mutex reload_mutex_;  // one reload at a time
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<const ProviderEntry>> entries_;
};

}  // namespace host
