// A real, throw-away PostgreSQL server for tests (never a mock): initdb into a fresh
// directory, listening only on a Unix socket in that directory (listen_addresses=''), torn
// down when its owner goes. initdb refuses to run as root, so as root (CI) the server runs as
// the `postgres` user that Debian's postgresql package creates.
//
// CTest runs every test in its own process, so the suites share one server that a CTest
// fixture starts and stops (pg_test_cluster.sh, EP_TEST_PG_DIR); a test run by hand without
// it gets a server of its own.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace test_support {

class PgCluster {
public:
    // A server of its own (for a test that stops and restarts it). Throws std::runtime_error
    // saying what is missing (scripts/install-deps.sh installs the postgresql package).
    // durable: fsync as in production (benchmarks); tests run without it. `server_options`:
    // more `-c name=value` settings for the server (a benchmark's shared_buffers, say).
    explicit PgCluster(bool durable = false, std::string server_options = {});
    ~PgCluster();
    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;
    // The fixture's server (EP_TEST_PG_DIR), or else one for this process, started on first use.
    static PgCluster& shared();

    // A new, empty database; returns its libpq connection string (no password: trust auth
    // on a socket only this machine's root and postgres can reach).
    std::string create_database();
    std::string conninfo(const std::string& database) const;
    // Stops the server as a crash would (-m immediate) or cleanly, and starts it again.
    void stop(bool immediate);
    void start();
    const std::filesystem::path& directory() const { return dir_; }

private:
    explicit PgCluster(std::filesystem::path running);  // attach to the fixture's server
    void pg_ctl(const std::vector<std::string>& args);

    std::filesystem::path dir_;
    bool owned_ = true;
    bool durable_ = false;
    std::string server_options_;
    int databases_ = 0;
};

}  // namespace test_support
