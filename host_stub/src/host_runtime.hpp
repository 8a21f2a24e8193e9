// Everything a running host holds: its configuration, the database, the plugins' secret
// store, the log and the loaded providers. The CLI and the web server both start from here.
#pragma once

#include "host_config.hpp"
#include "host_database.hpp"
#include "logger.hpp"
#include "provider_set.hpp"
#include "sqlite_secret_store.hpp"

#include <memory>

namespace host {

struct HostRuntime {
    HostConfig config;
    Logger logger;
    HostDatabase database;
    std::unique_ptr<SqliteSecretStore> secrets;
    std::unique_ptr<ProviderSet> providers;  // last: destroyed first

    // Throws ConfigError / StoreError with a message naming the file and the problem.
    static std::unique_ptr<HostRuntime> start(const std::filesystem::path& config_file, Clock clock = system_clock());
};

}  // namespace host
