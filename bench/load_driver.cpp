// load_driver: the Personal Outlook plugin under load, against the Microsoft stand-in running
// as a separate process (bench/README.md). One run measures, side by side:
//   1. the send path through the plugin vs a raw libcurl client (same bodies, headers, endpoint)
//   2. refresh storms (token requests per expired account, one and two plugin instances)
//   3. store scale (status and grant load with 100,000 accounts in the host's SQLite store)
//   4. load time (manifest + dlopen + negotiate + create, cold in fresh child processes)
//   5. memory (RSS per connected account, fresh child process per size)
//   6. the Personal Gmail plugin's send path vs raw libcurl, against the Google stand-in
//   7. isolation: the Outlook plugin in an ep-provider-runner vs in this process
// and prints tables (stdout), optionally JSON (--json FILE). --quick is a smoke run for CI.
#include "bench_util.hpp"
#include "gmail_host.hpp"
#include "plugin_host.hpp"
#include "raw_client.hpp"
#include "sandbox_process.hpp"

#include "config.hpp"
#include "ep_kit/account_store.hpp"
#include "graph_mail.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <curl/curl.h>
#include <malloc.h>

#include <unistd.h>
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <set>
#include <thread>

namespace {

using namespace bench;
namespace fs = std::filesystem;

constexpr const char* kClientId = "11111111-2222-4333-8444-555555555555";
constexpr int64_t kExpireSkipSeconds = 3600;  // > the stand-in's 3599 s access-token lifetime

struct Options {
    bool quick = false;
    std::string json_path;
    std::set<int> sections = {1, 2, 3, 4, 5, 6, 7};
    int sandbox_threads = 2;
    int rounds = 3;          // section 1: runs per row and client, alternating order; medians
    double measure_s = 2.0;  // section 1: measured window per run
    std::vector<std::pair<std::size_t, int>> only_rows;  // section 1: --row A:C (profiling), empty = all
    bool diagnose = false;  // section 1: also run raw clients that imitate the plugin's HttpEngine habits
    fs::path sandbox_bin = BENCH_SANDBOX_BIN;
    fs::path tls_dir = BENCH_SANDBOX_TLS_DIR;
    fs::path scenario_file = BENCH_SCENARIO_FILE;
    fs::path google_sandbox_bin = BENCH_GOOGLE_SANDBOX_BIN;
    fs::path google_scenario_file = BENCH_GOOGLE_SCENARIO_FILE;
    fs::path manifest_dir = BENCH_MANIFEST_DIR;
    fs::path load_probe = BENCH_LOAD_PROBE;
    fs::path runner = BENCH_RUNNER;
};

// Shared run-time state: the work directory (key, scenario, databases) and the report.
struct Run {
    Options opt;
    TempDir work{"ep-bench"};
    fs::path key_file, scenario_file;
    json::object report;
    std::vector<std::string> target_lines;
};

void heading(const std::string& title) {
    std::printf("\n== %s ==\n", title.c_str());
    std::fflush(stdout);
}

std::string ms(double us) { return fmt("%.2f", us / 1000.0); }

std::unique_ptr<SandboxProcess> start_sandbox(const Run& run, const fs::path& binary, const fs::path& scenario_file) {
    SandboxOptions so;
    so.binary = binary;
    so.scenario_file = scenario_file;
    so.tls_dir = run.opt.tls_dir;
    so.threads = run.opt.sandbox_threads;
    return std::make_unique<SandboxProcess>(so);
}

std::vector<std::string> account_ids(std::size_t n) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(account_id(i));
    return v;
}

json::object summary_json(const Summary& s) {
    return json::object{{"n", s.n}, {"p50_us", s.p50}, {"p99_us", s.p99}, {"mean_us", s.mean}, {"max_us", s.max}};
}

// ---- 1. send path ----------------------------------------------------------------------------

struct Aggregate {
    std::vector<double> rates, cpu_per_req_us, sandbox_pct, sandbox_us_per_req;
    std::vector<double> latency_us;
    int64_t ok = 0, failed = 0;
    std::string first_failure;
    void add(const LoadRun& r) {
        rates.push_back(r.rate());
        if (r.ok) cpu_per_req_us.push_back(r.client_cpu_s * 1e6 / static_cast<double>(r.ok));
        sandbox_pct.push_back(r.window_s > 0 ? r.sandbox_cpu_s / r.window_s * 100 : 0);
        if (r.ok) sandbox_us_per_req.push_back(r.sandbox_cpu_s * 1e6 / static_cast<double>(r.ok));
        latency_us.insert(latency_us.end(), r.latency_us.begin(), r.latency_us.end());
        ok += r.ok;
        failed += r.failed;
        if (first_failure.empty()) first_failure = r.first_failure;
    }
    double rate() const { return median(rates); }
    json::object to_json() const {
        return json::object{{"sends_per_s_median", rate()},
                            {"sends_per_s_runs", json::value_from(rates)},
                            {"latency", summary_json(summarize(latency_us))},
                            {"client_cpu_us_per_send", median(cpu_per_req_us)},
                            {"sandbox_cpu_pct_of_core", median(sandbox_pct)},
                            {"sandbox_cpu_us_per_send", median(sandbox_us_per_req)},
                            {"ok", ok},
                            {"failed", failed},
                            {"first_failure", first_failure}};
    }
};

// Both clients over the same accounts: ids[i] through the plugin, tokens[i] (that account's
// access token) through raw libcurl. A row uses the first N accounts.
struct SendPathLoad {
    ep::loader::Provider& plugin;
    RawClient& raw;
    const SandboxProcess& sb;
    std::vector<std::string> ids, tokens;
    std::string message;
    // Empty the stand-in's sent messages (and quota counters) before every client's run, not only
    // after each round: the Google stand-in checks quota over every send it holds.
    bool clear_before_each_run = false;
};

struct GridTiming {
    int rounds;
    double measure_s, warmup_s;
};
GridTiming grid_timing(const Options& o) {
    return o.quick ? GridTiming{1, 0.25, 0.1} : GridTiming{o.rounds, o.measure_s, 0.5};
}

