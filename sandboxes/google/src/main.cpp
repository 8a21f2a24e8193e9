// google-sandbox: the Google stand-in as a standalone server (for the demo and manual testing).
// The flags and the main loop are sandbox_common's, shared with microsoft-sandbox.
#include "google_sandbox/sandbox.hpp"

#include <sandbox/command_line.hpp>

int main(int argc, char** argv) {
    const sandbox::Program program{"google-sandbox",
                                   "google-sandbox: a local stand-in for Google OAuth 2.0 / OpenID Connect and Gmail "
                                   "send.\nControl API and scenario format: sandboxes/google/README.md",
                                   "[google-sandbox]", google_sandbox::default_tls_dir().string()};
    return sandbox::serve_main(argc, argv, program, [](const sandbox::CommandLine& cli) {
        google_sandbox::Options opt;
        if (!cli.scenario.empty()) opt.scenario_file = cli.scenario;
        opt.tls_dir = cli.tls_dir;
        opt.tls = !cli.http;
        opt.server_cert = cli.cert;
        opt.port = cli.port;
        opt.threads = cli.threads;
        opt.log_requests = !cli.quiet;
        auto running = std::make_shared<google_sandbox::Sandbox>(opt);
        return sandbox::Running{running, running->base_url()};
    });
}
