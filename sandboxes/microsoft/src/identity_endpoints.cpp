// HTTP glue for the identity platform: /authorize, the page form posts, /adminconsent and the
// discovery documents. The decisions are in authorize_flow.cpp, /token in token_endpoint.cpp.
#include "common.hpp"
#include "errors.hpp"
#include "html_pages.hpp"
#include "identity.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

std::optional<std::string> sso_cookie(const HttpRequest& request) {
    std::string_view cookies = request.header("cookie");
    std::size_t pos = 0;
    while (pos < cookies.size()) {
        std::size_t end = cookies.find(';', pos);
        if (end == std::string_view::npos) end = cookies.size();
        std::string_view item = cookies.substr(pos, end - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        if (item.rfind("ESTSAUTH=", 0) == 0) return std::string(item.substr(9));
        pos = end + 1;
    }
    return std::nullopt;
}

std::string sso_user_from_cookie(Service& svc, const HttpRequest& request) {
    auto cookie = sso_cookie(request);
    auto it = cookie ? svc.state.sso_sessions.find(*cookie) : svc.state.sso_sessions.end();
    return it != svc.state.sso_sessions.end() ? it->second : std::string();
}

// Microsoft's discovery documents and keys may be cached for a day.
HttpResponse cacheable(HttpResponse r) {
    r.set_header("Cache-Control", "max-age=86400, private");
    return r;
}

// Query for GET, form body for POST (Microsoft accepts both on /authorize).
std::optional<Params> request_params(const HttpRequest& request) {
    if (request.method == "POST") return parse_form(request.body);
    return parse_form(request.query);
}

HttpResponse method_not_allowed(const RequestContext& ctx) {
    return render_error_page(900561, "The endpoint only accepts GET and POST requests.", ctx);
}

HttpResponse openid_configuration(Service& svc, const std::string& tenant_segment) {
    const std::string base = svc.base_url();
    const TenantPath tp = resolve_tenant_path(svc, tenant_segment);
    std::string issuer_tenant = "{tenantid}";
    if (tp.kind == TenantPath::specific) issuer_tenant = tp.tenant->id;
    if (tp.kind == TenantPath::consumers) issuer_tenant = kConsumersTenantId;
    const std::string t = url_encode(tenant_segment);
    const std::string host = base.substr(base.find("://") + 3);
    json::object o;
    o["token_endpoint"] = base + "/" + t + "/oauth2/v2.0/token";
    o["token_endpoint_auth_methods_supported"] =
        json::array{"client_secret_post", "private_key_jwt", "client_secret_basic"};
    o["jwks_uri"] = base + "/" + t + "/discovery/v2.0/keys";
    o["response_modes_supported"] = json::array{"query", "fragment", "form_post"};
    o["subject_types_supported"] = json::array{"pairwise"};
    o["id_token_signing_alg_values_supported"] = json::array{"RS256"};
    o["response_types_supported"] = json::array{"code", "id_token", "code id_token", "id_token token"};
    o["scopes_supported"] = json::array{"openid", "profile", "email", "offline_access"};
    o["issuer"] = base + "/" + issuer_tenant + "/v2.0";
    o["request_uri_parameter_supported"] = false;
    o["authorization_endpoint"] = base + "/" + t + "/oauth2/v2.0/authorize";
    o["http_logout_supported"] = true;
    o["frontchannel_logout_supported"] = true;
    o["end_session_endpoint"] = base + "/" + t + "/oauth2/v2.0/logout";
    o["claims_supported"] = json::array{"sub",
                                        "iss",
                                        "cloud_instance_name",
                                        "cloud_instance_host_name",
                                        "cloud_graph_host_name",
                                        "msgraph_host",
                                        "aud",
                                        "exp",
                                        "iat",
                                        "auth_time",
                                        "acr",
                                        "nonce",
                                        "preferred_username",
                                        "name",
                                        "tid",
                                        "ver",
                                        "at_hash",
                                        "c_hash",
                                        "email"};
    o["tenant_region_scope"] = nullptr;
    o["cloud_instance_name"] = "microsoftonline.com";
    o["cloud_graph_host_name"] = "graph.windows.net";
    o["msgraph_host"] = host;
    o["rbac_url"] = "https://pas.windows.net";
    return cacheable(json_response(200, json::serialize(o)));
}

// Instance discovery refuses authorities on hosts it does not know, as Microsoft does for
// anything that is not a Microsoft cloud (AADSTS50049; MSAL then fails before any sign-in).
HttpResponse instance_discovery(Service& svc, const HttpRequest& request, const RequestContext& ctx) {
    const std::string base = svc.base_url();
    const std::string host = base.substr(base.find("://") + 3);  // 127.0.0.1:PORT
    const std::string localhost = "localhost" + host.substr(std::min(host.find(':'), host.size()));
    const auto query = parse_form(request.query).value_or(Params{});
    if (auto endpoint = param(query, "authorization_endpoint")) {
        auto u = boost::urls::parse_uri(*endpoint);
        const std::string asked = u ? std::string(u->encoded_authority()) : "";
        if (asked != host && asked != localhost)
            return aad_json_error({"invalid_instance", 50049, "Unknown or invalid instance.", "", 400}, ctx);
    }
    json::object o;
    o["tenant_discovery_endpoint"] = base + "/common/v2.0/.well-known/openid-configuration";
    o["api-version"] = "1.1";
    json::object meta;
    meta["preferred_network"] = host;
    meta["preferred_cache"] = host;
    meta["aliases"] = json::array{host, localhost};
    o["metadata"] = json::array{meta};
    return cacheable(json_response(200, json::serialize(o)));
}

// Keys carry the issuer they sign for (the v2.0 keys endpoint's "issuer" member).
HttpResponse jwks(Service& svc, const std::string& tenant_segment) {
    const TenantPath tp = resolve_tenant_path(svc, tenant_segment);
    std::string issuer_tenant = "{tenantid}";
    if (tp.kind == TenantPath::specific) issuer_tenant = tp.tenant->id;
    if (tp.kind == TenantPath::consumers) issuer_tenant = kConsumersTenantId;
    json::object key = signing_jwk();
    key["issuer"] = svc.base_url() + "/" + issuer_tenant + "/v2.0";
    json::object o;
    o["keys"] = json::array{std::move(key)};
    return cacheable(json_response(200, json::serialize(o)));
}

// The end_session_endpoint: forgets the browser's session and, if asked, goes back to the app.
HttpResponse logout(Service& svc, const HttpRequest& request) {
    const auto query = parse_form(request.query).value_or(Params{});
    if (auto cookie = sso_cookie(request)) svc.state.sso_sessions.erase(*cookie);
    HttpResponse r;
    if (auto back = param(query, "post_logout_redirect_uri"); back && !back->empty()) {
        r.status = 302;
        r.set_header("Location", *back);
    } else {
        r.status = 200;
        r.set_header("Content-Type", "text/html; charset=utf-8");
        r.body =
            "<!DOCTYPE html><html><head><title id=\"page-title\">Signed out</title></head>"
            "<body><p id=\"signed-out\">You signed out of your account.</p></body></html>";
    }
    r.set_header("Set-Cookie", "ESTSAUTH=; Path=/; Max-Age=0; Secure; HttpOnly");
    return r;
}

// The sign-in, consent, approval and admin-review pages: GET shows the flow's current page,
// POST submits it; /logout and /return need neither.
HttpResponse answer_login_page(Service& svc, const Route& route, HttpRequest& request, RequestContext& ctx) {
    const auto& seg = route.segments;
    auto params = request_params(request);
    if (!params) return render_error_page(90100, "The form data is not valid.", ctx);
    const std::string flow = param(*params, "flow").value_or("");
    const std::string action = param(*params, "action").value_or("");
    const std::string last = lower(seg.back());
    FlowOutcome o;
    if (last == "logout") return logout(svc, request);
    if (last == "return") {
        o = return_to_app(svc, flow, ctx);
    } else if (request.method != "POST") {
        o = current_page(svc, flow);
    } else if (last == "login") {
        o = action == "cancel"
                ? submit_consent(svc, flow, "back", false, ctx)
                : submit_sign_in(svc, flow, param(*params, "login").value_or(""), param(*params, "passwd"), ctx);
    } else if (last == "set" && lower(seg[1]) == "consent") {
        o = submit_consent(svc, flow, action.empty() ? "accept" : action,
                           param(*params, "consent_on_behalf").value_or("") == "true", ctx);
    } else if (last == "request") {
        o = submit_approval_request(svc, flow, param(*params, "justification").value_or(""), ctx);
    } else {
        o = submit_admin_review(svc, flow, action != "cancel", ctx);
    }
    return render_outcome(svc, route.tenant, o, ctx);
}

}  // namespace

