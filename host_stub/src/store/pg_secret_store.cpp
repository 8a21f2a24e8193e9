#include "store/pg_secret_store.hpp"

namespace host {

std::optional<SecretStore::Entry> PgSecretStore::get(std::string_view key) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT value, version FROM secrets WHERE key = $1", {PgParam::bytes(key)}, true);
    if (r.rows() == 0) return std::nullopt;
    return Entry{r.bytes(0, 0), static_cast<uint64_t>(r.integer(0, 1))};
}

std::optional<uint64_t> PgSecretStore::put(std::string_view key, std::span<const uint8_t> value,
                                           uint64_t expected_version) {
    std::lock_guard lock(*db_.mutex);
    PgResult r = expected_version == 0
                     ? db_.connection->exec("INSERT INTO secrets (key, value, version) VALUES ($1, $2, nextval('secret_versions')) "
                                            "ON CONFLICT (key) DO NOTHING RETURNING version",
                                            {PgParam::bytes(key), PgParam::bytes(value)})
                     : db_.connection->exec("UPDATE secrets SET value = $2, version = nextval('secret_versions') "
                                            "WHERE key = $1 AND version = $3 RETURNING version",
                                            {PgParam::bytes(key), PgParam::bytes(value), static_cast<int64_t>(expected_version)});
    if (r.rows() != 1) return std::nullopt;
    return static_cast<uint64_t>(r.integer(0, 0));
}

bool PgSecretStore::erase(std::string_view key, uint64_t expected_version) {
    std::lock_guard lock(*db_.mutex);
    if (expected_version == 0) {
        db_.connection->exec("DELETE FROM secrets WHERE key = $1", {PgParam::bytes(key)});
        return true;
    }
    // Deleted, or already absent (not a conflict); a conflict only when another version is there.
    PgResult r = db_.connection->exec(
        "WITH gone AS (DELETE FROM secrets WHERE key = $1 AND version = $2 RETURNING 1) "
        "SELECT EXISTS (SELECT 1 FROM gone) OR NOT EXISTS (SELECT 1 FROM secrets WHERE key = $1)",
        {PgParam::bytes(key), static_cast<int64_t>(expected_version)});
    return r.text(0, 0) == "t";
}

void PgSecretStore::erase_prefix(std::string_view prefix) {
    if (prefix.empty()) throw StoreError("store: refusing to delete with an empty prefix");
    std::string bound = prefix_successor(prefix);
    std::lock_guard lock(*db_.mutex);
    db_.connection->exec("DELETE FROM secrets WHERE key >= $1 AND ($2 = ''::bytea OR key < $2)",
                         {PgParam::bytes(prefix), PgParam::bytes(bound)});
}

std::size_t PgSecretStore::count_prefix(std::string_view prefix) {
    std::string bound = prefix_successor(prefix);
    std::lock_guard lock(*db_.mutex);
    PgResult r = db_.connection->exec("SELECT count(*) FROM secrets WHERE key >= $1 AND ($2 = ''::bytea OR key < $2)",
                                      {PgParam::bytes(prefix), PgParam::bytes(bound)}, true);
    return static_cast<std::size_t>(r.integer(0, 0));
}

}  // namespace host
