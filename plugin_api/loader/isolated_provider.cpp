// TEMPORARY (replaced by the isolation work before it lands): runs the provider in this process.
#include "email_provider/provider_loader.hpp"

namespace ep::loader {

std::unique_ptr<Provider> start_isolated(const Manifest& manifest, const ep_host_api* host,
                                         std::string_view config_json, const IsolationOptions& options) {
    return ProviderInstance::create(load_provider(manifest, LoadOptions{options.host_abi_minor}), host, config_json);
}

}  // namespace ep::loader
