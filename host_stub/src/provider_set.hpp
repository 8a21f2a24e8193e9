// The providers a host runs: every manifest named by the config is read, loaded and
// instantiated; one that fails is kept with its reason (the others still load), so the
// settings page and `host_stub providers` can say what went wrong.
#pragma once

#include "host_config.hpp"
#include "host_services.hpp"

#include <email_provider/provider_loader.hpp>

#include <memory>
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
    // Destruction order matters: instance, then the services it uses, then the library.
    std::shared_ptr<ep::host::LoadedProvider> loaded;
    std::unique_ptr<HostServices> services;
    std::unique_ptr<ep::host::ProviderInstance> instance;

    bool available() const { return instance != nullptr; }
};

class ProviderSet {
public:
    ProviderSet(const HostConfig& config, SecretStore& store, Logger& logger, Clock clock,
                ep::host::LoadOptions options = {});
    ~ProviderSet();

    std::vector<ProviderEntry>& entries() { return entries_; }
    ProviderEntry* find(std::string_view id);
    // The instance for `id`, or throws std::runtime_error saying why it is unavailable.
    ep::host::ProviderInstance& instance(std::string_view id);

private:
    std::vector<ProviderEntry> entries_;
};

}  // namespace host
