// The identity platform's interactive flow engine, shared by the HTML form handlers
// (identity_endpoints.cpp) and the autopilot (control_api.cpp), plus token helpers.
#pragma once

#include "errors.hpp"
#include "service.hpp"

#include <string>
#include <utility>
#include <vector>

namespace ms_sandbox::detail {

// Where a visit to /authorize or /adminconsent stands after each step.
enum class Page {
    redirect,              // back to the app (success or error)
    error_page,            // Microsoft's own error page; the app never hears of it
    sign_in,               // enter / pick the account
    consent,               // permissions list with Accept / Cancel
    approval_required,     // 90095: justification box + "Request approval"
    approval_requested,    // 90095 after the request was sent
    need_admin_approval,   // 90094 / 90093
    admin_consent_review,  // an admin approving for the whole tenant
};
const char* page_name(Page p);

struct RedirectResult {
    std::string redirect_uri;
    std::vector<std::pair<std::string, std::string>> params;
    std::string response_mode = "query";  // query | fragment | form_post
    // redirect_uri + encoded params (query or fragment). `address_bar`: as a browser's address
    // bar shows a query-mode redirect, ending in '#' (outlook_plugin/docs/microsoft-behaviour.md §9).
    std::string url(bool address_bar = false) const;
};

struct FlowOutcome {
    Page page = Page::error_page;
    std::string flow_id;
    int code = 0;         // AADSTS number: error page, sign-in error, interrupt
    std::string message;  // its text
    RedirectResult redirect;
    std::string sso_cookie;  // set when a sign-in created an SSO session
    std::string approval_request_id;
    bool consent_page_shown = false;
};

// `sso_upn`: the account the browser already has a session for (cookie / autopilot), or "".
FlowOutcome begin_authorize(Service& svc, const std::string& tenant_path, const Params& params,
                            const RequestContext& ctx, const std::string& sso_upn);
FlowOutcome begin_admin_consent(Service& svc, const std::string& tenant_path, const Params& params, bool legacy,
                                const RequestContext& ctx);
FlowOutcome submit_sign_in(Service& svc, const std::string& flow_id, const std::string& login,
                           const std::optional<std::string>& password, const RequestContext& ctx);
// answer: "accept" | "decline" | "cancel"
FlowOutcome submit_consent(Service& svc, const std::string& flow_id, const std::string& answer,
                           bool on_behalf_of_organization, const RequestContext& ctx);
FlowOutcome submit_approval_request(Service& svc, const std::string& flow_id, const std::string& justification,
                                    const RequestContext& ctx);
FlowOutcome return_to_app(Service& svc, const std::string& flow_id, const RequestContext& ctx);
FlowOutcome submit_admin_review(Service& svc, const std::string& flow_id, bool accept, const RequestContext& ctx);
// Same page again (e.g. to re-render after a refresh).
FlowOutcome current_page(Service& svc, const std::string& flow_id);

// Grants tenant-wide consent for an app (all scopes) and marks its approval requests approved.
void grant_admin_consent(Service& svc, const std::string& tenant_id, const std::string& client_id);

// Fault action "redirect_error": validate client + redirect URI, then redirect with an error.
HttpResponse authorize_fault_redirect(Service& svc, const Route& route, HttpRequest& request, const RequestContext& ctx,
                                      const std::string& error, int code, const std::string& message);
// Fault action "access_denied" on the token endpoint: the minted access token loses Mail.Send.
void strip_mail_send(Service& svc, HttpResponse& token_response);

HttpResponse handle_token(Service& svc, const Route& route, HttpRequest& request, const RequestContext& ctx);

struct MintOptions {
    std::string nonce;            // into the id_token
    bool client_info = false;     // client_info=1 was sent
    bool qualified = false;       // Graph scopes were requested by URI (scope form "as_requested")
    bool cae_challenged = false;  // Graph answers the new access token with the pending CAE challenge
};

// The token endpoint's success document (token_type, scope, expires_in, ext_expires_in,
// access_token, refresh_token with offline_access, id_token with openid, client_info):
// records the new tokens exactly as a successful /token call does. Used by /token and by
// the test-only bulk-grants control endpoint. The access token also lists the user's and
// tenant's earlier consents and lacks what an administrator removed.
boost::json::object mint_tokens(Service& svc, const App& app, const User& u, const ScopeList& at_scopes,
                                const ScopeList& lineage_scopes, const MintOptions& options, const RequestContext& ctx);

// What an access token for `requested` carries (additive consent: whatever is consented for
// Graph is in every token, outlook_plugin/docs/microsoft-behaviour.md §9, minus what an
// administrator removed), and the Graph part of it that Graph itself checks.
struct TokenScopes {
    ScopeList at_scopes;
    ScopeList graph_scopes;
};
TokenScopes token_scopes(Service& svc, const User& u, const App& app, const ScopeList& requested);

// AADSTS65001: `app` lacks the consent asked for.
AadError not_consented(const App& app);

// The token response's "scope" as the settings shape it (README "Scopes in tokens"); absent
// when switched off.
void set_scope(const Settings& st, boost::json::object& o, const ScopeList& scopes, bool qualified);

// ---- consent (outlook_plugin/docs/microsoft-behaviour.md §5, §9) ----

// Whether the user may get tokens for all of `wanted` without a consent page: own grants,
// the tenant's admin consent (any scope the app asks for, README "Guesses"), earlier
// consents; never a scope an administrator removed.
bool consent_covers(Service& svc, const User& u, const App& app, const ScopeList& wanted);
// The Graph scopes consented for this user and app, which Microsoft lists in every token
// (additive consent): own grants, the app's permissions under admin consent, earlier
// consents of user and tenant; minus removed ones.
ScopeList consented_graph_scopes(Service& svc, const User& u, const App& app);
// Removed by an administrator from the user's or the tenant's grant (control API).
bool removed_by_admin(Service& svc, const User& u, std::string_view scope);

// Tenant path segment -> kind; `tenant` is set for a GUID / domain path.
struct TenantPath {
    enum Kind { common, organizations, consumers, specific, unknown } kind = unknown;
    const Tenant* tenant = nullptr;
};
TenantPath resolve_tenant_path(Service& svc, const std::string& segment);

}  // namespace ms_sandbox::detail
