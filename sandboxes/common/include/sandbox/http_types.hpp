// Plain request/response types shared by the transport (http_server.cpp, the only Beast TU)
// and the application code. Nothing here includes Beast or Asio.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sandbox {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // raw request target, e.g. "/common/oauth2/v2.0/authorize?client_id=..."
    std::string path;    // target before '?', still percent-encoded
    std::string query;   // target after '?', still percent-encoded
    Headers headers;
    std::string body;

    // First value of a header (name compared case-insensitively), or empty.
    std::string_view header(std::string_view name) const;
    bool has_header(std::string_view name) const;
};

// What the transport does besides (or instead of) writing the response normally.
enum class Transport {
    normal,                // write the response, keep the connection if the client allows
    close_after,           // write the response, then close
    drop_before_response,  // close without writing anything
    truncated_body,        // announce the full Content-Length, write only part of the body, close
};

struct HttpResponse {
    int status = 200;
    Headers headers;  // written in this order
    std::string body;
    std::chrono::milliseconds delay{0};  // wait this long (asynchronously) before writing
    Transport transport = Transport::normal;
    // Released when the response has been written or dropped: per-mailbox in-flight tracking
    // must cover the delay and the write, not just the handler.
    std::shared_ptr<void> in_flight;

    void set_header(std::string name, std::string value);
    std::string_view header(std::string_view name) const;
};

// Problems the transport detects before a request can be handed to the application.
enum class MalformedRequest { bad_syntax, header_too_large, body_too_large };

// Implemented by each stand-in's service. Called from the server's I/O threads.
class RequestHandler {
public:
    virtual ~RequestHandler() = default;
    // After the header is read, before the body is: true closes the connection right away
    // (fault "reset_before_body"). `request.body` is empty here.
    virtual bool reset_before_body(const HttpRequest& request) = 0;
    virtual HttpResponse handle(HttpRequest& request) = 0;
    virtual HttpResponse malformed(MalformedRequest kind, const HttpRequest* partial) = 0;
    // One log line per request: method, path (never the query) and status.
    virtual void log_line(std::string_view line) = 0;
};

// ---- helpers over Boost.URL (http_util.cpp) ----

using Params = std::multimap<std::string, std::string>;

// Parses application/x-www-form-urlencoded text or a URL query ('+' decodes to a space).
// Returns nullopt when the text is not a valid query string (bad percent escapes etc.).
std::optional<Params> parse_form(std::string_view encoded);
// First value or nullopt.
std::optional<std::string> param(const Params& params, const std::string& key);
// Percent-decodes a path segment (no '+' rule). Nullopt on bad escapes.
std::optional<std::string> decode_path_segment(std::string_view segment);
// Percent-encodes everything but RFC 3986 unreserved characters (so '+' becomes %2B).
std::string url_encode(std::string_view raw);
// Splits an encoded path into decoded segments; "/a/b%40c" -> {"a", "b@c"}.
std::optional<std::vector<std::string>> split_path(std::string_view path);

// Minimal HTML escaping for the pages.
std::string html_escape(std::string_view raw);

}  // namespace sandbox