std::vector<std::string> first_n(const std::vector<std::string>& v, std::size_t n) {
    return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

// Every account sends once through the plugin (its access token is now cached), and both
// clients open their connections.
void warm_send_path(const SendPathLoad& load, bool quick) {
    std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
    for (const auto& id : load.ids) sends.emplace_back(&load.plugin, id);
    auto warm = burst(sends, load.message, 256);
    if (warm.other) throw std::runtime_error("warm-up send failed: " + warm.first_other);
    // Both clients open their 256 connections before anything is measured: a new TLS
    // connection costs ~1-2 ms of CPU (libcurl loads the CA file and builds an SSL_CTX per
    // connection), which must not land in one client's measured window.
    LoadSpec ws{256, 4, 0.0, quick ? 0.4 : 1.5};
    for (int i = 0; i < 2; ++i) {
        load.raw.run(load.tokens, ws, load.sb.pid());
        plugin_run(load.plugin, load.ids, load.message, ws, load.sb.pid());
    }
    load.sb.clear_messages();
}

struct SendGrid {
    json::array rows;
    double worst_ratio = 1e9;
    std::string worst_row;
};

// One cell: each client `rounds` times, the three clients' order rotating per round.
struct Cell {
    Aggregate plugin, raw_capped, raw_uncapped;
};
Cell measure_cell(const SendPathLoad& load, const GridTiming& t, std::size_t accounts, int conc) {
    const std::vector<std::string> ids = first_n(load.ids, accounts), tokens = first_n(load.tokens, accounts);
    const LoadSpec capped{conc, 4, t.warmup_s, t.measure_s}, uncapped{conc, 0, t.warmup_s, t.measure_s};
    Cell c;
    const std::array<std::function<void()>, 3> clients = {
        [&] { c.plugin.add(plugin_run(load.plugin, ids, load.message, capped, load.sb.pid())); },
        [&] { c.raw_capped.add(load.raw.run(tokens, capped, load.sb.pid())); },
        [&] { c.raw_uncapped.add(load.raw.run(tokens, uncapped, load.sb.pid())); }};
    for (int r = 0; r < t.rounds; ++r) {
        for (int k = 0; k < 3; ++k) {
            if (load.clear_before_each_run) load.sb.clear_messages();
            clients[static_cast<std::size_t>((r + k) % 3)]();
        }
        load.sb.clear_messages();
    }
    return c;
}

void print_cell(std::size_t accounts, int conc, const Cell& c, double ratio) {
    const Aggregate &p = c.plugin, &rc = c.raw_capped, &ru = c.raw_uncapped;
    Summary ps = summarize(p.latency_us), rs = summarize(rc.latency_us), us = summarize(ru.latency_us);
    std::printf("%8zu %5d | %9s %8s %8s %6.0f | %9s %8s %8s %6.0f | %6.3f | %9s %8s %8s | %9.0f %9.0f %5lld\n",
                accounts, conc, thousands(p.rate()).c_str(), ms(ps.p50).c_str(), ms(ps.p99).c_str(),
                median(p.cpu_per_req_us), thousands(rc.rate()).c_str(), ms(rs.p50).c_str(), ms(rs.p99).c_str(),
                median(rc.cpu_per_req_us), ratio, thousands(ru.rate()).c_str(), ms(us.p50).c_str(), ms(us.p99).c_str(),
                median(p.sandbox_pct), median(rc.sandbox_pct),
                static_cast<long long>(p.failed + rc.failed + ru.failed));
    std::fflush(stdout);
    if (!p.first_failure.empty()) std::printf("    plugin failure: %s\n", p.first_failure.c_str());
    if (!rc.first_failure.empty()) std::printf("    raw failure: %s\n", rc.first_failure.c_str());
}

// The table of plugin vs raw/4 vs raw/inf over accounts x concurrency (1, 16, 256), with the
// column header; each cell the median of the rounds.
SendGrid run_send_grid(const Options& o, const SendPathLoad& load, const std::vector<std::size_t>& account_counts) {
    std::printf("%8s %5s | %9s %8s %8s %6s | %9s %8s %8s %6s | %6s | %9s %8s %8s | %9s %9s %5s\n", "accounts", "conc",
                "plugin/s", "p50", "p99", "cpu", "raw/4 /s", "p50", "p99", "cpu", "ratio", "raw/inf/s", "p50", "p99",
                "sb% plug", "sb% raw4", "fail");
    std::fflush(stdout);
    SendGrid grid;
    for (std::size_t accounts : account_counts) {
        for (int conc : {1, 16, 256}) {
            if (!o.only_rows.empty() &&
                std::find(o.only_rows.begin(), o.only_rows.end(), std::pair{accounts, conc}) == o.only_rows.end())
                continue;
            const Cell c = measure_cell(load, grid_timing(o), accounts, conc);
            const double ratio = c.raw_capped.rate() > 0 ? c.plugin.rate() / c.raw_capped.rate() : 0;
            if (ratio < grid.worst_ratio) {
                grid.worst_ratio = ratio;
                grid.worst_row = fmt("%zu accounts, concurrency %d", accounts, conc);
            }
            print_cell(accounts, conc, c, ratio);
            const double uncapped_rate = c.raw_uncapped.rate();
            grid.rows.push_back(json::object{
                {"accounts", accounts},
                {"concurrency", conc},
                {"plugin", c.plugin.to_json()},
                {"raw_capped_4_per_account", c.raw_capped.to_json()},
                {"raw_uncapped", c.raw_uncapped.to_json()},
                {"ratio_plugin_over_raw_capped", ratio},
                {"ratio_plugin_over_raw_uncapped", uncapped_rate > 0 ? c.plugin.rate() / uncapped_rate : 0}});
        }
    }
    return grid;
}

void print_grid_legend(const GridTiming& t, const char* cap_note) {
    std::printf("Each cell: median of %d run(s) of %.2f s after %.2f s warm-up; clients alternate order per round.\n",
                t.rounds, t.measure_s, t.warmup_s);
    std::printf(
        "raw/4 = raw libcurl capped at 4 in flight per account like the plugin (fair comparison);\n"
        "raw/inf = raw uncapped (the ceiling; %s).\n"
        "cpu us/send = CPU of this process (client side) per completed send. sb%% = stand-in CPU, %% of one core.\n"
        "Plugin host: SqliteSecretStore (tokens are cached, so the send path does not touch the store).\n",
        cap_note);
}

RawTarget outlook_send_target(const std::string& base_url, std::string body) {
    return {base_url + "/v1.0/me/sendMail",
            std::move(body),
            {{"Content-Type: application/json"}, {"client-request-id: ", true}, {"return-client-request-id: true"}},
            202};
}

void section_send_path(Run& run) {
    const Options& o = run.opt;
    heading("1. Send path: plugin vs raw libcurl (sends/s, latency ms)");
    const std::size_t max_accounts = o.quick ? 100 : 1000;
    const std::vector<std::size_t> account_counts = {1, 20, max_accounts};
    const GridTiming timing = grid_timing(o);
    const double warmup_s = timing.warmup_s, measure_s = timing.measure_s;
    const int rounds = timing.rounds;

    auto sb = start_sandbox(run, o.sandbox_bin, run.scenario_file);
    CpuMeter section_cpu(sb->pid());
    auto grants = sb->bulk_grants(kClientId, 0, static_cast<int>(max_accounts));
    auto clock = std::make_shared<HostClock>();
    PluginHost host(run.work / "send.db", clock);
    const std::string config = outlook_config(sb->base_url(), sb->ca_file(), run.key_file);
    seed_accounts(host, config, grants, 0, clock->now(), true);
    auto loaded = load_manifest(o.manifest_dir / "outlook.json");
    auto plugin = ep::loader::ProviderInstance::create(loaded, host.api(), config);

    const std::string message = small_message();
    // The exact bytes the plugin posts: the same two calls its send path makes.
    const std::string body = outlook::build_validated_send_mail_body(ep::message::parse_message(message));
    RawClient raw(outlook_send_target(sb->base_url(), body), sb->ca_file(), 256);
    std::vector<std::string> all_tokens;
    for (const auto& g : grants) all_tokens.push_back(g.access_token);
    const SendPathLoad load{*plugin, raw, *sb, account_ids(max_accounts), all_tokens, message, false};
    warm_send_path(load, o.quick);

    std::printf("Body: %zu bytes, identical for both clients (built by outlook::build_validated_send_mail_body).\n",
                body.size());
    print_grid_legend(timing, "the stand-in's per-mailbox limit is relaxed to allow it");
    std::printf("\n");
    SendGrid grid = run_send_grid(o, load, account_counts);
    json::array& rows = grid.rows;
    const double worst_ratio = grid.worst_ratio;
    const std::string& worst_row = grid.worst_row;
    json::array diagnosis;
    if (o.diagnose) {
        // Which of the HttpEngine's habits cost what: raw clients that copy one habit each.
        std::printf(
            "\nDiagnosis: raw libcurl copying one habit of the plugin's HttpEngine at a time (capped 4/account).\n"
            "readcb = body through CURLOPT_READFUNCTION (as HttpEngine); fresh = new easy handle per request.\n");
        std::printf("%8s %5s | %-22s %9s %8s %8s %10s %10s\n", "accounts", "conc", "client", "sends/s", "p50", "p99",
                    "cpu us/req", "sb us/req");
        RawClient raw_readcb(outlook_send_target(sb->base_url(), body), sb->ca_file(), 256, RawVariant{true, false});
        RawClient raw_fresh(outlook_send_target(sb->base_url(), body), sb->ca_file(), 256, RawVariant{false, true});
        RawClient raw_both(outlook_send_target(sb->base_url(), body), sb->ca_file(), 256, RawVariant{true, true});
        std::vector<std::pair<std::size_t, int>> rows_to_run = o.only_rows;
        if (rows_to_run.empty()) rows_to_run = {{1, 1}, {20, 16}, {max_accounts, 256}};
        for (auto [accounts, conc] : rows_to_run) {
            std::vector<std::string> ids = account_ids(accounts), tokens;
            for (std::size_t i = 0; i < accounts; ++i) tokens.push_back(grants[i].access_token);
            LoadSpec spec{conc, 4, warmup_s, measure_s};
            std::vector<std::pair<std::string, Aggregate>> results = {{"raw (baseline)", {}},
                                                                      {"raw + readcb", {}},
                                                                      {"raw + fresh", {}},
                                                                      {"raw + readcb + fresh", {}},
                                                                      {"plugin", {}}};
            LoadSpec wide{256, 4, 0.0, o.quick ? 0.3 : 1.0};  // open the variants' connections first
            raw_readcb.run(tokens, wide, sb->pid());
            raw_fresh.run(tokens, wide, sb->pid());
            raw_both.run(tokens, wide, sb->pid());
            for (int r = 0; r < rounds; ++r) {
                results[0].second.add(raw.run(tokens, spec, sb->pid()));
                results[1].second.add(raw_readcb.run(tokens, spec, sb->pid()));
                results[2].second.add(raw_fresh.run(tokens, spec, sb->pid()));
                results[3].second.add(raw_both.run(tokens, spec, sb->pid()));
                results[4].second.add(plugin_run(*plugin, ids, message, spec, sb->pid()));
                sb->clear_messages();
            }
            json::object row{{"accounts", accounts}, {"concurrency", conc}};
            for (auto& [name, agg] : results) {
                Summary su = summarize(agg.latency_us);
                std::printf("%8zu %5d | %-22s %9s %8s %8s %10.0f %10.0f\n", accounts, conc, name.c_str(),
                            thousands(agg.rate()).c_str(), ms(su.p50).c_str(), ms(su.p99).c_str(),
                            median(agg.cpu_per_req_us), median(agg.sandbox_us_per_req));
                row[name] = agg.to_json();
            }
            std::fflush(stdout);
            diagnosis.push_back(std::move(row));
        }
    }
    double sb_pct = section_cpu.percent_of_core();
    std::printf(
        "\nStand-in CPU over the whole section: %.0f%% of one core (%d I/O threads; 2 cores shared with this "
        "process).\n",
        sb_pct, o.sandbox_threads);
    run.report["send_path"] = json::object{{"rows", std::move(rows)},
                                           {"diagnosis", std::move(diagnosis)},
                                           {"body_bytes", body.size()},
                                           {"rounds", rounds},
                                           {"measure_s", measure_s},
                                           {"sandbox_cpu_pct_of_core", sb_pct},
                                           {"plugin_problems_logged", host.problems()}};
    run.target_lines.push_back(fmt("Send path >= 0.95x raw libcurl at every row: %s (worst %.3fx at %s)",
                                   worst_ratio >= 0.95 ? "MET" : "MISSED", worst_ratio, worst_row.c_str()));
}

// ---- 6. the Gmail send path ---------------------------------------------------------------------

std::vector<std::string> gmail_users(std::size_t n) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(fmt("bench%06zu@gmail.example", i));  // one length: one size
    return v;
}

