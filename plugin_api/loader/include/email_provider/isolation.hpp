// The options of an isolated provider (ISOLATION.md): deadlines per call, the restart and
// quarantine policy, and the runner's limits. Kept apart from provider_loader.hpp so that a
// host's configuration can hold them without pulling in Boost.DLL.
#pragma once

#include <email_provider/ep_abi.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ep::loader {

// How long a call to an isolated provider may take before its runner is killed. A send's
// `send` deadline covers accepting it; `send_completion` covers its callback, after which the
// send is reported indeterminate (the runner is not killed for it).
struct CallDeadlines {
    std::chrono::milliseconds hello{10'000};
    std::chrono::milliseconds quick{10'000};  // get_status, get_sending_limits, begin_connect, send
    std::chrono::milliseconds slow{60'000};   // complete_connect, disconnect, forget_account
    std::chrono::milliseconds check{60'000};  // check_connection
    std::chrono::milliseconds send_completion{15 * 60'000};
    std::chrono::milliseconds shutdown{30'000};
};

// When a crashed runner is started again, and when a provider that keeps crashing is put aside.
struct RestartPolicy {
    std::chrono::milliseconds first_backoff{500};
    std::chrono::milliseconds max_backoff{30'000};            // doubles per crash, up to this
    int quarantine_crashes = 3;                               // this many crashes...
    std::chrono::milliseconds quarantine_window{5 * 60'000};  // ...within this long: quarantined
};

// What happened to a provider's runner, for a host's metrics (ISOLATION.md, "Observing runners").
enum class RunnerEvent {
    crashed,      // a runner stopped unexpectedly (or was killed past a deadline), or failed to start again
    restarted,    // a new runner took over after a crash
    quarantined,  // too many crashes in the window: unavailable until the host replaces the provider
};

// Called on the provider's supervisor thread with no lock of the loader's held. It must return
// quickly (the supervisor also enforces the deadlines) and must not call the provider.
using RunnerObserver = std::function<void(std::string_view provider_id, RunnerEvent event)>;

struct IsolationOptions {
    // The ep-provider-runner program. Empty: $EP_PROVIDER_RUNNER, else ep-provider-runner next
    // to this program, else the installed one (libexec).
    std::filesystem::path runner;
    CallDeadlines deadlines;
    RestartPolicy restart;
    // Limits the runner sets on itself before loading the library (setrlimit); 0 = inherit.
    uint64_t address_space_bytes = 0;  // RLIMIT_AS
    uint64_t open_files = 0;           // RLIMIT_NOFILE
    // Environment variables the runner keeps besides PATH, LANG, LC_*, TZ, TMPDIR and the
    // sanitizers' *SAN_OPTIONS (everything else is scrubbed).
    std::vector<std::string> pass_environment;
    uint16_t host_abi_minor = EP_ABI_VERSION_MINOR;
    RunnerObserver on_runner_event;  // empty: nobody is told
};

}  // namespace ep::loader
