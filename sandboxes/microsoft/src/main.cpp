// microsoft-sandbox: the sandbox as a standalone server (for the demo and manual testing).
// The flags and the main loop are sandbox_common's, shared with google-sandbox.
#include "ms_sandbox/sandbox.hpp"

#include <sandbox/command_line.hpp>

int main(int argc, char** argv) {
    const sandbox::Program program{
        "microsoft-sandbox",
        "microsoft-sandbox: a local stand-in for the Microsoft identity platform v2.0 and Microsoft Graph.\n"
        "Control API and scenario format: sandboxes/microsoft/README.md",
        "[ms-sandbox]", ms_sandbox::default_tls_dir().string()};
    return sandbox::serve_main(argc, argv, program, [](const sandbox::CommandLine& cli) {
        ms_sandbox::Options opt;
        if (!cli.scenario.empty()) opt.scenario_file = cli.scenario;
        opt.tls_dir = cli.tls_dir;
        opt.tls = !cli.http;
        opt.server_cert = cli.cert;
        opt.port = cli.port;
        opt.threads = cli.threads;
        opt.log_requests = !cli.quiet;
        auto running = std::make_shared<ms_sandbox::Sandbox>(opt);
        return sandbox::Running{running, running->base_url()};
    });
}
