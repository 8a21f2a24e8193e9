// The command line and main loop shared by the stand-ins' binaries (microsoft-sandbox,
// google-sandbox): the same flags, the "listening on URL" line flushed at once, and a clean
// stop (exit 0) on SIGINT or SIGTERM.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sandbox {

struct CommandLine {
    std::uint16_t port = 0;
    int threads = 2;
    std::string scenario;  // empty = the stand-in's default scenario
    std::string tls_dir;
    bool http = false;
    std::string cert = "good";  // good | wrong-host | expired
    bool quiet = false;
};

struct Program {
    std::string name;         // "google-sandbox": prefixes errors
    std::string description;  // the --help text's first lines
    std::string log_tag;      // "[google-sandbox]": prefixes the shutdown log line
    std::string default_tls_dir;
};

// A started stand-in: `holder` keeps it running until the signal.
struct Running {
    std::shared_ptr<void> holder;
    std::string base_url;
};

// Parses argv, starts the stand-in with `start` (which may throw), prints "listening on URL",
// waits for SIGINT/SIGTERM. Returns main's exit status: 0, 1 (could not start), 2 (bad flags).
int serve_main(int argc, char** argv, const Program& program, const std::function<Running(const CommandLine&)>& start);

}  // namespace sandbox
