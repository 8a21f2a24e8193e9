// Microsoft-shaped error bodies: the identity platform's token-endpoint JSON
// (outlook_plugin/docs/microsoft-behaviour.md §2) and Graph's {"error":{code,message,innerError}}
// (outlook_plugin/docs/microsoft-behaviour.md §6).
#pragma once

#include "common.hpp"

#include <string>

namespace ms_sandbox::detail {

struct RequestContext;

struct AadError {
    std::string error;     // invalid_grant, invalid_client, ...
    int code = 0;          // AADSTS number
    std::string message;   // text after "AADSTSnnnnn: "
    std::string suberror;  // bad_token, consent_required, basic_action, ... (optional)
    int http_status = 0;   // 0 = 401 for invalid_client, 400 otherwise
};

// "AADSTS50173: text\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: 2021-10-29 17:16:31Z"
std::string aad_description(int code, const std::string& message, const RequestContext& ctx);
// "2021-10-29 17:16:31Z"
std::string aad_timestamp(std::int64_t unix_seconds);
HttpResponse aad_json_error(const AadError& e, const RequestContext& ctx);

// Graph error: {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}
HttpResponse graph_error(int status, const std::string& code, const std::string& message, const RequestContext& ctx);
// The throttling body of outlook_plugin/docs/microsoft-behaviour.md §6 (innerError also carries code/status "429").
HttpResponse graph_throttled(const std::string& code, const std::string& message, const std::string& retry_after,
                             const RequestContext& ctx);

HttpResponse json_response(int status, const std::string& body);

}  // namespace ms_sandbox::detail
