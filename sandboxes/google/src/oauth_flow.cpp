// The authorization endpoint's state machine, shared by the HTML pages and the autopilot:
// validate the request, pick the account, apply the app's and the domain's policies, ask for
// consent with one checkbox per non-sign-in scope, and redirect back.
// Facts: https://developers.google.com/identity/protocols/oauth2/web-server (parameters, the
// redirect, access_denied), .../oauth2/resources/granular-permissions (the checkboxes).
#include "service.hpp"

#include <sandbox/crypto.hpp>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <sstream>

namespace google_sandbox::detail {

namespace {

using Page = FlowOutcome::Page;

FlowOutcome error_page(int status, std::string code, std::string message) {
    FlowOutcome o;
    o.page = Page::error;
    o.error_status = status;
    o.error_code = std::move(code);
    o.error_message = std::move(message);
    return o;
}

std::optional<std::string> first(const Params& p, const std::string& key) { return sandbox::param(p, key); }

// The scopes Google knows here: the sign-in ones and Gmail's (https://developers.google.com/
// workspace/gmail/api/auth/scopes).
bool known_scope(const std::string& canonical) {
    static const std::set<std::string> known = {"openid",
                                                "https://www.googleapis.com/auth/userinfo.email",
                                                "https://www.googleapis.com/auth/userinfo.profile",
                                                kGmailSendScope,
                                                "https://www.googleapis.com/auth/gmail.readonly",
                                                "https://www.googleapis.com/auth/gmail.compose",
                                                "https://www.googleapis.com/auth/gmail.modify",
                                                "https://mail.google.com/"};
    return known.count(canonical) > 0;
}

std::optional<FlowOutcome> read_prompt(const std::string& prompt) {
    std::istringstream words(prompt);
    std::set<std::string> seen;
    for (std::string w; words >> w;) {
        if (w != "none" && w != "consent" && w != "select_account")
            return error_page(400, "invalid_request", "Invalid prompt: " + prompt);
        seen.insert(w);
    }
    if (seen.count("none") && seen.size() > 1)
        return error_page(400, "invalid_request", "prompt=none must not be combined with other values");
    return std::nullopt;
}

// The checks Google makes before any page, all shown on Google's own error page.
std::optional<FlowOutcome> check_client(const Scenario& sc, const AuthorizeParams& p) {
    if (p.client_id.empty()) return error_page(400, "invalid_request", "Missing required parameter: client_id");
    const Client* client = sc.client(p.client_id);
    if (!client) return error_page(401, "invalid_client", "The OAuth client was not found.");
    if (client->deleted) return error_page(401, "deleted_client", "The OAuth client was deleted.");
    if (p.redirect_uri.empty()) return error_page(400, "invalid_request", "Missing required parameter: redirect_uri");
    const auto& uris = client->redirect_uris;
    if (std::find(uris.begin(), uris.end(), p.redirect_uri) == uris.end())
        return error_page(400, "redirect_uri_mismatch",
                          "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
                          "If you're the app developer, register the redirect URI in the Google Cloud Console.");
    return std::nullopt;
}

std::optional<FlowOutcome> check_parameters(const AuthorizeParams& p, ScopeList& scopes) {
    if (p.response_type.empty()) return error_page(400, "invalid_request", "Missing required parameter: response_type");
    if (p.response_type != "code")
        return error_page(400, "unsupported_response_type", "Invalid response_type: " + p.response_type);
    std::istringstream words(p.scope);
    for (std::string w; words >> w;) {
        const std::string c = canonical_scope(w);
        if (!known_scope(c))
            return error_page(400, "invalid_scope", "Some requested scopes were invalid. {invalid=[" + w + "]}");
        if (std::find(scopes.begin(), scopes.end(), c) == scopes.end()) scopes.push_back(c);
    }
    if (scopes.empty()) return error_page(400, "invalid_request", "Missing required parameter: scope");
    const auto& m = p.code_challenge_method;
    if (!m.empty() && m != "S256" && m != "plain")
        return error_page(400, "invalid_request", "Invalid code_challenge_method value.");
    if (!m.empty() && p.code_challenge.empty()) return error_page(400, "invalid_request", "Missing code_challenge.");
    if (!p.code_challenge.empty() && (p.code_challenge.size() < 43 || p.code_challenge.size() > 128))
        return error_page(400, "invalid_request", "Invalid code_challenge length.");
    if (p.access_type != "online" && p.access_type != "offline")
        return error_page(400, "invalid_request", "Invalid access_type: " + p.access_type);
    return read_prompt(p.prompt);
}

std::optional<AuthorizeParams> read_params(const Params& q, std::optional<FlowOutcome>& error) {
    AuthorizeParams p;
    p.client_id = first(q, "client_id").value_or("");
    p.redirect_uri = first(q, "redirect_uri").value_or("");
    p.response_type = first(q, "response_type").value_or("");
    p.scope = first(q, "scope").value_or("");
    p.code_challenge = first(q, "code_challenge").value_or("");
    // Google defaults the method to plain when only a challenge is given (google-auth-library-
    // nodejs src/auth/oauth2client.ts, CodeChallengeMethod).
    p.code_challenge_method = first(q, "code_challenge_method").value_or(p.code_challenge.empty() ? "" : "plain");
    p.access_type = first(q, "access_type").value_or("online");
    p.prompt = first(q, "prompt").value_or("");
    p.login_hint = first(q, "login_hint").value_or("");
    p.nonce = first(q, "nonce").value_or("");
    p.state = first(q, "state");
    const std::string igs = first(q, "include_granted_scopes").value_or("false");
    if (igs != "true" && igs != "false") {
        error = error_page(400, "invalid_request", "Invalid include_granted_scopes: " + igs);
        return std::nullopt;
    }
    p.include_granted_scopes = igs == "true";
    return p;
}

bool prompt_has(const AuthorizeParams& p, std::string_view word) {
    std::istringstream words(p.prompt);
    for (std::string w; words >> w;)
        if (w == word) return true;
    return false;
}

// Policies applied once the account is known; Google shows each on its own page.
std::optional<FlowOutcome> check_policies(const Scenario& sc, const Client& client, const Account& account,
                                          const ScopeList& scopes) {
    // "Internal" user type: only the project's organisation (https://support.google.com/cloud/answer/15549945).
    if (client.internal && account.hd.value_or("") != client.org_domain)
        return error_page(403, "org_internal",
                          client.name +
                              " can only be used within its organization. This client is restricted to "
                              "users within its organization.");
    // "Testing" status: listed test users only (googleworkspace/cli#281).
    if (client.testing &&
        std::find(client.test_users.begin(), client.test_users.end(), account.email) == client.test_users.end())
        return error_page(403, "access_denied",
                          client.name +
                              " has not completed the Google verification process. The app is currently "
                              "being tested, and can only be accessed by developer-approved testers.");
    // A Workspace admin who allows only trusted apps blocks unverified ones asking for sensitive
    // scopes (https://developers.google.com/identity/protocols/oauth2/production-readiness/
    // sensitive-scope-verification; GAM-team/got-your-back#284 for the error name).
    const bool sensitive =
        std::any_of(scopes.begin(), scopes.end(), [](const auto& s) { return !is_sign_in_scope(s); });
    const Domain* domain = account.hd ? sc.domain(*account.hd) : nullptr;
    if (domain && domain->blocks_unverified_apps && !client.verified && sensitive)
        return error_page(400, "admin_policy_enforced",
                          "Access blocked: " + *account.hd + "'s admin needs to review " + client.name + ".");
    return std::nullopt;
}

std::string with_params(const std::string& uri, const std::vector<std::pair<std::string, std::string>>& params) {
    std::string url = uri + (uri.find('?') == std::string::npos ? '?' : '&');
    for (std::size_t i = 0; i < params.size(); ++i)
        url += (i ? "&" : "") + params[i].first + "=" + sandbox::url_encode(params[i].second);
    return url;
}

FlowOutcome redirect_error(const PendingFlow& flow, const std::string& error) {
    std::vector<std::pair<std::string, std::string>> q{{"error", error}};
    if (flow.params.state) q.emplace_back("state", *flow.params.state);
    FlowOutcome o;
    o.page = Page::redirect;
    o.redirect_url = with_params(flow.params.redirect_uri, q);
    return o;
}

}  // namespace

namespace {

// The success redirect: state, iss (RFC 9207), code, scope, authuser, hd for Workspace
// accounts, prompt (davido/gerrit-oauth-provider#141 for the shape; the code starts "4/0"
// and contains '/', google/device-access-sample-web-app#5).
FlowOutcome issue_code(Service& svc, const PendingFlow& flow, const Account& account, const ScopeList& granted,
                       bool consent_shown) {
    auto& st = svc.state;
    const auto& settings = st.scenario.settings;
    std::string code;
    do {
        code = "4/0A" + sandbox::random_urlsafe(settings.code_length - 4);
        code[20] = '/';  // a '/' inside, as in Google's codes: clients must decode exactly once
    } while (st.codes.count(code));
    sandbox::record_issued_secret(code);
    AuthCode rec;
    rec.client_id = flow.params.client_id;
    rec.redirect_uri = flow.params.redirect_uri;
    rec.email = account.email;
    rec.code_challenge = flow.params.code_challenge;
    rec.code_challenge_method = flow.params.code_challenge_method;
    rec.nonce = flow.params.nonce;
    rec.scopes = granted;
    rec.offline = flow.params.access_type == "offline";
    rec.consent_prompted = prompt_has(flow.params, "consent");
    rec.issued = svc.now();
    st.codes[code] = rec;

    std::vector<std::pair<std::string, std::string>> q;
    if (flow.params.state) q.emplace_back("state", *flow.params.state);
    q.emplace_back("iss", settings.issuer);
    q.emplace_back("code", code);
    q.emplace_back("scope", join_scopes(granted));
    q.emplace_back("authuser", "0");
    if (account.hd) q.emplace_back("hd", *account.hd);
    q.emplace_back("prompt", consent_shown ? "consent" : "none");
    FlowOutcome o;
    o.page = Page::redirect;
    o.redirect_url = with_params(flow.params.redirect_uri, q);
    return o;
}

// The granted set: the sign-in scopes asked for, the ticked boxes, and with
// include_granted_scopes=true what this client already holds.
ScopeList granted_scopes(Service& svc, const PendingFlow& flow, const std::set<std::string>& unticked) {
    ScopeList out;
    for (const auto& s : flow.scopes)
        if (is_sign_in_scope(s) || !unticked.count(s)) out.push_back(s);
    auto& grant = svc.state.grants[{*flow.email, flow.params.client_id}];
    for (const auto& s : out) grant.insert(s);
    if (flow.params.include_granted_scopes)
        for (const auto& s : grant)
            if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    return out;
}

FlowOutcome after_account(Service& svc, const std::string& flow_id) {
    auto& flow = svc.state.flows.at(flow_id);
    const Scenario& sc = svc.state.scenario;
    const Account& account = *sc.account(*flow.email);
    if (auto refused = check_policies(sc, *sc.client(flow.params.client_id), account, flow.scopes)) return *refused;
    const auto& held = svc.state.grants[{account.email, flow.params.client_id}];
    const bool all_held = std::all_of(flow.scopes.begin(), flow.scopes.end(),
                                      [&](const auto& s) { return is_sign_in_scope(s) || held.count(s); });
    if (prompt_has(flow.params, "none") && !all_held) return redirect_error(flow, "consent_required");
    if (all_held && !prompt_has(flow.params, "consent")) {
        auto granted = granted_scopes(svc, flow, {});
        return issue_code(svc, flow, account, granted, false);
    }
    FlowOutcome o;
    o.page = Page::consent;
    o.flow_id = flow_id;
    return o;
}

}  // namespace

// Step 1: GET /o/oauth2/v2/auth.
FlowOutcome start_flow(Service& svc, const Params& query) {
    std::optional<FlowOutcome> error;
    auto params = read_params(query, error);
    if (!params) return *error;
    if (auto refused = check_client(svc.state.scenario, *params)) return *refused;
    PendingFlow flow;
    flow.params = *params;
    if (auto refused = check_parameters(flow.params, flow.scopes)) return *refused;
    const Account* hinted = svc.state.scenario.account(flow.params.login_hint);
    const std::string flow_id = sandbox::random_urlsafe(24);
    if (hinted) flow.email = hinted->email;
    svc.state.flows[flow_id] = flow;
    if (prompt_has(flow.params, "none") && !hinted) return redirect_error(flow, "login_required");
    if (hinted && !prompt_has(flow.params, "select_account")) return after_account(svc, flow_id);
    FlowOutcome o;
    o.page = Page::chooser;
    o.flow_id = flow_id;
    return o;
}

// Step 2: the account chooser's answer.
FlowOutcome choose_account(Service& svc, const std::string& flow_id, const std::string& email) {
    auto it = svc.state.flows.find(flow_id);
    if (it == svc.state.flows.end()) return error_page(400, "invalid_request", "This sign-in flow has expired.");
    const Account* account = svc.state.scenario.account(email);
    if (!account) return error_page(400, "invalid_request", "Couldn't find your Google Account: " + email);
    it->second.email = account->email;
    return after_account(svc, flow_id);
}

// Step 3: the consent page's answer. `unticked`: the checkboxes the user cleared.
FlowOutcome answer_consent(Service& svc, const std::string& flow_id, Answer answer,
                           const std::set<std::string>& unticked) {
    auto it = svc.state.flows.find(flow_id);
    if (it == svc.state.flows.end() || !it->second.email)
        return error_page(400, "invalid_request", "This sign-in flow has expired.");
    const PendingFlow flow = it->second;
    svc.state.flows.erase(it);
    if (answer == Answer::deny) return redirect_error(flow, "access_denied");
    const Account& account = *svc.state.scenario.account(*flow.email);
    return issue_code(svc, flow, account, granted_scopes(svc, flow, unticked), true);
}

const PendingFlow* find_flow(Service& svc, const std::string& flow_id) {
    auto it = svc.state.flows.find(flow_id);
    return it == svc.state.flows.end() ? nullptr : &it->second;
}

HttpResponse handle_authorize(Service& svc, const HttpRequest& request) {
    auto query = sandbox::parse_form(request.query);
    if (!query) return render_outcome(svc, error_page(400, "invalid_request", "The request is malformed."));
    return render_outcome(svc, start_flow(svc, *query));
}

HttpResponse handle_chooser_post(Service& svc, const HttpRequest& request) {
    const auto form = sandbox::parse_form(request.body).value_or(Params{});
    return render_outcome(svc, choose_account(svc, sandbox::param(form, "flow").value_or(""),
                                              sandbox::param(form, "email").value_or("")));
}

HttpResponse handle_consent_post(Service& svc, const HttpRequest& request) {
    const auto form = sandbox::parse_form(request.body).value_or(Params{});
    const std::string flow_id = sandbox::param(form, "flow").value_or("");
    std::set<std::string> unticked;
    if (const PendingFlow* flow = find_flow(svc, flow_id)) {
        for (const auto& s : flow->scopes) unticked.insert(s);
        for (auto [it, end] = form.equal_range("scope"); it != end; ++it) unticked.erase(it->second);
    }
    const Answer answer = sandbox::param(form, "action").value_or("") == "allow" ? Answer::allow : Answer::deny;
    return render_outcome(svc, answer_consent(svc, flow_id, answer, unticked));
}

AutopilotResult run_autopilot(Service& svc, const AutopilotRequest& request) {
    AutopilotResult r;
    const auto q = request.authorize_url.find('?');
    auto query = sandbox::parse_form(q == std::string::npos ? "" : request.authorize_url.substr(q + 1));
    FlowOutcome o = query ? start_flow(svc, *query) : error_page(400, "invalid_request", "The request is malformed.");
    if (o.page == Page::chooser) o = choose_account(svc, o.flow_id, request.user);
    if (o.page == Page::consent) {
        r.consent_page_shown = true;
        o = answer_consent(svc, o.flow_id, request.answer, request.untick);
    }
    if (o.page == Page::redirect) {
        r.callback_url = o.redirect_url;
    } else {
        r.error_code = o.error_code;
        r.error_status = o.error_status;
        r.error_message = o.error_message;
    }
    return r;
}

}  // namespace google_sandbox::detail
