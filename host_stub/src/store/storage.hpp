// The host's storage, whichever engine the config names: the plugins' secret store and the
// host's own tables (users, settings, outbox) on one database.
//
//   sqlite      one file, one machine (the default): SqliteHostDatabase, SqliteSecretStore, SqliteHostStore
//   postgresql  several host processes on one server: PgDatabase, PgSecretStore, PgHostStore
#pragma once

#include "core/host_config.hpp"
#include "store/host_store.hpp"
#include "store/secret_store.hpp"

#include <memory>

namespace host {

class Storage {
public:
    virtual ~Storage() = default;
    virtual SecretStore& secrets() = 0;
    virtual HostStore& host() = 0;
};

// Opens (creating or migrating the schema) the engine `settings` names. Throws StoreError
// naming what is wrong: an unreachable server, a schema newer than this host knows.
std::unique_ptr<Storage> open_storage(const StoreSettings& settings);

}  // namespace host
