// google-sandbox: the Google stand-in as a standalone server (for the demo and manual testing).
#include "google_sandbox/sandbox.hpp"

#include <boost/program_options.hpp>

#include <csignal>
#include <iostream>

namespace po = boost::program_options;

namespace {

// Runs the sandbox until SIGINT or SIGTERM; the exit status for main.
int serve_until_signal(const google_sandbox::Options& opt) {
    // Block the shutdown signals before any thread starts, then wait for them synchronously.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    try {
        google_sandbox::Sandbox sandbox(opt);
        std::cout << "listening on " << sandbox.base_url() << std::endl;  // endl flushes: scripts wait for it
        int sig = 0;
        sigwait(&signals, &sig);
        std::clog << "[google-sandbox] signal " << sig << ", shutting down" << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "google-sandbox: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description desc(
        "google-sandbox: a local stand-in for Google OAuth 2.0 / OpenID Connect and Gmail send.\n"
        "Control API and scenario format: sandboxes/google/README.md\n\nOptions");
    int port = 0;
    int threads = 2;
    std::string scenario, tls_dir, cert;
    desc.add_options()("help,h", "show this help")("port", po::value<int>(&port)->default_value(0),
                                                   "port on 127.0.0.1 (0 = pick one)")(
        "scenario", po::value<std::string>(&scenario), "scenario JSON file (default: scenarios/default.json)")(
        "tls-dir", po::value<std::string>(&tls_dir)->default_value(google_sandbox::default_tls_dir().string()),
        "directory with the generated test PKI")("http", "serve plain HTTP instead of HTTPS (loopback only)")(
        "threads", po::value<int>(&threads)->default_value(2), "I/O threads")(
        "cert", po::value<std::string>(&cert)->default_value("good"),
        "server certificate to present: good, wrong-host or expired")("quiet", "do not log requests");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "google-sandbox: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 64) {
        std::cerr << "google-sandbox: --port must be 0..65535 and --threads 1..64\n";
        return 2;
    }

    google_sandbox::Options opt;
    if (!scenario.empty()) opt.scenario_file = scenario;
    opt.tls_dir = tls_dir;
    opt.tls = !vm.count("http");
    opt.server_cert = cert;
    opt.port = static_cast<std::uint16_t>(port);
    opt.threads = threads;
    opt.log_requests = !vm.count("quiet");
    return serve_until_signal(opt);
}
