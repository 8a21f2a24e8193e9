// A stand-in as a separate process (the microsoft-sandbox or google-sandbox binary: same flags,
// same "listening on" line), with its control API over HTTPS and its CPU use read from /proc.
#pragma once

#include "bench_util.hpp"

#include <sys/types.h>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace bench {

struct SandboxOptions {
    std::filesystem::path binary;
    std::filesystem::path scenario_file;  // written at run time by the driver
    std::filesystem::path tls_dir;
    int threads = 2;
};

// One user's tokens from POST /_sandbox/bulk-grants.
struct Grant {
    std::string upn, user_id, tenant_id, access_token, refresh_token, scope;
    int64_t expires_in = 0;
};

class SandboxProcess {
public:
    explicit SandboxProcess(const SandboxOptions& options);  // waits for "listening on"
    ~SandboxProcess();                                       // SIGTERM + wait
    SandboxProcess(const SandboxProcess&) = delete;
    SandboxProcess& operator=(const SandboxProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& base_url() const { return base_url_; }
    std::string ca_file() const { return (tls_dir_ / "ca.pem").string(); }
    double cpu_seconds() const { return process_cpu_seconds(pid_); }

    // Any /_sandbox/... endpoint; throws on an HTTP error.
    json::value control(const std::string& method, const std::string& path, const json::value& body = nullptr) const;

    // Microsoft's stand-in only: `count` users bulk<first..first+count-1>@contoso.example with
    // tokens, in chunks. `stateless_expires_in` (seconds, when not 0): the stand-in's bulk mode,
    // tokens it verifies without storing, whose access tokens live that long.
    std::vector<Grant> bulk_grants(const std::string& client_id, int64_t first, int64_t count,
                                   int64_t stateless_expires_in = 0) const;
    void advance_clock(int64_t seconds) const;
    void reset_counters() const;
    // Microsoft's stand-in only. token_requests.by_user: lower-case UPN -> refresh_token requests.
    std::map<std::string, int> refreshes_by_user() const;
    void clear_messages() const;

private:
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::string base_url_;
    std::filesystem::path tls_dir_;
};

// The default scenario with mailbox limits relaxed (no per-mailbox concurrency cap, no
// message-rate limit), so the stand-in never throttles the load; written at run time.
std::string relaxed_scenario(const std::filesystem::path& default_scenario_file);

// The Google stand-in's default scenario plus `emails` as consumer accounts (named "Bench <n>"
// after their position, so every sent message has the same size), with the per-user quota and
// the daily sending limit raised so far that the stand-in never answers 429; written at run time.
// The stand-in's largest values: 1,000,000 sends a minute per account (a send costs 100 units).
inline constexpr int kUnthrottledGoogleUnitsPerMinute = 100'000'000;
inline constexpr int kUnthrottledGoogleDailyLimit = 100'000'000;
std::string unthrottled_google_scenario(const std::filesystem::path& default_scenario_file,
                                        const std::vector<std::string>& emails);

}  // namespace bench