void print_gmail_setup(int sandbox_threads, std::size_t accounts, double connect_s, const GmailRawLoad& raw) {
    std::printf(
        "Stand-in: google-sandbox (%d I/O threads, --quiet); scenario written at run time: the default one\n"
        "plus %zu consumer accounts, with send_units_per_minute %s and\n"
        "daily_send_limit %s (the stand-in's maximum), so quota never answers 429. Its sent messages\n"
        "and quota counters are emptied before every run (it checks quota over every send it holds).\n"
        "Accounts connected through the plugin's own sign-in (begin_connect, the stand-in's chooser and consent\n"
        "pages via /_sandbox/autopilot, complete_connect, ID token checked): %.1f s, not measured.\n"
        "Body: %zu bytes, {\"raw\": base64url(RFC 5322 message)}, built once for raw libcurl by\n"
        "gmail::build_send_request (GMime); the plugin builds its own per send (fresh Date and Message-ID,\n"
        "same size): parse_message + build_send_request take %.1f us per message here (mean of 1,000).\n"
        "Raw posts it with each account's stored access token and the plugin's headers to\n"
        "POST {stand-in}/gmail/v1/users/me/messages/send; 200 is success.\n",
        sandbox_threads, accounts, thousands(kUnthrottledGoogleUnitsPerMinute).c_str(),
        thousands(kUnthrottledGoogleDailyLimit).c_str(), connect_s, raw.target.body.size(), raw.build_us);
}

void section_gmail_send_path(Run& run) {
    const Options& o = run.opt;
    heading("6. Gmail send path: plugin vs raw libcurl (sends/s, latency ms)");
    const std::size_t max_accounts = o.quick ? 100 : 1000;
    const GridTiming timing = grid_timing(o);
    const std::vector<std::string> users = gmail_users(max_accounts), ids = account_ids(max_accounts);
    const fs::path scenario = run.work / "google-scenario.json";
    write_file(scenario, unthrottled_google_scenario(o.google_scenario_file, users));

    auto sb = start_sandbox(run, o.google_sandbox_bin, scenario);
    CpuMeter section_cpu(sb->pid());
    auto clock = std::make_shared<HostClock>();
    PluginHost host(run.work / "gmail-send.db", clock, "gmail");
    const std::string config = gmail_config(sb->base_url(), sb->ca_file(), o.tls_dir, run.key_file);
    auto loaded = load_manifest(o.manifest_dir / "gmail.json");
    auto plugin = ep::loader::ProviderInstance::create(loaded, host.api(), config);
    auto connect_started = Clock::now();
    host.database().db->exec("PRAGMA synchronous=OFF");  // connecting is not measured
    connect_gmail_accounts(*plugin, *sb, ids, users);
    host.database().db->exec("PRAGMA synchronous=FULL");
    const double connect_s = seconds_since(connect_started);

    const std::string message = small_message();
    GmailRawLoad raw_load = gmail_raw_load(host, config, ids, message);
    RawClient raw(raw_load.target, sb->ca_file(), 256);
    const SendPathLoad load{*plugin, raw, *sb, ids, raw_load.tokens, message, true};
    warm_send_path(load, o.quick);

    print_gmail_setup(o.sandbox_threads, max_accounts, connect_s, raw_load);
    print_grid_legend(timing, "the plugin caps itself at 4 per mailbox, as for Outlook");
    std::printf("\n");
    SendGrid grid = run_send_grid(o, load, {1, 20, max_accounts});
    double sb_pct = section_cpu.percent_of_core();
    std::printf("\nStand-in CPU over the whole section (incl. connecting): %.0f%% of one core.\n", sb_pct);
    run.report["gmail_send_path"] = json::object{{"rows", std::move(grid.rows)},
                                                 {"body_bytes", raw_load.target.body.size()},
                                                 {"message_build_us", raw_load.build_us},
                                                 {"connect_seconds", connect_s},
                                                 {"rounds", timing.rounds},
                                                 {"measure_s", timing.measure_s},
                                                 {"sandbox_cpu_pct_of_core", sb_pct},
                                                 {"plugin_problems_logged", host.problems()}};
    run.target_lines.push_back(fmt("Gmail send path >= 0.95x raw libcurl at every row: %s (worst %.3fx at %s)",
                                   grid.worst_ratio >= 0.95 ? "MET" : "MISSED", grid.worst_ratio,
                                   grid.worst_row.c_str()));
}

