// The interactive authorize / admin-consent flow as a small state machine over PendingFlow.
// Every step returns a FlowOutcome; HTML rendering and the autopilot both sit on top of it,
// so a browser click and an autopilot answer run exactly the same code.
#include "identity.hpp"

#include "common.hpp"
#include "errors.hpp"

#include <algorithm>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace ms_sandbox::detail {

namespace {

// ---- messages (AADSTS texts; see README "Guesses" for the ones outlook_plugin/docs/microsoft-behaviour.md does not
// give) ----

std::string msg_unknown_app(const std::string& client_id, const std::string& tenant) {
    return "Application with identifier '" + client_id + "' was not found in the directory '" + tenant +
           "'. This can happen if the application has not been installed by the administrator of the "
           "tenant or consented to by any user in the tenant. You may have sent your authentication "
           "request to the wrong tenant.";
}

std::string msg_redirect_mismatch(const std::string& uri, const std::string& client_id) {
    return "The redirect URI '" + uri +
           "' specified in the request does not match the redirect URIs "
           "configured for the application '" +
           client_id +
           "'. Make sure the redirect URI sent in the "
           "request matches one added to your application in the Azure portal. Navigate to "
           "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.";
}

std::string msg_missing(const std::string& p) {
    return "The request body must contain the following parameter: '" + p + "'.";
}

std::string msg_invalid_param(const std::string& p) { return p + " parameter is empty or not valid."; }

std::string msg_not_consented(const App& app) {
    return "The user or administrator has not consented to use the application with ID '" + app.client_id +
           "' named '" + app.display_name + "'. Send an interactive authorization request for this user and resource.";
}

std::string msg_interrupt(int code, const App& app, const Tenant* tenant) {
    const std::string tname = tenant ? tenant->display_name : "your organization";
    switch (code) {
        case 90095:
            return "Admin consent is required for the permissions requested by this application. An admin consent "
                   "request may be sent to the admin.";
        case 90093:
            return "An administrator of " + tname + " has set a policy that prevents you from granting " +
                   app.display_name + " the permissions it is requesting. Contact an administrator of " + tname +
                   ", who can grant permissions to this app on your behalf.";
        default:
            return "The grant requires admin permission. " + app.display_name +
                   " needs permission to access resources in your organization that only an admin can grant.";
    }
}

const char* kDeclined = "User declined to consent to access the app.";

// ---- redirect URI rules (outlook_plugin/docs/microsoft-behaviour.md §1) ----

bool is_loopback_http(const boost::urls::url_view& u) {
    return u.scheme() == "http" && (u.host() == "127.0.0.1" || u.host() == "localhost");
}

// Exact, case-sensitive match, except that the port of a loopback http URI is ignored.
bool redirect_matches(const std::string& registered, const std::string& requested) {
    if (registered == requested) return true;
    auto reg = boost::urls::parse_uri(registered);
    auto req = boost::urls::parse_uri(requested);
    if (!reg || !req) return false;
    if (!is_loopback_http(*reg) || !is_loopback_http(*req)) return false;
    return reg->host() == req->host() && reg->encoded_path() == req->encoded_path() &&
           reg->encoded_query() == req->encoded_query() && reg->has_query() == req->has_query() && !req->has_fragment();
}

bool registered_redirect(const App& app, const std::string& uri) {
    for (const auto& r : app.redirect_uris)
        if (redirect_matches(r, uri)) return true;
    return false;
}

FlowOutcome error_page(int code, std::string message) {
    FlowOutcome o;
    o.page = Page::error_page;
    o.code = code;
    o.message = std::move(message);
    return o;
}

// `code` 0: no error_description at all (the Back button's cancel).
FlowOutcome redirect_error(const PendingFlow& flow, const std::string& error, int code, const std::string& message,
                           const RequestContext& ctx, bool cancel = false) {
    FlowOutcome o;
    o.page = Page::redirect;
    o.redirect.redirect_uri = flow.params.redirect_uri;
    o.redirect.response_mode = flow.params.response_mode.empty() ? "query" : flow.params.response_mode;
    o.redirect.params.emplace_back("error", error);
    if (code != 0) {
        // As recorded (MicrosoftDocs/azure-docs#114009): description, then error_uri.
        o.redirect.params.emplace_back("error_description", aad_description(code, message, ctx));
        o.redirect.params.emplace_back("error_uri",
                                       "https://login.microsoftonline.com/error?code=" + std::to_string(code));
    }
    if (cancel) o.redirect.params.emplace_back("error_subcode", "cancel");
    if (flow.params.state) o.redirect.params.emplace_back("state", *flow.params.state);
    return o;
}

std::string new_flow(Service& svc, PendingFlow flow) {
    // Keep the table bounded: drop flows older than an hour.
    for (auto it = svc.state.flows.begin(); it != svc.state.flows.end();) {
        if (it->second.created < flow.created - 3600)
            it = svc.state.flows.erase(it);
        else
            ++it;
    }
    std::string id = random_urlsafe(32);
    svc.state.flows.emplace(id, std::move(flow));
    return id;
}

PendingFlow* find_flow(Service& svc, const std::string& id) {
    auto it = svc.state.flows.find(id);
    if (it == svc.state.flows.end() || it->second.finished) return nullptr;
    return &it->second;
}

FlowOutcome stale_flow() {
    return error_page(90100, msg_invalid_param("flow") + " The sign-in session expired or was already completed.");
}

FlowOutcome sign_in_page(const std::string& flow_id, int code = 0, std::string message = {}) {
    FlowOutcome o;
    o.page = Page::sign_in;
    o.flow_id = flow_id;
    o.code = code;
    o.message = std::move(message);
    return o;
}

Tenant* tenant_of(Service& svc, const User& u) { return svc.state.scenario.tenant_by_id_or_domain(u.tenant_id); }

bool tenant_granted(const Tenant* t, const std::string& client_id) {
    return t && !t->consumers &&
           (t->admin_consent_all_apps || t->admin_consented_apps.count(lower(client_id)) ||
            t->admin_consented_apps.count(client_id));
}

ScopeList& user_grant(Service& svc, const User& u, const App& app) {
    return svc.state.user_grants[{lower(u.upn), lower(app.client_id)}];
}

bool listed(const std::vector<std::string>& list, std::string_view scope) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return iequals(s, scope); });
}

