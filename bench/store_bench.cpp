// Storage engines side by side in one run (bench/README.md, "Storage engines"): SQLite (one
// file, WAL, synchronous=FULL) against PostgreSQL (a throw-away server started here, fsync
// on, over its Unix socket), through the host's one storage interface:
//
//   1. the secret store: get and compare-and-swap put per second, with 100,000 accounts stored;
//   2. status reads: the latency of one account's grant read (what `status` costs the
//      store), p50 / p99 over random accounts among the 100,000;
//   3. the outbox: nudges claimed and recorded per second by 1 and by 3 hosts (each its own
//      connection, as separate processes have), 50 users, the per-user cap of 4.
//
// Ratios are PostgreSQL / SQLite in the same run. --quick: small sizes (a smoke run for CI).
#include "pg_cluster.hpp"
#include "process.hpp"

#include "store/pg_database.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/storage.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Sizes {
    int accounts = 100000;
    double seconds = 3.0;  // per throughput measurement
    int nudges = 3000;
};

struct EngineResult {
    double get_per_s = 0, cas_per_s = 0, status_p50_us = 0, status_p99_us = 0;
    double outbox_1_per_s = 0, outbox_3_per_s = 0;
};

std::string key_of(int account) { return "outlook/account/acct" + std::to_string(account) + "/grant"; }

// 100,000 grants as the plugin would store them (~600 bytes of ciphertext each), in one
// transaction per engine: seeding is not what is measured.
void seed(const host::StoreSettings& s, int accounts) {
    std::string blob(600, 'c');
    if (s.engine == host::StoreEngine::sqlite) {
        host::SqliteDb db(s.sqlite_path);
        db.exec("BEGIN");
        host::Statement put(db, "INSERT INTO secrets (key, value, version) VALUES (?1, ?2, ?3)");
        for (int i = 0; i < accounts; ++i)
            put.bind(1, key_of(i))
                .bind(2, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(blob.data()), blob.size()))
                .bind(3, int64_t{i + 1})
                .run();
        host::Statement(db, "UPDATE secret_version_counter SET next = ?1").bind(1, int64_t{accounts + 1}).run();
        db.exec("COMMIT");
    } else {
        host::PgConnection c(s.pg_conninfo, "");
        c.exec(
            "INSERT INTO secrets (key, value, version) SELECT convert_to('outlook/account/acct' || g || '/grant', "
            "'UTF8'), "
            "convert_to(repeat('c', 600), 'UTF8'), g + 1 FROM generate_series(0, $1 - 1) g",
            {int64_t{accounts}});
        c.exec("SELECT setval('secret_versions', $1)", {int64_t{accounts + 1}});
        c.exec("ANALYZE");
    }
}

void measure_secrets(host::Storage& storage, const Sizes& sizes, EngineResult& r) {
    std::mt19937 random(15);
    std::uniform_int_distribution<int> pick(0, sizes.accounts - 1);
    auto& secrets = storage.secrets();
    // Gets, timed one by one: throughput and the status read's latency.
    std::vector<double> latencies_us;
    auto end = Clock::now() + std::chrono::duration<double>(sizes.seconds);
    while (Clock::now() < end) {
        auto t0 = Clock::now();
        auto e = secrets.get(key_of(pick(random)));
        latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (!e) std::fprintf(stderr, "store_bench: a seeded key is missing\n");
    }
    double total_s = 0;
    for (double l : latencies_us) total_s += l / 1e6;
    r.get_per_s = static_cast<double>(latencies_us.size()) / total_s;
    std::sort(latencies_us.begin(), latencies_us.end());
    r.status_p50_us = latencies_us[latencies_us.size() / 2];
    r.status_p99_us = latencies_us[latencies_us.size() * 99 / 100];
    // Compare-and-swap puts: a refresh writing a rotated grant over the version it read.
    std::vector<uint8_t> blob(600, 'r');
    int puts = 0;
    auto t0 = Clock::now();
    end = t0 + std::chrono::duration<double>(sizes.seconds);
    while (Clock::now() < end) {
        auto key = key_of(pick(random));
        auto e = secrets.get(key);
        if (e && secrets.put(key, blob, e->version)) ++puts;
    }
    // Each put needed its get: the put alone costs the pair's time minus a get's.
    double pair_s = std::chrono::duration<double>(Clock::now() - t0).count() / puts;
    r.cas_per_s = 1.0 / std::max(pair_s - 1.0 / r.get_per_s, 1e-9);
}

