// The baseline: a good libcurl client posting the plugin's request bodies with the same headers
// to the same endpoint as the plugin (Graph's sendMail, Gmail's users.messages.send). One multi
// handle for its whole life (so connections are reused across runs, as the plugin's are), reused
// easy handles, the same TLS trust anchors, HTTP version preference and connection limits as the
// plugin's HttpEngine.
#pragma once

#include "bench_util.hpp"

#include <string>
#include <vector>

namespace bench {

struct LoadRun {
    int64_t ok = 0;                  // completed inside the measured window with the expected result
    int64_t failed = 0;              // completed inside the window with anything else
    double window_s = 0;             // measured window (wall)
    std::vector<double> latency_us;  // of the completions counted in the window
    double client_cpu_s = 0;         // this process's CPU over the window
    double sandbox_cpu_s = 0;        // the stand-in's CPU over the window
    std::string first_failure;
    double rate() const { return window_s > 0 ? static_cast<double>(ok) / window_s : 0; }
};

struct LoadSpec {
    int concurrency = 1;
    int per_account_cap = 0;  // 0 = none; else at most this many in flight per account (requests wait, FIFO)
    double warmup_s = 0.2;    // not measured
    double measure_s = 2.0;
};

// Diagnostic variants (never the baseline): imitate one habit of the plugin's HttpEngine at a
// time, to measure what it costs (--diagnose in load_driver).
struct RawVariant {
    bool read_callback_upload = false;  // body through CURLOPT_READFUNCTION (headers and body written separately)
    bool fresh_easy_handles = false;    // curl_easy_init + full setup + curl_easy_cleanup per request
};

// One header line after "Authorization: Bearer <token>"; `fresh_uuid`: the line is a header name
// ("client-request-id: ") completed with a new UUID per request, as the plugin's are.
struct RawHeader {
    std::string text;
    bool fresh_uuid = false;
};

// The request the plugin makes for a send: POST `body` to `url` with Authorization first, then
// `headers` in the plugin's order, then "Expect:" (HttpEngine suppresses it for every request).
struct RawTarget {
    std::string url;
    std::string body;
    std::vector<RawHeader> headers;
    long success_status = 200;  // what the provider answers an accepted send with
};

class RawClient {
public:
    RawClient(RawTarget target, std::string ca_file, long max_connections, RawVariant variant = {});
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    // Closed loop: `concurrency` logical requests outstanding; account i % tokens.size() for
    // the i-th request; latency from issue (including any wait for the per-account cap) to
    // completion. target.success_status is success.
    LoadRun run(const std::vector<std::string>& tokens, const LoadSpec& spec, pid_t sandbox_pid);

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace bench
