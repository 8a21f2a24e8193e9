// Seeding for scale_driver: N connected Outlook mailboxes written straight into the host's
// PostgreSQL tables with COPY (a path only the benchmark uses; the host itself never bulk-loads).
// What is written is what a sign-in leaves behind: the user, their settings (email through
// Outlook), and the plugin's grant, built and sealed by the plugin kit's own AccountStore under
// the key ring of the plugin config, so the hosts read it exactly as one they stored themselves.
#pragma once

#include "bench_util.hpp"
#include "sandbox_process.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

// The benchmark's own libpq session (seeding, arrivals' monitor, the report's queries): plain
// text results, errors as std::runtime_error naming the statement.
class PgSession {
public:
    explicit PgSession(const std::string& conninfo);
    ~PgSession() { PQfinish(c_); }
    PgSession(const PgSession&) = delete;
    PgSession& operator=(const PgSession&) = delete;

    void exec(const std::string& sql);
    // Rows of text cells.
    std::vector<std::vector<std::string>> query(const std::string& sql);
    // The first cell as a number (0 when there is none).
    double number(const std::string& sql);
    // COPY ... FROM STDIN with `data` in the statement's format.
    void copy(const std::string& statement, const std::string& data);

private:
    PGconn* c_;
};

// Mailbox i: host user "mbx<i>", the stand-in's "bulk<i>@contoso.example".
std::string mailbox_user(int64_t i);

struct SeedPlan {
    int64_t mailboxes = 0;
    // Mailboxes [0, busy) sent within the last hour: their access tokens expire evenly over the
    // next hour. The others have not: their access tokens have expired, so their first send
    // refreshes (see scale_driver.cpp, "the load").
    int64_t busy = 0;
    int64_t now_ms = 0;
    std::string plugin_config_json;  // the Outlook plugin's config: its key ring seals the grants
    std::string client_id;
};

struct SeedResult {
    double mint_s = 0, seal_s = 0, copy_s = 0, total_s = 0;
    int64_t grant_bytes = 0;  // sealed grant values, summed
};

// Stateless grants from the stand-in (POST /_sandbox/bulk-grants "stateless"), sealed and
// COPYed in chunks. `conninfo`: a database the host has already migrated.
SeedResult seed_mailboxes(const SandboxProcess& sandbox, const std::string& conninfo, const SeedPlan& plan,
                          const std::function<void(int64_t done)>& progress);

}  // namespace bench
