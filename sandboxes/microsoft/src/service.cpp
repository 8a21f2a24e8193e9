#include "service.hpp"

#include "common.hpp"
#include "errors.hpp"
#include "html_pages.hpp"
#include "identity.hpp"
#include "mime_message.hpp"
#include "stateless_tokens.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>

namespace ms_sandbox::detail {

namespace json = boost::json;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

namespace {

std::string http_date(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

bool is_identity(Endpoint e) {
    return e == Endpoint::authorize || e == Endpoint::login_pages || e == Endpoint::token ||
           e == Endpoint::adminconsent || e == Endpoint::discovery;
}

bool is_graph(const Route& r) {
    return r.endpoint == Endpoint::me || r.endpoint == Endpoint::send_mail ||
           (!r.segments.empty() && (r.segments[0] == "v1.0" || r.segments[0] == "beta"));
}

// A syntactically broken JSON document that still starts like the real answer.
std::string broken_json(Endpoint e) {
    if (e == Endpoint::token)
        return R"({"token_type":"Bearer","scope":"https://graph.microsoft.com/Mail.Send","expires_in":35)";
    if (e == Endpoint::me)
        return R"({"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","displayName":"Ad)";
    return R"({"error":{"code":"Unkno)";
}

std::string graph_code_for_status(int status) {
    switch (status) {
        case 429:
            return "TooManyRequests";
        case 500:
            return "generalException";
        case 502:
            return "BadGateway";
        case 503:
            return "serviceNotAvailable";
        case 504:
            return "GatewayTimeout";
        case 401:
            return "InvalidAuthenticationToken";
        case 403:
            return "ErrorAccessDenied";
        case 404:
            return "ResourceNotFound";
        default:
            return status >= 500 ? "UnknownError" : "BadRequest";
    }
}

std::string graph_message_for_status(int status) {
    switch (status) {
        case 429:
            return "Please retry again later.";
        case 500:
            return "General exception while processing.";
        case 502:
            return "Bad gateway.";
        case 503:
            return "Service unavailable.";
        case 504:
            return "The request timed out.";
        default:
            return "The request failed.";
    }
}

}  // namespace

Service::Service(Scenario scenario, LogSink log) : stateless_key_(detail::stateless_key()), log_(std::move(log)) {
    state.scenario = std::move(scenario);
    (void)signing_key();  // generate the token key before the first request
    init_gmime();
}

std::int64_t Service::now_ms() const {
    const auto wall =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return wall + clock_offset_ms_.load();
}

std::int64_t Service::now() const { return now_ms() / 1000; }

void Service::set_clock(std::int64_t unix_seconds) {
    const auto wall =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    clock_offset_ms_ = unix_seconds * 1000 - wall;
}

void Service::log_line(std::string_view line) {
    if (!log_) return;
    std::lock_guard lock(log_mutex_);
    log_(line);
}

RequestContext Service::make_context(const HttpRequest& request) const {
    RequestContext ctx;
    ctx.request_id = random_guid();
    ctx.client_request_id = std::string(request.header("client-request-id"));
    // MSAL sends it as a query parameter of the token URL (outlook_plugin/docs/microsoft-behaviour.md §9).
    if (ctx.client_request_id.empty())
        if (auto query = parse_form(request.query))
            ctx.client_request_id = param(*query, "client-request-id").value_or("");
    ctx.correlation_id = ctx.client_request_id.empty() ? ctx.request_id : ctx.client_request_id;
    ctx.now = now();
    return ctx;
}

