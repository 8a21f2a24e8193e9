// A small HTTP/1.1 server for the reference host's settings page (Boost.Beast behind a
// plain interface, so only web_server.cpp pays Beast's compile time).
//
// Two kinds of threads: I/O threads only accept, read and write; the handler runs on a
// separate pool, because a handler may wait on a provider (a callback exchanging a code at
// the provider's token endpoint) and a waiting I/O thread would freeze the page for everyone.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace host {

struct WebRequest {
    std::string method;
    std::string target;                          // path + query, as received
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct WebResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct WebServerOptions {
    int io_threads = 2;
    int handler_threads = 8;  // how many requests may wait on providers at once
    // Connections beyond this are closed as soon as they are accepted, so that idle
    // connections cannot take every file descriptor the process has.
    std::size_t max_connections = 512;
    std::function<void(const std::string&)> warn;  // accept failures, refused connections
    // Called on an I/O thread every heartbeat_interval (when both are set), from the event loop
    // that accepts and serves connections: a sign of life for a watchdog. Must return quickly.
    std::chrono::microseconds heartbeat_interval{0};
    std::function<void()> heartbeat;
};

class WebServer {
public:
    using Handler = std::function<WebResponse(const WebRequest&)>;

    // Listens on address:port (0 = any free port). Throws std::runtime_error if it cannot.
    WebServer(const std::string& address, uint16_t port, Handler handler, WebServerOptions options = {});
    ~WebServer();  // stops and joins
    uint16_t port() const;
    std::size_t open_connections() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace host