// Can this account sign in through this tenant path into this app? 0 = yes, else AADSTS code.
int eligibility(Service& svc, const PendingFlow& flow, const User& u, const App& app, std::string* message) {
    TenantPath tp = resolve_tenant_path(svc, flow.params.tenant_path);
    const std::string idp = u.personal ? "live.com" : "https://sts.windows.net/" + u.tenant_id + "/";
    auto not_in_tenant = [&](const std::string& tenant_name) {
        *message = "User account '" + u.upn + "' from identity provider '" + idp + "' does not exist in tenant '" +
                   tenant_name + "' and cannot access the application '" + app.client_id + "'(" + app.display_name +
                   ") in that tenant. The account needs to be added as an external user in the tenant first. "
                   "Sign out and sign in again with a different Azure Active Directory user account.";
        return 50020;
    };
    if (tp.kind == TenantPath::consumers && !u.personal) return not_in_tenant("Microsoft Account");
    if (tp.kind == TenantPath::organizations && u.personal) return not_in_tenant("organizations");
    if (tp.kind == TenantPath::specific && !iequals(tp.tenant->id, u.tenant_id))
        return not_in_tenant(tp.tenant->display_name);
    if (u.personal && app.sign_in_audience != "AzureADandPersonalMicrosoftAccount")
        return not_in_tenant("the application's tenants");
    if (app.sign_in_audience == "AzureADMyOrg" && !iequals(app.home_tenant, u.tenant_id))
        return not_in_tenant(app.home_tenant);
    return 0;
}

