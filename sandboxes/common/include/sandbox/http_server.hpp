// HTTPS (or loopback-only plain HTTP) server: Beast + Asio behind a pimpl so that only
// http_server.cpp pays the Beast/Asio SSL compile cost.
#pragma once

#include "sandbox/http_types.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace sandbox {

struct ServerConfig {
    bool tls = true;
    std::string cert_file;   // PEM leaf certificate presented to clients
    std::string key_file;    // its PEM private key
    std::uint16_t port = 0;  // 0 = let the kernel pick
    int threads = 2;
    std::uint32_t header_limit = 64 * 1024;       // larger headers get a 400 "Request Too Long"
    std::uint64_t body_limit = 32 * 1024 * 1024;  // each vendor's own limit is enforced above this
};

class HttpServer {
public:
    // Binds and listens on 127.0.0.1:port (so port() is known); throws std::runtime_error on failure.
    HttpServer(const ServerConfig& config, RequestHandler& handler);
    // Starts accepting on the I/O threads. Separate from the constructor so the handler can be
    // told the final base URL before any request can reach it.
    void start();
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::uint16_t port() const;
    // Closes the listener and every connection, joins the threads. Idempotent.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sandbox
