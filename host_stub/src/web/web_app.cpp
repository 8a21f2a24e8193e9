#include "web/web_app.hpp"

#include "providers/documents.hpp"
#include "core/host_util.hpp"
#include "web/settings_view.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>

namespace host {
namespace {

namespace json = boost::json;

using view::esc;

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    auto q = boost::urls::parse_query(body);
    if (!q) return out;
    for (auto p : q.value())
        if (p.has_value) out[p.key.decode({true})] = p.value.decode({true});
    return out;
}

WebResponse redirect(const std::string& location) { return WebResponse{303, {{"Location", location}}, ""}; }

WebResponse html(int status, std::string body, std::vector<std::pair<std::string, std::string>> extra = {}) {
    extra.insert(extra.begin(), {{"Content-Type", "text/html; charset=utf-8"},
                                 {"Cache-Control", "no-store"},
                                 {"X-Frame-Options", "DENY"},
                                 {"Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self' *"}});
    return WebResponse{status, std::move(extra), std::move(body)};
}

WebResponse json_response(int status, const json::value& v) {
    return WebResponse{status, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}, json::serialize(v)};
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

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

std::string hidden(const std::string& csrf) { return view::hidden_csrf(csrf); }

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool same_secret(const std::string& given, const std::string& expected) {
    return !expected.empty() && given.size() == expected.size() &&
           CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

// The Host header values that name this server: the public URL's authority (with and without
// its default port) and the listen address with the port (plus localhost on loopback).
std::set<std::string> hosts_naming_us(const std::string& public_url, const std::string& listen_address, uint16_t port) {
    std::set<std::string> hosts;
    if (auto url = boost::urls::parse_absolute_uri(public_url)) {
        std::string host = lower(std::string(url->encoded_host_address()));
        if (url->host_type() == boost::urls::host_type::ipv6) host = "[" + host + "]";
        std::string default_port = url->scheme() == "https" ? "443" : "80";
        if (!url->has_port() || url->port() == default_port) {
            hosts.insert(host);
            hosts.insert(host + ":" + default_port);
        } else {
            hosts.insert(host + ":" + std::string(url->port()));
        }
    }
    std::string listen = lower(listen_address);
    std::string suffix = ":" + std::to_string(port);
    hosts.insert((listen.find(':') != std::string::npos ? "[" + listen + "]" : listen) + suffix);
    if (listen.starts_with("127.") || listen == "::1") hosts.insert("localhost" + suffix);
    return hosts;
}

// A media type without its parameters: "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(const std::string& content_type) {
    std::string t = lower(content_type.substr(0, content_type.find(';')));
    t.erase(0, t.find_first_not_of(" \t"));
    t.erase(t.find_last_not_of(" \t") + 1);
    return t;
}

constexpr int64_t kMaxClockStepSeconds = 366LL * 24 * 3600;  // a year per call is plenty for a demo

}  // namespace

WebApp::WebApp(HostRuntime& runtime, std::string public_url, uint16_t listen_port, SessionLimits limits)
    : rt_(runtime),
      public_url_(std::move(public_url)),
      allowed_hosts_(hosts_naming_us(public_url_, runtime.config.web.listen_address, listen_port)),
      limits_(std::move(limits)) {}

std::string WebApp::page(const std::string& title, const std::string& header_right, const std::string& content) const {
    const std::string& product = rt_.config.web.product_name;
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) + " - " + esc(product) +
           "</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" + kStyle +
           "</head><body><header><strong id=\"product-name\">" + esc(product) + "</strong>" + header_right +
           "</header><main>" + content + "</main></body></html>";
}

// ---- sessions ------------------------------------------------------------------------------

std::string WebApp::session_id_of(const WebRequest& r) {
    std::string cookies = r.header("cookie");
    std::string_view c = cookies;
    while (!c.empty()) {
        auto semi = c.find(';');
        std::string_view part = c.substr(0, semi);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        if (part.starts_with("ep_session=")) return std::string(part.substr(11));
        if (semi == std::string_view::npos) break;
        c.remove_prefix(semi + 1);
    }
    return {};
}

