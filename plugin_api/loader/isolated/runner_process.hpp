// Finding, starting, killing and reaping an ep-provider-runner process (ISOLATION.md).
#pragma once

#include "email_provider/isolation.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ep::loader::isolated {

// Where a runner is looked for, in order, each with what made it a candidate:
// options.runner alone when set, else $EP_PROVIDER_RUNNER, ep-provider-runner next to this
// program, the installed one relative to this program (<bindir>/../libexec/email-provider/, for
// an installed tree that moved or was extracted elsewhere), and the installed one.
struct RunnerCandidate {
    std::filesystem::path path;
    std::string source;  // "isolation.runner", "$EP_PROVIDER_RUNNER", "next to this program",
                         // "installed, relative to this program", "installed"
};
std::vector<RunnerCandidate> runner_candidates(const IsolationOptions& options);
// The first candidate that is an executable file. Throws LoadError naming every place looked.
std::filesystem::path find_runner(const IsolationOptions& options);

// "exited with status 0", "killed by signal 11, SIGSEGV": how a waited-for child ended.
std::string describe_exit(int code, int status);

// One runner process and the host's end of its channel. The process is known by a pidfd, so a
// kill never reaches another process that reused its pid after it was reaped.
class RunnerProcess {
public:
    // socketpair + posix_spawn: the runner gets its end as descriptor 3 and no other
    // descriptor, a scrubbed environment, and the limits as arguments. Throws LoadError.
    static RunnerProcess spawn(const std::filesystem::path& runner, const IsolationOptions& options);

    RunnerProcess(RunnerProcess&& other) noexcept;
    RunnerProcess& operator=(RunnerProcess&&) = delete;
    RunnerProcess(const RunnerProcess&) = delete;
    // Kills and reaps a runner still running, closes the channel.
    ~RunnerProcess();

    int channel() const { return channel_; }
    pid_t pid() const { return pid_; }
    // Readable once the runner has ended (pidfd_open(2)).
    int pidfd() const { return pidfd_; }
    // SIGKILL; harmless once the runner has ended.
    void kill() const;
    // Waits at most `timeout` for the runner to end and reaps it: how it ended, or nullopt
    // while it still runs. Once reaped, answers the same again.
    std::optional<std::string> wait_exit(std::chrono::milliseconds timeout);

private:
    RunnerProcess(pid_t pid, int pidfd, int channel) : pid_(pid), pidfd_(pidfd), channel_(channel) {}

    pid_t pid_;
    int pidfd_;
    int channel_;
    std::optional<std::string> exit_;
};

}  // namespace ep::loader::isolated