Route Service::classify(const HttpRequest& request) const {
    Route r;
    r.segments = split_path(request.path).value_or(std::vector<std::string>{});
    const auto& s = r.segments;
    auto at = [&](std::size_t i, std::string_view v) { return s.size() > i && iequals(s[i], v); };
    if (at(0, "_sandbox")) {
        r.endpoint = Endpoint::control;
    } else if (at(0, "v1.0") && at(1, "me") && s.size() == 2) {
        r.endpoint = Endpoint::me;
    } else if (at(0, "v1.0") && at(1, "me") && at(2, "sendMail") && s.size() == 3) {
        r.endpoint = Endpoint::send_mail;
    } else if (s.size() >= 2) {
        r.tenant = s[0];
        if (s.size() == 4 && at(1, "oauth2") && at(2, "v2.0") && at(3, "authorize"))
            r.endpoint = Endpoint::authorize;
        else if (s.size() == 4 && at(1, "oauth2") && at(2, "v2.0") && at(3, "token"))
            r.endpoint = Endpoint::token;
        else if ((s.size() == 3 && at(1, "v2.0") && at(2, "adminconsent")) || (s.size() == 2 && at(1, "adminconsent")))
            r.endpoint = Endpoint::adminconsent;
        else if ((s.size() == 4 && at(1, "v2.0") && at(2, ".well-known") && at(3, "openid-configuration")) ||
                 (s.size() == 4 && at(1, "discovery") && at(2, "v2.0") && at(3, "keys")) ||
                 (s.size() == 3 && at(1, "discovery") && at(2, "instance")))
            r.endpoint = Endpoint::discovery;
        else if ((s.size() == 2 && at(1, "login")) || (s.size() == 3 && at(1, "Consent") && at(2, "Set")) ||
                 (s.size() == 3 && at(1, "ConsentApproval") && at(2, "Request")) ||
                 (s.size() == 4 && at(1, "oauth2") && at(2, "v2.0") && at(3, "return")) ||
                 (s.size() == 4 && at(1, "oauth2") && at(2, "v2.0") && at(3, "logout")) ||
                 (s.size() == 3 && at(1, "adminconsent") && at(2, "Set")))
            r.endpoint = Endpoint::login_pages;
    }
    return r;
}

// The user a fault rule's "user" filter is compared with: from the bearer token for Graph,
// from the code / refresh token for the token endpoint, from login_hint for authorize.
std::string Service::fault_user(const Route& route, const HttpRequest& request, std::string* grant_type) {
    if (route.endpoint == Endpoint::me || route.endpoint == Endpoint::send_mail) {
        std::string_view auth = request.header("authorization");
        if (auth.size() > 7 && iequals(auth.substr(0, 7), "bearer ")) {
            auto it = state.access_tokens.find(std::string(auth.substr(7)));
            if (it != state.access_tokens.end()) return it->second.upn;
            if (auto t = verify_stateless(stateless_key_, auth.substr(7)); t && t->kind == StatelessToken::Kind::access)
                return stateless_upn(*this, *t).value_or("");
        }
        return {};
    }
    if (route.endpoint == Endpoint::token) {
        auto form = parse_form(request.body);
        if (!form) return {};
        *grant_type = param(*form, "grant_type").value_or("");
        if (auto code = param(*form, "code")) {
            auto it = state.codes.find(*code);
            if (it != state.codes.end()) return it->second.upn;
        }
        if (auto rt = param(*form, "refresh_token")) {
            auto it = state.refresh_tokens.find(*rt);
            if (it != state.refresh_tokens.end()) return it->second.upn;
            if (auto t = verify_stateless(stateless_key_, *rt); t && t->kind == StatelessToken::Kind::refresh)
                return stateless_upn(*this, *t).value_or("");
        }
        return {};
    }
    if (route.endpoint == Endpoint::authorize) {
        if (auto q = parse_form(request.query)) return param(*q, "login_hint").value_or("");
    }
    return {};
}

bool Service::reset_before_body(const HttpRequest& request) {
    Route route = classify(request);
    std::lock_guard lock(mutex);
    std::string grant;
    std::string user = route.endpoint == Endpoint::token ? "" : fault_user(route, request, &grant);
    auto fault = state.faults.match(route.endpoint, user, grant, /*header_phase=*/true);
    if (!fault) return false;
    log_line(request.method + " " + request.path + " -> reset before body (fault #" + std::to_string(fault->id) + ")");
    return true;
}

