// scale_driver: the peak hour of a million connected Outlook mailboxes, in real time, on one
// PostgreSQL server shared by several `host_stub serve` processes (bench/README.md, "A million
// mailboxes").
//
//   1. A throw-away PostgreSQL 15 server on this machine's disk, fsync on (as in production).
//   2. The Microsoft stand-in in its stateless bulk mode: tokens it verifies without storing.
//   3. N mailboxes seeded with COPY (scale_seed.hpp): user, settings, sealed grant.
//   4. H hosts (`host_stub serve`, the Outlook plugin in its own runner process, keep-alive on).
//   5. The load: nudges enqueued at R per second, as the platform would (the host store's own
//      enqueue, several connections); S browser sessions polling /api/state every 1.5 s, as the
//      settings page does; one host SIGKILLed partway and restarted later.
//   6. Optionally a ramp: the rate raised step by step until queue-to-sent p99 passes 5 s.
//   7. The checks: every nudge queued is in the outbox in a final state; the stand-in received
//      each one the outbox calls sent exactly once and nothing twice; each mailbox made at most
//      one token request (a refresh's new access token outlives the run).
//
// The load: real use is skewed. A few busy recruiters (2 % of mailboxes) send 45 % of the
// nudges and sent within the last hour, so their access tokens expire evenly over the next
// hour; the rest are quiet, have not sent for over an hour, and their first nudge refreshes.
// At 1M mailboxes and 556 nudges/s that is ~280 refreshes/s, the capacity table's figure.
//
// Exit status: 0 when every check holds (speed is reported, never judged), 1 otherwise.
#include "bench_util.hpp"
#include "pg_cluster.hpp"
#include "plugin_host.hpp"
#include "process.hpp"
#include "sandbox_process.hpp"
#include "scale_seed.hpp"

#include <curl/curl.h>
#include <libpq-fe.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using namespace bench;

namespace {

constexpr const char* kClientId = "11111111-2222-4333-8444-555555555555";

// Ctrl-C or SIGTERM: the run stops at its next look (within seconds) and everything it started
// is stopped and removed on the way out (hosts, stand-in, database server, files).
std::atomic<bool> g_interrupted{false};
void sleep_checked(std::chrono::milliseconds d) {
    std::this_thread::sleep_for(d);
    if (g_interrupted) throw std::runtime_error("interrupted");
}

struct Options {
    int64_t mailboxes = 1'000'000;
    double rate = 556;    // nudges per second in the peak window
    double peak_s = 600;  // the peak window
    int hosts = 3;
    int sessions = 30;        // browser sessions polling /api/state
    double kill_at = 0.4;     // fraction of the peak window: one host SIGKILLed ...
    double restart_at = 0.6;  // ... and started again
    bool ramp = true;         // then raise the rate until p99 > 5 s
    double ramp_step_s = 45;
    double busy_mailboxes = 0.02;  // share of mailboxes that are busy
    double busy_nudges = 0.45;     // share of nudges they send
    int lease_s = 30;              // outbox_lease_seconds
    double max_drain_s = 900;      // waiting for the outbox to empty, each time
    int producers = 4;             // enqueueing connections
    int sandbox_threads = 2;
    std::string json_out;
    fs::path sandbox_bin = BENCH_SANDBOX_BIN;
    fs::path host_bin = BENCH_HOST_STUB;
    fs::path tls_dir = BENCH_SANDBOX_TLS_DIR;
    fs::path scenario_file = BENCH_SCENARIO_FILE;
    fs::path manifest_dir = BENCH_MANIFEST_DIR;
};

[[noreturn]] void usage(const char* error) {
    std::fprintf(stderr,
                 "scale_driver: %s\n"
                 "usage: scale_driver [--smoke] [--mailboxes N] [--rate R] [--peak-seconds S] [--hosts H]\n"
                 "                    [--sessions S] [--no-kill] [--no-ramp] [--ramp-step-seconds S] [--json FILE]\n"
                 "                    [--host-bin PATH] [--max-drain-seconds S]\n"
                 "  --smoke: 10,000 mailboxes, 30 s at 60/s, no ramp (what CI runs: checks only)\n",
                 error);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage((std::string(argv[i]) + " needs a value").c_str());
        return argv[++i];
    };
    auto number = [&](int& i) {
        std::string name = argv[i], v = value(i);
        try {
            std::size_t used = 0;
            double d = std::stod(v, &used);
            if (used != v.size() || !(d > 0)) throw std::invalid_argument(v);
            return d;
        } catch (const std::exception&) {
            usage((name + " needs a positive number, not \"" + v + "\"").c_str());
        }
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--smoke") {
            o.mailboxes = 10'000;
            o.rate = 60;
            o.peak_s = 30;
            o.sessions = 4;
            o.ramp = false;
            o.lease_s = 5;
        } else if (a == "--mailboxes") {
            o.mailboxes = static_cast<int64_t>(number(i));
        } else if (a == "--rate") {
            o.rate = number(i);
        } else if (a == "--peak-seconds") {
            o.peak_s = number(i);
        } else if (a == "--hosts") {
            o.hosts = static_cast<int>(number(i));
        } else if (a == "--sessions") {
            o.sessions = static_cast<int>(number(i));
        } else if (a == "--ramp-step-seconds") {
            o.ramp_step_s = number(i);
        } else if (a == "--no-kill") {
            o.kill_at = o.restart_at = 2;
        } else if (a == "--no-ramp") {
            o.ramp = false;
        } else if (a == "--max-drain-seconds") {
            o.max_drain_s = number(i);
        } else if (a == "--host-bin") {
            o.host_bin = value(i);  // another build's host_stub (before/after a fix, side by side)
        } else if (a == "--json") {
            o.json_out = value(i);
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (o.mailboxes < 100) usage("--mailboxes must be at least 100");
    if (o.hosts < 2 && o.kill_at < 1) usage("killing a host needs --hosts 2 or more (or --no-kill)");
    return o;
}

void heading(const std::string& title) {
    std::printf("\n== %s ==\n", title.c_str());
    std::fflush(stdout);
}

// ---- processes -----------------------------------------------------------------------------

// pid's children (one level), from /proc.
std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos || close + 4 >= text.size()) continue;
        if (static_cast<pid_t>(std::strtol(text.c_str() + close + 4, nullptr, 10)) == parent)
            out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

