#include "store/sql_secret_store.hpp"

namespace host {

SqlSecretStore::SqlSecretStore(std::unique_ptr<SqlAdapter> db, std::shared_ptr<std::mutex> mutex,
                               const SecretStoreDialect& dialect)
    : db_(std::move(db)),
      mutex_(std::move(mutex)),
      dialect_(dialect),
      delete_range_sql_("DELETE FROM secrets WHERE key >= ?1 AND (" + std::string(dialect.upper_bound_is_empty()) +
                        " OR key < ?2)"),
      count_range_sql_("SELECT count(*) FROM secrets WHERE key >= ?1 AND (" +
                       std::string(dialect.upper_bound_is_empty()) + " OR key < ?2)") {}

std::optional<SecretStore::Entry> SqlSecretStore::get(std::string_view key) {
    std::lock_guard lock(*mutex_);
    std::optional<Entry> out;
    db_->read_first("SELECT value, version FROM secrets WHERE key = ?1", {dialect_.key(key)}, [&](const SqlRow& r) {
        out = Entry{r.bytes(0), static_cast<uint64_t>(r.integer(1))};
    });
    return out;
}

std::optional<uint64_t> SqlSecretStore::put(std::string_view key, std::span<const uint8_t> value,
                                            uint64_t expected_version) {
    std::lock_guard lock(*mutex_);
    return dialect_.put(*db_, key, value, expected_version);
}

bool SqlSecretStore::erase(std::string_view key, uint64_t expected_version) {
    std::lock_guard lock(*mutex_);
    if (expected_version == 0) {
        db_->exec("DELETE FROM secrets WHERE key = ?1", {dialect_.key(key)});
    } else if (!dialect_.erase_version(*db_, key, expected_version)) {
        return false;
    }
    dialect_.scrub_deleted(*db_);
    return true;
}

void SqlSecretStore::erase_prefix(std::string_view prefix) {
    if (prefix.empty()) throw StoreError("store: refusing to delete with an empty prefix");
    std::string bound = prefix_successor(prefix);
    std::lock_guard lock(*mutex_);
    db_->exec(delete_range_sql_, {dialect_.key(prefix), dialect_.key(bound)});
    dialect_.scrub_deleted(*db_);
}

std::size_t SqlSecretStore::count_prefix(std::string_view prefix) {
    std::string bound = prefix_successor(prefix);
    std::lock_guard lock(*mutex_);
    std::size_t n = 0;
    db_->read_first(count_range_sql_, {dialect_.key(prefix), dialect_.key(bound)},
                    [&](const SqlRow& r) { n = static_cast<std::size_t>(r.integer(0)); });
    return n;
}

}  // namespace host
