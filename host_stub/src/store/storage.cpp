#include "store/storage.hpp"

#include "store/pg_database.hpp"
#include "store/pg_host_store.hpp"
#include "store/pg_secret_store.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_host_store.hpp"
#include "store/sqlite_secret_store.hpp"

namespace host {
namespace {

template <class Database, class Secrets, class Host>
class EngineStorage final : public Storage {
public:
    explicit EngineStorage(Database db) : secrets_(db), host_(db) {}
    SecretStore& secrets() override { return secrets_; }
    HostStore& host() override { return host_; }

private:
    Secrets secrets_;
    Host host_;
};

}  // namespace

std::unique_ptr<Storage> open_storage(const StoreSettings& settings) {
    switch (settings.engine) {
        case StoreEngine::sqlite:
            return std::make_unique<EngineStorage<SqliteHostDatabase, SqliteSecretStore, SqliteHostStore>>(
                SqliteHostDatabase::open(settings.sqlite_path));
        case StoreEngine::postgresql:
            return std::make_unique<EngineStorage<PgDatabase, PgSecretStore, PgHostStore>>(
                PgDatabase::open(settings.pg_conninfo, settings.pg_password));
    }
    throw StoreError("store: unknown engine");
}

}  // namespace host
