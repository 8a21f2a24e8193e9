#include "store/pg_secret_store.hpp"

#include "store/pg_adapter.hpp"

namespace host {
namespace {

// What PostgreSQL does its own way: keys are bytea, versions come from a sequence in the
// write's one statement, and a conditional delete is one statement too.
class PgSecretDialect final : public SecretStoreDialect {
public:
    SqlValue key(std::string_view k) const override { return SqlValue::bytes(k); }
    std::string_view upper_bound_is_empty() const override { return "?2 = ''::bytea"; }

    std::optional<uint64_t> put(SqlAdapter& db, std::string_view key, std::span<const uint8_t> value,
                                uint64_t expected_version) const override {
        std::optional<uint64_t> version;
        auto take = [&](const SqlRow& r) { version = static_cast<uint64_t>(r.integer(0)); };
        if (expected_version == 0)
            db.exec(
                "INSERT INTO secrets (key, value, version) VALUES (?1, ?2, nextval('secret_versions')) "
                "ON CONFLICT (key) DO NOTHING RETURNING version",
                {SqlValue::bytes(key), SqlValue::bytes(value)}, take);
        else
            db.exec(
                "UPDATE secrets SET value = ?2, version = nextval('secret_versions') "
                "WHERE key = ?1 AND version = ?3 RETURNING version",
                {SqlValue::bytes(key), SqlValue::bytes(value), static_cast<int64_t>(expected_version)}, take);
        return version;
    }

    bool erase_version(SqlAdapter& db, std::string_view key, uint64_t expected_version) const override {
        // Deleted, or already absent (not a conflict); a conflict only when another version is there.
        bool erased = false;
        db.exec(
            "WITH gone AS (DELETE FROM secrets WHERE key = ?1 AND version = ?2 RETURNING 1) "
            "SELECT EXISTS (SELECT 1 FROM gone) OR NOT EXISTS (SELECT 1 FROM secrets WHERE key = ?1)",
            {SqlValue::bytes(key), static_cast<int64_t>(expected_version)},
            [&](const SqlRow& r) { erased = r.text(0) == "t"; });
        return erased;
    }

    // A deleted row's bytes go with VACUUM, as every row's do: nothing more to do here.
    void scrub_deleted(SqlAdapter&) const override {}
};

const PgSecretDialect kPgSecretDialect;

}  // namespace

PgSecretStore::PgSecretStore(const PgDatabase& db)
    : SqlSecretStore(std::make_unique<PgAdapter>(db.connection), db.mutex, kPgSecretDialect) {}

}  // namespace host
