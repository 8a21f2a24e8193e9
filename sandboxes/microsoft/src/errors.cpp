#include "errors.hpp"

#include "service.hpp"

#include <boost/json.hpp>

#include <ctime>

namespace ms_sandbox::detail {

namespace json = boost::json;

std::string aad_timestamp(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

std::string aad_description(int code, const std::string& message, const RequestContext& ctx) {
    return "AADSTS" + std::to_string(code) + ": " + message + "\r\nTrace ID: " + ctx.request_id +
           "\r\nCorrelation ID: " + ctx.correlation_id + "\r\nTimestamp: " + aad_timestamp(ctx.now);
}

HttpResponse json_response(int status, const std::string& body) {
    HttpResponse r;
    r.status = status;
    r.set_header("Content-Type", "application/json; charset=utf-8");
    r.body = body;
    return r;
}

HttpResponse aad_json_error(const AadError& e, const RequestContext& ctx) {
    json::object o;
    o["error"] = e.error;
    o["error_description"] = aad_description(e.code, e.message, ctx);
    o["error_codes"] = json::array{e.code};
    o["timestamp"] = aad_timestamp(ctx.now);
    o["trace_id"] = ctx.request_id;
    o["correlation_id"] = ctx.correlation_id;
    o["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(e.code);
    if (!e.suberror.empty()) o["suberror"] = e.suberror;
    int status = e.http_status ? e.http_status : (e.error == "invalid_client" ? 401 : 400);
    auto r = json_response(status, json::serialize(o));
    r.set_header("Cache-Control", "no-store, no-cache");
    r.set_header("Pragma", "no-cache");
    return r;
}

namespace {
std::string graph_date(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}
}  // namespace

HttpResponse graph_error(int status, const std::string& code, const std::string& message, const RequestContext& ctx) {
    json::object inner;
    inner["date"] = graph_date(ctx.now);
    inner["request-id"] = ctx.request_id;
    inner["client-request-id"] = ctx.correlation_id;
    json::object err;
    err["code"] = code;
    err["message"] = message;
    err["innerError"] = std::move(inner);
    auto r = json_response(status, json::serialize(json::object{{"error", std::move(err)}}));
    r.set_header("Cache-Control", "private");
    return r;
}

HttpResponse graph_throttled(const std::string& code, const std::string& message, const std::string& retry_after,
                             const RequestContext& ctx) {
    json::object inner;
    inner["code"] = "429";
    inner["date"] = graph_date(ctx.now);
    inner["request-id"] = ctx.request_id;
    inner["client-request-id"] = ctx.correlation_id;
    inner["status"] = "429";
    json::object err;
    err["code"] = code;
    err["message"] = message;
    err["innerError"] = std::move(inner);
    auto r = json_response(429, json::serialize(json::object{{"error", std::move(err)}}));
    r.set_header("Cache-Control", "private");
    if (!retry_after.empty()) r.set_header("Retry-After", retry_after);
    return r;
}

}  // namespace ms_sandbox::detail
