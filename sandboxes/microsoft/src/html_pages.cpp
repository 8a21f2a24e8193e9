#include "html_pages.hpp"

#include "errors.hpp"

namespace ms_sandbox::detail {

namespace {

std::string layout(const std::string& title, const std::string& body) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title><style>body{font-family:sans-serif;max-width:440px;margin:40px auto}"
           "button{margin:4px}.error{color:#a80000}</style></head><body>\n"
           "<div id=\"banner\">Microsoft (sandbox)</div>\n<h1 id=\"page-title\">" +
           html_escape(title) + "</h1>\n" + body + "\n</body></html>\n";
}

std::string hidden(const std::string& name, const std::string& value) {
    return "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" + html_escape(value) + "\">";
}

std::string error_block(int code, const std::string& message) {
    if (code == 0) return {};
    return "<div class=\"error\"><div id=\"error-code\">AADSTS" + std::to_string(code) +
           "</div><div id=\"error-message\">" + html_escape(message) + "</div></div>\n";
}

std::string app_block(const App& app) {
    return "<div id=\"app\"><div id=\"app-name\">" + html_escape(app.display_name) +
           "</div>"
           "<div id=\"app-publisher\">" +
           html_escape(app.publisher) +
           "</div>"
           "<div>Application (client) ID: <span id=\"app-client-id\">" +
           html_escape(app.client_id) + "</span></div></div>\n";
}

std::string permission_list(const ScopeList& scopes) {
    std::string out = "<ul id=\"permissions\">";
    for (const auto& s : scopes)
        out += "<li data-scope=\"" + html_escape(s) + "\">" + html_escape(consent_text(s)) + "</li>";
    return out + "</ul>\n";
}

std::string return_link(const std::string& tenant, const std::string& flow_id) {
    return "<p><a id=\"return-to-app\" href=\"/" + url_encode(tenant) +
           "/oauth2/v2.0/return?flow=" + url_encode(flow_id) +
           "\">Return to the application without granting consent</a></p>\n";
}

HttpResponse html(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.set_header("Content-Type", "text/html; charset=utf-8");
    r.set_header("Cache-Control", "no-store, no-cache");
    r.set_header("X-Frame-Options", "DENY");
    r.body = std::move(body);
    return r;
}

}  // namespace

HttpResponse render_error_page(int code, const std::string& message, const RequestContext& ctx) {
    std::string body = "<p>Sorry, but we're having trouble signing you in.</p>\n" + error_block(code, message) +
                       "<div id=\"trace\">Request Id: <span id=\"request-id\">" + ctx.request_id +
                       "</span><br>Correlation Id: <span id=\"correlation-id\">" + ctx.correlation_id +
                       "</span><br>Timestamp: " + aad_timestamp(ctx.now) + "</div>";
    return html(400, layout("Sign in", body));
}

