#include "scale_seed.hpp"

#include "config.hpp"
#include "ep_kit/account_store.hpp"
#include "oauth.hpp"

#include "core/logger.hpp"
#include "providers/host_services.hpp"
#include "store/secret_store.hpp"

#include <email_provider/ep_sdk.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>

namespace bench {
namespace {

constexpr int64_t kChunk = 20'000;
constexpr int64_t kHourMs = 3'600'000;

// What the plugin writes through the host's secret store, caught instead of stored: the
// host's key ("outlook/account/<id>/grant") and the sealed value.
class CapturingSecretStore final : public host::SecretStore {
public:
    std::string key;
    std::vector<uint8_t> value;

    std::optional<Entry> get(std::string_view) override { return std::nullopt; }
    std::optional<uint64_t> put(std::string_view k, std::span<const uint8_t> v, uint64_t) override {
        key.assign(k);
        value.assign(v.begin(), v.end());
        return 1;
    }
    bool erase(std::string_view, uint64_t) override { return true; }
    void erase_prefix(std::string_view) override {}
    std::size_t count_prefix(std::string_view) override { return 0; }
};

// PostgreSQL's binary COPY format (the server's "COPY ... FROM STDIN (FORMAT binary)"): libpq
// has no writer for it, and the text format would send every bytea twice its size in hex.
class BinaryCopyBuffer {
public:
    BinaryCopyBuffer() {
        static const char signature[] = "PGCOPY\n\377\r\n";
        out_.append(signature, 11);
        put32(0);  // flags
        put32(0);  // header extension length
    }
    void row(int16_t fields) { put16(fields); }
    void bytes(std::string_view b) {
        put32(static_cast<uint32_t>(b.size()));
        out_.append(b);
    }
    void bigint(int64_t v) {
        put32(8);
        put32(static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
        put32(static_cast<uint32_t>(v & 0xffffffff));
    }
    std::string finish() {
        put16(-1);
        return std::move(out_);
    }

private:
    void put16(int16_t v) {
        uint16_t n = htons(static_cast<uint16_t>(v));
        out_.append(reinterpret_cast<const char*>(&n), 2);
    }
    void put32(uint32_t v) {
        uint32_t n = htonl(v);
        out_.append(reinterpret_cast<const char*>(&n), 4);
    }
    std::string out_;
};

// When mailbox i's stored access token expires: spread evenly (a fixed stride through the
// hour, so the spread does not depend on a random draw).
int64_t access_expiry(const SeedPlan& plan, int64_t i) {
    const int64_t step = (i * 7919) % kHourMs;
    return i < plan.busy ? plan.now_ms + step : plan.now_ms - kHourMs + step - 1;
}

// Seals grants[from, to) into `rows` (one binary COPY row each) with the kit's AccountStore.
void seal_range(const SeedPlan& plan, const std::vector<Grant>& grants, int64_t first, std::size_t from, std::size_t to,
                int64_t first_version, BinaryCopyBuffer& rows, int64_t& bytes) {
    const outlook::OutlookConfig config = outlook::parse_config(plan.plugin_config_json);
    CapturingSecretStore captured;
    host::Logger logger(EP_LOG_WARN);
    host::HostServices services(std::string(outlook::kProviderName), captured, logger, [&] { return plan.now_ms; });
    ep::kit::AccountStore store(ep::sdk::Host(services.api()), config.vault, std::string(outlook::kProviderName));
    for (std::size_t k = from; k < to; ++k) {
        const Grant& g = grants[k];
        const int64_t i = first + static_cast<int64_t>(k);
        // As ConnectFlow and the refresh store a connection (outlook_plugin/src/connect_flow.cpp).
        outlook::GrantRecord r;
        r.state = outlook::GrantState::connected;
        r.refresh_token = outlook::SecretString(g.refresh_token);
        r.access_token = outlook::SecretString(g.access_token);
        r.access_expires_at_ms = access_expiry(plan, i);
        r.scopes = outlook::read_granted_scopes(g.scope, true).scopes;
        r.connected_at_ms = plan.now_ms - 30LL * 24 * kHourMs;
        r.last_refresh_ms = r.access_expires_at_ms - kHourMs;
        r.email = g.upn;
        r.display_name = g.upn;
        r.user_id = g.user_id;
        r.tenant_id = g.tenant_id;
        r.cloud = "global";
        if (!store.save_grant(mailbox_user(i), r, 0)) throw std::runtime_error("seed: save_grant refused");
        rows.row(3);
        rows.bytes(captured.key);
        rows.bytes(std::string_view(reinterpret_cast<const char*>(captured.value.data()), captured.value.size()));
        rows.bigint(first_version + static_cast<int64_t>(k));
        bytes += static_cast<int64_t>(captured.value.size());
    }
}

}  // namespace

PgSession::PgSession(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) {
        std::string error = PQerrorMessage(c_);
        PQfinish(c_);
        throw std::runtime_error("PostgreSQL: " + error);
    }
}

void PgSession::exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    auto status = PQresultStatus(r);
    std::string error = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error("PostgreSQL: " + sql.substr(0, 60) + ": " + error);
}

