// All of the plugin's HTTP goes through one libcurl multi handle driven by one I/O thread:
// connections are reused across accounts, HTTP/2 is used where the server offers it, and
// timers (retry-after, backoff) run on the same thread so nothing blocks a host thread.
#pragma once

#include "ep_kit/secret_string.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ep::kit {

struct TlsSettings {
    std::string ca_file;  // extra trust anchors (e.g. the local sandbox CA); empty: system store
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    // Request bodies carry codes, refresh tokens, client secrets: wiped after the transfer.
    SecretString body;
    // Alternatively a shared, non-secret body (a message sent again on retry is not copied).
    std::shared_ptr<const std::string> shared_body;
    long connect_timeout_ms = 10000;
    long timeout_ms = 30000;
    // Response headers to keep (lower-case names). Empty: keep all. Sends keep only the two
    // they read, which spares a map insertion per header on the hot path.
    std::vector<std::string> wanted_headers;
};

// Where a failed transfer stopped: tells "certainly not sent" from "may have been received".
enum class TransferFailure {
    none,           // an HTTP response arrived (any status)
    not_sent,       // failed before the request body went out (DNS, connect, TLS handshake, refused)
    after_sending,  // the whole request went out, then timeout / reset / no response
    cancelled,      // the engine shut down before the request started
};

struct HttpResponse {
    int status = 0;                              // 0 when no response arrived
    std::map<std::string, std::string> headers;  // lower-case names; last value wins
    SecretString body;                           // may carry tokens: wiped when dropped
    TransferFailure failure = TransferFailure::none;
    std::string error;  // libcurl's description when failure != none
    int curl_code = 0;
    int64_t elapsed_ms = 0;

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class HttpEngine {
public:
    using Done = std::function<void(HttpResponse&&)>;

    explicit HttpEngine(TlsSettings tls, long max_connections = 256);
    ~HttpEngine();  // cancels what has not started, waits for the I/O thread
    HttpEngine(const HttpEngine&) = delete;
    HttpEngine& operator=(const HttpEngine&) = delete;

    // Starts a request; `done` runs exactly once, on the I/O thread.
    void submit(HttpRequest request, Done done);

    // Runs `fn` on the I/O thread at or after `when` (steady clock). Cancelled timers (at
    // shutdown) run with `cancelled == true` so owners can release what they hold.
    void schedule(std::chrono::steady_clock::time_point when, std::function<void(bool cancelled)> fn);

    // Convenience for host-thread calls (connect, complete): blocks until the answer.
    // Must not be called on the I/O thread.
    HttpResponse perform(HttpRequest request);

    bool on_io_thread() const;

    // Connections opened so far (for tests and benchmarks of connection reuse).
    int64_t connections_opened() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ep::kit
