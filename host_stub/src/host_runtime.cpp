#include "host_runtime.hpp"

namespace host {

std::unique_ptr<HostRuntime> HostRuntime::start(const std::filesystem::path& config_file, Clock clock) {
    auto rt = std::make_unique<HostRuntime>();
    rt->config = read_host_config(config_file);
    rt->logger.set_level(rt->config.log_level);
    rt->database = HostDatabase::open(rt->config.store_path);
    rt->secrets = std::make_unique<SqliteSecretStore>(rt->database.db, rt->database.mutex);
    rt->providers = std::make_unique<ProviderSet>(rt->config, *rt->secrets, rt->logger, std::move(clock));
    return rt;
}

}  // namespace host
