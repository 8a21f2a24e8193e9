// serve (the settings page and the outbox until a signal), its pid file, and reload.
#include "cli/cli_support.hpp"

#include "core/host_util.hpp"
#include "core/service_manager.hpp"
#include "web/web_app.hpp"
#include "web/web_server.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

namespace cli {
namespace {

namespace json = boost::json;
using host::printable;

// Opens --pid-file without following a symbolic link and makes sure it is a regular file, so
// that neither serve nor reload works on a file someone else points it at.
int open_pid_file(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ELOOP)
        throw std::runtime_error("--pid-file " + path + ": is a symbolic link; give the file itself");
    if (fd < 0)
        throw std::runtime_error("--pid-file " + path + ": cannot be " + ((flags & O_CREAT) ? "opened" : "read") +
                                 ": " + std::strerror(errno) +
                                 ((flags & O_CREAT) ? "" : " (is serve running with it?)"));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error("--pid-file " + path + ": is not a regular file");
    }
    return fd;
}

// serve's pid file: the running serve holds a POSIX write lock on it for its whole life, and
// `reload` asks the kernel which process holds that lock (F_GETLK), so it signals only a live
// serve, never a pid that the file names (a new serve locks a stale file before it rewrites it).
// A process loses its POSIX locks when it closes any fd of the file: this is its only one.
class PidFile {
public:
    explicit PidFile(const std::string& path) : path_(path) {
        fd_ = open_pid_file(path, O_RDWR | O_CREAT);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
        if (::fcntl(fd_, F_SETLK, &lock) != 0) {
            ::close(fd_);
            throw std::runtime_error("--pid-file " + path + ": another serve holds it");
        }
        // Informational only: reload trusts the lock holder, not this content.
        std::string pid = std::to_string(getpid()) + "\n";
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            ::close(fd_);
            throw std::runtime_error("--pid-file " + path + ": cannot be written: " + std::strerror(errno));
        }
    }
    ~PidFile() {
        ::unlink(path_.c_str());
        ::close(fd_);
    }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
    int fd_ = -1;
};

// What `systemctl status` shows while serve runs.
std::string serving_status(const host::HostRuntime& rt, const std::string& page_url) {
    std::size_t loaded = 0, enabled = 0;
    for (const auto& e : rt.providers->entries()) {
        enabled += e.enabled ? 1 : 0;
        loaded += e.enabled && e.available() ? 1 : 0;
    }
    return "Serving " + page_url + "; " + std::to_string(loaded) + " of " + std::to_string(enabled) +
           " enabled providers loaded";
}

// Until SIGINT or SIGTERM; SIGHUP reloads the config and manifests (host_stub reload), with
// the service manager told that a reload is under way until it has ended, refused or not.
int wait_for_stop(host::HostRuntime& rt, const std::string& page_url) {
    sigset_t signals = serve_signals();
    int received = 0;
    while (sigwait(&signals, &received) == 0 && received == SIGHUP) {
        host::service_manager::reloading();
        try {
            rt.reload();
        } catch (const std::exception& e) {
            rt.logger.log(EP_LOG_ERROR, "host",
                          std::string("reload refused, the providers are unchanged: ") + e.what());
        }
        host::service_manager::ready(serving_status(rt, page_url));
    }
    host::service_manager::stopping();
    return received;
}

// /metrics on the config's metrics.listen, or nothing when the config has no "metrics" block.
std::unique_ptr<host::MetricsEndpoint> start_metrics(host::HostRuntime& rt) {
    const std::string& listen = rt.config.metrics.listen;
    if (listen.empty()) return nullptr;
    auto endpoint = rt.metrics->serve(listen);
    const std::string host = listen.substr(0, listen.rfind(':'));
    rt.logger.log(EP_LOG_INFO, "metrics",
                  "serving http://" + host + ":" + std::to_string(endpoint->port()) + "/metrics");
    return endpoint;
}

}  // namespace

sigset_t serve_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    return signals;
}