namespace {

// The redirect back to the app: a 302, or for response_mode=form_post a self-submitting form.
HttpResponse redirect_page(Service& svc, const FlowOutcome& o) {
    if (o.redirect.response_mode == "form_post") {
        std::string body = "<form method=\"POST\" name=\"hiddenform\" id=\"form-post\" action=\"" +
                           html_escape(o.redirect.redirect_uri) + "\">";
        for (const auto& [k, v] : o.redirect.params) body += hidden(k, v);
        body +=
            "<noscript><p>Script is disabled. Click Submit to continue.</p>"
            "<input type=\"submit\" id=\"form-post-submit\" value=\"Submit\"></noscript></form>"
            "<script>document.forms[0].submit();</script>";
        return html(200, "<!DOCTYPE html><html><head><title>Working...</title></head><body>" + body + "</body></html>");
    }
    HttpResponse r = html(302, "");
    r.set_header("Location", o.redirect.url(svc.state.scenario.settings.redirect_trailing_hash));
    return r;
}

HttpResponse sign_in_page(Service& svc, const PendingFlow* flow, const App* app, const FlowOutcome& o,
                          const std::string& t) {
    const std::string hint = flow ? flow->params.login_hint : "";
    std::string body = (app ? app_block(*app) : "") + error_block(o.code, o.message) +
                       "<form id=\"sign-in-form\" method=\"POST\" action=\"/" + t + "/login\">" +
                       hidden("flow", o.flow_id) +
                       "<label for=\"i0116\">Email, phone, or Skype</label>"
                       "<input type=\"email\" name=\"login\" id=\"i0116\" list=\"known-accounts\" value=\"" +
                       html_escape(hint) +
                       "\" autofocus>"
                       "<label for=\"i0118\">Password</label><input type=\"password\" name=\"passwd\" id=\"i0118\">"
                       "<button type=\"submit\" name=\"action\" value=\"signin\" id=\"idSIButton9\">Sign in</button>"
                       "<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"idBtn_Back\">Back</button>"
                       "</form>\n<datalist id=\"known-accounts\">";
    for (const auto& u : svc.state.scenario.users) body += "<option value=\"" + html_escape(u.upn) + "\">";
    body += "</datalist>";
    return html(200, layout("Sign in", body));
}

HttpResponse consent_page(Service& svc, const PendingFlow* flow, const App* app, const FlowOutcome& o,
                          const std::string& t) {
    const User* u = flow && flow->upn ? svc.state.scenario.user(*flow->upn) : nullptr;
    std::string body = (app ? app_block(*app) : "") + "<div id=\"signed-in-as\">" + html_escape(u ? u->upn : "") +
                       "</div><p>This app would like to:</p>" + permission_list(flow ? flow->scopes : ScopeList{}) +
                       "<form id=\"consent-form\" method=\"POST\" action=\"/" + t + "/Consent/Set\">" +
                       hidden("flow", o.flow_id);
    if (u && u->is_admin)
        body +=
            "<label><input type=\"checkbox\" name=\"consent_on_behalf\" value=\"true\" id=\"consent-on-behalf\">"
            "Consent on behalf of your organization</label>";
    body +=
        "<button type=\"submit\" name=\"action\" value=\"accept\" id=\"idBtn_Accept\">Accept</button>"
        "<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"idBtn_Back\">Cancel</button>"
        "<button type=\"submit\" name=\"action\" value=\"decline\" id=\"idBtn_Decline\">Decline</button></form>";
    return html(200, layout("Permissions requested", body));
}

HttpResponse approval_required_page(const PendingFlow* flow, const App* app, const FlowOutcome& o,
                                    const std::string& tenant, const std::string& t) {
    std::string body = (app ? app_block(*app) : "") + error_block(o.code, o.message) +
                       permission_list(flow ? flow->scopes : ScopeList{}) +
                       "<form id=\"approval-form\" method=\"POST\" action=\"/" + t + "/ConsentApproval/Request\">" +
                       hidden("flow", o.flow_id) +
                       "<label for=\"justification\">Justification for requesting this app</label>"
                       "<textarea name=\"justification\" id=\"justification\" maxlength=\"1000\"></textarea>"
                       "<button type=\"submit\" id=\"idBtn_RequestApproval\">Request approval</button></form>" +
                       return_link(tenant, o.flow_id);
    return html(200, layout("Approval required", body));
}

}  // namespace

HttpResponse render_outcome(Service& svc, const std::string& tenant, const FlowOutcome& o, const RequestContext& ctx) {
    HttpResponse r;
    const PendingFlow* flow = nullptr;
    if (auto it = svc.state.flows.find(o.flow_id); it != svc.state.flows.end()) flow = &it->second;
    const App* app = flow ? svc.state.scenario.app(flow->params.client_id) : nullptr;
    const std::string t = url_encode(tenant);

    switch (o.page) {
        case Page::redirect:
            r = redirect_page(svc, o);
            break;
        case Page::error_page:
            r = render_error_page(o.code, o.message, ctx);
            break;
        case Page::sign_in:
            r = sign_in_page(svc, flow, app, o, t);
            break;
        case Page::consent:
            r = consent_page(svc, flow, app, o, t);
            break;
        case Page::approval_required:
            r = approval_required_page(flow, app, o, tenant, t);
            break;
        case Page::approval_requested: {
            std::string body = (app ? app_block(*app) : "") + "<p id=\"request-sent\">" + html_escape(o.message) +
                               "</p><div id=\"approval-request-id\">" + html_escape(o.approval_request_id) + "</div>" +
                               return_link(tenant, o.flow_id);
            r = html(200, layout("Request sent", body));
            break;
        }
        case Page::need_admin_approval: {
            std::string body =
                (app ? app_block(*app) : "") + error_block(o.code, o.message) +
                "<p>This app needs permission to access resources in your organization that only an admin "
                "can grant. Ask an admin to grant permission to this app before you can use it.</p>" +
                return_link(tenant, o.flow_id);
            r = html(200, layout("Need admin approval", body));
            break;
        }
        case Page::admin_consent_review: {
            std::string body =
                (app ? app_block(*app) : "") +
                "<p>Accepting grants these permissions for every user of your organization:</p>" +
                permission_list(flow ? flow->scopes : ScopeList{}) +
                "<form id=\"admin-consent-form\" method=\"POST\" action=\"/" + t + "/adminconsent/Set\">" +
                hidden("flow", o.flow_id) +
                "<button type=\"submit\" name=\"action\" value=\"accept\" id=\"idBtn_Accept\">Accept</button>"
                "<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"idBtn_Back\">Cancel</button></form>";
            r = html(200, layout("Permissions requested: accept for your organization", body));
            break;
        }
    }
    if (!o.sso_cookie.empty()) {
        const bool https = svc.base_url().rfind("https://", 0) == 0;
        r.set_header("Set-Cookie", "ESTSAUTH=" + o.sso_cookie + "; path=/; HttpOnly" +
                                       (https ? "; SameSite=None; secure" : "; SameSite=Lax"));
    }
    return r;
}

}  // namespace ms_sandbox::detail
