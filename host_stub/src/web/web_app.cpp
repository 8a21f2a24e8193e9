#include "web/web_app.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"
#include "web/http_helpers.hpp"

#include <boost/json.hpp>
#include <boost/url/parse_query.hpp>

namespace host {

namespace json = boost::json;

namespace web {

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    auto q = boost::urls::parse_query(body);
    if (!q) return out;
    for (auto p : q.value())
        if (p.has_value) out[p.key.decode({true})] = p.value.decode({true});
    return out;
}

WebResponse redirect(const std::string& location) { return WebResponse{303, {{"Location", location}}, ""}; }

WebResponse html(int status, std::string body, std::vector<std::pair<std::string, std::string>> extra) {
    extra.insert(extra.begin(),
                 {{"Content-Type", "text/html; charset=utf-8"},
                  {"Cache-Control", "no-store"},
                  {"X-Frame-Options", "DENY"},
                  {"Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self' *"}});
    return WebResponse{status, std::move(extra), std::move(body)};
}

WebResponse json_response(int status, const json::value& v) {
    return WebResponse{
        status, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}, json::serialize(v)};
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

}  // namespace web

namespace {

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;justify-content:space-between;align-items:center}
header form{margin:0} main{max-width:920px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} .crumb{color:#667;margin-bottom:20px} main>h2,section>h2{font-size:18px}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:16px 20px;margin-bottom:16px}
.card h2,.card h3{font-size:17px;margin:0 0 8px} .card h4{font-size:15px;margin:12px 0 4px} .muted{color:#667;font-size:14px}
fieldset{border:0;padding:0;margin:0 0 12px} legend{font-weight:600;padding:0;margin-bottom:4px}
.for-it{background:#f5f6f8;border-radius:6px;padding:8px 12px} .for-it dt{font-weight:600;margin-top:6px} .for-it dd{margin:2px 0 0}
button.copy{padding:2px 8px;font-size:12px} .offer{margin:10px 0}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:13px;font-weight:600}
.ok{background:#e3f6e8;color:#17612f} .warn{background:#fff4d6;color:#7a5300} .bad{background:#fde4e4;color:#8a1c1c} .off{background:#eceef2;color:#445}
.flash{padding:10px 14px;border-radius:6px;margin-bottom:12px} .flash.success{background:#e3f6e8} .flash.error{background:#fde4e4} .flash.warning{background:#fff4d6} .flash.info{background:#e6eefc}
button{background:#2156d9;color:#fff;border:0;border-radius:6px;padding:7px 14px;font-size:14px;cursor:pointer}
button.secondary{background:#e9ecf2;color:#1d2330} button.danger{background:#b42318}
input[type=text],input[type=email],textarea{width:100%;box-sizing:border-box;padding:6px 8px;border:1px solid #c8cdd6;border-radius:5px;font:inherit}
table{width:100%;border-collapse:collapse;font-size:14px} td,th{text-align:left;padding:6px 4px;border-bottom:1px solid #eef0f4}
code{background:#f0f2f5;padding:1px 5px;border-radius:4px;word-break:break-all} label{display:block;margin:6px 0}
a{word-break:break-all}
</style>)";

}  // namespace

using view::esc;
using web::hidden;
using web::html;
using web::json_response;
using web::redirect;

WebApp::WebApp(HostRuntime& runtime, std::string public_url, uint16_t listen_port, SessionLimits limits)
    : rt_(runtime),
      public_url_(std::move(public_url)),
      allowed_hosts_(web::hosts_naming_us(public_url_, runtime.config.web.listen_address, listen_port)),
      limits_(std::move(limits)) {}

std::string WebApp::page(const std::string& title, const std::string& header_right, const std::string& content) const {
    const std::string& product = rt_.config.web.product_name;
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) + " - " +
           esc(product) + "</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" + kStyle +
           "</head><body><header><strong id=\"product-name\">" + esc(product) + "</strong>" + header_right +
           "</header><main>" + content + "</main></body></html>";
}

ProviderStatus WebApp::provider_status(const std::string& user_id, const std::string& provider_id) {
    ProviderStatus s;
    try {
        s = rt_.providers->require(provider_id)->status(user_id);
    } catch (const ProviderUnavailable&) {
        return parse_status(json::object{{"state", "unavailable"}});
    } catch (const StatusUnreadable& e) {
        return parse_status(json::object{{"state", "error"}, {"message", e.answer().result.document}});
    }
    // When the host last had the provider confirm this state with its service (the stored
    // state is what that check left behind); "checking" while a check is under way.
    if (auto known = rt_.checks->last_known(user_id, provider_id)) {
        if (known->checked_at_ms > 0) s.document["checked_at"] = s.checked_at = iso_time(known->checked_at_ms);
        if (known->in_flight) s.document["checking"] = true;
    }
    return s;
}

// The page never waits for the provider's service: it shows the last known state and starts a check when
// the last one is older than keep_alive.page_check_after_seconds; the next load shows it.
void WebApp::check_if_stale(const std::string& user_id, const std::string& provider_id) {
    try {
        rt_.checks->check_if_stale(user_id, provider_id);
    } catch (const std::exception& e) {
        rt_.logger.log(EP_LOG_WARN, "web", "could not start a connection check: " + std::string(e.what()));
    }
}

// ---- routing -------------------------------------------------------------------------------

std::string WebApp::route_pattern(const std::string& path) const {
    static const std::set<std::string, std::less<>> kRoutes{"/",
                                                            "/healthz",
                                                            "/readyz",
                                                            "/favicon.ico",
                                                            "/signin",
                                                            "/signout",
                                                            "/api/state",
                                                            "/_debug/clock",
                                                            "/settings/page.js",
                                                            "/settings/communication",
                                                            "/settings/communication/outbox",
                                                            "/settings/communication/integrations",
                                                            "/settings/communication/connect",
                                                            "/settings/communication/disconnect",
                                                            "/settings/communication/preferences",
                                                            "/settings/communication/nudge",
                                                            "/settings/communication/resend",
                                                            "/settings/communication/outbox/send",
                                                            "/settings/communication/outbox/discard",
                                                            "/settings/account/delete"};
    if (is_callback(path)) return "{callback}";
    return kRoutes.contains(path) ? path : "other";
}

// The callback path itself, or one segment below it (a provider's own callback).
bool WebApp::is_callback(const std::string& path) const {
    const std::string& callback = rt_.config.web.callback_path;
    return path == callback ||
           (path.starts_with(callback + "/") && path.find('/', callback.size() + 1) == std::string::npos);
}

// Not behind the Host check (like /healthz): load balancers and probes name the server as they like.
WebResponse WebApp::readyz() {
    std::vector<std::string> problems = rt_.not_ready();
    json::array not_ready(problems.begin(), problems.end());
    return json_response(problems.empty() ? 200 : 503,
                         json::object{{"ready", problems.empty()}, {"not_ready", std::move(not_ready)}});
}

WebResponse WebApp::route(const WebRequest& r) {
    std::string path = web::path_of(r.target);
    if (path == "/healthz") return WebResponse{200, {{"Content-Type", "text/plain"}}, "ok\n"};
    if (path == "/readyz") return readyz();
    // DNS rebinding: a page at evil.example whose name now points at this server is same-origin
    // to the browser, but its requests still say Host: evil.example.
    if (!host_allowed(r.header("host")))
        return WebResponse{421,
                           {{"Content-Type", "text/plain; charset=utf-8"}},
                           "Misdirected request: the Host header does not name this server.\n"};
    std::string sid = session_id_of(r);
    if (path == "/_debug/clock" && !rt_.config.web.debug_clock)
        return html(404, page("Not found", "", "<p>Not found.</p>"));
    if (path == "/favicon.ico") return WebResponse{404, {{"Content-Type", "text/plain"}}, ""};
    if (path == "/settings/page.js" && r.method == "GET")
        return WebResponse{
            200, {{"Content-Type", "text/javascript; charset=utf-8"}, {"Cache-Control", "no-cache"}}, view::script()};
    if (path == "/signin" && r.method == "GET")
        return sign_in_page(sid, {},
                            r.target.ends_with("?deleted=1") ? "Your account was deleted, with your settings, "
                                                               "your outbox and every stored connection."
                                                             : "");
    if (path == "/signin" && r.method == "POST") {
        if (!from_our_origin(r))
            return html(403, page("Refused", "", "<p>Refused: the request came from another site.</p>"));
        return sign_in(r);
    }

    // A provider sends an administrator's admin-consent answer here too; it needs no session.
    if (r.method == "GET" && is_callback(path))
        return callback(sid, r, path.substr(std::min(path.size(), rt_.config.web.callback_path.size() + 1)));

    std::string user = user_of(sid);
    if (!user.empty() && !user_may_sign_in(user)) {
        // Deleted, or removed from the host config, since this session signed in.
        std::lock_guard lock(mutex_);
        erase_session(sid);
        user.clear();
    }
    if (user.empty()) return redirect("/signin");
    return route_signed_in(r, path, sid);
}

WebResponse WebApp::route_signed_in(const WebRequest& r, const std::string& path, const std::string& sid) {
    if (path == "/" && r.method == "GET") return redirect("/settings/communication");
    if (path == "/settings/communication" && r.method == "GET") return settings_page(sid);
    if (path == "/api/state" && r.method == "GET") return api_state(sid);
    if (path == "/settings/communication/outbox" && r.method == "GET") return fragment(sid, "outbox");
    if (path == "/settings/communication/integrations" && r.method == "GET") return fragment(sid, "integrations");
    if (r.method != "POST") return html(404, page("Not found", "", "<p>Not found.</p>"));

    // Every state-changing request: from our own page, with the session's CSRF token (a form
    // field, or for the JSON debug clock an X-CSRF-Token header).
    if (!from_our_origin(r))
        return html(403, page("Refused", "", "<p>Refused: the request came from another site.</p>"));
    if (path == "/_debug/clock") {
        if (!web::same_secret(r.header("x-csrf-token"), csrf_of(sid)))
            return json_response(403, json::object{{"error", "send the session's CSRF token in X-CSRF-Token"}});
        return debug_clock(r);
    }
    Form form = web::parse_form(r.body);
    if (!web::same_secret(form["csrf"], csrf_of(sid)))
        return html(403, page("Refused", "",
                              "<p>Refused: the form is stale or did not come from this page. "
                              "<a href=\"/settings/communication\">Reload the page</a> and try again.</p>"));
    if (path == "/signout") {
        std::lock_guard lock(mutex_);
        erase_session(sid);
        return redirect("/signin");
    }
    if (path == "/settings/communication/connect") return connect(sid, form);
    if (path == "/settings/communication/disconnect") return disconnect(sid, form);
    if (path == "/settings/communication/preferences") return save_preferences(sid, form);
    if (path == "/settings/communication/nudge") return send_test_nudge(sid, form);
    if (path == "/settings/communication/resend") return resend(sid, form);
    if (path == "/settings/communication/outbox/send") return decide_held(sid, form, true);
    if (path == "/settings/communication/outbox/discard") return decide_held(sid, form, false);
    if (path == "/settings/account/delete") return delete_account(sid);
    return html(404, page("Not found", "", "<p>Not found.</p>"));
}

// ---- the settings page ---------------------------------------------------------------------

// The cards of the providers this user may see: developer-only ones (the mock) only when the
// config shows them; those that failed to load stay, so that the reason is seen.
std::vector<view::Card> WebApp::cards(const std::string& user_id) {
    CommunicationSettings settings = rt_.store->settings(user_id);
    std::vector<view::Card> out;
    for (const auto& e : rt_.providers->entries()) {
        view::Card c;
        c.id = e.id.empty() ? "unknown" : e.id;
        c.name = e.display_name.empty() ? c.id : e.display_name;
        c.available = e.available();
        c.load_error = e.reason();
        c.loaded = e.instance != nullptr;
        if (c.available) {
            check_if_stale(user_id, e.id);
            c.status = provider_status(user_id, e.id);
            if (c.status.developer_only && !rt_.config.web.show_developer_providers) continue;
            c.checking = c.status.document.contains("checking");
            c.interactive = (e.instance->info().capabilities & EP_CAP_INTERACTIVE_CONNECT) != 0;
            c.chosen = settings.preferred_channel == "email" && settings.email_provider == e.id;
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::string WebApp::outbox_html(const std::string& user_id, const std::vector<Nudge>& nudges,
                                const std::vector<view::Card>& cards, const std::string& csrf) {
    std::map<std::string, view::Via> via;
    // The mailbox is the account's as its provider knows it, also once the connection ended.
    for (const auto& c : cards) via[c.id] = view::Via{c.name, c.status.mailbox, c.connected()};
    return view::outbox(nudges, via, csrf, view::daily_allowance(rt_.outbox->daily_allowance(user_id)));
}

WebResponse WebApp::settings_page(const std::string& sid) {
    std::string user_id = user_of(sid);
    std::string csrf = csrf_of(sid);
    auto user = rt_.store->user(user_id);
    if (!user) return redirect("/signin");
    CommunicationSettings settings = rt_.store->settings(user_id);
    // The outbox is read before the providers' states: a plugin records a connection's end
    // before it answers the send, so a nudge shown held for that reason is never shown beside
    // a card still saying Connected.
    auto nudges = rt_.store->outbox(user_id);
    std::vector<view::Card> all = cards(user_id);

    std::string header_right = "<form method=\"post\" action=\"/signout\">" + hidden(csrf) +
                               "<span id=\"signed-in-as\">" + esc(user->display_name) +
                               "</span> &nbsp;<button class=\"secondary\" id=\"sign-out\">Sign out</button></form>";
    std::string b = "<h1>Communication</h1><p class=\"crumb\">Settings &gt; Communication</p>";
    for (const auto& f : take_flashes(sid))
        b += "<div class=\"flash " + esc(f.kind) + "\" role=\"status\">" + esc(f.text) + "</div>";
    b += "<section aria-labelledby=\"integrations-heading\"><h2 id=\"integrations-heading\">Integrations</h2>" +
         view::integrations(all, csrf) + "</section>";
    b += "<section class=\"card\" aria-labelledby=\"preferences-heading\"><h2 "
         "id=\"preferences-heading\">Preferences</h2>" +
         view::preferences(all, settings, csrf) + "</section>";
    b += "<section class=\"card\" aria-labelledby=\"nudge-heading\"><h2 id=\"nudge-heading\">Send a test nudge</h2>"
         "<form method=\"post\" action=\"/settings/communication/nudge\">" +
         hidden(csrf) +
         "<label>To <input type=\"email\" name=\"to\" id=\"nudge-to\" required></label>"
         "<label>Subject <input type=\"text\" name=\"subject\" id=\"nudge-subject\" value=\"Quick follow-up\"></label>"
         "<label>Message <textarea name=\"text\" id=\"nudge-text\" rows=\"3\">Hi! Just following up on our "
         "conversation.</textarea></label>"
         "<label>Follows nudge # <span class=\"muted\">(optional: it goes out in that conversation)</span> "
         "<input type=\"text\" name=\"follows\" id=\"nudge-follows\" inputmode=\"numeric\" "
         "placeholder=\"e.g. 12\"></label>"
         "<p><button id=\"send-nudge\">Send test nudge</button></p></form></section>";
    b += "<section class=\"card\" aria-labelledby=\"outbox-heading\"><h2 id=\"outbox-heading\">Outbox</h2>" +
         outbox_html(user_id, nudges, all, csrf) + "</section>";
    b +=
        "<section class=\"card\" aria-labelledby=\"delete-heading\"><h2 id=\"delete-heading\">Delete my account</h2>"
        "<form method=\"post\" action=\"/settings/account/delete\" data-confirm=\"Delete your account? Your settings, "
        "your outbox and every connection are deleted, and this cannot be undone.\">" +
        hidden(csrf) +
        "<p class=\"muted\">Deletes your user, your settings and outbox, and every token any provider "
        "stored for you.</p><button class=\"danger\" id=\"delete-account\">Delete my account</button></form></section>";
    b += "<script src=\"/settings/page.js\"></script>";
    return html(200, page("Settings > Communication", header_right, b));
}

// The parts the page's script reloads: the same renderers as the page.
WebResponse WebApp::fragment(const std::string& sid, const std::string& part) {
    std::string user_id = user_of(sid);
    auto nudges = rt_.store->outbox(user_id);  // before the states, as on the page
    std::vector<view::Card> all = cards(user_id);
    return html(200, part == "outbox" ? outbox_html(user_id, nudges, all, csrf_of(sid))
                                      : view::integrations(all, csrf_of(sid)));
}

WebResponse WebApp::api_state(const std::string& sid) {
    std::string user_id = user_of(sid);
    auto nudges = rt_.store->outbox(user_id, 200);  // before the states, as on the page
    json::object providers;
    for (const auto& e : rt_.providers->entries())
        if (!e.id.empty()) {
            if (e.available()) check_if_stale(user_id, e.id);
            providers[e.id] = e.available() ? json::value(provider_status(user_id, e.id).document)
                                            : json::value(json::object{{"state", "unavailable"}, {"error", e.error}});
        }
    json::array outbox;
    for (const auto& n : nudges)
        outbox.push_back(json::object{{"id", n.id},
                                      {"to", n.to},
                                      {"subject", n.subject},
                                      {"provider", n.provider},
                                      {"state", to_string(n.state)},
                                      {"code", n.last_code},
                                      {"message", n.last_message},
                                      {"client_request_id", n.client_request_id},
                                      {"request_id", n.request_id},
                                      {"stranded", is_stranded(n)},
                                      {"follows", n.thread.follows_id},
                                      {"thread_root", n.thread.root_id},
                                      {"in_thread_with", thread_label(n)},
                                      {"message_id", n.thread.message_id},
                                      {"sent_message_id", n.thread.sent_message_id},
                                      {"provider_thread_id", n.thread.provider_thread_id}});
    CommunicationSettings s = rt_.store->settings(user_id);
    return json_response(200, json::object{{"user", user_id},
                                           {"preferred_channel", s.preferred_channel},
                                           {"email_provider", s.email_provider},
                                           {"providers", providers},
                                           {"outbox", outbox}});
}

}  // namespace host
