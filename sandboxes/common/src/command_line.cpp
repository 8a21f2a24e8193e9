#include "sandbox/command_line.hpp"

#include <boost/program_options.hpp>

#include <csignal>
#include <iostream>
#include <optional>

namespace sandbox {

namespace po = boost::program_options;

namespace {

// Runs the stand-in until SIGINT or SIGTERM; the exit status for main.
int serve_until_signal(const Program& program, const CommandLine& cli,
                       const std::function<Running(const CommandLine&)>& start) {
    // Block the shutdown signals before any thread starts, then wait for them synchronously.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    try {
        const Running running = start(cli);
        std::cout << "listening on " << running.base_url << std::endl;  // endl flushes: scripts wait for it
        int sig = 0;
        sigwait(&signals, &sig);
        std::clog << program.log_tag << " signal " << sig << ", shutting down" << std::endl;
    } catch (const std::exception& e) {
        std::cerr << program.name << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int serve_main(int argc, char** argv, const Program& program, const std::function<Running(const CommandLine&)>& start) {
    po::options_description desc(program.description + "\n\nOptions");
    int port = 0;
    CommandLine cli;
    desc.add_options()("help,h", "show this help")("port", po::value<int>(&port)->default_value(0),
                                                   "port on 127.0.0.1 (0 = pick one)")(
        "scenario", po::value<std::string>(&cli.scenario), "scenario JSON file (default: scenarios/default.json)")(
        "tls-dir", po::value<std::string>(&cli.tls_dir)->default_value(program.default_tls_dir),
        "directory with the generated test PKI")("http", "serve plain HTTP instead of HTTPS (loopback only)")(
        "threads", po::value<int>(&cli.threads)->default_value(2), "I/O threads")(
        "cert", po::value<std::string>(&cli.cert)->default_value("good"),
        "server certificate to present: good, wrong-host or expired")("quiet", "do not log requests");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << program.name << ": " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    if (port < 0 || port > 65535 || cli.threads < 1 || cli.threads > 64) {
        std::cerr << program.name << ": --port must be 0..65535 and --threads 1..64\n";
        return 2;
    }
    cli.port = static_cast<std::uint16_t>(port);
    cli.http = vm.count("http") > 0;
    cli.quiet = vm.count("quiet") > 0;
    return serve_until_signal(program, cli, start);
}

}  // namespace sandbox