WebApp::Session* WebApp::session(const std::string& id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    Session& s = it->second;
    auto now = limits_.now();
    if (now - s.last_seen > (s.user_id.empty() ? limits_.signed_out_idle : limits_.signed_in_idle)) {
        erase_session(id);
        return nullptr;
    }
    s.last_seen = now;
    auto& lru = lru_of(s);
    lru.splice(lru.end(), lru, s.lru_position);
    return &s;
}

std::string WebApp::create_session(const std::string& user_id, std::string csrf) {
    expire_sessions();
    auto& lru = user_id.empty() ? signed_out_lru_ : signed_in_lru_;
    std::size_t cap = user_id.empty() ? limits_.max_signed_out : limits_.max_signed_in;
    while (!lru.empty() && lru.size() >= cap) erase_session(lru.front());
    std::string id = random_hex(32);
    lru.push_back(id);
    sessions_[id] = Session{user_id, std::move(csrf), "", {}, limits_.now(), std::prev(lru.end())};
    return id;
}

void WebApp::erase_session(const std::string& id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    lru_of(it->second).erase(it->second.lru_position);
    sessions_.erase(it);
}

// The least recently used come first in each list: stop at the first one still fresh.
void WebApp::expire_sessions() {
    auto now = limits_.now();
    for (auto* lru : {&signed_in_lru_, &signed_out_lru_}) {
        auto idle = lru == &signed_in_lru_ ? limits_.signed_in_idle : limits_.signed_out_idle;
        while (!lru->empty() && now - sessions_.at(lru->front()).last_seen > idle) erase_session(lru->front());
    }
}

std::size_t WebApp::session_count() {
    std::lock_guard lock(mutex_);
    expire_sessions();
    return sessions_.size();
}

std::string WebApp::session_cookie(const std::string& id) const {
    return "ep_session=" + id + "; Path=/; HttpOnly; SameSite=Lax" + (public_url_.starts_with("https://") ? "; Secure" : "");
}

bool WebApp::host_allowed(const std::string& host_header) const { return allowed_hosts_.count(lower(host_header)) != 0; }

// A browser sends Origin with every POST; "null" comes from privacy modes and is left to the
// CSRF token. A missing Origin is a non-browser client, which has no ambient cookies to abuse.
bool WebApp::from_our_origin(const WebRequest& r) const {
    std::string origin = r.header("origin");
    return origin.empty() || origin == public_url_ || origin == "null";
}

// Only users still in the host config, and still in the store (not deleted since).
bool WebApp::user_may_sign_in(const std::string& user_id) {
    return rt_.is_configured_user(user_id) && rt_.store->user(user_id).has_value();
}

void WebApp::flash(const std::string& id, std::string kind, std::string text) {
    std::lock_guard lock(mutex_);
    if (Session* s = session(id)) s->flashes.push_back(Flash{std::move(kind), std::move(text)});
}

std::vector<WebApp::Flash> WebApp::take_flashes(const std::string& id) {
    std::lock_guard lock(mutex_);
    Session* s = session(id);
    if (!s) return {};
    return std::exchange(s->flashes, {});
}

std::string WebApp::user_of(const std::string& id) {
    std::lock_guard lock(mutex_);
    Session* s = session(id);
    return s ? s->user_id : std::string();
}

std::string WebApp::csrf_of(const std::string& id) {
    std::lock_guard lock(mutex_);
    Session* s = session(id);
    return s ? s->csrf : std::string();
}