// ---- 2. refresh storms -------------------------------------------------------------------------

struct StormCheck {
    int64_t requests = 0;
    std::size_t users_once = 0, users_more = 0, users_none = 0;
    int max_per_user = 0;
};

StormCheck check_refreshes(const SandboxProcess& sb, std::size_t first, std::size_t count) {
    auto by_user = sb.refreshes_by_user();
    StormCheck c;
    for (const auto& [user, n] : by_user) c.requests += n;
    for (std::size_t i = first; i < first + count; ++i) {
        auto it = by_user.find("bulk" + std::to_string(i) + "@contoso.example");
        int n = it == by_user.end() ? 0 : it->second;
        c.max_per_user = std::max(c.max_per_user, n);
        if (n == 0)
            ++c.users_none;
        else if (n == 1)
            ++c.users_once;
        else
            ++c.users_more;
    }
    return c;
}

void section_refresh_storm(Run& run) {
    const Options& o = run.opt;
    heading("2. Refresh storms (token requests seen by the stand-in)");
    const std::size_t n_accounts = o.quick ? 500 : 10000;
    const std::size_t one_account_sends = o.quick ? 200 : 1000;

    auto sb = start_sandbox(run, run.opt.sandbox_bin, run.scenario_file);
    CpuMeter section_cpu(sb->pid());
    auto grants = sb->bulk_grants(kClientId, 0, static_cast<int>(n_accounts));
    auto clock = std::make_shared<HostClock>();
    const fs::path db = run.work / "storm.db";
    PluginHost host_a(db, clock);
    const std::string config = outlook_config(sb->base_url(), sb->ca_file(), run.key_file);
    seed_accounts(host_a, config, grants, 0, clock->now(), true);
    auto loaded = load_manifest(o.manifest_dir / "outlook.json");
    auto a = ep::loader::ProviderInstance::create(loaded, host_a.api(), config);
    const std::string message = small_message();

    // Every account sends once: its access token is cached (the cache holds 10,000 by default).
    {
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
        for (std::size_t i = 0; i < n_accounts; ++i) sends.emplace_back(a.get(), account_id(i));
        auto warm = burst(sends, message, 256);
        if (warm.other) throw std::runtime_error("warm-up send failed: " + warm.first_other);
        sb->clear_messages();
    }
    auto expire_all = [&] {
        clock->offset_ms += kExpireSkipSeconds * 1000;
        sb->advance_clock(kExpireSkipSeconds);
        sb->reset_counters();
    };

    std::printf(
        "Host: %s; the stand-in's clock and the host clock jump %lld s together, so every cached\n"
        "access token has just expired. One send per line below unless stated; each line starts from\n"
        "freshly expired tokens.\n\n",
        "SqliteHostDatabase + SqliteSecretStore (WAL, synchronous=FULL) + HostServices",
        static_cast<long long>(kExpireSkipSeconds));
    std::printf("%-58s %9s %9s %7s %7s %9s %9s %8s %6s\n", "case", "sends", "token req", "expect", "dupl.", "drain s",
                "p99 ms", "not sent", "sb%");
    json::array cases;
    auto report_case = [&](const std::string& name, std::size_t sends, const BurstResult& b, const StormCheck& c,
                           std::size_t expected, double sb_pct, const std::string& setup) {
        Summary lat = summarize(b.latency_us);
        std::printf("%-58s %9zu %9lld %7zu %7zu %9.2f %9s %8lld %6.0f\n", name.c_str(), sends,
                    static_cast<long long>(c.requests), expected, c.users_more, b.drain_s, ms(lat.p99).c_str(),
                    static_cast<long long>(b.other), sb_pct);
        if (b.other) std::printf("    first not sent: %s\n", b.first_other.c_str());
        std::fflush(stdout);
        cases.push_back(json::object{{"case", name},
                                     {"setup", setup},
                                     {"sends", sends},
                                     {"token_requests", c.requests},
                                     {"expected_token_requests", expected},
                                     {"users_with_one_request", c.users_once},
                                     {"users_with_duplicates", c.users_more},
                                     {"users_without_request", c.users_none},
                                     {"max_requests_per_user", c.max_per_user},
                                     {"drain_s", b.drain_s},
                                     {"submit_s", b.submit_s},
                                     {"latency", summary_json(lat)},
                                     {"sent", b.sent},
                                     {"not_sent", b.other},
                                     {"sandbox_cpu_pct_of_core", sb_pct}});
        return c.requests == static_cast<int64_t>(expected) && c.users_more == 0 && b.other == 0;
    };

    bool all_ok = true;
    // (a) many concurrent sends on one account.
    {
        expire_all();
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends(one_account_sends, {a.get(), account_id(0)});
        CpuMeter m(sb->pid());
        auto b = burst(sends, message);
        all_ok &= report_case(fmt("%zu concurrent sends, 1 account, 1 instance", one_account_sends), sends.size(), b,
                              check_refreshes(*sb, 0, 1), 1, m.percent_of_core(), "one instance");
    }
    // (b) every account expiring together.
    {
        expire_all();
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
        for (std::size_t i = 0; i < n_accounts; ++i) sends.emplace_back(a.get(), account_id(i));
        CpuMeter m(sb->pid());
        auto b = burst(sends, message);
        all_ok &= report_case(fmt("%zu accounts expiring together, 1 instance", n_accounts), sends.size(), b,
                              check_refreshes(*sb, 0, n_accounts), n_accounts, m.percent_of_core(), "one instance");
    }
    // (c) two plugin instances in this process sharing the store file, each through its own
    // SQLite connection (as two host processes would), coordinating through the stored lease.
    PluginHost host_b(db, clock);
    auto b_inst = ep::loader::ProviderInstance::create(loaded, host_b.api(), config);
    {
        expire_all();
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
        for (std::size_t i = 0; i < one_account_sends; ++i)
            sends.emplace_back(i % 2 ? b_inst.get() : a.get(), account_id(0));
        CpuMeter m(sb->pid());
        auto b = burst(sends, message);
        all_ok &=
            report_case(fmt("%zu concurrent sends, 1 account, 2 instances", one_account_sends), sends.size(), b,
                        check_refreshes(*sb, 0, 1), 1, m.percent_of_core(), "two instances, two connections, one file");
    }
    {
        expire_all();
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
        for (std::size_t i = 0; i < n_accounts; ++i) {
            sends.emplace_back(a.get(), account_id(i));
            sends.emplace_back(b_inst.get(), account_id(i));
        }
        CpuMeter m(sb->pid());
        auto b = burst(sends, message);
        all_ok &= report_case(fmt("%zu accounts expiring together, 2 instances (1 send each)", n_accounts),
                              sends.size(), b, check_refreshes(*sb, 0, n_accounts), n_accounts, m.percent_of_core(),
                              "two instances, two connections, one file");
    }
    double sb_pct = section_cpu.percent_of_core();
    std::printf(
        "\nTwo instances = two ProviderInstances of one loaded plugin in this process, each with its own\n"
        "SqliteHostDatabase connection + SqliteSecretStore + HostServices on the same file (cross-instance\n"
        "single flight goes through the refresh lease in the stored grant, as across processes).\n"
        "Stand-in CPU over the whole section: %.0f%% of one core.\n",
        sb_pct);
    run.report["refresh_storm"] = json::object{{"cases", std::move(cases)},
                                               {"accounts", n_accounts},
                                               {"sandbox_cpu_pct_of_core", sb_pct},
                                               {"plugin_problems_logged", host_a.problems() + host_b.problems()}};
    run.target_lines.push_back(fmt("Exactly 1 token request per expired account, any concurrency, 1 or 2 instances: %s",
                                   all_ok ? "MET" : "MISSED (see section 2)"));
}

