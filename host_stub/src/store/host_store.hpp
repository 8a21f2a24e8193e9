// The host's own data, next to the plugins' secrets: users and settings (UserStore), the
// durable outbox of nudges (OutboxStore) and connection checks (CheckStore), on one database.
// One SQL implementation (SqlHostStore) on either engine: SQLite (one machine) or PostgreSQL
// (several host processes on one database).
#pragma once

#include "store/check_store.hpp"
#include "store/outbox_store.hpp"
#include "store/user_store.hpp"

namespace host {

// All three on one database, for the parts of the host that use more than one.
class HostStore : public UserStore, public OutboxStore, public CheckStore {
public:
    // Runs a trivial query (readiness); throws StoreError when the database does not answer.
    virtual void ping() = 0;
};

}  // namespace host