// A process and its children: CPU seconds and resident memory (a host with its provider runner;
// PostgreSQL's postmaster with its backends).
struct TreeSample {
    double cpu_s = 0;
    long rss_kb = 0;
};
TreeSample sample_tree(pid_t root) {
    TreeSample s;
    if (root <= 0) return s;
    s.cpu_s = process_cpu_seconds(root);
    s.rss_kb = std::max(0L, rss_kb(root));
    for (pid_t c : children_of(root)) {
        s.cpu_s += process_cpu_seconds(c);
        s.rss_kb += std::max(0L, rss_kb(c));
    }
    return s;
}

pid_t postmaster_pid(const fs::path& pg_dir) {
    std::ifstream in(pg_dir / "data" / "postmaster.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
}

struct Host {
    int index = 0;
    pid_t pid = -1;
    std::string base_url;
    double cpu_before = 0;  // CPU of earlier incarnations (before a kill)
};

// Every host still running (with its runner), SIGKILLed when the run ends, however it ends.
struct HostsStopper {
    std::vector<Host>& hosts;
    std::mutex& mutex;
    ~HostsStopper() {
        std::lock_guard lock(mutex);
        for (auto& h : hosts) {
            if (h.pid <= 0) continue;
            for (pid_t c : children_of(h.pid)) kill(c, SIGKILL);
            kill(h.pid, SIGKILL);
            waitpid(h.pid, nullptr, 0);
            h.pid = -1;
        }
    }
};

void start_host(Host& h, const fs::path& host_bin, const fs::path& config, const fs::path& dir) {
    const fs::path out = dir / ("host" + std::to_string(h.index) + ".out");
    const fs::path log = dir / ("host" + std::to_string(h.index) + ".log");
    std::error_code ec;
    fs::remove(out, ec);
    h.pid =
        test_support::spawn_process({host_bin.string(), "--config", config.string(), "serve", "--port", "0"}, out, log);
    const std::string marker = "Settings page: ";
    std::string text;
    if (!test_support::wait_until(
            [&] {
                text = test_support::read_file(out);
                return text.find(marker) != std::string::npos;
            },
            std::chrono::seconds(120), std::chrono::milliseconds(50)))
        throw std::runtime_error("host " + std::to_string(h.index) + " did not start: " + test_support::read_file(log));
    auto at = text.find(marker) + marker.size();
    std::string url = text.substr(at, text.find('\n', at) - at);
    // "http://127.0.0.1:PORT/..." -> "http://127.0.0.1:PORT"
    h.base_url = url.substr(0, url.find('/', url.find("//") + 2));
}

// ---- PostgreSQL ----------------------------------------------------------------------------

// The server-wide counters that say what the database did.
struct PgCounters {
    double commits = 0, rollbacks = 0, wal_bytes = 0, wal_syncs = 0;
    static PgCounters read(PgSession& pg) {
        auto r = pg.query(
            "SELECT xact_commit, xact_rollback, (SELECT wal_bytes FROM pg_stat_wal), (SELECT wal_sync FROM "
            "pg_stat_wal) "
            "FROM pg_stat_database WHERE datname = current_database()");
        return PgCounters{std::stod(r[0][0]), std::stod(r[0][1]), std::stod(r[0][2]), std::stod(r[0][3])};
    }
};

struct Latency {
    int64_t n = 0;
    double p50_ms = 0, p99_ms = 0;
};

// Queue-to-sent of the nudges queued in [from_ms, to_ms): sent ones by their sent time; those
// still open count as open until `now_ms` (so a backlog shows in p99 without waiting for it).
Latency queue_to_sent(PgSession& pg, int64_t from_ms, int64_t to_ms, int64_t now_ms) {
    auto r = pg.query(
        fmt("SELECT count(*), coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY l), 0), "
            "coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY l), 0) FROM ("
            "SELECT CASE WHEN state = 'sent' THEN sent_ms - created_ms ELSE %lld - created_ms END AS l FROM outbox "
            "WHERE created_ms >= %lld AND created_ms < %lld AND state IN "
            "('sent','queued','sending','paced','throttled')) x",
            static_cast<long long>(now_ms), static_cast<long long>(from_ms), static_cast<long long>(to_ms)));
    return Latency{std::stoll(r[0][0]), std::stod(r[0][1]), std::stod(r[0][2])};
}

// ---- the load ------------------------------------------------------------------------------

// Open-loop arrivals: nudge k is due at start + k / rate, whatever the hosts do; producers that
// fall behind are reported (the driver's own limit, not the system's).
class Arrivals {
public:
    Arrivals(const Options& o, std::string conninfo) : o_(o), conninfo_(std::move(conninfo)) {}
    ~Arrivals() { stop(); }

    void start(double rate) {
        stopping_ = false;
        set_rate(rate);
        // Each start's producers draw other client-request-ids than the last start's.
        const int first_seed = starts_++ * o_.producers;
        for (int p = 0; p < o_.producers; ++p)
            threads_.emplace_back([this, p, first_seed] { produce(first_seed + p); });
    }
    // From now on, at `rate`.
    void set_rate(double rate) {
        std::lock_guard lock(mutex_);
        base_seq_ = next_seq_;
        base_time_ = Clock::now();
        rate_ = rate;
    }
    void stop() {
        stopping_ = true;
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    int64_t enqueued() const { return enqueued_.load(); }
    int64_t failed() const { return failed_.load(); }
    double worst_lag_s() const { return worst_lag_ms_.load() / 1000.0; }

private:
    // Which mailbox sends nudge `seq`: busy ones share busy_nudges of all nudges.
    int64_t pick(std::mt19937_64& rng) const {
        const int64_t busy = std::max<int64_t>(1, static_cast<int64_t>(o_.mailboxes * o_.busy_mailboxes));
        std::uniform_real_distribution<double> coin(0, 1);
        if (coin(rng) < o_.busy_nudges) return std::uniform_int_distribution<int64_t>(0, busy - 1)(rng);
        return std::uniform_int_distribution<int64_t>(busy, o_.mailboxes - 1)(rng);
    }

    // The platform's side: a plain INSERT of a queued nudge, the row the host store's enqueue
    // writes (not the host's code, so that another build's host can be measured against it).
    void produce(int p) {
        PGconn* db = PQconnectdb(conninfo_.c_str());
        PGresult* prepared = PQprepare(db, "enqueue",
                                       "INSERT INTO outbox (user_id, provider, message, client_request_id, state, "
                                       "created_ms, updated_ms, mailbox) VALUES ($1, 'outlook', $2, $3, 'queued', $4, "
                                       "$4, $5)",
                                       5, nullptr);
        const bool ready = PQresultStatus(prepared) == PGRES_COMMAND_OK;
        PQclear(prepared);
        if (!ready) {
            if (failed_++ == 0) std::fprintf(stderr, "enqueue: %s\n", PQerrorMessage(db));
            PQfinish(db);
            return;
        }
        std::mt19937_64 rng(0x5ca1e + static_cast<uint64_t>(p));
        uint64_t uuid_state = rng();
        while (!stopping_) {
            int64_t seq;
            Clock::time_point due;
            {
                std::lock_guard lock(mutex_);
                seq = next_seq_++;
                due = base_time_ + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>((seq - base_seq_) / rate_));
            }
            std::this_thread::sleep_until(due);
            if (stopping_) break;
            const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - due).count();
            if (late > worst_lag_ms_.load()) worst_lag_ms_ = late;
            const int64_t m = pick(rng);
            const std::string crid = fast_uuid(uuid_state);
            json::object message{{"to", json::array{json::object{{"address", "casey.candidate@example.org"},
                                                                 {"name", "Casey Candidate"}}}},
                                 {"subject", "scale " + std::to_string(seq)},
                                 {"text",
                                  "Hi Casey,\n\nJust following up on my last note about the role. Would "
                                  "Thursday work for a call?\n\nRita"},
                                 {"client_request_id", crid}};
            const std::string user = mailbox_user(m), body = json::serialize(message), now = std::to_string(unix_ms()),
                              mailbox = "bulk" + std::to_string(m) + "@contoso.example";
            const char* values[] = {user.c_str(), body.c_str(), crid.c_str(), now.c_str(), mailbox.c_str()};
            PGresult* r = PQexecPrepared(db, "enqueue", 5, values, nullptr, nullptr, 0);
            if (PQresultStatus(r) == PGRES_COMMAND_OK)
                ++enqueued_;
            else if (failed_++ == 0)
                std::fprintf(stderr, "enqueue failed: %s\n", PQresultErrorMessage(r));
            PQclear(r);
        }
        PQfinish(db);
    }

    const Options& o_;
    std::string conninfo_;
    std::mutex mutex_;
    int64_t next_seq_ = 0, base_seq_ = 0;
    Clock::time_point base_time_;
    double rate_ = 1;
    std::atomic<bool> stopping_{false};
    std::atomic<int64_t> enqueued_{0}, failed_{0}, worst_lag_ms_{0};
    int starts_ = 0;
    std::vector<std::thread> threads_;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// Browser sessions on the settings page: sign in (GET /signin for the form's CSRF token, POST
// it), then GET /api/state every 1.5 s, as the page's script does. A session whose host died
// signs in again once it is back (at its new address).
class Sessions {
public:
    Sessions(int count, std::vector<Host>& hosts, std::mutex& hosts_mutex)
        : count_(count), hosts_(hosts), hosts_mutex_(hosts_mutex) {}
    ~Sessions() { stop(); }

    void start() {
        const int threads = std::min(count_, 4);
        for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t, threads] { run(t, threads); });
    }
    void stop() {
        stopping_ = true;
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    Summary latency_ms() {
        std::lock_guard lock(mutex_);
        return summarize(latency_ms_);
    }
    Summary sign_in_ms() {
        std::lock_guard lock(mutex_);
        return summarize(sign_in_ms_);
    }
    int64_t polls() const { return polls_.load(); }
    int64_t errors() const { return errors_.load(); }

private:
    struct Session {
        int user = 0;  // mailbox index
        int host = 0;
        std::string base_url;  // where it signed in ("" = not signed in)
        CURL* curl = nullptr;
    };

    std::string host_url(int host) {
        std::lock_guard lock(hosts_mutex_);
        return hosts_[static_cast<std::size_t>(host)].pid > 0 ? hosts_[static_cast<std::size_t>(host)].base_url : "";
    }

    long request(Session& s, const std::string& url, const std::string* post, std::string& body) {
        body.clear();
        curl_easy_setopt(s.curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(s.curl, CURLOPT_TIMEOUT_MS, 10000L);
        if (post) {
            curl_easy_setopt(s.curl, CURLOPT_POSTFIELDS, post->c_str());
        } else {
            curl_easy_setopt(s.curl, CURLOPT_HTTPGET, 1L);
        }
        if (curl_easy_perform(s.curl) != CURLE_OK) return 0;
        long status = 0;
        curl_easy_getinfo(s.curl, CURLINFO_RESPONSE_CODE, &status);
        return status;
    }

    bool sign_in(Session& s, const std::string& base) {
        curl_easy_setopt(s.curl, CURLOPT_COOKIELIST, "ALL");  // a new host: forget the old cookies
        std::string body;
        if (request(s, base + "/signin", nullptr, body) != 200) return false;
        const std::string marker = "name=\"csrf\" value=\"";
        auto at = body.find(marker);
        if (at == std::string::npos) return false;
        at += marker.size();
        const std::string form =
            "csrf=" + body.substr(at, body.find('"', at) - at) + "&user_id=mbx" + std::to_string(s.user);
        if (request(s, base + "/signin", &form, body) != 303) return false;
        s.base_url = base;
        return true;
    }

    void run(int t, int threads) {
        std::vector<Session> mine;
        for (int i = t; i < count_; i += threads) {
            Session s;
            s.user = i;
            s.host = i % static_cast<int>(hosts_.size());
            s.curl = curl_easy_init();
            curl_easy_setopt(s.curl, CURLOPT_COOKIEFILE, "");
            mine.push_back(s);
        }
        std::string body;
        while (!stopping_) {
            const auto round = Clock::now();
            for (auto& s : mine) {
                const std::string base = host_url(s.host);
                if (base.empty()) continue;  // its host is down
                if (s.base_url != base) {
                    const auto t0 = Clock::now();
                    if (!sign_in(s, base)) {
                        ++errors_;
                        continue;
                    }
                    std::lock_guard lock(mutex_);
                    sign_in_ms_.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                }
                const auto t0 = Clock::now();
                long status = request(s, base + "/api/state", nullptr, body);
                const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                ++polls_;
                if (status != 200) {
                    ++errors_;
                    s.base_url.clear();
                    continue;
                }
                std::lock_guard lock(mutex_);
                latency_ms_.push_back(ms);
            }
            std::this_thread::sleep_until(round + std::chrono::milliseconds(1500));
        }
        for (auto& s : mine) curl_easy_cleanup(s.curl);
    }

    int count_;
    std::vector<Host>& hosts_;
    std::mutex& hosts_mutex_;
    std::atomic<bool> stopping_{false};
    std::atomic<int64_t> polls_{0}, errors_{0};
    std::mutex mutex_;
    std::vector<double> latency_ms_, sign_in_ms_;
    std::vector<std::thread> threads_;
};

// ---- the run -------------------------------------------------------------------------------

struct TokenCounts {
    int64_t refresh_requests = 0, mailboxes = 0, most_per_mailbox = 0;
    std::vector<std::string> over_one;  // host user ids of the mailboxes that made more than one
};
TokenCounts token_counts(const SandboxProcess& sb) {
    TokenCounts t;
    for (const auto& [upn, n] : sb.refreshes_by_user()) {
        t.refresh_requests += n;
        ++t.mailboxes;
        t.most_per_mailbox = std::max<int64_t>(t.most_per_mailbox, n);
        // "bulk<i>@contoso.example" is mailbox i
        if (n > 1) t.over_one.push_back("mbx" + upn.substr(4, upn.find('@') - 4));
    }
    return t;
}

struct Window {
    double seconds = 0;
    PgCounters pg;
    std::vector<double> host_cpu;
    double sandbox_cpu = 0, pg_cpu = 0, driver_cpu = 0;
    int64_t sent = 0;
};

int run(const Options& o) {
    json::object report;
    std::vector<std::string> failures;
    auto check = [&](bool ok, const std::string& what) {
        std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
        if (!ok) failures.push_back(what);
    };

    TempDir work("ep-scale");
    heading("setup");
    // A server as production would run it for this load: fsync on, WAL on this machine's disk,
    // a buffer cache that holds the hot rows, checkpoints spaced as for a write-heavy server.
    // pg_stat_statements says where the server's time goes (the report's last table).
    test_support::PgCluster cluster(true,
                                    "-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min "
                                    "-c shared_preload_libraries=pg_stat_statements");
    const std::string conninfo = cluster.create_database();
    PgSession pg(conninfo);
    pg.query("CREATE EXTENSION pg_stat_statements; SELECT 1");
    std::printf("PostgreSQL %s in %s (fsync on)\n", pg.query("SHOW server_version")[0][0].c_str(),
                cluster.directory().c_str());

    const fs::path key_file = work / "k1.key";
    write_file(key_file, random_hex_key());
    const fs::path scenario = work / "scenario.json";
    write_file(scenario, relaxed_scenario(o.scenario_file));
    SandboxOptions so;
    so.binary = o.sandbox_bin;
    so.scenario_file = scenario;
    so.tls_dir = o.tls_dir;
    so.threads = o.sandbox_threads;
    SandboxProcess sb(so);
    const std::string plugin_config = outlook_config(sb.base_url(), sb.ca_file(), key_file);

    // One config for every host: the session users are the first mailboxes (the sign-in page
    // lists the configured users; the other mailboxes need no entry to send).
    json::array users;
    for (int u = 0; u < o.sessions; ++u)
        users.push_back(json::object{{"id", mailbox_user(u)}, {"display_name", "Recruiter " + std::to_string(u)}});
    json::object config{{"store", json::object{{"engine", "postgresql"},
                                               {"outbox_lease_seconds", o.lease_s},
                                               {"postgresql", json::object{{"conninfo", conninfo}}}}},
                        {"log_level", "warn"},
                        {"users", users},
                        {"web", json::object{{"listen_address", "127.0.0.1"}, {"port", 0}}},
                        {"keep_alive", json::object{{"enabled", true}}},
                        {"providers", json::array{json::object{{"manifest", (o.manifest_dir / "outlook.json").string()},
                                                               {"config", json::parse(plugin_config)}}}}};
    const fs::path config_file = work / "host.json";
    write_file(config_file, json::serialize(config));

    // The host's schema, created by the host binary under test (as at its first start).
    {
        auto migrated = run_child({o.host_bin.string(), "--config", config_file.string(), "outbox", "--user", "mbx0"});
        if (pg.number("SELECT count(*) FROM information_schema.tables WHERE table_name = 'outbox'") != 1)
            throw std::runtime_error("the host did not create its tables: " + migrated.out);
        pg.query("DELETE FROM users RETURNING 1");  // the config's users it added: seeding writes every user
    }

    heading(fmt("seeding %s mailboxes", thousands(static_cast<double>(o.mailboxes)).c_str()));
    SeedPlan plan;
    plan.mailboxes = o.mailboxes;
    plan.busy = std::max<int64_t>(1, static_cast<int64_t>(o.mailboxes * o.busy_mailboxes));
    plan.now_ms = unix_ms();
    plan.plugin_config_json = plugin_config;
    plan.client_id = kClientId;
    int64_t shown = 0;
    SeedResult seeded = seed_mailboxes(sb, conninfo, plan, [&](int64_t done) {
        if (done - shown >= o.mailboxes / 10 || done == o.mailboxes) {
            std::printf("  %s\n", thousands(static_cast<double>(done)).c_str());
            std::fflush(stdout);
            shown = done;
        }
    });
    const double db_bytes = pg.number("SELECT pg_database_size(current_database())");
    const double secrets_bytes = pg.number("SELECT pg_total_relation_size('secrets')");
    std::printf("seeded in %.1f s (stand-in minting %.1f s, sealing %.1f s, COPY + checkpoint %.1f s)\n",
                seeded.total_s, seeded.mint_s, seeded.seal_s, seeded.copy_s);
    std::printf("database %.0f MiB: %.0f bytes per mailbox (secrets table %.0f, sealed grant %.0f)\n",
                db_bytes / 1048576, db_bytes / static_cast<double>(o.mailboxes),
                secrets_bytes / static_cast<double>(o.mailboxes),
                static_cast<double>(seeded.grant_bytes) / static_cast<double>(o.mailboxes));
    report["seed"] = json::object{
        {"seconds", seeded.total_s},
        {"mint_s", seeded.mint_s},
        {"seal_s", seeded.seal_s},
        {"copy_s", seeded.copy_s},
        {"database_bytes_per_mailbox", db_bytes / static_cast<double>(o.mailboxes)},
        {"secrets_bytes_per_mailbox", secrets_bytes / static_cast<double>(o.mailboxes)},
        {"sealed_grant_bytes", static_cast<double>(seeded.grant_bytes) / static_cast<double>(o.mailboxes)}};

    heading(fmt("%d hosts", o.hosts));
    std::vector<Host> hosts(static_cast<std::size_t>(o.hosts));
    std::mutex hosts_mutex;
    HostsStopper stopper{hosts, hosts_mutex};
    for (int h = 0; h < o.hosts; ++h) {
        hosts[static_cast<std::size_t>(h)].index = h;
        const auto t = Clock::now();
        start_host(hosts[static_cast<std::size_t>(h)], o.host_bin, config_file, work.path());
        std::printf("host %d: pid %d at %s, started in %.2f s\n", h, hosts[static_cast<std::size_t>(h)].pid,
                    hosts[static_cast<std::size_t>(h)].base_url.c_str(), seconds_since(t));
    }
    sb.reset_counters();
    pg.query("SELECT pg_stat_statements_reset()");

    heading(fmt("peak: %.0f nudges/s for %.0f s, %d sessions polling", o.rate, o.peak_s, o.sessions));
    const pid_t pg_pid = postmaster_pid(cluster.directory());
    auto host_cpu = [&] {
        std::vector<double> out;
        std::lock_guard lock(hosts_mutex);
        for (const auto& h : hosts) out.push_back(h.cpu_before + sample_tree(h.pid).cpu_s);
        return out;
    };
    auto take = [&] {
        Window w;
        w.pg = PgCounters::read(pg);
        w.host_cpu = host_cpu();
        w.sandbox_cpu = sb.cpu_seconds();
        w.pg_cpu = sample_tree(pg_pid).cpu_s;
        w.driver_cpu = process_cpu_seconds(getpid());
        w.sent = static_cast<int64_t>(pg.number("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        return w;
    };

    Arrivals arrivals(o, conninfo);
    Sessions sessions(o.sessions, hosts, hosts_mutex);
    const int64_t peak_from_ms = unix_ms();
    const auto peak_start = Clock::now();
    Window before = take();
    arrivals.start(o.rate);
    sessions.start();
    const int victim = o.hosts - 1;
    bool killed = false, restarted = false;
    std::vector<long> host_rss_max(static_cast<std::size_t>(o.hosts), 0);
    int64_t last_sent = before.sent;
    auto last_tick = Clock::now();
    while (seconds_since(peak_start) < o.peak_s) {
        sleep_checked(std::chrono::seconds(5));
        const double at = seconds_since(peak_start) / o.peak_s;
        if (!killed && at >= o.kill_at) {
            std::lock_guard lock(hosts_mutex);
            Host& h = hosts[static_cast<std::size_t>(victim)];
            h.cpu_before += sample_tree(h.pid).cpu_s;
            for (pid_t c : children_of(h.pid)) kill(c, SIGKILL);  // its runner dies with it, as in a crash
            kill(h.pid, SIGKILL);
            waitpid(h.pid, nullptr, 0);
            h.pid = -1;
            killed = true;
            std::printf("  %4.0f s: host %d SIGKILLed\n", seconds_since(peak_start), victim);
        }
        if (killed && !restarted && at >= o.restart_at) {
            Host h = hosts[static_cast<std::size_t>(victim)];
            start_host(h, o.host_bin, config_file, work.path());
            std::lock_guard lock(hosts_mutex);
            hosts[static_cast<std::size_t>(victim)] = h;
            restarted = true;
            std::printf("  %4.0f s: host %d restarted\n", seconds_since(peak_start), victim);
        }
        {
            std::lock_guard lock(hosts_mutex);
            for (const auto& h : hosts)
                host_rss_max[static_cast<std::size_t>(h.index)] =
                    std::max(host_rss_max[static_cast<std::size_t>(h.index)], sample_tree(h.pid).rss_kb);
        }
        const int64_t sent = static_cast<int64_t>(pg.number("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        std::printf("  %4.0f s: enqueued %s, sent %s (%.0f/s)\n", seconds_since(peak_start),
                    thousands(static_cast<double>(arrivals.enqueued())).c_str(),
                    thousands(static_cast<double>(sent)).c_str(),
                    static_cast<double>(sent - last_sent) / seconds_since(last_tick));
        std::fflush(stdout);
        last_sent = sent;
        last_tick = Clock::now();
    }
    Window after = take();
    after.seconds = seconds_since(peak_start);
    const int64_t peak_to_ms = unix_ms();
    const TokenCounts tokens_peak = token_counts(sb);
    arrivals.stop();

    // Every open nudge ends: sent, or needs review once the killed host's lease has run out.
    auto drain = [&] {
        const auto start = Clock::now();
        while (seconds_since(start) < o.max_drain_s &&
               pg.number("SELECT count(*) FROM outbox WHERE state IN ('queued','sending','paced','throttled')") > 0)
            sleep_checked(std::chrono::seconds(1));
        return seconds_since(start);
    };
    const double peak_drain_s = drain();
    const auto open_after_peak = static_cast<int64_t>(
        pg.number("SELECT count(*) FROM outbox WHERE state IN ('queued','sending','paced','throttled')"));
    const std::string backlog = open_after_peak == 0 ? fmt("drained %.0f s after the peak", peak_drain_s)
                                                     : fmt("%lld nudges still open %.0f s after the peak",
                                                           static_cast<long long>(open_after_peak), peak_drain_s);
    std::printf("  the backlog: %s\n", backlog.c_str());

    // The ramp, from an empty outbox: the same load from 30 % of the peak rate up, x1.3 a step,
    // until p99 passes 5 s (where the peak rate itself is beyond this machine, the ramp finds
    // what it can carry).
    json::array ramp;
    std::string breaking = "not ramped";
    if (o.ramp) {
        heading("ramp");
        double rate = o.rate * 0.3 / 1.3;
        arrivals.start(rate);
        for (int step = 0; step < 8; ++step) {
            rate *= 1.3;
            arrivals.set_rate(rate);
            const int64_t from = unix_ms();
            Window w0 = take();
            const auto t = Clock::now();
            sleep_checked(std::chrono::milliseconds(static_cast<int64_t>(o.ramp_step_s * 1000)));
            Window w1 = take();
            const double s = seconds_since(t);
            const Latency l = queue_to_sent(pg, from, unix_ms(), unix_ms());
            const double sent_rate = static_cast<double>(w1.sent - w0.sent) / s;
            json::object row{{"offered_per_s", rate},
                             {"sent_per_s", sent_rate},
                             {"p50_ms", l.p50_ms},
                             {"p99_ms", l.p99_ms},
                             {"pg_cpu_pct", (w1.pg_cpu - w0.pg_cpu) / s * 100},
                             {"sandbox_cpu_pct", (w1.sandbox_cpu - w0.sandbox_cpu) / s * 100},
                             {"driver_cpu_pct", (w1.driver_cpu - w0.driver_cpu) / s * 100},
                             {"commits_per_s", (w1.pg.commits - w0.pg.commits) / s},
                             {"producer_lag_s", arrivals.worst_lag_s()}};
            double hosts_pct = 0;
            for (std::size_t h = 0; h < w1.host_cpu.size(); ++h)
                hosts_pct += (w1.host_cpu[h] - w0.host_cpu[h]) / s * 100;
            row["hosts_cpu_pct"] = hosts_pct;
            std::printf(
                "  offered %6.0f/s  sent %6.0f/s  p50 %7.0f ms  p99 %7.0f ms  CPU%%: hosts %.0f, "
                "PostgreSQL %.0f, stand-in %.0f, driver %.0f\n",
                rate, sent_rate, l.p50_ms, l.p99_ms, hosts_pct, (w1.pg_cpu - w0.pg_cpu) / s * 100,
                (w1.sandbox_cpu - w0.sandbox_cpu) / s * 100, (w1.driver_cpu - w0.driver_cpu) / s * 100);
            std::fflush(stdout);
            ramp.push_back(row);
            if (l.p99_ms > 5000) {
                breaking =
                    fmt("%.0f nudges/s offered (%.0f sent/s), p99 %.1f s; CPU then (%% of one core, of %u): "
                        "hosts %.0f, PostgreSQL %.0f, stand-in %.0f, driver %.0f",
                        rate, sent_rate, l.p99_ms / 1000, std::thread::hardware_concurrency(), hosts_pct,
                        (w1.pg_cpu - w0.pg_cpu) / s * 100, (w1.sandbox_cpu - w0.sandbox_cpu) / s * 100,
                        (w1.driver_cpu - w0.driver_cpu) / s * 100);
                break;
            }
        }
    }
    arrivals.stop();
    sessions.stop();

    heading("drain and checks");
    std::printf("drained in %.0f s\n", drain());

    std::map<std::string, int64_t> states;
    for (const auto& row : pg.query("SELECT state, count(*) FROM outbox GROUP BY state"))
        states[row[0]] = std::stoll(row[1]);
    int64_t in_outbox = 0;
    for (const auto& [state, n] : states) in_outbox += n;
    const json::value tally = sb.control("GET", "/_sandbox/message-tally");
    const int64_t received = tally.at("total").to_number<int64_t>();
    const int64_t distinct = tally.at("distinct").to_number<int64_t>();
    const int64_t duplicate_keys = tally.at("duplicate_keys").to_number<int64_t>();
    const TokenCounts tokens = token_counts(sb);

    check(arrivals.failed() == 0,
          fmt("every enqueue succeeded (%lld failed)", static_cast<long long>(arrivals.failed())));
    check(in_outbox == arrivals.enqueued(),
          fmt("0 lost: %lld nudges queued, %lld in the outbox", static_cast<long long>(arrivals.enqueued()),
              static_cast<long long>(in_outbox)));
    check(states["sent"] + states["needs_review"] == in_outbox,
          fmt("every nudge sent or waiting for review (sent %lld, needs review %lld, other %lld)",
              static_cast<long long>(states["sent"]), static_cast<long long>(states["needs_review"]),
              static_cast<long long>(in_outbox - states["sent"] - states["needs_review"])));
    check(duplicate_keys == 0 && received == distinct,
          fmt("0 twice: the stand-in received %lld messages, %lld distinct", static_cast<long long>(received),
              static_cast<long long>(distinct)));
    check(distinct >= states["sent"] && distinct <= states["sent"] + states["needs_review"],
          fmt("each nudge marked sent reached the stand-in (received %lld; sent %lld; needs review %lld)",
              static_cast<long long>(distinct), static_cast<long long>(states["sent"]),
              static_cast<long long>(states["needs_review"])));
    // A mailbox may make a second token request for two reasons, both by design: the keep-alive
    // sweep checked it (a check refreshes, to prove the grant alive), or the killed host died
    // with its refresh in flight (the new tokens were never stored; its nudge waits for review).
    // Any other second request is a refresh spent twice.
    std::set<std::string> explained;
    for (const auto& row : pg.query("SELECT user_id FROM connection_checks UNION SELECT user_id FROM outbox WHERE "
                                    "state = 'needs_review'"))
        explained.insert(row[0]);
    int64_t unexplained = 0;
    for (const auto& user : tokens.over_one) unexplained += explained.count(user) == 0;
    check(unexplained == 0,
          fmt("one token request per refresh: %lld refresh-token requests for %lld mailboxes; %zu made two, "
              "%lld of them not checked by the sweep nor interrupted by the kill",
              static_cast<long long>(tokens.refresh_requests), static_cast<long long>(tokens.mailboxes),
              tokens.over_one.size(), static_cast<long long>(unexplained)));
    check(sessions.polls() > 0,
          fmt("sessions polled /api/state %lld times (%lld failed: sessions on the killed host)",
              static_cast<long long>(sessions.polls()), static_cast<long long>(sessions.errors())));

    // ---- the report ----
    const double s = after.seconds;
    const Latency peak_latency = queue_to_sent(pg, peak_from_ms, peak_to_ms, unix_ms());
    const double nudges = static_cast<double>(after.sent - before.sent);
    heading(fmt("the peak window: %s mailboxes, %d hosts, %.0f s", thousands(static_cast<double>(o.mailboxes)).c_str(),
                o.hosts, s));
    std::printf("%-44s %s\n", "nudges offered / sent per second", fmt("%.0f / %.1f", o.rate, nudges / s).c_str());
    std::printf("%-44s %s\n", "queue-to-sent p50 / p99",
                fmt("%.0f ms / %.0f ms (%lld nudges)", peak_latency.p50_ms, peak_latency.p99_ms,
                    static_cast<long long>(peak_latency.n))
                    .c_str());
    std::printf("%-44s %s\n", "refreshes per second",
                fmt("%.1f (%lld mailboxes refreshed)", static_cast<double>(tokens_peak.refresh_requests) / s,
                    static_cast<long long>(tokens_peak.mailboxes))
                    .c_str());
    std::printf(
        "%-44s %s\n", "token requests per refreshed mailbox",
        fmt("%.3f (%zu mailboxes made two: keep-alive checks and the kill)",
            tokens.mailboxes ? static_cast<double>(tokens.refresh_requests) / static_cast<double>(tokens.mailboxes)
                             : 0.0,
            tokens.over_one.size())
            .c_str());
    std::printf("%-44s %s\n", "PostgreSQL commits per second",
                fmt("%.0f (WAL flushes %.0f/s)", (after.pg.commits - before.pg.commits) / s,
                    (after.pg.wal_syncs - before.pg.wal_syncs) / s)
                    .c_str());
    std::printf("%-44s %s\n", "WAL bytes per nudge",
                fmt("%.0f", nudges > 0 ? (after.pg.wal_bytes - before.pg.wal_bytes) / nudges : 0).c_str());
    json::array per_host;
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const double pct = (after.host_cpu[h] - before.host_cpu[h]) / s * 100;
        std::printf("%-44s %s\n", fmt("host %zu CPU / peak RSS (with its runner)", h).c_str(),
                    fmt("%.0f %% of a core / %.0f MiB", pct, static_cast<double>(host_rss_max[h]) / 1024).c_str());
        per_host.push_back(json::object{{"cpu_pct", pct}, {"rss_mib", static_cast<double>(host_rss_max[h]) / 1024}});
    }
    std::printf(
        "%-44s %s\n", "PostgreSQL / stand-in / driver CPU",
        fmt("%.0f %% / %.0f %% / %.0f %% of a core", (after.pg_cpu - before.pg_cpu) / s * 100,
            (after.sandbox_cpu - before.sandbox_cpu) / s * 100, (after.driver_cpu - before.driver_cpu) / s * 100)
            .c_str());
    std::printf("%-44s %s\n", "database size per mailbox",
                fmt("%.0f bytes (after seeding)", db_bytes / static_cast<double>(o.mailboxes)).c_str());
    std::printf("%-44s %s\n", "lost / sent twice / needs review after the kill",
                fmt("%lld / %lld / %lld", static_cast<long long>(arrivals.enqueued() - in_outbox),
                    static_cast<long long>(received - distinct), static_cast<long long>(states["needs_review"]))
                    .c_str());
    const Summary poll = sessions.latency_ms();
    std::printf("%-44s %s\n", "/api/state p50 / p99",
                fmt("%.1f ms / %.1f ms (%zu polls)", poll.p50, poll.p99, poll.n).c_str());
    const Summary sign_in = sessions.sign_in_ms();
    std::printf("%-44s %s\n", "sign-in (GET + POST /signin) p50 / max",
                fmt("%.1f ms / %.1f ms (%zu sign-ins)", sign_in.p50, sign_in.max, sign_in.n).c_str());
    std::printf("%-44s %s\n", "producers' worst lag behind schedule", fmt("%.2f s", arrivals.worst_lag_s()).c_str());
    std::printf("%-44s %s\n", "the backlog at the end of the peak", backlog.c_str());
    std::printf("%-44s %s\n", "breaking rate (ramp)", breaking.c_str());

    // Statements as the server normalises them ($1 for every value): no data, no secret.
    heading("where PostgreSQL's time went (pg_stat_statements, whole run after seeding)");
    json::array statements;
    for (const auto& row : pg.query("SELECT calls, round(total_exec_time)::bigint, round(mean_exec_time::numeric, 3), "
                                    "regexp_replace(left(query, 110), '\\s+', ' ', 'g') FROM pg_stat_statements "
                                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                                    "ORDER BY total_exec_time DESC LIMIT 8")) {
        std::printf("%10s calls %9s ms total %8s ms mean  %s\n", row[0].c_str(), row[1].c_str(), row[2].c_str(),
                    row[3].c_str());
        statements.push_back(json::object{{"calls", std::stoll(row[0])},
                                          {"total_ms", std::stoll(row[1])},
                                          {"mean_ms", std::stod(row[2])},
                                          {"query", row[3]}});
    }
    report["statements"] = statements;

    report["options"] = json::object{{"mailboxes", o.mailboxes}, {"rate", o.rate},         {"peak_s", o.peak_s},
                                     {"hosts", o.hosts},         {"sessions", o.sessions}, {"lease_s", o.lease_s}};
    report["peak"] =
        json::object{{"seconds", s},
                     {"sent_per_s", nudges / s},
                     {"p50_ms", peak_latency.p50_ms},
                     {"p99_ms", peak_latency.p99_ms},
                     {"refreshes_per_s", static_cast<double>(tokens_peak.refresh_requests) / s},
                     {"token_requests", tokens.refresh_requests},
                     {"refreshed_mailboxes", tokens.mailboxes},
                     {"most_token_requests_one_mailbox", tokens.most_per_mailbox},
                     {"mailboxes_with_two_token_requests", tokens.over_one.size()},
                     {"unexplained_second_token_requests", unexplained},
                     {"commits_per_s", (after.pg.commits - before.pg.commits) / s},
                     {"wal_flushes_per_s", (after.pg.wal_syncs - before.pg.wal_syncs) / s},
                     {"wal_bytes_per_nudge", nudges > 0 ? (after.pg.wal_bytes - before.pg.wal_bytes) / nudges : 0},
                     {"hosts", per_host},
                     {"pg_cpu_pct", (after.pg_cpu - before.pg_cpu) / s * 100},
                     {"sandbox_cpu_pct", (after.sandbox_cpu - before.sandbox_cpu) / s * 100},
                     {"api_state_p50_ms", poll.p50},
                     {"api_state_p99_ms", poll.p99},
                     {"sign_in_p50_ms", sign_in.p50},
                     {"sign_in_max_ms", sign_in.max},
                     {"producer_lag_s", arrivals.worst_lag_s()},
                     {"backlog_drained_s", peak_drain_s},
                     {"open_after_drain", open_after_peak}};
    report["outcome"] = json::object{
        {"enqueued", arrivals.enqueued()},        {"in_outbox", in_outbox}, {"sent", states["sent"]},
        {"needs_review", states["needs_review"]}, {"received", received},   {"received_distinct", distinct}};
    report["ramp"] = ramp;
    report["breaking"] = breaking;
    report["failures"] = json::array(failures.begin(), failures.end());
    if (!o.json_out.empty()) write_file(o.json_out, json::serialize(report));

    {
        std::lock_guard lock(hosts_mutex);
        for (auto& h : hosts)
            if (h.pid > 0) {
                test_support::stop_process(h.pid, SIGTERM);
                h.pid = -1;
            }
    }
    if (!failures.empty()) {
        std::printf("\n%zu check(s) failed\n", failures.size());
        return 1;
    }
    std::printf("\nevery check held\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int sig : {SIGINT, SIGTERM}) signal(sig, [](int) { g_interrupted = true; });
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "scale_driver: %s\n", e.what());
        return 1;
    }
}