FlowOutcome issue_code(Service& svc, const std::string& flow_id, PendingFlow& flow, const User& u,
                       const RequestContext& ctx, bool consent_shown) {
    AuthCode code;
    code.client_id = flow.params.client_id;
    code.redirect_uri = flow.params.redirect_uri;
    code.tenant_path = flow.params.tenant_path;
    code.upn = u.upn;
    code.scopes = flow.scopes;
    code.code_challenge = flow.params.code_challenge;
    code.code_challenge_method = flow.params.code_challenge_method;
    code.nonce = flow.params.nonce;
    code.claims = flow.params.claims;
    if (const App* app = svc.state.scenario.app(flow.params.client_id))
        code.qualified = parse_scopes(flow.params.scope, *app).qualified;
    code.issued = ctx.now;
    const std::size_t length = svc.state.scenario.settings.token_sizes.code;
    // Work-account codes start "1.A", personal ones "M.C5_BAY." (recorded traffic,
    // outlook_plugin/docs/microsoft-behaviour.md §9).
    std::string value = u.personal ? "M.C5_BAY.2.U." + random_urlsafe(length - 13) : "1.A" + random_urlsafe(length - 3);
    svc.state.codes.emplace(value, std::move(code));
    svc.record_issued(svc.state.issued_codes, value);
    flow.finished = true;

    FlowOutcome o;
    o.page = Page::redirect;
    o.flow_id = flow_id;
    o.consent_page_shown = consent_shown;
    o.redirect.redirect_uri = flow.params.redirect_uri;
    o.redirect.response_mode = flow.params.response_mode.empty() ? "query" : flow.params.response_mode;
    o.redirect.params.emplace_back("code", value);
    if (flow.params.state) o.redirect.params.emplace_back("state", *flow.params.state);
    o.redirect.params.emplace_back("session_state", random_guid());
    return o;
}

// After the account is known: consent decisions, interrupts, or the code.
FlowOutcome after_sign_in(Service& svc, const std::string& flow_id, PendingFlow& flow, const RequestContext& ctx,
                          bool silent) {
    User* u = svc.state.scenario.user(*flow.upn);
    App* app = svc.state.scenario.app(flow.params.client_id);
    if (!u || !app) return stale_flow();

    std::string message;
    if (int code = eligibility(svc, flow, *u, *app, &message)) {
        if (silent) return redirect_error(flow, "login_required", code, message, ctx);
        flow.upn.reset();
        return sign_in_page(flow_id, code, message);
    }
    if (silent) {
        auto rev = svc.state.revocations.find(lower(u->upn));
        if (rev != svc.state.revocations.end() && rev->second.reason == "mfa_required")
            return redirect_error(
                flow, "interaction_required", 50076,
                "Due to a configuration change made by your administrator, or because you moved to a new "
                "location, you must use multi-factor authentication to access '" +
                    std::string(kGraphAppId) + "'.",
                ctx);
    }

    Tenant* tenant = tenant_of(svc, *u);
    const bool consented = consent_covers(svc, *u, *app, flow.scopes);
    const bool can_consent = u->personal || u->is_admin || (tenant && tenant->user_consent_allowed);
    const bool force_consent = flow.params.prompt == "consent" && can_consent;

    if (consented && !force_consent) return issue_code(svc, flow_id, flow, *u, ctx, false);
    if (silent) return redirect_error(flow, "consent_required", 65001, msg_not_consented(*app), ctx);

    FlowOutcome o;
    o.flow_id = flow_id;
    if (can_consent) {
        o.page = Page::consent;
        o.consent_page_shown = true;
        return o;
    }
    flow.interrupt_code = tenant->admin_consent_workflow ? 90095 : tenant->consent_blocked_code;
    o.page = flow.interrupt_code == 90095 ? Page::approval_required : Page::need_admin_approval;
    o.code = flow.interrupt_code;
    o.message = msg_interrupt(flow.interrupt_code, *app, tenant);
    return o;
}

}  // namespace

const char* page_name(Page p) {
    switch (p) {
        case Page::redirect:
            return "redirect";
        case Page::error_page:
            return "error_page";
        case Page::sign_in:
            return "sign_in";
        case Page::consent:
            return "consent";
        case Page::approval_required:
            return "approval_required";
        case Page::approval_requested:
            return "approval_requested";
        case Page::need_admin_approval:
            return "need_admin_approval";
        case Page::admin_consent_review:
            return "admin_consent_review";
    }
    return "?";
}

std::string RedirectResult::url(bool address_bar) const {
    std::string base = redirect_uri;
    // "URIs without a path get a trailing / appended in query/fragment responses"
    if (auto parsed = boost::urls::parse_uri(base);
        parsed && parsed->encoded_path().empty() && !parsed->has_query() && !parsed->has_fragment())
        base += '/';
    std::string q;
    for (const auto& [k, v] : params) {
        if (!q.empty()) q += '&';
        q += url_encode(k) + "=" + url_encode(v);
    }
    if (response_mode == "fragment") return base + "#" + q;
    return base + (base.find('?') == std::string::npos ? "?" : "&") + q + (address_bar ? "#" : "");
}