HttpResponse handle_identity(Service& svc, const Route& route, HttpRequest& request, RequestContext& ctx) {
    const auto& seg = route.segments;
    switch (route.endpoint) {
        case Endpoint::token:
            return handle_token(svc, route, request, ctx);

        case Endpoint::authorize: {
            if (request.method != "GET" && request.method != "POST") return method_not_allowed(ctx);
            auto params = request_params(request);
            if (!params) return render_error_page(90100, "The request query string is not valid.", ctx);
            auto outcome = begin_authorize(svc, route.tenant, *params, ctx, sso_user_from_cookie(svc, request));
            return render_outcome(svc, route.tenant, outcome, ctx);
        }

        case Endpoint::adminconsent: {
            if (request.method != "GET") return method_not_allowed(ctx);
            auto params = parse_form(request.query);
            if (!params) return render_error_page(90100, "The request query string is not valid.", ctx);
            const bool legacy = seg.size() == 2;
            return render_outcome(svc, route.tenant, begin_admin_consent(svc, route.tenant, *params, legacy, ctx), ctx);
        }

        case Endpoint::login_pages:
            return answer_login_page(svc, route, request, ctx);

        case Endpoint::discovery: {
            if (request.method != "GET") return method_not_allowed(ctx);
            const std::string last = lower(seg.back());
            if (last == "instance") return instance_discovery(svc, request, ctx);
            if (resolve_tenant_path(svc, route.tenant).kind == TenantPath::unknown) {
                AadError e{"invalid_tenant", 90002,
                           "Tenant '" + route.tenant +
                               "' not found. Check to make sure you have the correct tenant ID and "
                               "are signing into the correct cloud.",
                           "", 400};
                return aad_json_error(e, ctx);
            }
            if (last == "keys") return jwks(svc, route.tenant);
            return openid_configuration(svc, route.tenant);
        }
        default:
            return render_error_page(90100, "Unknown endpoint.", ctx);
    }
}

