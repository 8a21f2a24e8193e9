#include "provider_set.hpp"

#include <stdexcept>

namespace host {

ProviderSet::ProviderSet(const HostConfig& config, SecretStore& store, Logger& logger, Clock clock,
                         ep::host::LoadOptions options) {
    for (const auto& setting : config.providers) {
        ProviderEntry e;
        e.manifest_path = setting.manifest;
        e.enabled = setting.enabled;
        try {
            ep::host::Manifest m = ep::host::read_manifest(setting.manifest);
            e.id = m.id;
            e.display_name = m.display_name;
            e.warnings = m.warnings;
            for (const auto& other : entries_)
                if (other.id == m.id)
                    throw ep::host::LoadError("manifest " + m.manifest_path.string() + ": field 'provider.id' \"" + m.id +
                                              "\" is already used by " + other.manifest_path.string());
            if (!setting.enabled) {
                e.error = "disabled in " + config.file.string();
            } else {
                e.loaded = ep::host::load_provider(m, options);
                e.warnings = e.loaded->warnings;
                e.services = std::make_unique<HostServices>(m.id, store, logger, clock);
                e.instance = ep::host::ProviderInstance::create(e.loaded, e.services->api(), setting.config_json);
                logger.log(EP_LOG_DEBUG, "host",
                           "loaded provider '" + m.id + "' (" + e.loaded->provider_name + " " + e.loaded->provider_version +
                               ", ABI " + std::to_string(e.loaded->abi_major) + "." + std::to_string(e.loaded->abi_minor) + ")");
            }
        } catch (const std::exception& ex) {
            e.error = ex.what();
            e.instance.reset();
            e.services.reset();
            e.loaded.reset();
            logger.log(EP_LOG_ERROR, "host", e.error);
        }
        for (const auto& w : e.warnings) logger.log(EP_LOG_WARN, "host", w);
        entries_.push_back(std::move(e));
    }
}

ProviderSet::~ProviderSet() {
    // Instances first (they wait for their in-flight sends), in reverse load order.
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) it->instance.reset();
}

ProviderEntry* ProviderSet::find(std::string_view id) {
    for (auto& e : entries_)
        if (e.id == id) return &e;
    return nullptr;
}

ep::host::ProviderInstance& ProviderSet::instance(std::string_view id) {
    ProviderEntry* e = find(id);
    if (e == nullptr) throw std::runtime_error("no provider with id '" + std::string(id) + "' is configured");
    if (!e->available()) throw std::runtime_error("provider '" + std::string(id) + "' is not available: " + e->error);
    return *e->instance;
}

}  // namespace host
