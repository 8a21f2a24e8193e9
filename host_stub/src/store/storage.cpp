#include "store/storage.hpp"

#include "store/pg_database.hpp"
#include "store/pg_host_store.hpp"
#include "store/pg_secret_store.hpp"
#include "store/pooled_secret_store.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_host_store.hpp"
#include "store/sqlite_secret_store.hpp"

namespace host {
namespace {

// One connection for the host's own tables (the outbox, users, settings, checks) and a pool of
// their own for the plugins' secrets (PooledSecretStore says why).
constexpr int kPgSecretConnections = 3;

class SqliteStorage final : public Storage {
public:
    explicit SqliteStorage(const SqliteHostDatabase& db) : secrets_(db), host_(db) {}
    SecretStore& secrets() override { return secrets_; }
    HostStore& host() override { return host_; }

private:
    SqliteSecretStore secrets_;
    SqliteHostStore host_;
};

class PgStorage final : public Storage {
public:
    explicit PgStorage(const PgDatabase& db) : secrets_(secret_lanes(db)), host_(db) {}
    SecretStore& secrets() override { return secrets_; }
    HostStore& host() override { return host_; }

private:
    static std::vector<std::unique_ptr<SecretStore>> secret_lanes(const PgDatabase& db) {
        std::vector<std::unique_ptr<SecretStore>> lanes;
        for (int i = 0; i < kPgSecretConnections; ++i) lanes.push_back(std::make_unique<PgSecretStore>(db.another()));
        return lanes;
    }

    PooledSecretStore secrets_;
    PgHostStore host_;
};

}  // namespace

std::unique_ptr<Storage> open_storage(const StoreSettings& settings) {
    switch (settings.engine) {
        case StoreEngine::sqlite:
            return std::make_unique<SqliteStorage>(SqliteHostDatabase::open(settings.sqlite_path));
        case StoreEngine::postgresql:
            return std::make_unique<PgStorage>(PgDatabase::open(settings.pg_conninfo, settings.pg_password));
    }
    throw StoreError("store: unknown engine");
}

}  // namespace host
