#include "store/sqlite_host_database.hpp"

#include "store/schema.hpp"
#include "store/secret_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace host {
namespace {

// Version 1 is the schema from before versioning (hence IF NOT EXISTS: such a file is already
// at version 1); version 2 adds the outbox leases, version 3 the connection checks, version 4
// the mailbox a nudge was queued from (empty for older nudges: none was recorded), version 6
// what the pacing counts (when a nudge was handed to its provider, to how many recipients) and
// the state paced (allow_paced_state).
const std::vector<Migration> kSqliteMigrations = {
    {1,
     {"CREATE TABLE IF NOT EXISTS users ("
      " id TEXT PRIMARY KEY NOT NULL,"
      " display_name TEXT NOT NULL,"
      " created_ms INTEGER NOT NULL)",
      "CREATE TABLE IF NOT EXISTS communication_settings ("
      " user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
      " preferred_channel TEXT NOT NULL,"
      " email_provider TEXT NOT NULL)",
      "CREATE TABLE IF NOT EXISTS outbox ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
      " provider TEXT NOT NULL,"
      " message TEXT NOT NULL,"
      " client_request_id TEXT NOT NULL,"
      " state TEXT NOT NULL CHECK (state IN ('queued','sending','sent','held','throttled','failed','needs_review')),"
      " attempts INTEGER NOT NULL DEFAULT 0,"
      " not_before_ms INTEGER NOT NULL DEFAULT 0,"
      " last_outcome TEXT NOT NULL DEFAULT '',"
      " last_code TEXT NOT NULL DEFAULT '',"
      " last_message TEXT NOT NULL DEFAULT '',"
      " request_id TEXT NOT NULL DEFAULT '',"
      " created_ms INTEGER NOT NULL,"
      " updated_ms INTEGER NOT NULL,"
      " sent_ms INTEGER NOT NULL DEFAULT 0)",
      "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, not_before_ms)",
      "CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user_id, id)",
      "CREATE INDEX IF NOT EXISTS outbox_user_state ON outbox (user_id, state)",
      "CREATE TABLE IF NOT EXISTS secrets ("
      " key TEXT PRIMARY KEY NOT NULL,"
      " value BLOB NOT NULL,"
      " version INTEGER NOT NULL) WITHOUT ROWID",
      // Versions come from one store-wide counter, so a key that is deleted and re-created
      // never reuses an old version (no ABA for compare-and-swap across processes).
      "CREATE TABLE IF NOT EXISTS secret_version_counter (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT "
      "NULL)",
      "INSERT OR IGNORE INTO secret_version_counter (id, next) VALUES (1, 1)"}},
    {2,
     {"ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE outbox ADD COLUMN lease_expires_ms INTEGER NOT NULL DEFAULT 0"}},
    {3,
     // Keyed by the provider's account, which the CLI may check without a host user behind
     // it: no foreign key, delete_user removes the rows.
     {"CREATE TABLE connection_checks ("
      " user_id TEXT NOT NULL,"
      " provider TEXT NOT NULL,"
      " claimed_ms INTEGER NOT NULL,"
      " checked_ms INTEGER NOT NULL DEFAULT 0,"
      " PRIMARY KEY (user_id, provider)) WITHOUT ROWID"}},
    {4, {"ALTER TABLE outbox ADD COLUMN mailbox TEXT NOT NULL DEFAULT ''"}},
    {5,
     {"ALTER TABLE outbox ADD COLUMN message_id TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE outbox ADD COLUMN follows_id INTEGER NOT NULL DEFAULT 0",
      "ALTER TABLE outbox ADD COLUMN thread_root_id INTEGER NOT NULL DEFAULT 0",
      "ALTER TABLE outbox ADD COLUMN sent_message_id TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE outbox ADD COLUMN provider_thread_id TEXT NOT NULL DEFAULT ''"}},
    {6,
     {"ALTER TABLE outbox ADD COLUMN handed_ms INTEGER",
      "ALTER TABLE outbox ADD COLUMN recipients INTEGER NOT NULL DEFAULT 0",
      "CREATE INDEX outbox_mailbox_sends ON outbox (user_id, provider, mailbox, handed_ms)"}},
    // The open nudges in due order (OutboxStore::due_senders).
    {7,
     {"CREATE INDEX outbox_open_due ON outbox (not_before_ms, id) "
      "WHERE state IN ('queued','throttled','paced') AND not_before_ms >= 0"}},
};
constexpr int kPacedStateVersion = 6;

// The outbox's CHECK on state gains 'paced'. SQLite's ALTER TABLE cannot change a CHECK; a
// looser one changes nothing stored, so the table's definition is edited in place as SQLite
// documents for such changes (https://www.sqlite.org/lang_altertable.html#otheralter): the
// schema version bumped in the same transaction, so every connection re-reads it. A table from
// before versioning has no CHECK: nothing to edit.
void allow_paced_state(SqliteDb& db) {
    int64_t schema_version = 0;
    {
        Statement s(db, "PRAGMA schema_version");
        if (s.step()) schema_version = s.column_int(0);
    }
    db.exec("PRAGMA writable_schema = ON");
    db.exec(
        "UPDATE sqlite_schema SET sql = replace(sql, '''needs_review''))', '''needs_review'',''paced''))') "
        "WHERE type = 'table' AND name = 'outbox' AND sql NOT LIKE '%''paced''%'");
    db.exec("PRAGMA schema_version = " + std::to_string(schema_version + 1));
    db.exec("PRAGMA writable_schema = OFF");
}

void migrate(SqliteDb& db) {
    Transaction tx(db);  // BEGIN IMMEDIATE: two hosts starting at once migrate one after the other
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    int64_t current = 0;
    {
        Statement s(db, "SELECT coalesce(max(version), 0) FROM schema_version");
        if (s.step()) current = s.column_int(0);
    }
    const int known = kSqliteMigrations.back().version;
    if (current > known) refuse_newer_schema(db.path().string(), current, known);
    for (const auto& m : kSqliteMigrations) {
        if (m.version <= current) continue;
        for (auto sql : m.statements) db.exec(sql);
        if (m.version == kPacedStateVersion) allow_paced_state(db);
    }
    if (current < known) {
        db.exec("DELETE FROM schema_version");
        Statement(db, "INSERT INTO schema_version (version) VALUES (?1)").bind(1, static_cast<int64_t>(known)).run();
    }
    tx.commit();
}

}  // namespace

SqliteHostDatabase SqliteHostDatabase::open(const std::filesystem::path& path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
    }
    // The file holds encrypted tokens and every user's outbox: only its owner reads it. Created
    // 0600 before SQLite opens it (SQLite gives the -wal and -shm files the same mode); files
    // an older version left readable by others are narrowed.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw StoreError("store " + path.string() + ": cannot open: " + std::strerror(errno));
    ::close(fd);
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::permissions(path.string() + suffix,
                                     std::filesystem::perms::group_all | std::filesystem::perms::others_all,
                                     std::filesystem::perm_options::remove, ec);
    }
    auto db = std::make_shared<SqliteDb>(path);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA secure_delete=ON");
    db->exec("PRAGMA foreign_keys=ON");
    migrate(*db);
    return SqliteHostDatabase{std::move(db), std::make_shared<std::mutex>()};
}

}  // namespace host