json::object WebApp::provider_status(const std::string& provider_id, const std::string& user_id) {
    auto p = rt_.providers->find(provider_id);
    if (!p || !p->available()) return json::object{{"state", "unavailable"}};
    auto r = p->instance->status(user_id);
    boost::system::error_code ec;
    json::value v = json::parse(r.document, ec);
    if (ec || !v.is_object() || !r.ok()) return json::object{{"state", "error"}, {"message", r.document}};
    json::object s = v.as_object();
    // When the host last had the provider confirm this state with its service (the stored
    // state is what that check left behind); "checking" while a check is under way.
    if (auto known = rt_.checks->last_known(user_id, provider_id)) {
        if (known->checked_at_ms > 0) s["checked_at"] = iso_time(known->checked_at_ms);
        if (known->in_flight) s["checking"] = true;
    }
    return s;
}

// The page never waits for the provider's service: it shows the last known state and starts a check when
// the last one is older than keep_alive.page_check_after_seconds; the next load shows it.
void WebApp::check_if_stale(const std::string& provider_id, const std::string& user_id) {
    try {
        rt_.checks->check_if_stale(user_id, provider_id);
    } catch (const std::exception& e) {
        rt_.logger.log(EP_LOG_WARN, "web", "could not start a connection check: " + std::string(e.what()));
    }
}

// ---- routing -------------------------------------------------------------------------------

WebResponse WebApp::handle(const WebRequest& r) {
    WebResponse out = route(r);
    out.headers.emplace_back("X-Content-Type-Options", "nosniff");
    out.headers.emplace_back("Referrer-Policy", "same-origin");
    return out;
}

