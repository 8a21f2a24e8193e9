#include "store/sqlite_secret_store.hpp"

#include "store/sqlite_adapter.hpp"

namespace host {
namespace {

// What SQLite does its own way: keys are TEXT (as files written so far have them), versions
// come from a counter row bumped in the write's own transaction, and a delete checkpoints the WAL.
class SqliteSecretDialect final : public SecretStoreDialect {
public:
    SqlValue key(std::string_view k) const override { return SqlValue(k); }
    std::string_view upper_bound_is_empty() const override { return "?2 = ''"; }

    std::optional<uint64_t> put(SqlAdapter& db, std::string_view key, std::span<const uint8_t> value,
                                uint64_t expected_version) const override {
        SqlTransaction tx(db);
        std::optional<int64_t> version;
        db.exec("UPDATE secret_version_counter SET next = next + 1 WHERE id = 1 RETURNING next - 1", {},
                [&](const SqlRow& r) { version = r.integer(0); });
        if (!version) throw StoreError(db.where() + ": version counter is missing");
        int64_t changed =
            expected_version == 0
                ? db.exec("INSERT INTO secrets (key, value, version) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO NOTHING",
                          {key, SqlValue::bytes(value), *version})
                : db.exec("UPDATE secrets SET value = ?2, version = ?3 WHERE key = ?1 AND version = ?4",
                          {key, SqlValue::bytes(value), *version, static_cast<int64_t>(expected_version)});
        if (changed != 1) return std::nullopt;  // rolled back: the counter bump is undone too
        tx.commit();
        return static_cast<uint64_t>(*version);
    }

    bool erase_version(SqlAdapter& db, std::string_view key, uint64_t expected_version) const override {
        if (db.exec("DELETE FROM secrets WHERE key = ?1 AND version = ?2",
                    {key, static_cast<int64_t>(expected_version)}) == 1)
            return true;
        return !db.read_first("SELECT value, version FROM secrets WHERE key = ?1", {key}, [](const SqlRow&) {});
    }

    // secure_delete zeroes deleted cells in the new page images, but the WAL still holds the
    // old images until a checkpoint. Deletion is rare (disconnect, account deletion), so it
    // pays for a truncating checkpoint: afterwards neither file holds the deleted blob.
    // Best effort: a reader in another process can hold the checkpoint back; it then happens
    // on a later delete or at the automatic checkpoint.
    void scrub_deleted(SqlAdapter& db) const override {
        try {
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch (const StoreError&) {
            // Best effort, as above.
        }
    }
};

const SqliteSecretDialect kSqliteSecretDialect;

}  // namespace

SqliteSecretStore::SqliteSecretStore(std::shared_ptr<SqliteDb> db, std::shared_ptr<std::mutex> db_mutex)
    : SqlSecretStore(std::make_unique<SqliteAdapter>(std::move(db)), std::move(db_mutex), kSqliteSecretDialect) {}

}  // namespace host
