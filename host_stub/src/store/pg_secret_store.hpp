// SecretStore on PostgreSQL: every operation is one statement, so compare-and-swap holds
// across host processes without explicit locks (an UPDATE ... WHERE version = expected that
// lost a race re-checks the row and matches nothing). Versions come from one sequence.
// The shared SQL (SqlSecretStore) with PostgreSQL's adapter and dialect.
#pragma once

#include "store/pg_database.hpp"
#include "store/sql_secret_store.hpp"

namespace host {

class PgSecretStore final : public SqlSecretStore {
public:
    explicit PgSecretStore(const PgDatabase& db);
};

}  // namespace host