// Asks the serve that holds --pid-file to reload (SIGHUP). Only a process of the same user
// (or root) may signal it: there is no remote trigger. The config is read and its providers
// loaded here first, so a broken config is refused before the running serve is disturbed.
int cmd_reload(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("reload");
    desc.add_options()("pid-file", po::value<std::string>()->required(), "the file `serve --pid-file` writes");
    auto vm = parse(args, desc);
    for (const auto& e : rt.providers->entries())
        if (!e.available() && e.enabled) std::cerr << "host_stub: reload: warning: " << printable(e.error) << "\n";
    std::string path = vm["pid-file"].as<std::string>();
    int fd = open_pid_file(path, O_RDONLY);
    // The kernel names the process that holds serve's write lock: a read lock would conflict.
    struct flock lock {};
    lock.l_type = F_RDLCK;
    lock.l_whence = SEEK_SET;
    int rc = ::fcntl(fd, F_GETLK, &lock);
    int error = errno;
    ::close(fd);
    if (rc != 0) throw std::runtime_error("--pid-file " + path + ": cannot query its lock: " + std::strerror(error));
    if (lock.l_type == F_UNLCK)
        throw std::runtime_error("--pid-file " + path + ": no serve holds it (a stale file): nothing to reload");
    // 0 when the holder is in another pid namespace, -1 for an open file description lock
    // (not serve's): there is no pid here to signal.
    pid_t pid = lock.l_pid;
    if (pid <= 0)
        throw std::runtime_error(
            "--pid-file " + path +
            ": its lock holder has no process id visible here (another pid namespace, or not a serve)");
    if (::kill(pid, SIGHUP) != 0)
        throw std::runtime_error("cannot signal serve (pid " + std::to_string(pid) + "): " + std::strerror(errno));
    print(o, json::serialize(json::object{{"reload_requested", pid}}),
          "asked serve (pid " + std::to_string(pid) + ") to reload " + rt.config.file.string() +
              "; its log says what changed");
    return kOk;
}

// Runs the settings page and the outbox until SIGINT or SIGTERM (blocked by run_command
// before any thread started, so that this thread alone receives them).
int cmd_serve(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("serve");
    desc.add_options()("port", po::value<int>(), "listen port (overrides web.port; 0 = any free port)")(
        "pid-file", po::value<std::string>(), "where `reload` finds this process");
    auto vm = parse(args, desc);
    std::optional<PidFile> pid_file;
    if (vm.count("pid-file")) pid_file.emplace(vm["pid-file"].as<std::string>());
    uint16_t port = vm.count("port") ? static_cast<uint16_t>(vm["port"].as<int>()) : rt.config.web.port;
    // Before anything starts, so that an address in use stops serve at once, naming it.
    std::unique_ptr<host::MetricsEndpoint> metrics = start_metrics(rt);
    rt.start_outbox();
    // The page needs its public address, which needs the port the server got: a request that
    // arrives before the page exists (possible with a fixed port) is told to retry.
    std::unique_ptr<host::WebApp> app;
    std::atomic<host::WebApp*> ready{nullptr};
    host::WebServerOptions server_options;
    server_options.max_connections = rt.config.web.max_connections;
    server_options.warn = [&rt](const std::string& text) { rt.logger.log(EP_LOG_WARN, "web", text); };
    // The watchdog hears from the page's event loop, so a page that stopped serving gets the
    // service restarted (systemd.service(5), WatchdogSec=).
    if (auto interval = host::service_manager::watchdog_ping_interval()) {
        server_options.heartbeat_interval = *interval;
        server_options.heartbeat = host::service_manager::watchdog;
    }
    host::WebServer server(
        rt.config.web.listen_address, port,
        [&ready](const host::WebRequest& r) {
            if (host::WebApp* a = ready.load(std::memory_order_acquire)) return a->handle(r);
            return host::WebResponse{
                503, {{"Retry-After", "1"}, {"Content-Type", "text/plain"}}, "Starting; try again.\n"};
        },
        std::move(server_options));
    const std::string& listen = rt.config.web.listen_address;
    std::string public_url = rt.config.web.public_url.empty()
                                 ? "http://" + (listen.find(':') != std::string::npos ? "[" + listen + "]" : listen) +
                                       ":" + std::to_string(server.port())
                                 : rt.config.web.public_url;
    app = std::make_unique<host::WebApp>(rt, public_url, server.port());
    ready.store(app.get(), std::memory_order_release);
    const std::string page_url = public_url + "/settings/communication";
    if (o.json) {
        json::object started{{"url", page_url}, {"port", server.port()}};
        if (metrics) started["metrics_port"] = metrics->port();
        std::cout << json::serialize(started) << std::endl;
    } else {
        std::cout << "Settings page: " << page_url << std::endl;
    }
    host::service_manager::ready(serving_status(rt, page_url));
    int received = wait_for_stop(rt, page_url);
    rt.logger.log(EP_LOG_INFO, "host", std::string("stopping (") + (received == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    return kOk;
}

}  // namespace cli