// ---- 3. store scale, 5. memory ---------------------------------------------------------------

json::object memory_child(const fs::path& self, const fs::path& db, const fs::path& config_file,
                          const fs::path& manifest, std::size_t accounts) {
    auto out = run_child({self.string(), "--child-memory", "--db", db.string(), "--config", config_file.string(),
                          "--manifest", manifest.string(), "--accounts", std::to_string(accounts)});
    if (out.exit_code != 0)
        throw std::runtime_error("memory child failed (exit " + std::to_string(out.exit_code) + ")");
    auto line = out.out.substr(out.out.rfind('{'));
    return json::parse(line).as_object();
}

void section_store_and_memory(Run& run) {
    const Options& o = run.opt;
    const std::size_t big = o.quick ? 2000 : 100000;
    const std::size_t small = o.quick ? 200 : 1000;
    const std::size_t samples = o.quick ? 1000 : 20000;

    auto sb = start_sandbox(run, run.opt.sandbox_bin, run.scenario_file);
    CpuMeter section_cpu(sb->pid());
    auto grants = sb->bulk_grants(kClientId, 0, static_cast<int>(big));
    auto clock = std::make_shared<HostClock>();
    const std::string config = outlook_config(sb->base_url(), sb->ca_file(), run.key_file);
    const fs::path config_file = run.work / "outlook-config.json";
    write_file(config_file, config);
    const fs::path big_db = run.work / "store-big.db", small_db = run.work / "store-small.db",
                   empty_db = run.work / "store-empty.db";
    const fs::path manifest = o.manifest_dir / "outlook.json";

    json::object store_report;
    if (o.sections.count(3) || o.sections.count(5)) {
        // Seed the three stores the children use (and section 3 measures).
        auto t0 = Clock::now();
        {
            PluginHost h(big_db, clock);
            seed_accounts(h, config, grants, 0, clock->now(), true);
            h.database().db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        double seed_s = seconds_since(t0);
        {
            PluginHost h(small_db, clock);
            seed_accounts(h, config, std::vector<Grant>(grants.begin(), grants.begin() + static_cast<long>(small)), 0,
                          clock->now(), true);
            h.database().db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        { PluginHost h(empty_db, clock); }
        store_report["seed_s"] = seed_s;
    }

    if (o.sections.count(3)) {
        heading(fmt("3. Store scale: %s connected accounts in the host's SQLite store",
                    thousands(static_cast<double>(big)).c_str()));
        auto file_bytes = [](const fs::path& p) {
            std::error_code ec;
            auto size = fs::file_size(p, ec);
            auto wal = fs::file_size(fs::path(p.string() + "-wal"), ec);
            return static_cast<double>((ec ? 0 : wal) + size);
        };
        auto loaded = load_manifest(manifest);
        std::mt19937_64 rng(42);
        std::printf(
            "Host: SqliteHostDatabase + SqliteSecretStore + HostServices (keys \"outlook/account/<id>/grant\").\n"
            "Lookups of uniformly random accounts, one thread; seeded once (synchronous=OFF while seeding).\n\n");
        std::printf("%-46s %10s %9s %9s %9s\n", "operation", "accounts", "p50 ms", "p99 ms", "max ms");
        json::array rows;
        for (auto [db, n] : {std::pair{small_db, small}, std::pair{big_db, big}}) {
            PluginHost h(db, clock);
            auto inst = ep::loader::ProviderInstance::create(loaded, h.api(), config);
            outlook::OutlookConfig parsed = outlook::parse_config(config);
            ep::kit::AccountStore store(ep::sdk::Host(h.api()), parsed.vault, std::string(outlook::kProviderName));
            std::uniform_int_distribution<std::size_t> pick(0, n - 1);
            std::vector<double> status_us, load_us;
            int bad = 0;
            for (std::size_t i = 0; i < samples; ++i) {
                std::string acct = account_id(pick(rng));
                auto t = Clock::now();
                auto r = inst->status(acct);
                status_us.push_back(us_between(t, Clock::now()));
                if (!r.ok() || r.document.find("\"state\":\"connected\"") == std::string::npos) ++bad;
            }
            for (std::size_t i = 0; i < samples; ++i) {
                std::string acct = account_id(pick(rng));
                auto t = Clock::now();
                auto g = store.load_grant(acct);
                load_us.push_back(us_between(t, Clock::now()));
                if (!g.grant || g.grant->record.access_token.empty()) ++bad;
            }
            Summary ss = summarize(status_us), ls = summarize(load_us);
            std::printf("%-46s %10s %9s %9s %9s\n", "get_status via the ABI", thousands(static_cast<double>(n)).c_str(),
                        fmt("%.3f", ss.p50 / 1000).c_str(), fmt("%.3f", ss.p99 / 1000).c_str(),
                        fmt("%.3f", ss.max / 1000).c_str());
            std::printf("%-46s %10s %9s %9s %9s\n", "AccountStore::load_grant (read + decrypt)",
                        thousands(static_cast<double>(n)).c_str(), fmt("%.3f", ls.p50 / 1000).c_str(),
                        fmt("%.3f", ls.p99 / 1000).c_str(), fmt("%.3f", ls.max / 1000).c_str());
            double bytes = file_bytes(db);
            std::printf("%-46s %10s %9s bytes/account (file %s bytes)\n", "store file size",
                        thousands(static_cast<double>(n)).c_str(), thousands(bytes / static_cast<double>(n)).c_str(),
                        thousands(bytes).c_str());
            if (bad) std::printf("    %d lookups did not find a connected account!\n", bad);
            std::fflush(stdout);
            rows.push_back(json::object{{"accounts", n},
                                        {"get_status", summary_json(ss)},
                                        {"load_grant", summary_json(ls)},
                                        {"file_bytes", bytes},
                                        {"bytes_per_account", bytes / static_cast<double>(n)},
                                        {"failed_lookups", bad}});
            if (n == big)
                run.target_lines.push_back(fmt("Status p99 <= 1 ms at %s accounts: %s (p99 %.3f ms, p50 %.3f ms)",
                                               thousands(static_cast<double>(big)).c_str(),
                                               ss.p99 <= 1000 ? "MET" : "MISSED", ss.p99 / 1000, ss.p50 / 1000));
        }
        store_report["rows"] = std::move(rows);
        run.report["store_scale"] = std::move(store_report);
    }

    if (o.sections.count(5)) {
        heading("5. Memory: RSS of a host process with N connected accounts (each sent one message)");
        std::printf(
            "Fresh child process per size: loads the plugin, opens the SQLite store holding N connected\n"
            "accounts, sends one message per account (64 in flight), waits for all, malloc_trim(0), then reads\n"
            "VmRSS. access_token_cache_size = 10,000 (default): only the 10,000 most recently active\n"
            "accounts keep a token in memory.\n\n");
        std::printf("%10s %12s %12s %10s %9s\n", "accounts", "RSS idle KiB", "RSS sent KiB", "sent", "not sent");
        const fs::path self = fs::read_symlink("/proc/self/exe");
        json::array rows;
        std::map<std::size_t, double> rss;
        for (auto [db, n] : {std::pair{empty_db, std::size_t{0}}, std::pair{small_db, small}, std::pair{big_db, big}}) {
            auto r = memory_child(self, db, config_file, manifest, n);
            double after = r.at("rss_kb_after").to_number<double>();
            rss[n] = after;
            std::printf("%10s %12s %12s %10lld %9lld\n", thousands(static_cast<double>(n)).c_str(),
                        thousands(r.at("rss_kb_idle").to_number<double>()).c_str(), thousands(after).c_str(),
                        static_cast<long long>(r.at("sent").to_number<int64_t>()),
                        static_cast<long long>(r.at("not_sent").to_number<int64_t>()));
            std::fflush(stdout);
            r["accounts"] = n;
            rows.push_back(std::move(r));
        }
        double per_account = (rss[big] - rss[0]) * 1024 / static_cast<double>(big);
        double marginal = (rss[big] - rss[small]) * 1024 / static_cast<double>(big - small);
        std::printf(
            "\nBytes per connected account: (RSS(%s) - RSS(0)) / %s = %.0f B; marginal between %s and %s: %.0f B.\n",
            thousands(static_cast<double>(big)).c_str(), thousands(static_cast<double>(big)).c_str(), per_account,
            thousands(static_cast<double>(small)).c_str(), thousands(static_cast<double>(big)).c_str(), marginal);
        run.report["memory"] = json::object{
            {"rows", std::move(rows)}, {"bytes_per_account", per_account}, {"marginal_bytes_per_account", marginal}};
        run.target_lines.push_back(
            fmt("Memory per connected account <= 2 KB: %s (%.0f B/account at %s; marginal %.0f B)",
                std::max(per_account, marginal) <= 2048 ? "MET" : "MISSED", per_account,
                thousands(static_cast<double>(big)).c_str(), marginal));
    }
    run.report["store_and_memory_sandbox_cpu_pct_of_core"] = section_cpu.percent_of_core();
    std::printf("Stand-in CPU over sections 3+5 (incl. seeding and the children's sends): %.0f%% of one core.\n",
                section_cpu.percent_of_core());
}

// ---- 4. load time -------------------------------------------------------------------------

void section_load_time(Run& run) {
    const Options& o = run.opt;
    heading("4. Load time: manifest parse + dlopen + negotiate + create (ms)");
    const int children = o.quick ? 3 : 31;
    const fs::path mock_cfg = run.work / "mock-config.json", outlook_cfg = run.work / "outlook-load-config.json";
    write_file(mock_cfg, json::serialize(json::object{{"outbox_dir", (run.work / "mock-outbox").string()},
                                                      {"address", "bench@example.com"}}));
    // No network at create: the endpoints only have to be valid.
    write_file(outlook_cfg, outlook_config("https://127.0.0.1:9", (o.tls_dir / "ca.pem").string(), run.key_file));
    std::printf(
        "Cold: a fresh load_probe child process per sample (links only the loader, so the plugin's own\n"
        "dependencies - libcurl, libssl... - are mapped by its dlopen, as in a real host). %d samples, medians.\n"
        "Warm: in this process with the library already mapped (dlopen only bumps a reference).\n\n",
        children);
    std::printf("%-8s %-5s %10s %10s %10s %12s %10s %10s\n", "provider", "kind", "manifest", "dlopen+neg", "create",
                "load+neg", "total", "destroy");
    json::array rows;
    double worst_load = 0;
    for (auto [id, cfg] : {std::pair{std::string("mock"), mock_cfg}, std::pair{std::string("outlook"), outlook_cfg}}) {
        const fs::path manifest = o.manifest_dir / (id + ".json");
        std::vector<double> m, l, c, t, d, ml;
        for (int i = 0; i < children; ++i) {
            auto out = run_child({o.load_probe.string(), manifest.string(), cfg.string()});
            if (out.exit_code != 0) throw std::runtime_error("load_probe failed for " + id);
            auto v = json::parse(out.out).as_object();
            m.push_back(v.at("manifest_us").to_number<double>());
            l.push_back(v.at("load_us").to_number<double>());
            c.push_back(v.at("create_us").to_number<double>());
            t.push_back(v.at("total_us").to_number<double>());
            d.push_back(v.at("destroy_us").to_number<double>());
            ml.push_back(m.back() + l.back());
        }
        worst_load = std::max(worst_load, median(ml));
        std::printf("%-8s %-5s %10.3f %10.3f %10.3f %12.3f %10.3f %10.3f\n", id.c_str(), "cold", median(m) / 1000,
                    median(l) / 1000, median(c) / 1000, median(ml) / 1000, median(t) / 1000, median(d) / 1000);
        // Warm, in-process.
        const std::string config_text = read_file(cfg);
        auto keep = load_manifest(manifest);  // keeps the library mapped
        (void)keep;
        auto clock = std::make_shared<HostClock>();
        PluginHost h(run.work / ("load-" + id + ".db"), clock, id);
        std::vector<double> wm, wl, wc, wt;
        for (int i = 0; i < children; ++i) {
            auto t0 = Clock::now();
            auto man = ep::loader::read_manifest(manifest);
            auto t1 = Clock::now();
            auto lp = ep::loader::load_provider(man);
            auto t2 = Clock::now();
            auto inst = ep::loader::ProviderInstance::create(lp, h.api(), config_text);
            auto t3 = Clock::now();
            wm.push_back(us_between(t0, t1));
            wl.push_back(us_between(t1, t2));
            wc.push_back(us_between(t2, t3));
            wt.push_back(us_between(t0, t3));
        }
        std::printf("%-8s %-5s %10.3f %10.3f %10.3f %12.3f %10.3f %10s\n", id.c_str(), "warm", median(wm) / 1000,
                    median(wl) / 1000, median(wc) / 1000, (median(wm) + median(wl)) / 1000, median(wt) / 1000, "");
        std::fflush(stdout);
        rows.push_back(json::object{{"provider", id},
                                    {"cold_samples", children},
                                    {"cold_manifest_ms", median(m) / 1000},
                                    {"cold_dlopen_negotiate_ms", median(l) / 1000},
                                    {"cold_create_ms", median(c) / 1000},
                                    {"cold_load_negotiate_ms", median(ml) / 1000},
                                    {"cold_total_ms", median(t) / 1000},
                                    {"cold_destroy_ms", median(d) / 1000},
                                    {"warm_manifest_ms", median(wm) / 1000},
                                    {"warm_dlopen_negotiate_ms", median(wl) / 1000},
                                    {"warm_create_ms", median(wc) / 1000},
                                    {"warm_total_ms", median(wt) / 1000}});
    }
    run.report["load_time"] = json::object{{"rows", std::move(rows)}};
    run.target_lines.push_back(fmt("Load + negotiate <= 5 ms (cold, median, worst provider): %s (%.3f ms)",
                                   worst_load <= 5000 ? "MET" : "MISSED", worst_load / 1000));
}

// ---- 7. isolation ------------------------------------------------------------------------------

// Cold starts of an isolated Outlook plugin (spawn + load + negotiate + create, answered by the
// runner), each a fresh ep-provider-runner; the runner's RSS right after.
struct ColdStarts {
    std::vector<double> start_ms, stop_ms;
    std::vector<double> rss_kb;
};
ColdStarts measure_cold_starts(const ep::loader::Manifest& manifest, PluginHost& host, const std::string& config,
                               const ep::loader::IsolationOptions& iso, int samples) {
    ColdStarts c;
    for (int i = 0; i < samples; ++i) {
        auto t0 = Clock::now();
        auto provider = ep::loader::start_isolated(manifest, host.api(), config, iso);
        auto t1 = Clock::now();
        c.rss_kb.push_back(static_cast<double>(rss_kb(newest_child_named("ep-provider-runner"))));
        provider.reset();
        c.start_ms.push_back(us_between(t0, t1) / 1000);
        c.stop_ms.push_back(us_between(t1, Clock::now()) / 1000);
    }
    return c;
}

// One row of the isolated-vs-in-process table: each client `rounds` times, alternating.
json::object isolation_row(const GridTiming& t, ep::loader::Provider& in_process, ep::loader::Provider& isolated,
                           pid_t runner, const std::vector<std::string>& ids, const std::string& message,
                           const SandboxProcess& sb, int conc, double& worst_ratio, double& worst_extra_cpu) {
    const LoadSpec spec{conc, 4, t.warmup_s, t.measure_s};
    Aggregate a, b;
    for (int r = 0; r < t.rounds; ++r) {
        if (r % 2 == 0) {
            a.add(plugin_run(in_process, ids, message, spec, sb.pid()));
            b.add(plugin_run(isolated, ids, message, spec, sb.pid(), runner));
        } else {
            b.add(plugin_run(isolated, ids, message, spec, sb.pid(), runner));
            a.add(plugin_run(in_process, ids, message, spec, sb.pid()));
        }
        sb.clear_messages();
    }
    const double ratio = a.rate() > 0 ? b.rate() / a.rate() : 0;
    const double extra_cpu = median(b.cpu_per_req_us) - median(a.cpu_per_req_us);
    worst_ratio = std::min(worst_ratio, ratio);
    worst_extra_cpu = std::max(worst_extra_cpu, extra_cpu);
    Summary sa = summarize(a.latency_us), sbs = summarize(b.latency_us);
    std::printf("%8zu %5d | %9s %8s %8s %6.0f | %9s %8s %8s %6.0f | %6.3f %7.1f %5lld\n", ids.size(), conc,
                thousands(a.rate()).c_str(), ms(sa.p50).c_str(), ms(sa.p99).c_str(), median(a.cpu_per_req_us),
                thousands(b.rate()).c_str(), ms(sbs.p50).c_str(), ms(sbs.p99).c_str(), median(b.cpu_per_req_us), ratio,
                extra_cpu, static_cast<long long>(a.failed + b.failed));
    if (!a.first_failure.empty()) std::printf("    in-process failure: %s\n", a.first_failure.c_str());
    if (!b.first_failure.empty()) std::printf("    isolated failure: %s\n", b.first_failure.c_str());
    std::fflush(stdout);
    return json::object{{"accounts", ids.size()},
                        {"concurrency", conc},
                        {"in_process", a.to_json()},
                        {"isolated", b.to_json()},
                        {"ratio_isolated_over_in_process", ratio},
                        {"extra_cpu_us_per_send", extra_cpu}};
}

void section_isolation(Run& run) {
    const Options& o = run.opt;
    heading("7. Isolation: the Outlook plugin in an ep-provider-runner vs in this process");
    const std::size_t max_accounts = o.quick ? 100 : 1000;
    auto sb = start_sandbox(run, o.sandbox_bin, run.scenario_file);
    auto grants = sb->bulk_grants(kClientId, 0, static_cast<int>(max_accounts));
    auto clock = std::make_shared<HostClock>();
    PluginHost host(run.work / "isolation.db", clock);
    const std::string config = outlook_config(sb->base_url(), sb->ca_file(), run.key_file);
    seed_accounts(host, config, grants, 0, clock->now(), true);
    const ep::loader::Manifest manifest = ep::loader::read_manifest(o.manifest_dir / "outlook.json");
    ep::loader::IsolationOptions iso;
    iso.runner = o.runner;

    const ColdStarts cold = measure_cold_starts(manifest, host, config, iso, o.quick ? 3 : 21);
    auto in_process =
        ep::loader::ProviderInstance::create(load_manifest(o.manifest_dir / "outlook.json"), host.api(), config);
    auto isolated = ep::loader::start_isolated(manifest, host.api(), config, iso);
    const pid_t runner = newest_child_named("ep-provider-runner");
    const std::string message = small_message();
    const std::vector<std::string> ids = account_ids(max_accounts);
    for (ep::loader::Provider* p : {static_cast<ep::loader::Provider*>(in_process.get()), isolated.get()}) {
        std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
        for (const auto& id : ids) sends.emplace_back(p, id);
        auto warm = burst(sends, message, 256);
        if (warm.other) throw std::runtime_error("warm-up send failed: " + warm.first_other);
    }
    const long runner_rss_warm = rss_kb(runner);
    sb->clear_messages();

    std::printf(
        "Cold start (spawn + load + negotiate + create, answered): median %.2f ms, max %.2f ms over %zu;\n"
        "stop (shutdown, runner gone): median %.2f ms. Runner RSS: %.1f MiB after start, %.1f MiB after %zu "
        "accounts sent once.\n",
        median(cold.start_ms), summarize(cold.start_ms).max, cold.start_ms.size(), median(cold.stop_ms),
        median(cold.rss_kb) / 1024, static_cast<double>(runner_rss_warm) / 1024, max_accounts);
    std::printf(
        "cpu us/send = CPU of this process, plus the runner's for the isolated client, per completed send.\n\n");
    std::printf("%8s %5s | %9s %8s %8s %6s | %9s %8s %8s %6s | %6s %7s %5s\n", "accounts", "conc", "in-proc/s", "p50",
                "p99", "cpu", "isolated/s", "p50", "p99", "cpu", "ratio", "+cpu us", "fail");
    double worst_ratio = 1e9, worst_extra_cpu = -1e9;
    json::array rows;
    for (auto [accounts, conc] : {std::pair<std::size_t, int>{1, 1}, {max_accounts, 16}})
        rows.push_back(isolation_row(grid_timing(o), *in_process, *isolated, runner, first_n(ids, accounts), message,
                                     *sb, conc, worst_ratio, worst_extra_cpu));
    const double cold_ms = median(cold.start_ms);
    run.report["isolation"] = json::object{{"cold_start_ms", cold_ms},
                                           {"stop_ms", median(cold.stop_ms)},
                                           {"runner_rss_kb_after_start", median(cold.rss_kb)},
                                           {"runner_rss_kb_warm", runner_rss_warm},
                                           {"rows", std::move(rows)}};
    run.target_lines.push_back(fmt("Isolated throughput >= 0.9x in-process at 1:1 and %zu:16: %s (worst %.3f)",
                                   max_accounts, worst_ratio >= 0.9 ? "MET" : "MISSED", worst_ratio));
    run.target_lines.push_back(fmt("Isolation costs <= 30 us more CPU per send: %s (worst %+.1f us)",
                                   worst_extra_cpu <= 30 ? "MET" : "MISSED", worst_extra_cpu));
    run.target_lines.push_back(
        fmt("Runner cold start <= 20 ms (median): %s (%.2f ms)", cold_ms <= 20 ? "MET" : "MISSED", cold_ms));
}

// ---- child: memory ----------------------------------------------------------------------------

int child_memory(int argc, char** argv) {
    fs::path db, config_file, manifest;
    std::size_t accounts = 0;
    for (int i = 1; i + 1 < argc; ++i) {
        std::string a = argv[i];
        if (a == "--db")
            db = argv[++i];
        else if (a == "--config")
            config_file = argv[++i];
        else if (a == "--manifest")
            manifest = argv[++i];
        else if (a == "--accounts")
            accounts = std::stoul(argv[++i]);
    }
    auto clock = std::make_shared<HostClock>();
    PluginHost host(db, clock);
    auto loaded = load_manifest(manifest);
    auto inst = ep::loader::ProviderInstance::create(loaded, host.api(), read_file(config_file));
    malloc_trim(0);
    long idle = self_rss_kb();
    std::vector<std::pair<ep::loader::Provider*, std::string>> sends;
    for (std::size_t i = 0; i < accounts; ++i) sends.emplace_back(inst.get(), account_id(i));
    BurstResult b;
    if (!sends.empty()) b = burst(sends, small_message(), 64);
    b.latency_us = {};
    b.latency_us.shrink_to_fit();
    sends = {};
    malloc_trim(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    malloc_trim(0);
    long after = self_rss_kb();
    std::printf("{\"rss_kb_idle\":%ld,\"rss_kb_after\":%ld,\"sent\":%lld,\"not_sent\":%lld,\"first_not_sent\":%s}\n",
                idle, after, static_cast<long long>(b.sent), static_cast<long long>(b.other),
                json::serialize(json::value(b.first_other)).c_str());
    std::fflush(stdout);
    return 0;
}

void usage() {
    std::printf(
        "usage: load_driver [--quick] [--json FILE] [--sections 1,2,3,4,5,6,7] [--sandbox-threads N]\n"
        "                   [--rounds N] [--measure-seconds S]\n"
        "  --quick            short smoke run (CI checks that it runs; never judge speed from it)\n"
        "  --json FILE        also write every number as JSON\n"
        "  --sections LIST    1 send path, 2 refresh storms, 3 store scale, 4 load time, 5 memory,\n"
        "                     6 Gmail send path, 7 isolation (runner vs in-process)\n"
        "  --sandbox-threads  I/O threads of the microsoft-sandbox and google-sandbox processes (default 2)\n"
        "  --rounds N         sections 1 and 6: runs per cell and client (default 3)\n"
        "  --measure-seconds  sections 1 and 6: measured window per run (default 2)\n"
        "  --row A:C          sections 1 and 6: only this row (repeatable; for profiling)\n"
        "  --diagnose         section 1: also run raw clients copying one HttpEngine habit each\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--child-memory") == 0) {
        try {
            return child_memory(argc, argv);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "memory child: %s\n", e.what());
            return 1;
        }
    }
    Run run;
    Options& o = run.opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        try {
            if (a == "--quick")
                o.quick = true;
            else if (a == "--json")
                o.json_path = value();
            else if (a == "--sandbox-threads")
                o.sandbox_threads = std::stoi(value());
            else if (a == "--rounds")
                o.rounds = std::max(1, std::stoi(value()));
            else if (a == "--measure-seconds")
                o.measure_s = std::stod(value());
            else if (a == "--diagnose")
                o.diagnose = true;
            else if (a == "--row") {
                std::string v = value();
                auto colon = v.find(':');
                if (colon == std::string::npos) throw std::invalid_argument("--row needs ACCOUNTS:CONCURRENCY");
                o.only_rows.emplace_back(std::stoul(v.substr(0, colon)), std::stoi(v.substr(colon + 1)));
            } else if (a == "--sections") {
                o.sections.clear();
                std::string list = value();
                for (char c : list)
                    if (c >= '1' && c <= '7') o.sections.insert(c - '0');
            } else if (a == "--help" || a == "-h") {
                usage();
                return 0;
            } else {
                usage();
                return 2;
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "load_driver: %s\n", e.what());
            return 2;
        }
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto started = Clock::now();
    try {
        run.key_file = run.work / "k1.key";
        write_file(run.key_file, random_hex_key());
        run.scenario_file = run.work / "scenario.json";
        write_file(run.scenario_file, relaxed_scenario(o.scenario_file));

        std::printf(
            "load_driver%s: Personal Outlook plugin vs the Microsoft stand-in (microsoft-sandbox, %d I/O threads,\n"
            "--quiet, scenario written at run time with mailbox_limits (minute, day, concurrency) relaxed to "
            "unlimited), %u cores.\n"
            "Absolute numbers are for this machine and run only; compare ratios within the run.\n",
            o.quick ? " --quick (smoke run: sizes reduced, numbers not meaningful)" : "", o.sandbox_threads,
            std::thread::hardware_concurrency());
        run.report["quick"] = o.quick;
        run.report["cores"] = std::thread::hardware_concurrency();
        run.report["sandbox_threads"] = o.sandbox_threads;
        run.report["started_unix_ms"] = unix_ms();

        if (o.sections.count(4)) section_load_time(run);
        if (o.sections.count(1)) section_send_path(run);
        if (o.sections.count(6)) section_gmail_send_path(run);
        if (o.sections.count(7)) section_isolation(run);
        if (o.sections.count(2)) section_refresh_storm(run);
        if (o.sections.count(3) || o.sections.count(5)) section_store_and_memory(run);

        heading("Targets");
        for (const auto& line : run.target_lines) std::printf("- %s\n", line.c_str());
        double total = seconds_since(started);
        std::printf("\nTotal run time: %.1f s\n", total);
        run.report["targets"] = json::value_from(run.target_lines);
        run.report["run_seconds"] = total;
        if (!o.json_path.empty()) write_file(o.json_path, json::serialize(run.report) + "\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "load_driver: %s\n", e.what());
        return 1;
    }
    return 0;
}
