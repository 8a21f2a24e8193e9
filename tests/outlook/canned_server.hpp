// A loopback plain-HTTP server that answers each path with scripted answers: the shapes
// Microsoft sends that the stand-in cannot produce (a WWW-Authenticate claims challenge, a
// token whose `scope` lists extra or URL-encoded permissions, a /me without
// userPrincipalName). It counts and keeps every request, so tests can assert how many
// requests a case cost. One request per connection (it answers `Connection: close`).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace outlook_test {

struct CannedResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct CannedRequest {
    std::string method;
    std::string target;  // path and query
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
};

class CannedServer {
public:
    CannedServer();  // 127.0.0.1, an ephemeral port
    ~CannedServer();
    CannedServer(const CannedServer&) = delete;
    CannedServer& operator=(const CannedServer&) = delete;

    std::string base_url() const;  // http://127.0.0.1:PORT

    // Answers for requests to `path` (the target without its query), in order; the last one
    // repeats; scripting a path again starts its answers and its count afresh. Unscripted
    // paths get 404.
    void script(const std::string& path, std::vector<CannedResponse> answers);
    std::vector<CannedRequest> requests(const std::string& path) const;
    int count(const std::string& path) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace outlook_test
