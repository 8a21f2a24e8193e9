#include "pg_cluster.hpp"

#include "process.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace test_support {
namespace {

// EP_PG_BINDIR comes from CMake (the Debian server's /usr/lib/postgresql/<major>/bin).
std::filesystem::path bindir() {
#ifdef EP_PG_BINDIR
    std::filesystem::path dir = EP_PG_BINDIR;
#else
    std::filesystem::path dir;
#endif
    if (dir.empty() || !std::filesystem::exists(dir / "initdb"))
        throw std::runtime_error(
            "the PostgreSQL server programs (initdb, pg_ctl) were not found when this test was "
            "configured: scripts/install-deps.sh installs the postgresql package; reconfigure after");
    return dir;
}

// As root, the server runs as `postgres`: initdb and postgres refuse root.
std::vector<std::string> as_server_user(std::vector<std::string> argv) {
    if (geteuid() != 0) return argv;
    argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
    return argv;
}

}  // namespace

PgCluster& PgCluster::shared() {
    const char* running = std::getenv("EP_TEST_PG_DIR");
    static PgCluster cluster = running && *running ? PgCluster(std::filesystem::path(running)) : PgCluster();
    return cluster;
}

PgCluster::PgCluster(std::filesystem::path running) : dir_(std::move(running)), owned_(false) {
    if (!std::filesystem::exists(dir_ / "data" / "postmaster.pid"))
        throw std::runtime_error("EP_TEST_PG_DIR names " + dir_.string() + ", where no PostgreSQL test server runs");
}

PgCluster::PgCluster(bool durable, std::string server_options)
    : durable_(durable), server_options_(std::move(server_options)) {
    auto bin = bindir();
    char pattern[] = "/tmp/ep-pg-XXXXXX";
    if (mkdtemp(pattern) == nullptr)
        throw std::runtime_error("cannot create a directory for the PostgreSQL test server");
    dir_ = pattern;
    if (geteuid() == 0) {
        passwd* pw = getpwnam("postgres");
        if (pw == nullptr)
            throw std::runtime_error("running as root, but there is no `postgres` user to run the test server as");
        if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
            throw std::runtime_error("cannot hand " + dir_.string() + " to postgres");
    }
    auto r = run_process(as_server_user({(bin / "initdb").string(), "-D", (dir_ / "data").string(), "-A", "trust", "-U",
                                         "postgres", "-E", "UTF8", "--locale=C", "--no-sync"}));
    if (r.exit_code != 0) throw std::runtime_error("initdb failed: " + r.err);
    start();
}

PgCluster::~PgCluster() {
    if (!owned_) return;
    try {
        stop(true);
    } catch (const std::exception&) {}
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void PgCluster::pg_ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {(bindir() / "pg_ctl").string(), "-D", (dir_ / "data").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(as_server_user(argv));
    if (r.exit_code != 0) throw std::runtime_error("pg_ctl " + args.front() + " failed: " + r.out + r.err);
}

void PgCluster::start() {
    // Durability is the tests' subject only through crashes of the server process, which
    // fsync does not change; without it a database is created in milliseconds.
    std::string durability = durable_ ? "" : " -c fsync=off -c full_page_writes=off";
    pg_ctl(
        {"-o",
         "-k " + dir_.string() + " -c listen_addresses=''" + durability + " -c max_connections=200 " + server_options_,
         "-l", (dir_ / "server.log").string(), "-w", "-t", "60", "start"});
}

void PgCluster::stop(bool immediate) { pg_ctl({"-m", immediate ? "immediate" : "fast", "-w", "stop"}); }

std::string PgCluster::conninfo(const std::string& database) const {
    return "host=" + dir_.string() + " user=postgres dbname=" + database;
}

std::string PgCluster::create_database() {
    std::string name = "test_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
    auto r = run_process({(bindir() / "psql").string(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo("postgres"),
                          "-c", "CREATE DATABASE " + name});
    if (r.exit_code != 0) throw std::runtime_error("cannot create a test database: " + r.err);
    return conninfo(name);
}

}  // namespace test_support