// An administrator's removal on the user beats everything; one on the tenant beats only what
// came from the tenant (admin consent, the tenant's earlier consents): a user who consents
// again gets the permission back.
bool consent_covers(Service& svc, const User& u, const App& app, const ScopeList& wanted) {
    const Tenant* tenant = tenant_of(svc, u);
    const ScopeList& own = user_grant(svc, u, app);
    return std::all_of(wanted.begin(), wanted.end(), [&](const std::string& s) {
        if (listed(u.removed_scopes, s)) return false;
        if (contains(own, s) || listed(u.consented_scopes, s)) return true;
        if (!tenant || listed(tenant->removed_scopes, s)) return false;
        return tenant_granted(tenant, app.client_id) || listed(tenant->consented_scopes, s);
    });
}

ScopeList consented_graph_scopes(Service& svc, const User& u, const App& app) {
    const Tenant* tenant = tenant_of(svc, u);
    ScopeList candidates = merged(user_grant(svc, u, app), app.api_permissions);
    for (const auto* extra : {&u.consented_scopes, tenant ? &tenant->consented_scopes : nullptr})
        if (extra)
            for (const auto& s : *extra)
                if (auto c = canonical_graph_scope(s)) candidates = merged(candidates, {*c});
    ScopeList out;
    for (const auto& s : candidates)
        if (!is_oidc_scope(s) && consent_covers(svc, u, app, {s})) out.push_back(s);
    return out;
}

bool removed_by_admin(Service& svc, const User& u, std::string_view scope) {
    const Tenant* tenant = tenant_of(svc, u);
    return listed(u.removed_scopes, scope) || (tenant && listed(tenant->removed_scopes, scope));
}

TenantPath resolve_tenant_path(Service& svc, const std::string& segment) {
    TenantPath tp;
    const std::string s = lower(segment);
    if (s == "common")
        tp.kind = TenantPath::common;
    else if (s == "organizations")
        tp.kind = TenantPath::organizations;
    else if (s == "consumers" || s == kConsumersTenantId)
        tp.kind = TenantPath::consumers;
    else if (const Tenant* t = svc.state.scenario.tenant_by_id_or_domain(segment)) {
        tp.kind = TenantPath::specific;
        tp.tenant = t;
    }
    return tp;
}

namespace {

// The authorize parameters whose errors go back to the app (the first failing one is the
// error reported); fills in the flow's scopes and PKCE method on the way.
std::optional<FlowOutcome> check_app_facing_params(PendingFlow& flow, const App& app, const RequestContext& ctx) {
    auto& p = flow.params;
    if (!p.response_mode.empty() && p.response_mode != "query" && p.response_mode != "fragment" &&
        p.response_mode != "form_post") {
        p.response_mode = "query";
        return redirect_error(flow, "invalid_request", 90100, msg_invalid_param("response_mode"), ctx);
    }
    if (p.response_type.empty())
        return redirect_error(flow, "invalid_request", 900144, msg_missing("response_type"), ctx);
    if (p.response_type != "code")
        return redirect_error(flow, "unsupported_response_type", 70005,
                              "response_type '" + p.response_type + "' is not enabled for the application.", ctx);
    if (p.scope.find_first_not_of(' ') == std::string::npos)
        return redirect_error(flow, "invalid_request", 900144, msg_missing("scope"), ctx);
    ParsedScopes scopes = parse_scopes(p.scope, app);
    if (!scopes.invalid.empty())
        return redirect_error(flow, "invalid_scope", 70011,
                              "The provided value for the input parameter 'scope' is not valid. The scope '" +
                                  scopes.invalid + "' does not exist.",
                              ctx);
    flow.scopes = scopes.scopes;
    if (!p.code_challenge.empty()) {
        if (p.code_challenge_method.empty()) p.code_challenge_method = "plain";  // RFC 7636 default
        if (p.code_challenge_method != "S256" && p.code_challenge_method != "plain")
            return redirect_error(flow, "invalid_request", 90100, msg_invalid_param("code_challenge_method"), ctx);
        if (p.code_challenge.size() < 43 || p.code_challenge.size() > 128)
            return redirect_error(flow, "invalid_request", 501491, "Invalid size of Code_Challenge parameter.", ctx);
    } else {
        p.code_challenge_method.clear();
    }
    if (!p.prompt.empty() && p.prompt != "none" && p.prompt != "login" && p.prompt != "consent" &&
        p.prompt != "select_account")
        return redirect_error(flow, "invalid_request", 90100, msg_invalid_param("prompt"), ctx);
    return std::nullopt;
}

}  // namespace