std::vector<std::vector<std::string>> PgSession::query(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        std::string error = PQresultErrorMessage(r);
        PQclear(r);
        throw std::runtime_error("PostgreSQL: " + sql.substr(0, 60) + ": " + error);
    }
    std::vector<std::vector<std::string>> rows(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i)
        for (int j = 0; j < PQnfields(r); ++j) rows[static_cast<std::size_t>(i)].emplace_back(PQgetvalue(r, i, j));
    PQclear(r);
    return rows;
}

double PgSession::number(const std::string& sql) {
    auto rows = query(sql);
    return rows.empty() || rows[0].empty() || rows[0][0].empty() ? 0 : std::stod(rows[0][0]);
}

void PgSession::copy(const std::string& statement, const std::string& data) {
    PGresult* r = PQexec(c_, statement.c_str());
    bool ready = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ready) throw std::runtime_error("PostgreSQL: " + statement + ": " + PQerrorMessage(c_));
    constexpr std::size_t kPiece = 1 << 20;
    for (std::size_t at = 0; at < data.size(); at += kPiece)
        if (PQputCopyData(c_, data.data() + at, static_cast<int>(std::min(kPiece, data.size() - at))) != 1)
            throw std::runtime_error(std::string("PostgreSQL: COPY: ") + PQerrorMessage(c_));
    if (PQputCopyEnd(c_, nullptr) != 1)
        throw std::runtime_error(std::string("PostgreSQL: COPY: ") + PQerrorMessage(c_));
    while (PGresult* done = PQgetResult(c_)) {
        auto status = PQresultStatus(done);
        std::string error = PQresultErrorMessage(done);
        PQclear(done);
        if (status != PGRES_COMMAND_OK) throw std::runtime_error("PostgreSQL: " + statement + ": " + error);
    }
}

std::string mailbox_user(int64_t i) { return "mbx" + std::to_string(i); }

SeedResult seed_mailboxes(const SandboxProcess& sandbox, const std::string& conninfo, const SeedPlan& plan,
                          const std::function<void(int64_t)>& progress) {
    SeedResult result;
    const auto start = Clock::now();
    PgSession db(conninfo);
    // Seeding is not what is measured: no fsync wait per COPY. Every row is on disk before the
    // run starts (CHECKPOINT below).
    db.exec("SET synchronous_commit = off");
    for (int64_t first = 0; first < plan.mailboxes; first += kChunk) {
        const int64_t count = std::min(kChunk, plan.mailboxes - first);
        auto t = Clock::now();
        // Valid at the stand-in longer than any stored expiry, so that a mailbox whose stored
        // token has not expired can send with it, as after a real sign-in.
        std::vector<Grant> grants = sandbox.bulk_grants(plan.client_id, first, count, 2 * 3600);
        if (static_cast<int64_t>(grants.size()) != count)
            throw std::runtime_error("seed: the stand-in minted " + std::to_string(grants.size()) + " grants, not " +
                                     std::to_string(count));
        result.mint_s += seconds_since(t);

        t = Clock::now();
        // Two sealing threads: one per core.
        BinaryCopyBuffer halves[2];
        int64_t bytes[2] = {0, 0};
        const std::size_t mid = grants.size() / 2;
        std::thread other([&] { seal_range(plan, grants, first, mid, grants.size(), first + 1, halves[1], bytes[1]); });
        seal_range(plan, grants, first, 0, mid, first + 1, halves[0], bytes[0]);
        other.join();
        result.seal_s += seconds_since(t);
        result.grant_bytes += bytes[0] + bytes[1];

        t = Clock::now();
        std::string users, settings;
        for (int64_t i = first; i < first + count; ++i) {
            const std::string id = mailbox_user(i);
            users += id + "\tRecruiter " + std::to_string(i) + "\t" + std::to_string(plan.now_ms) + "\n";
            settings += id + "\temail\toutlook\n";
        }
        db.exec("BEGIN");
        db.copy("COPY users (id, display_name, created_ms) FROM STDIN", users);
        db.copy("COPY communication_settings (user_id, preferred_channel, email_provider) FROM STDIN", settings);
        db.copy("COPY secrets (key, value, version) FROM STDIN (FORMAT binary)", halves[0].finish());
        db.copy("COPY secrets (key, value, version) FROM STDIN (FORMAT binary)", halves[1].finish());
        db.exec("COMMIT");
        result.copy_s += seconds_since(t);
        if (progress) progress(first + count);
    }
    // The versions used above are 1..N: the host's writes continue after them.
    db.exec("SELECT setval('secret_versions', " + std::to_string(plan.mailboxes + 1) + ")");
    auto t = Clock::now();
    db.exec("ANALYZE");
    db.exec("CHECKPOINT");
    result.copy_s += seconds_since(t);
    result.total_s = seconds_since(start);
    return result;
}

}  // namespace bench
