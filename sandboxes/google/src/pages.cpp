// The HTML pages: account chooser, consent (one checkbox per non-sign-in scope, ticked, as on
// https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions) and
// Google's error page ("Error 400: redirect_uri_mismatch"). Element ids are listed in README.md.
#include "service.hpp"

namespace google_sandbox::detail {

using sandbox::html_escape;

namespace {

std::string layout(const std::string& title, const std::string& body) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title></head><body>\n<div id=\"banner\">Google (sandbox)</div>\n<h1 id=\"page-title\">" +
           html_escape(title) + "</h1>\n" + body + "\n</body></html>\n";
}

std::string hidden(const std::string& name, const std::string& value) {
    return "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" + html_escape(value) + "\">";
}

const char* scope_text(const std::string& scope) {
    if (scope == kGmailSendScope) return "Send email on your behalf";
    if (scope == "https://www.googleapis.com/auth/gmail.readonly") return "View your email messages and settings";
    if (scope == "https://www.googleapis.com/auth/gmail.compose") return "Manage drafts and send emails";
    if (scope == "https://www.googleapis.com/auth/gmail.modify") return "Read, compose, and send emails";
    if (scope == "https://mail.google.com/") return "Read, compose, send, and permanently delete all your email";
    return "Associate you with your personal info on Google";
}

HttpResponse chooser_page(Service& svc, const FlowOutcome& o, const Client& client) {
    std::string body = "<p>to continue to <span id=\"app-name\">" + html_escape(client.name) +
                       "</span></p>\n<form id=\"chooser-form\" method=\"POST\" action=\"/o/oauth2/v2/auth/chooser\">" +
                       hidden("flow", o.flow_id) + "<ul id=\"accounts\">";
    for (const auto& a : svc.state.scenario.accounts)
        body += "<li><button type=\"submit\" name=\"email\" value=\"" + html_escape(a.email) + "\" data-email=\"" +
                html_escape(a.email) + "\">" + html_escape(a.name) + " " + html_escape(a.email) + "</button></li>";
    return html_response(200, layout("Choose an account", body + "</ul></form>"));
}

HttpResponse consent_page(const FlowOutcome& o, const PendingFlow& flow, const Client& client) {
    std::string body = "<div id=\"signed-in-as\">" + html_escape(flow.email.value_or("")) +
                       "</div><p><span id=\"app-name\">" + html_escape(client.name) +
                       "</span> wants access to your Google Account</p>\n"
                       "<form id=\"consent-form\" method=\"POST\" action=\"/o/oauth2/v2/auth/consent\">" +
                       hidden("flow", o.flow_id) + "<ul id=\"scopes\">";
    for (const auto& s : flow.scopes) {
        if (is_sign_in_scope(s)) continue;  // no box: sign-in is what the user is doing
        body += "<li><label><input type=\"checkbox\" name=\"scope\" checked value=\"" + html_escape(s) +
                "\" data-scope=\"" + html_escape(s) + "\">" + html_escape(scope_text(s)) + "</label></li>";
    }
    body +=
        "</ul><button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\">Cancel</button>"
        "<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Continue</button></form>";
    return html_response(200, layout("Sign in with Google", body));
}

// Google's own error page: the client gets no redirect at all.
HttpResponse error_page(const FlowOutcome& o) {
    const std::string heading = "Error " + std::to_string(o.error_status) + ": " + o.error_code;
    return html_response(o.error_status, layout("Access blocked", "<div id=\"error-code\">" + html_escape(heading) +
                                                                      "</div><div id=\"error-message\">" +
                                                                      html_escape(o.error_message) + "</div>"));
}

}  // namespace

HttpResponse render_outcome(Service& svc, const FlowOutcome& o) {
    using Page = FlowOutcome::Page;
    if (o.page == Page::redirect) {
        HttpResponse r = html_response(302, "");
        r.set_header("Location", o.redirect_url);
        return r;
    }
    const auto it = svc.state.flows.find(o.flow_id);
    if (o.page == Page::error || it == svc.state.flows.end()) return error_page(o);
    const Client& client = *svc.state.scenario.client(it->second.params.client_id);
    return o.page == Page::chooser ? chooser_page(svc, o, client) : consent_page(o, it->second, client);
}

}  // namespace google_sandbox::detail