FlowOutcome begin_authorize(Service& svc, const std::string& tenant_path, const Params& params,
                            const RequestContext& ctx, const std::string& sso_upn) {
    auto get = [&](const char* k) { return param(params, k).value_or(""); };
    if (resolve_tenant_path(svc, tenant_path).kind == TenantPath::unknown)
        return error_page(90002,
                          "Tenant '" + tenant_path +
                              "' not found. Check to make sure you have the correct tenant ID "
                              "and are signing into the correct cloud. Check with your subscription administrator, "
                              "this may happen if there are no active subscriptions for the tenant.");
    PendingFlow flow;
    flow.created = ctx.now;
    auto& p = flow.params;
    p.tenant_path = tenant_path;
    p.client_id = get("client_id");
    if (p.client_id.empty()) return error_page(900144, msg_missing("client_id"));
    const App* app = svc.state.scenario.app(p.client_id);
    if (!app) return error_page(700016, msg_unknown_app(p.client_id, tenant_path));
    const auto kind = resolve_tenant_path(svc, tenant_path).kind;
    if (app->sign_in_audience == "AzureADMyOrg" && kind != TenantPath::specific)
        return error_page(50194, "Application '" + app->client_id + "'(" + app->display_name +
                                     ") is not configured as a multi-tenant application. Usage of the /common endpoint "
                                     "is not supported for such applications created after '10/15/2018'. Use a "
                                     "tenant-specific endpoint or configure the application to be multi-tenant.");
    p.redirect_uri = param(params, "redirect_uri").value_or(app->redirect_uris.front());
    if (!registered_redirect(*app, p.redirect_uri))
        return error_page(50011, msg_redirect_mismatch(p.redirect_uri, p.client_id));

    // From here on, errors go back to the app.
    p.state = param(params, "state");
    p.response_mode = get("response_mode");
    p.response_type = get("response_type");
    p.scope = get("scope");
    p.prompt = get("prompt");
    p.login_hint = get("login_hint");
    p.domain_hint = get("domain_hint");
    p.code_challenge = get("code_challenge");
    p.code_challenge_method = get("code_challenge_method");
    p.nonce = get("nonce");
    p.claims = get("claims");

    if (auto e = check_app_facing_params(flow, *app, ctx)) return *e;

    const bool hint_differs = !p.login_hint.empty() && !sso_upn.empty() && !iequals(p.login_hint, sso_upn);
    if (p.prompt == "none") {
        if (sso_upn.empty() || hint_differs)
            return redirect_error(flow, "login_required", 50058,
                                  "A silent sign-in request was sent but no user is signed in.", ctx);
        flow.upn = sso_upn;
        std::string id = new_flow(svc, std::move(flow));
        return after_sign_in(svc, id, svc.state.flows.at(id), ctx, /*silent=*/true);
    }
    const bool show_sign_in = sso_upn.empty() || hint_differs || p.prompt == "login" || p.prompt == "select_account";
    if (!show_sign_in) flow.upn = sso_upn;
    std::string id = new_flow(svc, std::move(flow));
    if (show_sign_in) return sign_in_page(id);
    return after_sign_in(svc, id, svc.state.flows.at(id), ctx, false);
}

FlowOutcome submit_sign_in(Service& svc, const std::string& flow_id, const std::string& login,
                           const std::optional<std::string>& password, const RequestContext& ctx) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow) return stale_flow();
    User* u = svc.state.scenario.user(login);
    if (!u) {
        return sign_in_page(flow_id, 50034,
                            "The user account " + login +
                                " does not exist in the directory. To sign into this "
                                "application, the account must be added to the directory.");
    }
    if (u->password && password != u->password)
        return sign_in_page(flow_id, 50126, "Error validating credentials due to invalid username or password.");
    flow->upn = u->upn;
    FlowOutcome o;
    if (flow->kind == FlowKind::authorize) {
        o = after_sign_in(svc, flow_id, *flow, ctx, false);
    } else {
        // Admin consent: only an admin of a work tenant may approve.
        TenantPath tp = resolve_tenant_path(svc, flow->params.tenant_path);
        if (u->personal || !u->is_admin || (tp.kind == TenantPath::specific && !iequals(tp.tenant->id, u->tenant_id))) {
            flow->upn.reset();
            return sign_in_page(flow_id, 90094,
                                "Admin consent is required: the account '" + u->upn +
                                    "' is not an administrator of the tenant and cannot grant permissions for it.");
        }
        o.page = Page::admin_consent_review;
        o.flow_id = flow_id;
    }
    // A successful sign-in leaves an SSO session behind (cookie ESTSAUTH).
    if (flow->upn) {
        o.sso_cookie = random_urlsafe(64);
        svc.state.sso_sessions[o.sso_cookie] = u->upn;
    }
    return o;
}