namespace {

HttpResponse fault_status_response(const FaultRule& f, const Route& route, const RequestContext& ctx, int status) {
    HttpResponse res;
    if (is_graph(route)) {
        const std::string code = f.error_code.empty() ? graph_code_for_status(status) : f.error_code;
        const std::string message = f.message.empty() ? graph_message_for_status(status) : f.message;
        res = status == 429 ? graph_throttled(code, message, f.retry_after.value_or(""), ctx)
                            : graph_error(status, code, message, ctx);
    } else if (route.endpoint == Endpoint::token || route.endpoint == Endpoint::discovery) {
        AadError e;
        e.error = (status == 500 || status == 502) ? "server_error"
                  : status >= 429                  ? "temporarily_unavailable"
                                                   : "invalid_request";
        e.code = f.error_code.empty() ? 90033 : std::atoi(f.error_code.c_str());
        e.message = f.message.empty() ? "A transient error has occurred. Please try again." : f.message;
        e.http_status = status;
        res = aad_json_error(e, ctx);
    } else {
        const int code = f.error_code.empty() ? 90033 : std::atoi(f.error_code.c_str());
        res = render_error_page(
            code, f.message.empty() ? "A transient error has occurred. Please try again." : f.message, ctx);
        res.status = status;
    }
    if (f.retry_after) res.set_header("Retry-After", *f.retry_after);
    return res;
}

void pad_json(HttpResponse& res, std::size_t bytes) {
    std::string padding(bytes, 'A');
    json::value v;
    boost::system::error_code ec;
    if (!res.body.empty()) v = json::parse(res.body, ec);
    if (ec || !v.is_object()) v = json::object{};
    v.as_object()["x_sandbox_padding"] = std::move(padding);
    res.body = json::serialize(v);
    res.set_header("Content-Type", "application/json; charset=utf-8");
}

}  // namespace

// /_sandbox/...: the control API, answered as JSON.
HttpResponse Service::answer_control(const HttpRequest& request) {
    {
        std::lock_guard lock(mutex);
        ++state.requests_by_endpoint["control"];
    }
    json::value body;
    boost::system::error_code ec;
    if (!request.body.empty()) body = json::parse(request.body, ec);
    if (ec) return json_response(400, json::serialize(json::object{{"error", "request body is not valid JSON"}}));
    auto result = control(request.method, request.target, body);
    return json_response(result.status, json::serialize(result.body));
}

// A fault that takes the place of the real answer (the request is not processed, except
// where the fault only changes what the answer carries).
HttpResponse Service::answer_with_fault(const FaultRule& fault, const Route& route, HttpRequest& request,
                                        RequestContext& ctx) {
    HttpResponse res;
    switch (fault.action) {
        case FaultAction::drop_before_response:
            res.transport = Transport::drop_before_response;
            break;
        case FaultAction::access_denied:
            if (is_graph(route)) {
                res = graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", ctx);
            } else {
                res = dispatch(route, request, ctx);
                if (route.endpoint == Endpoint::token && res.status == 200) strip_mail_send(*this, res);
            }
            break;
        case FaultAction::redirect_error:
            res = authorize_fault_redirect(*this, route, request, ctx, fault.redirect_error,
                                           fault.error_code.empty() ? 90033 : std::atoi(fault.error_code.c_str()),
                                           fault.message);
            break;
        case FaultAction::malformed_json:
            res = json_response(route.endpoint == Endpoint::send_mail ? 202 : 200, broken_json(route.endpoint));
            break;
        case FaultAction::huge_body:
            res = json_response(route.endpoint == Endpoint::send_mail ? 202 : 200, "{}");
            pad_json(res, fault.huge_body_bytes);
            break;
        case FaultAction::truncated_body:
            res = json_response(200, broken_json(route.endpoint));
            res.transport = Transport::truncated_body;
            break;
        case FaultAction::delay:
            res = dispatch(route, request, ctx);
            break;
        default:
            res = fault_status_response(fault, route, ctx, fault.status ? fault.status : 503);
    }
    return res;
}

// A process_first fault, applied to the real answer after the request has been processed.
void Service::apply_fault_after(const FaultRule& fault, const Route& route, const RequestContext& ctx,
                                HttpResponse& res) {
    const bool ok = res.status >= 200 && res.status < 300;
    auto keep = std::move(res.in_flight);  // released by the transport, not under `mutex`
    switch (fault.action) {
        case FaultAction::status:
        case FaultAction::status_after_record:
            if (ok) res = fault_status_response(fault, route, ctx, fault.status ? fault.status : 504);
            break;
        case FaultAction::drop_before_response:
            res.transport = Transport::drop_before_response;
            break;
        case FaultAction::malformed_json:
            if (ok) {
                res.body = broken_json(route.endpoint);
                res.set_header("Content-Type", "application/json; charset=utf-8");
            }
            break;
        case FaultAction::huge_body:
            if (ok) pad_json(res, fault.huge_body_bytes);
            break;
        case FaultAction::truncated_body:
            if (res.body.empty()) res.body = "{}";
            res.transport = Transport::truncated_body;
            break;
        case FaultAction::access_denied:
            if (route.endpoint == Endpoint::token && ok)
                strip_mail_send(*this, res);
            else if (is_graph(route))
                res = graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", ctx);
            break;
        default:
            break;
    }
    res.in_flight = std::move(keep);
}

