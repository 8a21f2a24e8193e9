#include "store/sqlite_secret_store.hpp"

namespace host {

SqliteSecretStore::SqliteSecretStore(std::shared_ptr<SqliteDb> db, std::shared_ptr<std::mutex> db_mutex)
    : db_(std::move(db)),
      mutex_(std::move(db_mutex)),
      select_(*db_, "SELECT value, version FROM secrets WHERE key = ?1"),
      insert_(*db_, "INSERT INTO secrets (key, value, version) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO NOTHING"),
      update_(*db_, "UPDATE secrets SET value = ?2, version = ?3 WHERE key = ?1 AND version = ?4"),
      delete_any_(*db_, "DELETE FROM secrets WHERE key = ?1"),
      delete_version_(*db_, "DELETE FROM secrets WHERE key = ?1 AND version = ?2"),
      delete_range_(*db_, "DELETE FROM secrets WHERE key >= ?1 AND (?2 = '' OR key < ?2)"),
      count_range_(*db_, "SELECT count(*) FROM secrets WHERE key >= ?1 AND (?2 = '' OR key < ?2)"),
      bump_version_(*db_, "UPDATE secret_version_counter SET next = next + 1 WHERE id = 1 RETURNING next - 1") {}

std::optional<SecretStore::Entry> SqliteSecretStore::get(std::string_view key) {
    std::lock_guard lock(*mutex_);
    select_.bind(1, key);
    if (!select_.step()) {
        select_.reset();
        return std::nullopt;
    }
    auto blob = select_.column_blob(0);
    Entry e{std::vector<uint8_t>(blob.begin(), blob.end()), static_cast<uint64_t>(select_.column_int(1))};
    select_.reset();
    return e;
}

uint64_t SqliteSecretStore::next_version() {
    if (!bump_version_.step()) db_->fail("version counter is missing");
    auto v = static_cast<uint64_t>(bump_version_.column_int(0));
    bump_version_.reset();
    return v;
}

std::optional<uint64_t> SqliteSecretStore::put(std::string_view key, std::span<const uint8_t> value,
                                               uint64_t expected_version) {
    std::lock_guard lock(*mutex_);
    Transaction tx(*db_);
    uint64_t version = next_version();
    if (expected_version == 0) {
        insert_.bind(1, key).bind(2, value).bind(3, static_cast<int64_t>(version)).run();
    } else {
        update_.bind(1, key).bind(2, value).bind(3, static_cast<int64_t>(version))
            .bind(4, static_cast<int64_t>(expected_version)).run();
    }
    if (db_->changes() != 1) return std::nullopt;  // rolled back: the counter bump is undone too
    tx.commit();
    return version;
}

bool SqliteSecretStore::erase(std::string_view key, uint64_t expected_version) {
    std::lock_guard lock(*mutex_);
    if (expected_version == 0) {
        delete_any_.bind(1, key).run();
    } else {
        delete_version_.bind(1, key).bind(2, static_cast<int64_t>(expected_version)).run();
        if (db_->changes() == 0) {
            select_.bind(1, key);
            bool exists = select_.step();
            select_.reset();
            if (exists) return false;
        }
    }
    truncate_wal();
    return true;
}

void SqliteSecretStore::erase_prefix(std::string_view prefix) {
    if (prefix.empty()) throw StoreError("store: refusing to delete with an empty prefix");
    std::lock_guard lock(*mutex_);
    delete_range_.bind(1, prefix).bind(2, prefix_successor(prefix)).run();
    truncate_wal();
}

std::size_t SqliteSecretStore::count_prefix(std::string_view prefix) {
    std::lock_guard lock(*mutex_);
    count_range_.bind(1, prefix).bind(2, prefix_successor(prefix));
    count_range_.step();
    auto n = static_cast<std::size_t>(count_range_.column_int(0));
    count_range_.reset();
    return n;
}

// secure_delete zeroes deleted cells in the new page images, but the WAL still holds the
// old images until a checkpoint. Deletion is rare (disconnect, account deletion), so it
// pays for a truncating checkpoint: afterwards neither file holds the deleted blob.
// Best effort: a reader in another process can hold the checkpoint back; it then happens
// on a later delete or at the automatic checkpoint.
void SqliteSecretStore::truncate_wal() {
    sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

}  // namespace host