HttpResponse authorize_fault_redirect(Service& svc, const Route& route, HttpRequest& request, const RequestContext& ctx,
                                      const std::string& error, int code, const std::string& message) {
    auto params = request_params(request);
    if (!params) return render_error_page(90100, "The request query string is not valid.", ctx);
    // Run the normal validation so a bad client / redirect URI still ends on the error page.
    FlowOutcome o = begin_authorize(svc, route.tenant, *params, ctx, "");
    if (o.page == Page::error_page) return render_outcome(svc, route.tenant, o, ctx);
    if (auto it = svc.state.flows.find(o.flow_id); it != svc.state.flows.end()) it->second.finished = true;
    FlowOutcome r;
    r.page = Page::redirect;
    const App* app = svc.state.scenario.app(param(*params, "client_id").value_or(""));
    r.redirect.redirect_uri = param(*params, "redirect_uri").value_or(app ? app->redirect_uris.front() : "");
    r.redirect.response_mode = param(*params, "response_mode").value_or("query");
    r.redirect.params.emplace_back("error", error);
    r.redirect.params.emplace_back(
        "error_description",
        aad_description(code, message.empty() ? "A transient error has occurred. Please try again." : message, ctx));
    if (auto state = param(*params, "state")) r.redirect.params.emplace_back("state", *state);
    return render_outcome(svc, route.tenant, r, ctx);
}

}  // namespace ms_sandbox::detail
