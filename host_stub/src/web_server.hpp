// A small HTTP/1.1 server for the reference host's settings page (Boost.Beast behind a
// plain interface, so only web_server.cpp pays Beast's compile time).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace host {

struct WebRequest {
    std::string method;
    std::string target;  // path + query, as received
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

class WebServer {
public:
    using Handler = std::function<WebResponse(const WebRequest&)>;

    // Listens on address:port (0 = any free port). Throws std::runtime_error if it cannot.
    WebServer(const std::string& address, uint16_t port, Handler handler, int threads = 2);
    ~WebServer();  // stops and joins
    uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace host