double measure_outbox(const host::StoreSettings& s, const Sizes& sizes, int hosts) {
    auto setup = host::open_storage(s);
    auto& store = setup->host();
    for (int u = 0; u < 50; ++u) store.upsert_user(host::User{"u" + std::to_string(u), "u"});
    std::vector<std::unique_ptr<host::Storage>> connections;
    for (int h = 0; h < hosts; ++h) connections.push_back(host::open_storage(s));
    for (int i = 0; i < sizes.nudges; ++i)
        store.enqueue("u" + std::to_string(i % 50), "mock", "",
                      R"({"to":[{"address":"a@example.org"}],"subject":"s","text":"t"})", "c" + std::to_string(i), 0);
    std::atomic<int> done{0};
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int h = 0; h < hosts; ++h)
        threads.emplace_back([&, h] {
            host::HostStore& mine = connections[h]->host();
            host::OutboxLease lease{"bench-host-" + std::to_string(h), 60000};
            while (done.load() < sizes.nudges) {
                auto due = mine.claim_due(1, 64, lease);
                if (due.empty()) {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    continue;
                }
                std::vector<host::HostStore::Outcome> outcomes;
                for (const auto& n : due)
                    outcomes.push_back(
                        host::HostStore::Outcome{n.id, host::NudgeState::sent, "sent", "", "", "", 0, "", ""});
                done += mine.record_outcomes(outcomes, lease, 2);
            }
        });
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    // Leave the outbox empty for the next measurement.
    for (int u = 0; u < 50; ++u) store.delete_user("u" + std::to_string(u));
    return sizes.nudges / seconds;
}

EngineResult run_engine(const host::StoreSettings& s, const Sizes& sizes) {
    EngineResult r;
    {
        auto storage = host::open_storage(s);  // creates the schema
    }
    seed(s, sizes.accounts);
    {
        auto storage = host::open_storage(s);
        measure_secrets(*storage, sizes, r);
    }
    r.outbox_1_per_s = measure_outbox(s, sizes, 1);
    r.outbox_3_per_s = measure_outbox(s, sizes, 3);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    Sizes sizes;
    std::string json_file;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0)
            sizes = Sizes{2000, 0.3, 300};
        else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_file = argv[++i];
        else {
            std::fprintf(stderr, "usage: store_bench [--quick] [--json FILE]\n");
            return 2;
        }
    }
    try {
        test_support::TempDir dir;
        test_support::PgCluster cluster(/*durable=*/true);
        host::StoreSettings sqlite;
        sqlite.sqlite_path = dir / "bench.db";
        host::StoreSettings pg;
        pg.engine = host::StoreEngine::postgresql;
        pg.pg_conninfo = cluster.create_database();

        std::printf(
            "Storage engines, one run: %d accounts stored, %.1f s per throughput cell, %d nudges per outbox cell\n",
            sizes.accounts, sizes.seconds, sizes.nudges);
        EngineResult a = run_engine(sqlite, sizes);
        EngineResult b = run_engine(pg, sizes);
        std::printf("\n| what | SQLite | PostgreSQL | PostgreSQL / SQLite |\n|---|---|---|---|\n");
        auto row = [](const char* what, double x, double y, const char* unit) {
            std::printf("| %s | %.0f %s | %.0f %s | %.2f |\n", what, x, unit, y, unit, y / x);
        };
        row("secret get", a.get_per_s, b.get_per_s, "/s");
        row("secret compare-and-swap put", a.cas_per_s, b.cas_per_s, "/s");
        row("status read p50", a.status_p50_us, b.status_p50_us, "µs");
        row("status read p99", a.status_p99_us, b.status_p99_us, "µs");
        row("outbox, 1 host (claim + record)", a.outbox_1_per_s, b.outbox_1_per_s, "nudges/s");
        row("outbox, 3 hosts", a.outbox_3_per_s, b.outbox_3_per_s, "nudges/s");
        std::printf("| outbox, 3 hosts / 1 host | %.2f | %.2f | |\n\n", a.outbox_3_per_s / a.outbox_1_per_s,
                    b.outbox_3_per_s / b.outbox_1_per_s);
        if (!json_file.empty()) {
            FILE* f = std::fopen(json_file.c_str(), "w");
            if (f == nullptr) throw std::runtime_error("cannot write " + json_file);
            auto obj = [](const EngineResult& r) {
                char buf[512];
                std::snprintf(
                    buf, sizeof buf,
                    R"({"get_per_s":%.1f,"cas_put_per_s":%.1f,"status_p50_us":%.1f,"status_p99_us":%.1f,"outbox_1_host_per_s":%.1f,"outbox_3_hosts_per_s":%.1f})",
                    r.get_per_s, r.cas_per_s, r.status_p50_us, r.status_p99_us, r.outbox_1_per_s, r.outbox_3_per_s);
                return std::string(buf);
            };
            std::fprintf(f, "{\"accounts\":%d,\"sqlite\":%s,\"postgresql\":%s}\n", sizes.accounts, obj(a).c_str(),
                         obj(b).c_str());
            std::fclose(f);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "store_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
