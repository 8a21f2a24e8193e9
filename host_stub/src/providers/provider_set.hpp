// The providers a host runs: every provider the config names (by manifest path, or by id through
// the loader's search path) is read, loaded and instantiated; one that fails (or whose id no
// search directory has) is kept with its reason (the others still load), so the settings page
// and `host_stub providers` can say what went wrong.
//
// The host reaches a provider through its ProviderHandle (provider_handle.hpp). reload() swaps
// in what a re-read config names while sends are in flight: callers hold a provider's handle
// (which holds its instance) by shared_ptr for as long as they use it (the outbox until a
// send's outcome is recorded), so a replaced or removed instance is destroyed only when its
// last user lets go, after its in-flight sends called back; new calls already go to the new one.
#pragma once

#include "core/host_config.hpp"
#include "providers/host_services.hpp"
#include "providers/provider_handle.hpp"

#include <email_provider/provider_loader.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace host {

struct ProviderEntry {
    std::filesystem::path manifest_path;  // empty when the search path has no manifest of the id
    // "config" when the config names the manifest's path, else the search directory that held it.
    std::string manifest_found_in;
    std::string id;  // empty when the manifest itself could not be read
    std::string display_name;
    bool enabled = true;
    std::string error;  // why it is not available (empty when loaded)
    std::vector<std::string> warnings;
    bool isolated = true;  // served by an ep-provider-runner process (else loaded into this one)
    // Also owns the services the instance uses, destroyed after it.
    std::shared_ptr<ep::loader::Provider> instance;
    std::string fingerprint;  // the manifest text and the config's settings it was made from

    // Loaded, and able to take calls now (an isolated provider's runner may be restarting, or
    // quarantined after crashing again and again).
    bool available() const { return instance != nullptr && !instance->unavailable_reason(); }
    // Why it is not available (empty when it is).
    std::string reason() const;
};

// What a reload changed, by provider id (or manifest path when the manifest is unreadable).
struct ReloadReport {
    std::vector<std::string> added, removed, replaced, unchanged, failed;
    std::string summary() const;
};

class ProviderSet {
public:
    // `options` are for tests that load providers as an older host would (in this process).
    ProviderSet(const HostConfig& config, SecretStore& store, Logger& logger, Clock clock,
                ep::loader::LoadOptions options = {});
    ~ProviderSet();

    // A snapshot: entries stay valid (and their instances alive) however the set changes.
    std::vector<ProviderEntry> entries() const;
    // Handles hold their provider the same way: calls made through one go to the instance it
    // was made for, even after a reload replaced it.
    std::vector<std::shared_ptr<ProviderHandle>> handles() const;
    // The provider with this id, available or not; nullptr when none has it.
    std::shared_ptr<ProviderHandle> find(std::string_view id) const;
    // The provider with this id when it is available; nullptr otherwise, for callers that skip it.
    std::shared_ptr<ProviderHandle> available(std::string_view id) const;
    // The available provider with this id, or throws ProviderUnavailable saying why not.
    std::shared_ptr<ProviderHandle> require(std::string_view id) const;
    // The instance itself, for tests and tools that drive a plugin directly (the host reaches
    // providers through handles); throws ProviderUnavailable like require().
    std::shared_ptr<ep::loader::Provider> instance(std::string_view id) const;

    // What the provider search path held at the last start or reload: every manifest found,
    // those the config does not name and those shadowed by an earlier directory included.
    std::shared_ptr<const ep::loader::ManifestDiscovery> discovered() const;

    // Where every provider's counted events go (ABI 1.3 count_event; host_services.hpp), for
    // those loaded already and those loaded later. Until set, events are dropped.
    void set_event_sink(EventSink sink) { events_->set(std::move(sink)); }

    // Takes the providers `config` names: an entry whose manifest and settings did not change
    // keeps its instance; others are loaded anew (a failed one is retried). Ids are looked up
    // in the search path again, so a provider package installed since is found. Safe while
    // other threads use the set.
    ReloadReport reload(const HostConfig& config);

private:
    using Entries = std::vector<std::shared_ptr<const ProviderEntry>>;
    using Discovery = std::shared_ptr<const ep::loader::ManifestDiscovery>;
    Discovery discover(const HostConfig& config);
    Entries load(const HostConfig& config, const ep::loader::ManifestDiscovery& found, const Entries& keep,
                 ReloadReport* report);
    // An entry for a provider whose id the search path does not have.
    std::shared_ptr<ProviderEntry> not_found(const ProviderSetting& setting, const std::string& error);
    // A new entry for `setting`: loaded and instantiated, or with the reason it is not.
    // `loaded` are the entries taken so far (an id may be used once).
    std::shared_ptr<ProviderEntry> load_one(const HostConfig& config, const ProviderSetting& setting,
                                            std::string fingerprint, const Entries& loaded);
    std::shared_ptr<const ProviderEntry> entry(std::string_view id) const;

    SecretStore& store_;
    Logger& logger_;
    Clock clock_;
    ep::loader::LoadOptions options_;
    std::shared_ptr<EventSinkSlot> events_ = std::make_shared<EventSinkSlot>();
    std::mutex reload_mutex_;  // one reload at a time
    mutable std::mutex mutex_;
    Entries entries_;
    Discovery discovered_;
};

}  // namespace host
