// Small helpers shared by the load driver: clocks, percentiles, /proc readings, child
// processes, files and table printing.
#pragma once

#include <boost/json.hpp>

#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bench {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
inline double us_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}
int64_t unix_ms();

struct Summary {
    std::size_t n = 0;
    double p50 = 0, p99 = 0, mean = 0, max = 0;
};
Summary summarize(std::vector<double> samples);  // copies: sorts its own
double median(std::vector<double> v);

// utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat.
double process_cpu_seconds(pid_t pid);
// Resident set size of this process in KiB (VmRSS from /proc/self/status).
long self_rss_kb();
long rss_kb(pid_t pid);  // the same for another process; -1 when it is gone
// The newest child process of this one whose command name is `comm` (0 when none).
pid_t newest_child_named(std::string_view comm);

// CPU use of a process over an interval, as % of one core.
class CpuMeter {
public:
    explicit CpuMeter(pid_t pid) : pid_(pid) { restart(); }
    void restart();
    double seconds() const;          // CPU seconds since restart
    double percent_of_core() const;  // CPU seconds / wall seconds * 100
private:
    pid_t pid_;
    double cpu0_ = 0;
    Clock::time_point wall0_;
};

struct ChildOutput {
    int exit_code = -1;
    std::string out;  // stdout
};
// Runs argv[0] with argv, capturing stdout (stderr passes through). Throws on spawn failure.
ChildOutput run_child(const std::vector<std::string>& argv);

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text);

class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// printf into a std::string.
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "12,345"
std::string thousands(double v);

// 32 random bytes in hex: a token key file's content (the plugins' key ring).
std::string random_hex_key();

// Random-looking UUID v4 text from a fast PRNG (raw client's client-request-id).
std::string fast_uuid(uint64_t& state);

}  // namespace bench