FlowOutcome submit_consent(Service& svc, const std::string& flow_id, const std::string& answer,
                           bool on_behalf_of_organization, const RequestContext& ctx) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow) return stale_flow();
    // Cancel shapes (outlook_plugin/docs/microsoft-behaviour.md §9): the Back button sends error_subcode=cancel without
    // a description; Cancel on the consent page adds AADSTS65004, or, in tenants that report it so, is
    // error=consent_required without an AADSTS code.
    if (answer == "back") {
        flow->finished = true;
        return redirect_error(*flow, "access_denied", 0, "", ctx, true);
    }
    if (answer == "cancel" || answer == "decline") {
        flow->finished = true;
        const User* u = flow->upn ? svc.state.scenario.user(*flow->upn) : nullptr;
        const Tenant* tenant = u ? tenant_of(svc, *u) : nullptr;
        if (answer == "cancel" && tenant && tenant->cancel_as_consent_required) {
            FlowOutcome o = redirect_error(*flow, "consent_required", 0, "", ctx);
            o.redirect.params.insert(o.redirect.params.begin() + 1, {"error_description", "The user did not consent."});
            return o;
        }
        return redirect_error(*flow, "access_denied", 65004, kDeclined, ctx, answer == "cancel");
    }
    if (!flow->upn || flow->kind != FlowKind::authorize) return stale_flow();
    User* u = svc.state.scenario.user(*flow->upn);
    App* app = svc.state.scenario.app(flow->params.client_id);
    if (!u || !app) return stale_flow();
    Tenant* tenant = tenant_of(svc, *u);
    const bool can_consent = u->personal || u->is_admin || (tenant && tenant->user_consent_allowed);
    if (!can_consent) return stale_flow();
    ScopeList& granted = user_grant(svc, *u, *app);
    granted = merged(granted, flow->scopes);
    // Consenting again restores what an administrator removed from this user.
    std::erase_if(u->removed_scopes, [&](const std::string& s) { return contains(flow->scopes, s); });
    if (on_behalf_of_organization && u->is_admin && tenant) grant_admin_consent(svc, tenant->id, app->client_id);
    return issue_code(svc, flow_id, *flow, *u, ctx, true);
}

FlowOutcome submit_approval_request(Service& svc, const std::string& flow_id, const std::string& justification,
                                    const RequestContext& ctx) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow || flow->interrupt_code != 90095 || !flow->upn) return stale_flow();
    User* u = svc.state.scenario.user(*flow->upn);
    if (!u) return stale_flow();
    ApprovalRequest req;
    req.id = random_guid();
    req.tenant_id = u->tenant_id;
    req.client_id = flow->params.client_id;
    req.upn = u->upn;
    req.justification = justification;
    req.scopes = flow->scopes;
    req.created = ctx.now;
    svc.state.approval_requests.push_back(req);
    FlowOutcome o;
    o.page = Page::approval_requested;
    o.flow_id = flow_id;
    o.code = 90095;
    o.message = "Your request has been sent to your admin.";
    o.approval_request_id = req.id;
    return o;
}

FlowOutcome return_to_app(Service& svc, const std::string& flow_id, const RequestContext& ctx) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow || flow->interrupt_code == 0) return stale_flow();
    App* app = svc.state.scenario.app(flow->params.client_id);
    User* u = flow->upn ? svc.state.scenario.user(*flow->upn) : nullptr;
    if (!app) return stale_flow();
    flow->finished = true;
    return redirect_error(*flow, "access_denied", flow->interrupt_code,
                          msg_interrupt(flow->interrupt_code, *app, u ? tenant_of(svc, *u) : nullptr), ctx);
}