HttpResponse Service::handle(HttpRequest& request) {
    RequestContext ctx = make_context(request);
    const Route route = classify(request);
    HttpResponse res;
    std::optional<FaultRule> fault;

    if (route.endpoint == Endpoint::control) {
        res = answer_control(request);
    } else {
        std::lock_guard lock(mutex);
        ++state.requests_by_endpoint[endpoint_name(route.endpoint)];
        std::string grant;
        const std::string user = fault_user(route, request, &grant);
        if (route.endpoint == Endpoint::token && request.method == "POST") {
            ++state.token_requests_by_grant[grant];
            if (!user.empty()) ++state.token_requests_by_user[lower(user)][grant];
        }
        fault = state.faults.match(route.endpoint, user, grant, false);

        if (fault && !fault->process_first) {
            res = answer_with_fault(*fault, route, request, ctx);
        } else {
            res = dispatch(route, request, ctx);
            if (fault) apply_fault_after(*fault, route, ctx, res);
        }
        if (fault && fault->delay_ms > 0) res.delay = std::chrono::milliseconds(fault->delay_ms);
    }

    finish(route, request, ctx, res);
    std::string line = request.method + " " + request.path + " -> ";
    line += res.transport == Transport::drop_before_response ? std::string("dropped") : std::to_string(res.status);
    if (fault) line += " (fault #" + std::to_string(fault->id) + ")";
    log_line(line);
    return res;
}

HttpResponse Service::dispatch(const Route& route, HttpRequest& request, RequestContext& ctx) {
    if (is_identity(route.endpoint)) return handle_identity(*this, route, request, ctx);
    if (is_graph(route)) return handle_graph(*this, route, request, ctx);
    HttpResponse res;
    res.status = 404;
    res.set_header("Content-Type", "text/html");
    res.body =
        "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body>"
        "<h2>404 - File or directory not found.</h2><h3>The resource you are looking for might have "
        "been removed, had its name changed, or is temporarily unavailable.</h3></body></html>";
    return res;
}

void Service::finish(const Route& route, const HttpRequest& request, const RequestContext& ctx, HttpResponse& res) {
    res.set_header("Date", http_date(ctx.now));
    if (is_graph(route)) {
        res.set_header("request-id", ctx.request_id);
        res.set_header("client-request-id", ctx.correlation_id);
        res.set_header(
            "x-ms-ags-diagnostic",
            R"({"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"SANDBOX01"}})");
        res.set_header("Strict-Transport-Security", "max-age=31536000");
    } else if (route.endpoint != Endpoint::control) {
        res.set_header("x-ms-request-id", ctx.request_id);
        res.set_header("x-ms-ests-server", "2.1.0 - SANDBOX");
        if (!ctx.client_request_id.empty()) res.set_header("client-request-id", ctx.client_request_id);
        res.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    }
    if (request.method == "HEAD") res.body.clear();
}

HttpResponse Service::malformed(MalformedRequest kind, const HttpRequest* partial) {
    HttpRequest empty;
    const HttpRequest& req = partial ? *partial : empty;
    RequestContext ctx = make_context(req);
    Route route = partial ? classify(req) : Route{};
    HttpResponse res;
    if (kind == MalformedRequest::body_too_large && is_graph(route)) {
        res = graph_error(413, "RequestEntityTooLarge", "The maximum request length supported is 4MB.", ctx);
    } else {
        res.status = kind == MalformedRequest::body_too_large ? 413 : 400;
        res.set_header("Content-Type", "text/html; charset=us-ascii");
        const char* title = kind == MalformedRequest::header_too_large ? "Bad Request - Request Too Long"
                            : kind == MalformedRequest::body_too_large ? "Request Entity Too Large"
                                                                       : "Bad Request";
        const char* text =
            kind == MalformedRequest::header_too_large ? "HTTP Error 400. The size of the request headers is too long."
            : kind == MalformedRequest::body_too_large ? "HTTP Error 413. The request entity is too large."
                                                       : "HTTP Error 400. The request is badly formed.";
        res.body = std::string("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><HTML><HEAD><TITLE>") + title +
                   "</TITLE></HEAD><BODY><h2>" + title + "</h2><hr><p>" + text + "</p></BODY></HTML>";
    }
    finish(route, req, ctx, res);
    log_line((partial ? req.method + " " + req.path : std::string("(unparsable request)")) + " -> " +
             std::to_string(res.status) + " (malformed)");
    return res;
}

