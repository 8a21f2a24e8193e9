#include "runner_process.hpp"

#include "email_provider/manifest.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

extern char** environ;

namespace ep::loader::isolated {
namespace {

constexpr const char* kRunnerName = "ep-provider-runner";

// pidfd_open(2) and pidfd_send_signal(2) (Linux 5.3 / 5.1) through syscall(2): glibc 2.36's
// <sys/pidfd.h> declares them without C linkage for C++.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool is_executable_file(const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::string system_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// The variables a runner keeps: what locale, time zone, temporary files and the sanitizers need,
// and what the host's configuration adds. Everything else (credentials, database URLs, tokens in
// the host's environment) stays in the host.
bool keeps_variable(std::string_view name, const std::vector<std::string>& pass) {
    static constexpr std::string_view kKept[] = {"PATH", "LANG", "TZ", "TMPDIR"};
    for (std::string_view k : kKept)
        if (name == k) return true;
    if (name.starts_with("LC_")) return true;
    if (name.size() > 11 && name.ends_with("SAN_OPTIONS")) return true;  // ASAN_, TSAN_, UBSAN_, LSAN_...
    for (const std::string& p : pass)
        if (name == p) return true;
    return false;
}

std::vector<std::string> scrubbed_environment(const std::vector<std::string>& pass) {
    std::vector<std::string> kept;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        if (keeps_variable(entry.substr(0, entry.find('=')), pass)) kept.emplace_back(entry);
    }
    return kept;
}

std::vector<std::string> runner_arguments(const std::filesystem::path& runner, const IsolationOptions& options) {
    std::vector<std::string> args{runner.string()};
    if (options.address_space_bytes != 0) {
        args.emplace_back("--address-space-bytes");
        args.push_back(std::to_string(options.address_space_bytes));
    }
    if (options.open_files != 0) {
        args.emplace_back("--open-files");
        args.push_back(std::to_string(options.open_files));
    }
    return args;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (std::string& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

// Spawns with the runner's end of the channel as descriptor 3 and nothing else inherited.
pid_t spawn_with_channel(const std::filesystem::path& runner, int child_end, const IsolationOptions& options) {
    std::vector<std::string> args = runner_arguments(runner, options);
    std::vector<std::string> env = scrubbed_environment(options.pass_environment);
    std::vector<char*> argv = pointers(args), envp = pointers(env);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears FD_CLOEXEC on the copy; closefrom_np (glibc 2.34) closes whatever else the host
    // had open without O_CLOEXEC, so the runner inherits no database or listening socket.
    int rc = posix_spawn_file_actions_adddup2(&actions, child_end, 3);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    pid_t pid = -1;
    if (rc == 0) rc = posix_spawn(&pid, runner.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw LoadError("cannot start the provider runner " + runner.string() + ": " + std::strerror(rc));
    return pid;
}

}  // namespace

std::vector<RunnerCandidate> runner_candidates(const IsolationOptions& options) {
    if (!options.runner.empty()) return {{options.runner, "isolation.runner"}};
    std::vector<RunnerCandidate> candidates;
    if (const char* env = std::getenv("EP_PROVIDER_RUNNER"); env != nullptr && *env != '\0')
        candidates.push_back({env, "$EP_PROVIDER_RUNNER"});
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        candidates.push_back({self.parent_path() / kRunnerName, "next to this program"});
        candidates.push_back(
            {(self.parent_path() / EP_RUNNER_FROM_BINDIR).lexically_normal(), "installed, relative to this program"});
    }
    candidates.push_back({EP_INSTALLED_RUNNER, "installed"});
    return candidates;
}

std::filesystem::path find_runner(const IsolationOptions& options) {
    const std::vector<RunnerCandidate> candidates = runner_candidates(options);
    std::string looked;
    for (const RunnerCandidate& c : candidates) {
        if (is_executable_file(c.path)) return c.path;
        looked += (looked.empty() ? " " : ", ") + c.path.string() + " (" + c.source + ")";
    }
    throw LoadError("no provider runner (ep-provider-runner) found; looked at" + looked);
}

std::string describe_exit(int code, int status) {
    if (code == CLD_EXITED) return "exited with status " + std::to_string(status);
    const char* abbrev = ::sigabbrev_np(status);
    return "killed by signal " + std::to_string(status) + (abbrev ? std::string(", SIG") + abbrev : std::string());
}

RunnerProcess RunnerProcess::spawn(const std::filesystem::path& runner, const IsolationOptions& options) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        throw LoadError(system_error("cannot create the provider runner's channel (socketpair)"));
    int child_end = ends[1];
    // adddup2(3, 3) clears FD_CLOEXEC only where POSIX.1-2024 is implemented (posix_spawn_file_
    // actions_adddup2(3p)); a real dup2 to 3 clears it everywhere, so never hand it 3 itself.
    if (child_end == 3) {
        child_end = ::fcntl(ends[1], F_DUPFD_CLOEXEC, 4);
        ::close(ends[1]);
    }
    pid_t pid = -1;
    try {
        pid = spawn_with_channel(runner, child_end, options);
    } catch (...) {
        ::close(ends[0]);
        ::close(child_end);
        throw;
    }
    ::close(child_end);
    // A runner that stops reading (hung, or SIGSTOPped) must not block a writer past its
    // deadline: a write that cannot finish in time breaks the channel instead (socket(7)).
    const auto limit = std::chrono::duration_cast<std::chrono::microseconds>(options.deadlines.quick);
    const timeval send_timeout{static_cast<time_t>(limit.count() / 1'000'000),
                               static_cast<suseconds_t>(limit.count() % 1'000'000)};
    ::setsockopt(ends[0], SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    int pidfd = open_pidfd(pid);
    if (pidfd < 0) {
        const std::string error = system_error("pidfd_open");
        ::kill(pid, SIGKILL);  // not reaped yet, so the pid is still the runner's
        ::waitpid(pid, nullptr, 0);
        ::close(ends[0]);
        throw LoadError("cannot watch the provider runner: " + error);
    }
    return RunnerProcess(pid, pidfd, ends[0]);
}

RunnerProcess::RunnerProcess(RunnerProcess&& other) noexcept
    : pid_(other.pid_), pidfd_(other.pidfd_), channel_(other.channel_), exit_(std::move(other.exit_)) {
    other.pidfd_ = other.channel_ = -1;
}

RunnerProcess::~RunnerProcess() {
    if (pidfd_ < 0) return;  // moved from
    if (!exit_) {
        kill();
        wait_exit(std::chrono::milliseconds(-1));
    }
    ::close(pidfd_);
    ::close(channel_);
}

void RunnerProcess::kill() const { ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0); }

std::optional<std::string> RunnerProcess::wait_exit(std::chrono::milliseconds timeout) {
    if (exit_) return exit_;
    // A pidfd is readable once its process has ended (pidfd_open(2)).
    pollfd p{pidfd_, POLLIN, 0};
    int n;
    do n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    while (n < 0 && errno == EINTR);
    if (n <= 0) return std::nullopt;
    siginfo_t info{};
    int rc;
    // By pid: the loader is its only reaper, so the pid is the runner's until this call.
    do rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
    while (rc < 0 && errno == EINTR);
    exit_ = rc == 0 ? describe_exit(info.si_code, info.si_status) : system_error("ended (waitid failed)");
    return exit_;
}

}  // namespace ep::loader::isolated
