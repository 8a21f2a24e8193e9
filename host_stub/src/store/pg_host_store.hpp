// The host's store on PostgreSQL: several host processes share users, settings and the
// outbox. The shared SQL (SqlHostStore) with PostgreSQL's adapter and dialect. Hosts claim
// nudges with SELECT ... FOR UPDATE SKIP LOCKED under a lease (owner, expiry on the server's
// clock). The per-user cap holds across hosts: a claim first locks the users it serves (FOR
// NO KEY UPDATE SKIP LOCKED), so hosts split the users instead of racing for the same rows;
// and within a user it only ever targets the first (4 - sending) queued nudges, re-checked
// when locked, so even racing claimers could not take more.
#pragma once

#include "store/pg_database.hpp"
#include "store/sql_host_store.hpp"

namespace host {

class PgHostStore final : public SqlHostStore {
public:
    explicit PgHostStore(const PgDatabase& db);
};

}  // namespace host