FlowOutcome current_page(Service& svc, const std::string& flow_id) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow) return stale_flow();
    FlowOutcome o;
    o.flow_id = flow_id;
    if (!flow->upn)
        o.page = Page::sign_in;
    else if (flow->kind != FlowKind::authorize)
        o.page = Page::admin_consent_review;
    else if (flow->interrupt_code == 90095)
        o.page = Page::approval_required;
    else if (flow->interrupt_code)
        o.page = Page::need_admin_approval;
    else
        o.page = Page::consent;
    o.code = flow->interrupt_code;
    return o;
}

// ---- admin consent ----

FlowOutcome begin_admin_consent(Service& svc, const std::string& tenant_path, const Params& params, bool legacy,
                                const RequestContext& ctx) {
    auto get = [&](const char* k) { return param(params, k).value_or(""); };
    const TenantPath tp = resolve_tenant_path(svc, tenant_path);
    if (tp.kind == TenantPath::unknown || tp.kind == TenantPath::consumers)
        return error_page(90002, "Tenant '" + tenant_path +
                                     "' not found or cannot grant admin consent. Use the tenant "
                                     "id, its verified domain or 'organizations'.");
    PendingFlow flow;
    flow.kind = legacy ? FlowKind::admin_consent_legacy : FlowKind::admin_consent;
    flow.created = ctx.now;
    auto& p = flow.params;
    p.tenant_path = tenant_path;
    p.client_id = get("client_id");
    if (p.client_id.empty()) return error_page(900144, msg_missing("client_id"));
    const App* app = svc.state.scenario.app(p.client_id);
    if (!app) return error_page(700016, msg_unknown_app(p.client_id, tenant_path));
    p.redirect_uri = param(params, "redirect_uri").value_or(app->redirect_uris.front());
    if (!registered_redirect(*app, p.redirect_uri))
        return error_page(50011, msg_redirect_mismatch(p.redirect_uri, p.client_id));
    p.state = param(params, "state");
    p.scope = legacy ? std::string(kGraphResource) + "/.default" : get("scope");
    if (p.scope.empty()) p.scope = std::string(kGraphResource) + "/.default";
    ParsedScopes scopes = parse_scopes(p.scope, *app);
    if (!scopes.invalid.empty())
        return redirect_error(flow, "invalid_scope", 70011,
                              "The provided value for the input parameter 'scope' is not valid. The scope '" +
                                  scopes.invalid + "' does not exist.",
                              ctx);
    flow.scopes = scopes.scopes;
    return sign_in_page(new_flow(svc, std::move(flow)));
}

FlowOutcome submit_admin_review(Service& svc, const std::string& flow_id, bool accept, const RequestContext& ctx) {
    PendingFlow* flow = find_flow(svc, flow_id);
    if (!flow || flow->kind == FlowKind::authorize || !flow->upn) return stale_flow();
    User* admin = svc.state.scenario.user(*flow->upn);
    if (!admin) return stale_flow();
    flow->finished = true;
    const bool legacy = flow->kind == FlowKind::admin_consent_legacy;
    if (!accept) {
        FlowOutcome o = redirect_error(*flow, legacy ? "permission_denied" : "consent_required", 65004, kDeclined, ctx);
        if (!legacy) o.redirect.params.insert(o.redirect.params.begin(), {"admin_consent", "True"});
        return o;
    }
    grant_admin_consent(svc, admin->tenant_id, flow->params.client_id);
    FlowOutcome o;
    o.page = Page::redirect;
    o.flow_id = flow_id;
    o.redirect.redirect_uri = flow->params.redirect_uri;
    o.redirect.params.emplace_back("admin_consent", "True");
    o.redirect.params.emplace_back("tenant", admin->tenant_id);
    if (!legacy) o.redirect.params.emplace_back("scope", flow->params.scope);
    if (flow->params.state) o.redirect.params.emplace_back("state", *flow->params.state);
    return o;
}

void grant_admin_consent(Service& svc, const std::string& tenant_id, const std::string& client_id) {
    Tenant* t = svc.state.scenario.tenant_by_id_or_domain(tenant_id);
    if (!t) return;
    t->admin_consented_apps.insert(lower(client_id));
    for (auto& r : svc.state.approval_requests)
        if (iequals(r.tenant_id, t->id) && iequals(r.client_id, client_id)) r.status = "approved";
}

}  // namespace ms_sandbox::detail