// ---- mailbox load ----

std::shared_ptr<void> Service::try_enter_mailbox(const std::string& upn, int limit, int* in_flight_now) {
    const std::string key = lower(upn);
    std::lock_guard lock(load_mutex_);
    auto& load = loads_[key];
    if (limit > 0 && load.in_flight >= limit) {
        *in_flight_now = load.in_flight;
        return nullptr;
    }
    ++load.in_flight;
    load.max_in_flight = std::max(load.max_in_flight, load.in_flight);
    *in_flight_now = load.in_flight;
    // The deleter runs when the transport has written (or dropped) the response.
    // Non-null pointer on purpose: callers test the result for "slot granted".
    return std::shared_ptr<void>(static_cast<void*>(this), [this, key](void*) {
        std::lock_guard l(load_mutex_);
        --loads_[key].in_flight;
    });
}

int Service::max_concurrent(const std::string& upn) {
    std::lock_guard lock(load_mutex_);
    auto it = loads_.find(lower(upn));
    return it == loads_.end() ? 0 : it->second.max_in_flight;
}

std::map<std::string, int> Service::max_concurrent_all() {
    std::lock_guard lock(load_mutex_);
    std::map<std::string, int> out;
    for (auto& [k, v] : loads_)
        if (v.max_in_flight > 0) out[k] = v.max_in_flight;
    return out;
}

void Service::reset_max_concurrent() {
    std::lock_guard lock(load_mutex_);
    for (auto& [k, v] : loads_) v.max_in_flight = v.in_flight;
}

int Service::rate_limit_wait(const std::string& upn, int per_minute) {
    if (per_minute <= 0) return 0;
    std::lock_guard lock(load_mutex_);
    auto& window = loads_[lower(upn)].accepted_ms;
    const std::int64_t t = now_ms();
    std::erase_if(window, [&](std::int64_t at) { return at <= t - 60000 || at > t; });
    if (static_cast<int>(window.size()) < per_minute) return 0;
    const std::int64_t wait_ms = window.front() + 60000 - t;
    return static_cast<int>(std::max<std::int64_t>(1, (wait_ms + 999) / 1000));
}

bool Service::over_recipient_limit(const std::string& upn, int per_day, int recipients) {
    if (per_day <= 0) return false;
    std::lock_guard lock(load_mutex_);
    auto& window = loads_[lower(upn)].recipients_ms;
    const std::int64_t t = now_ms();
    constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;
    std::erase_if(window, [&](const auto& entry) { return entry.first <= t - kDayMs || entry.first > t; });
    int sent = 0;
    for (const auto& entry : window) sent += entry.second;
    return sent + recipients > per_day;
}

void Service::record_accepted(const std::string& upn, int recipients) {
    std::lock_guard lock(load_mutex_);
    auto& load = loads_[lower(upn)];
    load.accepted_ms.push_back(now_ms());
    load.recipients_ms.emplace_back(now_ms(), recipients);
}

// ---- control entry ----

Service::ControlResult Service::control(std::string_view method, std::string_view path_and_query,
                                        const json::value& body) {
    std::string path(path_and_query.substr(0, path_and_query.find('?')));
    std::string query;
    if (auto q = path_and_query.find('?'); q != std::string_view::npos) query = path_and_query.substr(q + 1);
    auto segments = split_path(path);
    auto params = parse_form(query);
    if (!segments || !params || segments->empty() || (*segments)[0] != "_sandbox")
        return {400, json::object{{"error", "bad control path"}}};
    segments->erase(segments->begin());
    std::lock_guard lock(mutex);
    try {
        return handle_control(*this, method, *segments, *params, body);
    } catch (const std::exception& e) {
        return {400, json::object{{"error", e.what()}}};
    }
}

void Service::record_issued(std::vector<std::string>& list, const std::string& secret) {
    list.push_back(secret);
    sandbox::record_issued_secret(secret);
}

}  // namespace ms_sandbox::detail
