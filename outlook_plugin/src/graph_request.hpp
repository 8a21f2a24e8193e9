// Requests to Microsoft Graph on behalf of a connected account: the bearer token, the
// caller's other headers, and the configured timeouts, built in one place for the connect
// flow, the connection check and the send engine.
#pragma once

#include "config.hpp"
#include "ep_kit/encoding.hpp"
#include "ep_kit/http_engine.hpp"
#include "uses_kit.hpp"

#include <initializer_list>
#include <string>
#include <string_view>

namespace outlook {

// `path` follows the Graph base (e.g. "/me/sendMail"); the Authorization header comes first,
// then `other_headers` in their order.
inline HttpRequest graph_request(const OutlookConfig& config, std::string_view method, std::string_view path,
                                 std::string_view access_token, std::initializer_list<std::string> other_headers) {
    HttpRequest request;
    request.method = std::string(method);
    request.url = config.graph_base + std::string(path);
    request.headers = {"Authorization: Bearer " + std::string(access_token)};
    request.headers.insert(request.headers.end(), other_headers);
    request.connect_timeout_ms = config.connect_timeout_ms;
    request.timeout_ms = config.request_timeout_ms;
    return request;
}

// GET /me with the fields that name the connected person (parse_profile reads the answer).
inline HttpRequest profile_request(const OutlookConfig& config, std::string_view access_token) {
    return graph_request(config, "GET", "/me?$select=id,displayName,mail,userPrincipalName", access_token,
                         {"Accept: application/json", "client-request-id: " + random_uuid()});
}

}  // namespace outlook
