#include "service.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <iostream>

namespace google_sandbox::detail {

namespace json = boost::json;

Service::Service(Scenario scenario, bool log_requests)
    : signing_key("accounts.google.sandbox.invalid"),
      kid(sandbox::to_hex(sandbox::sha1(signing_key.certificate_der()))),
      log_requests_(log_requests) {
    state.scenario = std::move(scenario);
    init_gmime();
}

std::int64_t Service::now() const {
    const auto wall =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    return wall.count() + clock_offset_.load();
}

namespace {

// The fault-rule name of the endpoint a path reaches, or "" (control API, unknown paths).
std::string endpoint_of(const std::string& path) {
    if (path.rfind("/o/oauth2/v2/auth", 0) == 0) return "authorize";
    if (path == "/token" || path == "/revoke") return path.substr(1);
    if (path == "/v1/userinfo") return "userinfo";
    if (path == "/.well-known/openid-configuration" || path.rfind("/oauth2/", 0) == 0) return "certs";
    if (path.rfind("/gmail/", 0) == 0 || path.rfind("/upload/gmail/", 0) == 0) return "send";
    return "";
}

// The account a request concerns, where it names one: the Bearer token's owner, the code's or
// refresh token's owner at /token, the login_hint at /authorize.
std::string request_user(Service& svc, const std::string& endpoint, const HttpRequest& request) {
    if (const AccessToken* at = bearer_token(svc, request)) return at->email;
    const auto query = sandbox::parse_form(request.query).value_or(Params{});
    if (endpoint == "authorize") return sandbox::param(query, "login_hint").value_or("");
    const auto form = sandbox::parse_form(request.body).value_or(Params{});
    if (auto code = svc.state.codes.find(sandbox::param(form, "code").value_or("")); code != svc.state.codes.end())
        return code->second.email;
    auto token = sandbox::param(form, "refresh_token");
    if (!token) token = sandbox::param(query, "token");
    if (auto rt = svc.state.refresh_tokens.find(token.value_or("")); rt != svc.state.refresh_tokens.end())
        return rt->second.email;
    return "";
}

HttpResponse fault_status(const std::string& endpoint, int status) {
    if (endpoint == "send") return gmail_error_for_status(status);
    if (endpoint == "authorize")
        return html_response(
            status, "<!DOCTYPE html><div id=\"error-code\">Error " + std::to_string(status) + ": server_error</div>");
    // google-auth-library-python google/oauth2/_client.py (_can_retry) names these errors.
    return json_response(status, json::object{{"error", status >= 500 ? "internal_failure" : "invalid_request"},
                                              {"error_description", "Scripted fault"}});
}

HttpResponse apply_fault(const Fault& fault, const std::string& endpoint, HttpResponse r) {
    switch (fault.action) {
        case FaultAction::status:
            r = fault_status(endpoint, fault.status);
            break;
        case FaultAction::drop_before_response:
            r.transport = sandbox::Transport::drop_before_response;
            break;
        case FaultAction::malformed_json:
            r.status = 200;
            r.set_header("Content-Type", "application/json; charset=utf-8");
            r.body = "{\"id\": \"";
            break;
        case FaultAction::delay:
        case FaultAction::reset_before_body:
            break;
    }
    r.delay = std::chrono::milliseconds(fault.delay_ms);
    return r;
}

}  // namespace

bool Service::reset_before_body(const HttpRequest& request) {
    const std::string endpoint = endpoint_of(request.path);
    if (endpoint.empty()) return false;
    std::lock_guard lock(mutex);
    return state.faults.match(endpoint, request_user(*this, endpoint, request), true).has_value();
}

HttpResponse Service::respond(HttpRequest& request) {
    const std::string endpoint = endpoint_of(request.path);
    std::optional<Fault> fault;
    if (!endpoint.empty()) {
        std::lock_guard lock(mutex);
        fault = state.faults.match(endpoint, request_user(*this, endpoint, request), false);
    }
    if (!fault) return route(request);
    return apply_fault(*fault, endpoint, fault->process_first ? route(request) : HttpResponse{});
}

HttpResponse Service::handle(HttpRequest& request) {
    HttpResponse r = respond(request);
    if (log_requests_) log_line(request.method + " " + request.path + " " + std::to_string(r.status));
    return r;
}

HttpResponse Service::route(HttpRequest& request) {
    const auto segments = sandbox::split_path(request.path).value_or(std::vector<std::string>{});
    const auto& p = request.path;
    if (p.rfind("/_sandbox/", 0) == 0) {
        boost::system::error_code ec;
        const json::value body = request.body.empty() ? json::value(nullptr) : json::parse(request.body, ec);
        if (ec) return json_response(400, json::object{{"error", "the body is not JSON"}});
        auto [status, answer] = control(request.method, request.target, body);
        return json_response(status, answer);
    }
    std::lock_guard lock(mutex);
    if (p == "/.well-known/openid-configuration") return handle_discovery(*this);
    if (p == "/oauth2/v3/certs" || p == "/oauth2/v1/certs") return handle_certs(*this, p == "/oauth2/v1/certs");
    if (p == "/o/oauth2/v2/auth") return handle_authorize(*this, request);
    if (p == "/o/oauth2/v2/auth/chooser" && request.method == "POST") return handle_chooser_post(*this, request);
    if (p == "/o/oauth2/v2/auth/consent" && request.method == "POST") return handle_consent_post(*this, request);
    if (p == "/token") return handle_token(*this, request);
    if (p == "/revoke") return handle_revoke(*this, request);
    if (p == "/v1/userinfo") return handle_userinfo(*this, request);
    // /gmail/v1/users/{userId}/messages/send and /upload/gmail/v1/users/{userId}/messages/send
    const bool upload = !segments.empty() && segments[0] == "upload";
    const std::size_t at = upload ? 1 : 0;
    if (segments.size() == at + 6 && segments[at] == "gmail" && segments[at + 1] == "v1" &&
        segments[at + 2] == "users" && segments[at + 4] == "messages" && segments[at + 5] == "send")
        return handle_send(*this, request, segments[at + 3], upload);
    return html_response(404, "<!DOCTYPE html><title>Error 404 (Not Found)</title><p>404. That's an error.</p>");
}

HttpResponse Service::malformed(sandbox::MalformedRequest kind, const HttpRequest*) {
    if (kind == sandbox::MalformedRequest::body_too_large)
        return html_response(413, "<!DOCTYPE html><title>Error 413 (Request Entity Too Large)</title>");
    return html_response(400, "<!DOCTYPE html><title>Error 400 (Bad Request)</title>");
}

void Service::log_line(std::string_view line) {
    static std::mutex log_mutex;
    std::lock_guard lock(log_mutex);
    std::clog << "[google-sandbox] " << line << std::endl;
}

// ---- shared helpers ----

HttpResponse json_response(int status, const json::value& body) {
    HttpResponse r;
    r.status = status;
    r.set_header("Content-Type", "application/json; charset=utf-8");
    r.set_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate");
    r.body = json::serialize(body);
    return r;
}

HttpResponse html_response(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.set_header("Content-Type", "text/html; charset=utf-8");
    r.set_header("Cache-Control", "no-store");
    r.set_header("X-Frame-Options", "DENY");
    r.body = std::move(body);
    return r;
}

const AccessToken* bearer_token(Service& svc, const HttpRequest& request) {
    const std::string_view auth = request.header("authorization");
    if (auth.substr(0, 7) != "Bearer ") return nullptr;
    auto it = svc.state.access_tokens.find(std::string(auth.substr(7)));
    if (it == svc.state.access_tokens.end() || it->second.revoked || it->second.expires <= svc.now()) return nullptr;
    return &it->second;
}

// The short sign-in scopes come back as URLs (https://developers.google.com/identity/protocols/
// oauth2/web-server, "scope" in the token response; davido/gerrit-oauth-provider#141).
std::string canonical_scope(std::string_view scope) {
    if (scope == "email") return "https://www.googleapis.com/auth/userinfo.email";
    if (scope == "profile") return "https://www.googleapis.com/auth/userinfo.profile";
    return std::string(scope);
}

bool is_sign_in_scope(std::string_view canonical) {
    return canonical == "openid" || canonical == "https://www.googleapis.com/auth/userinfo.email" ||
           canonical == "https://www.googleapis.com/auth/userinfo.profile";
}

std::string join_scopes(const ScopeList& scopes) {
    std::string out;
    for (const auto& s : scopes) out += (out.empty() ? "" : " ") + s;
    return out;
}

const char* dead_cause_name(DeadCause cause) {
    switch (cause) {
        case DeadCause::revoked_by_user:
            return "revoked_by_user";
        case DeadCause::revoked_by_app:
            return "revoked_by_app";
        case DeadCause::password_change:
            return "password_change";
        case DeadCause::unused_six_months:
            return "unused_six_months";
        case DeadCause::testing_expiry:
            return "testing_expiry";
        case DeadCause::token_limit:
            return "token_limit";
    }
    return "unknown";
}

}  // namespace google_sandbox::detail