WebResponse WebApp::route(const WebRequest& r) {
    std::string path = path_of(r.target);
    if (path == "/healthz") return WebResponse{200, {{"Content-Type", "text/plain"}}, "ok\n"};
    // DNS rebinding: a page at evil.example whose name now points at this server is same-origin
    // to the browser, but its requests still say Host: evil.example.
    if (!host_allowed(r.header("host")))
        return WebResponse{421, {{"Content-Type", "text/plain; charset=utf-8"}},
                           "Misdirected request: the Host header does not name this server.\n"};
    std::string sid = session_id_of(r);
    if (path == "/_debug/clock" && !rt_.config.web.debug_clock) return html(404, page("Not found", "", "<p>Not found.</p>"));
    if (path == "/favicon.ico") return WebResponse{404, {{"Content-Type", "text/plain"}}, ""};
    if (path == "/settings/page.js" && r.method == "GET")
        return WebResponse{200, {{"Content-Type", "text/javascript; charset=utf-8"}, {"Cache-Control", "no-cache"}}, view::script()};
    if (path == "/signin" && r.method == "GET")
        return sign_in_page(sid, {}, r.target.ends_with("?deleted=1") ? "Your account was deleted, with your settings, "
                                                                        "your outbox and every stored connection." : "");
    if (path == "/signin" && r.method == "POST") {
        if (!from_our_origin(r)) return html(403, page("Refused", "", "<p>Refused: the request came from another site.</p>"));
        return sign_in(r);
    }

    // A provider sends an administrator's admin-consent answer here too; it needs no session.
    if (path == rt_.config.web.callback_path && r.method == "GET") return callback(sid, r);

    std::string user = user_of(sid);
    if (!user.empty() && !user_may_sign_in(user)) {
        // Deleted, or removed from the host config, since this session signed in.
        std::lock_guard lock(mutex_);
        erase_session(sid);
        user.clear();
    }
    if (user.empty()) return redirect("/signin");
    if (path == "/" && r.method == "GET") return redirect("/settings/communication");
    if (path == "/settings/communication" && r.method == "GET") return settings_page(sid);
    if (path == "/api/state" && r.method == "GET") return api_state(sid);
    if (path == "/settings/communication/outbox" && r.method == "GET") return fragment(sid, "outbox");
    if (path == "/settings/communication/integrations" && r.method == "GET") return fragment(sid, "integrations");
    if (r.method != "POST") return html(404, page("Not found", "", "<p>Not found.</p>"));

    // Every state-changing request: from our own page, with the session's CSRF token (a form
    // field, or for the JSON debug clock an X-CSRF-Token header).
    if (!from_our_origin(r)) return html(403, page("Refused", "", "<p>Refused: the request came from another site.</p>"));
    if (path == "/_debug/clock") {
        if (!same_secret(r.header("x-csrf-token"), csrf_of(sid)))
            return json_response(403, json::object{{"error", "send the session's CSRF token in X-CSRF-Token"}});
        return debug_clock(r);
    }
    Form form = parse_form(r.body);
    if (!same_secret(form["csrf"], csrf_of(sid)))
        return html(403, page("Refused", "", "<p>Refused: the form is stale or did not come from this page. "
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

// ---- sign-in -------------------------------------------------------------------------------

WebResponse WebApp::sign_in_page(const std::string& existing, const std::string& error, const std::string& notice) {
    std::string sid, csrf;
    {
        std::lock_guard lock(mutex_);
        Session* s = session(existing);
        if (s && s->user_id.empty()) {
            sid = existing;
            csrf = s->csrf;
        } else {
            csrf = random_hex(32);
            sid = create_session("", csrf);
        }
    }
    std::string body = "<h1>Sign in</h1><p class=\"crumb\">A local sign-in: pick a user.</p>";
    if (!error.empty()) body += "<div class=\"flash error\" role=\"alert\">" + esc(error) + "</div>";
    if (!notice.empty()) body += "<div class=\"flash info\" role=\"status\" id=\"signin-notice\">" + esc(notice) + "</div>";
    body += "<div class=\"card\"><form method=\"post\" action=\"/signin\">" + hidden(csrf) + "<fieldset><legend>User</legend>";
    auto users = rt_.store->users();
    std::erase_if(users, [&](const User& u) { return !user_may_sign_in(u.id); });
    if (users.empty()) body += "<p>No users are configured (host config \"users\").</p>";
    for (const auto& u : users)
        body += "<label><input type=\"radio\" name=\"user_id\" id=\"user-" + esc(u.id) + "\" value=\"" + esc(u.id) + "\"" +
                (u.id == users.front().id ? " checked" : "") + "> " + esc(u.display_name) + " <span class=\"muted\">(" +
                esc(u.id) + ")</span></label>";
    body += "</fieldset><p><button type=\"submit\" id=\"sign-in\">Sign in</button></p></form></div>";
    return html(200, page("Sign in", "", body), {{"Set-Cookie", session_cookie(sid)}});
}

WebResponse WebApp::sign_in(const WebRequest& r) {
    std::string sid = session_id_of(r);
    Form form = parse_form(r.body);
    std::string user_id = form["user_id"];
    bool valid_form;
    {
        std::lock_guard lock(mutex_);
        Session* s = session(sid);
        valid_form = s && same_secret(form["csrf"], s->csrf);
    }
    if (!valid_form) return sign_in_page(sid, "Your sign-in form expired; pick a user again.");
    if (!user_may_sign_in(user_id)) return sign_in_page(sid, "Unknown user.");
    // A fresh session id at sign-in: a session fixed before sign-in is worth nothing after.
    std::string new_sid;
    {
        std::lock_guard lock(mutex_);
        erase_session(sid);
        new_sid = create_session(user_id, random_hex(32));
    }
    return WebResponse{303, {{"Location", "/settings/communication"}, {"Set-Cookie", session_cookie(new_sid)}}, ""};
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
        c.load_error = e.error;
        if (c.available) {
            check_if_stale(e.id, user_id);
            json::object s = provider_status(e.id, user_id);
            c.status = parse_status(s);
            if (c.status.developer_only && !rt_.config.web.show_developer_providers) continue;
            c.checking = s.contains("checking");
            c.interactive = (e.loaded->api.capabilities & EP_CAP_INTERACTIVE_CONNECT) != 0;
            c.chosen = settings.preferred_channel == "email" && settings.email_provider == e.id;
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::string WebApp::outbox_html(const std::vector<Nudge>& nudges, const std::vector<view::Card>& cards,
                                const std::string& csrf) {
    std::map<std::string, view::Via> via;
    // The mailbox is the account's as its provider knows it, also once the connection ended.
    for (const auto& c : cards) via[c.id] = view::Via{c.name, c.status.email, c.connected()};
    return view::outbox(nudges, via, csrf);
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

    std::string header_right = "<form method=\"post\" action=\"/signout\">" + hidden(csrf) + "<span id=\"signed-in-as\">" +
                               esc(user->display_name) + "</span> &nbsp;<button class=\"secondary\" id=\"sign-out\">Sign out</button></form>";
    std::string b = "<h1>Communication</h1><p class=\"crumb\">Settings &gt; Communication</p>";
    for (const auto& f : take_flashes(sid))
        b += "<div class=\"flash " + esc(f.kind) + "\" role=\"status\">" + esc(f.text) + "</div>";
    b += "<section aria-labelledby=\"integrations-heading\"><h2 id=\"integrations-heading\">Integrations</h2>" +
         view::integrations(all, csrf) + "</section>";
    b += "<section class=\"card\" aria-labelledby=\"preferences-heading\"><h2 id=\"preferences-heading\">Preferences</h2>" +
         view::preferences(all, settings, csrf) + "</section>";
    b += "<section class=\"card\" aria-labelledby=\"nudge-heading\"><h2 id=\"nudge-heading\">Send a test nudge</h2>"
         "<form method=\"post\" action=\"/settings/communication/nudge\">" + hidden(csrf) +
         "<label>To <input type=\"email\" name=\"to\" id=\"nudge-to\" required></label>"
         "<label>Subject <input type=\"text\" name=\"subject\" id=\"nudge-subject\" value=\"Quick follow-up\"></label>"
         "<label>Message <textarea name=\"text\" id=\"nudge-text\" rows=\"3\">Hi! Just following up on our conversation.</textarea></label>"
         "<p><button id=\"send-nudge\">Send test nudge</button></p></form></section>";
    b += "<section class=\"card\" aria-labelledby=\"outbox-heading\"><h2 id=\"outbox-heading\">Outbox</h2>" +
         outbox_html(nudges, all, csrf) + "</section>";
    b += "<section class=\"card\" aria-labelledby=\"delete-heading\"><h2 id=\"delete-heading\">Delete my account</h2>"
         "<form method=\"post\" action=\"/settings/account/delete\" data-confirm=\"Delete your account? Your settings, "
         "your outbox and every connection are deleted, and this cannot be undone.\">" +
         hidden(csrf) + "<p class=\"muted\">Deletes your user, your settings and outbox, and every token any provider "
         "stored for you.</p><button class=\"danger\" id=\"delete-account\">Delete my account</button></form></section>";
    b += "<script src=\"/settings/page.js\"></script>";
    return html(200, page("Settings > Communication", header_right, b));
}

// The parts the page's script reloads: the same renderers as the page.
WebResponse WebApp::fragment(const std::string& sid, const std::string& part) {
    std::string user_id = user_of(sid);
    auto nudges = rt_.store->outbox(user_id);  // before the states, as on the page
    std::vector<view::Card> all = cards(user_id);
    return html(200, part == "outbox" ? outbox_html(nudges, all, csrf_of(sid)) : view::integrations(all, csrf_of(sid)));
}

// ---- actions -------------------------------------------------------------------------------

WebResponse WebApp::connect(const std::string& sid, const Form& form) {
    std::string user_id = user_of(sid);
    std::string provider = form.count("provider") ? form.at("provider") : "";
    auto p = rt_.providers->find(provider);
    if (!p || !p->available()) {
        flash(sid, "error", "That integration is not available.");
        return redirect("/settings/communication");
    }
    json::object request;
    json::object current = provider_status(provider, user_id);
    // Reconnecting: the same person again. A first connect: the person picks the account,
    // even when the browser is still signed in at the provider as someone else.
    if (!json_str(current, "email").empty()) request["login_hint"] = json_str(current, "email");
    else if (p->loaded->api.capabilities & EP_CAP_INTERACTIVE_CONNECT) request["prompt"] = "select_account";
    auto r = p->instance->begin_connect(user_id, json::serialize(request));
    boost::system::error_code ec;
    json::value doc = json::parse(r.document, ec);
    if (!r.ok() || ec || !doc.is_object()) {
        flash(sid, "error", "Could not start connecting: " + r.document);
        return redirect("/settings/communication");
    }
    if (json_str(doc, "action") == "redirect") {
        {
            std::lock_guard lock(mutex_);
            if (Session* s = session(sid)) s->connecting_provider = provider;
        }
        return redirect(json_str(doc, "authorization_url"));
    }
    flash(sid, "success", p->display_name + " is connected.");
    rt_.outbox->on_connected(user_id, provider);
    offer_to_use(sid, user_id, *p);
    return redirect("/settings/communication");
}

// After a connect: the user is asked whether nudges should go through it, unless they do already.
void WebApp::offer_to_use(const std::string& sid, const std::string& user_id, const ProviderEntry& p) {
    CommunicationSettings s = rt_.store->settings(user_id);
    if (s.preferred_channel != "email" || s.email_provider != p.id)
        flash(sid, "info", "Use " + p.display_name + " for your nudges? Click \"Use for nudges\" on its card.");
}

WebResponse WebApp::callback(const std::string& sid, const WebRequest& r) {
    std::string user_id, provider;
    {
        std::lock_guard lock(mutex_);
        if (Session* s = session(sid)) {
            user_id = s->user_id;
            provider = std::exchange(s->connecting_provider, "");
        }
    }
    bool admin_consent = r.target.find("admin_consent=") != std::string::npos;
    if (admin_consent && provider.empty()) {
        // An IT administrator coming back from the admin-consent link: nothing to connect.
        bool declined = r.target.find("error=") != std::string::npos;
        return html(200, page("Admin consent", "",
                              declined ? "<h1>Consent was not granted</h1><p>The administrator declined. Nothing changed.</p>"
                                       : "<h1>Thank you</h1><p id=\"admin-consent-done\">The application was approved for "
                                         "your organisation. People can now connect their mailbox from Settings &gt; "
                                         "Communication.</p>"));
    }
    if (user_id.empty() || !user_may_sign_in(user_id)) return redirect("/signin");  // deleted or removed since
    if (provider.empty()) {
        flash(sid, "error", "No sign-in was in progress in this browser session, so this answer was ignored. Start with Connect.");
        return redirect("/settings/communication");
    }
    auto p = rt_.providers->find(provider);
    if (!p || !p->available()) return redirect("/settings/communication");
    std::string callback_url = public_url_ + r.target;
    auto result = p->instance->complete_connect(user_id, json::serialize(json::object{{"callback_url", callback_url}}));
    boost::system::error_code ec;
    json::value doc = json::parse(result.document, ec);
    if (!result.ok() || ec || !doc.is_object()) {
        flash(sid, "error", "The connection could not be completed: " + result.document);
        return redirect("/settings/communication");
    }
    const json::object& o = doc.as_object();
    switch (connect_outcome_from(json_str(o, "outcome"))) {
        case ConnectOutcome::connected:
            flash(sid, "success", json_str(o, "message"));
            rt_.outbox->on_connected(user_id, provider);
            offer_to_use(sid, user_id, *p);
            break;
        case ConnectOutcome::admin_approval_required:
            flash(sid, "warning", "Your organisation needs an administrator to approve this app: see below what you do "
                                  "and what to send your IT administrator.");
            break;
        case ConnectOutcome::configuration_error:
            flash(sid, "error", json_str(o, "message") + " (For the operator: " + json_str(o, "operator_message") + ")");
            break;
        case ConnectOutcome::cancelled:
        case ConnectOutcome::declined: flash(sid, "info", json_str(o, "message")); break;
        case ConnectOutcome::other: flash(sid, "error", json_str(o, "message")); break;
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::disconnect(const std::string& sid, const Form& form) {
    std::string provider = form.count("provider") ? form.at("provider") : "";
    auto p = rt_.providers->find(provider);
    if (p && p->available()) {
        auto r = p->instance->disconnect(user_of(sid));
        boost::system::error_code ec;
        json::value doc = json::parse(r.document, ec);
        if (r.ok() && !ec && doc.is_object()) {
            std::string message = json_str(doc, "message");
            flash(sid, "info", message.empty() ? p->display_name + " was disconnected." : message);
        } else {
            flash(sid, "error", "Disconnect failed: " + r.document);
        }
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::save_preferences(const std::string& sid, const Form& form) {
    std::string user_id = user_of(sid);
    CommunicationSettings s = rt_.store->settings(user_id);
    if (form.count("channel")) {
        if (form.at("channel") != "email") {
            flash(sid, "error", "That channel is not offered here: Email is the only one.");
            return redirect("/settings/communication");
        }
        s.preferred_channel = "email";
    }
    if (form.count("email_provider")) {
        auto p = rt_.providers->find(form.at("email_provider"));
        if (!p || !p->available()) {
            flash(sid, "error", "That email provider is not available.");
            return redirect("/settings/communication");
        }
        bool connected = parse_status(provider_status(p->id, user_id)).state == ConnectionState::connected;
        if (!connected && (p->loaded->api.capabilities & EP_CAP_INTERACTIVE_CONNECT)) {
            flash(sid, "error", p->display_name + " is not connected: connect it first, then choose it.");
            return redirect("/settings/communication");
        }
        if (!connected) {
            // Needs no sign-in: choosing it is connecting it.
            auto r = p->instance->begin_connect(user_id, "{}");
            boost::system::error_code ec;
            json::value doc = json::parse(r.document, ec);
            if (!r.ok() || ec || parse_status(doc.is_object() ? doc.as_object()["status"] : json::value()).state !=
                                     ConnectionState::connected) {
                flash(sid, "error", p->display_name + " could not be connected: " + r.document);
                return redirect("/settings/communication");
            }
            rt_.outbox->on_connected(user_id, p->id);
        }
        s.email_provider = p->id;
    }
    rt_.store->save_settings(user_id, s);
    auto chosen = rt_.providers->find(s.email_provider);
    flash(sid, "success", chosen && s.preferred_channel == "email"
                              ? "Preferences saved: your nudges go out by email through " + chosen->display_name + "."
                              : std::string("Preferences saved."));
    rt_.outbox->wake();
    return redirect("/settings/communication");
}

WebResponse WebApp::send_test_nudge(const std::string& sid, const Form& form) {
    auto get = [&](const char* k) { return form.count(k) ? form.at(k) : std::string(); };
    json::object message{{"to", json::array{json::object{{"address", get("to")}}}},
                         {"subject", get("subject")},
                         {"text", get("text")},
                         {"headers", json::array{json::object{{"name", "x-nudge-source"}, {"value", "test-nudge"}}}}};
    try {
        std::string user_id = user_of(sid);
        int64_t id = rt_.outbox->enqueue(user_id, std::move(message));
        // Queued is not on its way when the provider cannot send: the nudge waits, and says so.
        std::string provider = rt_.store->settings(user_id).email_provider;
        auto p = rt_.providers->find(provider);
        if (parse_status(provider_status(provider, user_id)).state == ConnectionState::connected)
            flash(sid, "success", "Nudge #" + std::to_string(id) + " queued.");
        else
            flash(sid, "warning", "Nudge #" + std::to_string(id) + " is waiting: " + (p ? p->display_name : provider) +
                                      " is not connected, so it goes out once you connect it again.");
    } catch (const OutboxError& e) {
        flash(sid, "error", std::string("The nudge was not queued: ") + e.what() + ".");
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::resend(const std::string& sid, const Form& form) {
    int64_t id = 0;
    try {
        id = std::stoll(form.count("id") ? form.at("id") : "0");
    } catch (...) {
    }
    if (rt_.store->resend(id, user_of(sid), rt_.clock.now_ms())) {
        flash(sid, "info", "Nudge #" + std::to_string(id) + " will be sent again, as you chose.");
        rt_.outbox->wake();
    } else {
        flash(sid, "error", "That nudge cannot be resent.");
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::decide_held(const std::string& sid, const Form& form, bool send) {
    auto it = form.find("id");
    int64_t id = 0;
    const std::string text = it == form.end() ? std::string() : it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
        flash(sid, "error", "That is not a nudge number.");
        return redirect("/settings/communication");
    }
    try {
        if (send) rt_.outbox->requeue(id, user_of(sid));
        else rt_.outbox->fail(id, user_of(sid), "discarded", "Discarded by you.");
        flash(sid, "success", "Nudge #" + std::to_string(id) + (send ? " will be sent now." : " was discarded."));
    } catch (const OutboxError& e) {
        flash(sid, "error", std::string("Nudge #") + std::to_string(id) + ": " + e.what());
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::delete_account(const std::string& sid) {
    std::string user_id = user_of(sid);
    try {
        rt_.delete_user(user_id);
    } catch (const std::exception& e) {
        flash(sid, "error", std::string("The account could not be deleted: ") + e.what());
        return redirect("/settings/communication");
    }
    {
        // Every browser signed in as this user, not only this one.
        std::lock_guard lock(mutex_);
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            auto next = std::next(it);
            if (it->second.user_id == user_id) erase_session(it->first);
            it = next;
        }
    }
    return redirect("/signin?deleted=1");
}

WebResponse WebApp::api_state(const std::string& sid) {
    std::string user_id = user_of(sid);
    auto nudges = rt_.store->outbox(user_id, 200);  // before the states, as on the page
    json::object providers;
    for (const auto& e : rt_.providers->entries())
        if (!e.id.empty()) {
            if (e.available()) check_if_stale(e.id, user_id);
            providers[e.id] = e.available() ? json::value(provider_status(e.id, user_id))
                                                            : json::value(json::object{{"state", "unavailable"}, {"error", e.error}});
        }
    json::array outbox;
    for (const auto& n : nudges)
        outbox.push_back(json::object{{"id", n.id}, {"to", n.to}, {"subject", n.subject}, {"provider", n.provider},
                                      {"state", to_string(n.state)}, {"code", n.last_code}, {"message", n.last_message},
                                      {"client_request_id", n.client_request_id}, {"request_id", n.request_id},
                                      {"stranded", is_stranded(n)}});
    CommunicationSettings s = rt_.store->settings(user_id);
    return json_response(200, json::object{{"user", user_id},
                                           {"preferred_channel", s.preferred_channel},
                                           {"email_provider", s.email_provider},
                                           {"providers", providers},
                                           {"outbox", outbox}});
}

WebResponse WebApp::debug_clock(const WebRequest& r) {
    // JSON only: a cross-site form cannot send it without a CORS preflight we never answer.
    if (media_type(r.header("content-type")) != "application/json")
        return json_response(415, json::object{{"error", "send application/json"}});
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    const json::value* seconds = !ec && v.is_object() ? v.as_object().if_contains("advance_seconds") : nullptr;
    if (!seconds || !seconds->is_int64() || seconds->as_int64() < -kMaxClockStepSeconds ||
        seconds->as_int64() > kMaxClockStepSeconds)
        return json_response(400, json::object{{"error", "expected {\"advance_seconds\": N} with |N| at most " +
                                                             std::to_string(kMaxClockStepSeconds) + " (a year)"}});
    if (!rt_.clock.advance(seconds->as_int64() * 1000))
        return json_response(400, json::object{{"error", "the host clock would move more than 100 years from the system clock"}});
    rt_.outbox->wake();
    return json_response(200, json::object{{"now_ms", rt_.clock.now_ms()}});
}

}  // namespace host
