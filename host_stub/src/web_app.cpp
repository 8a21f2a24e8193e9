#include "web_app.hpp"

#include "host_util.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <ctime>

namespace host {
namespace {

namespace json = boost::json;

std::string esc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

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

std::string iso(int64_t ms) {
    if (ms <= 0) return "";
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;justify-content:space-between;align-items:center}
header form{margin:0} main{max-width:920px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} .crumb{color:#667;margin-bottom:20px}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:16px 20px;margin-bottom:16px}
.card h2{font-size:17px;margin:0 0 8px} .muted{color:#667;font-size:14px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:13px;font-weight:600}
.ok{background:#e3f6e8;color:#17612f} .warn{background:#fff4d6;color:#7a5300} .bad{background:#fde4e4;color:#8a1c1c} .off{background:#eceef2;color:#445}
.flash{padding:10px 14px;border-radius:6px;margin-bottom:12px} .flash.success{background:#e3f6e8} .flash.error{background:#fde4e4} .flash.warning{background:#fff4d6} .flash.info{background:#e6eefc}
button{background:#2156d9;color:#fff;border:0;border-radius:6px;padding:7px 14px;font-size:14px;cursor:pointer}
button.secondary{background:#e9ecf2;color:#1d2330} button.danger{background:#b42318}
input[type=text],input[type=email],textarea{width:100%;box-sizing:border-box;padding:6px 8px;border:1px solid #c8cdd6;border-radius:5px;font:inherit}
table{width:100%;border-collapse:collapse;font-size:14px} td,th{text-align:left;padding:6px 4px;border-bottom:1px solid #eef0f4}
code{background:#f0f2f5;padding:1px 5px;border-radius:4px} label{display:block;margin:6px 0}
</style>)";

std::string page(const std::string& title, const std::string& header_right, const std::string& content) {
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) +
           "</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" + kStyle +
           "</head><body><header><strong>Reference Host</strong>" + header_right + "</header><main>" + content +
           "</main></body></html>";
}

std::string hidden(const std::string& csrf) { return "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(csrf) + "\">"; }

// The user's decision on one held nudge that will not go out by itself (is_stranded): send it
// with the current provider (or, when the mailbox changed, from the one connected now), or
// discard it. Empty for any other nudge.
std::string held_nudge_actions(const Nudge& n, const std::string& csrf) {
    if (!is_stranded(n)) return {};
    std::string id = std::to_string(n.id);
    std::string send_label = n.last_code == stranded::mailbox_changed ? "Confirm and send" : "Send with current provider";
    return "<form method=\"post\" action=\"/settings/communication/outbox/send\" style=\"display:inline\">" + hidden(csrf) +
           "<input type=\"hidden\" name=\"id\" value=\"" + id + "\"><button id=\"send-held-" + id + "\">" + send_label +
           "</button></form> <form method=\"post\" action=\"/settings/communication/outbox/discard\" style=\"display:inline\">" +
           hidden(csrf) + "<input type=\"hidden\" name=\"id\" value=\"" + id + "\"><button class=\"secondary\" id=\"discard-" +
           id + "\">Discard</button></form>";
}

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
    const auto& users = rt_.config.users;
    if (std::none_of(users.begin(), users.end(), [&](const HostUserSetting& u) { return u.id == user_id; })) return false;
    return rt_.store->user(user_id).has_value();
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
    if (auto known = rt_.checks->last_known(provider_id, user_id)) {
        if (known->checked_at_ms > 0) s["checked_at"] = iso(known->checked_at_ms);
        if (known->in_flight) s["checking"] = true;
    }
    return s;
}

// The page never waits for Microsoft: it shows the last known state and starts a check when
// the last one is older than keep_alive.page_check_after_seconds; the next load shows it.
void WebApp::check_if_stale(const std::string& provider_id, const std::string& user_id) {
    try {
        rt_.checks->check_if_stale(provider_id, user_id);
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
    if (path == "/signin" && r.method == "GET") return sign_in_page(sid);
    if (path == "/signin" && r.method == "POST") {
        if (!from_our_origin(r)) return html(403, page("Refused", "", "<p>Refused: the request came from another site.</p>"));
        return sign_in(r);
    }

    // Microsoft sends an administrator's admin-consent answer here too; it needs no session.
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

WebResponse WebApp::sign_in_page(const std::string& existing, const std::string& error) {
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
    std::string body = "<h1>Sign in</h1><p class=\"crumb\">A local sign-in for the reference host: pick a user.</p>";
    if (!error.empty()) body += "<div class=\"flash error\">" + esc(error) + "</div>";
    body += "<div class=\"card\"><form method=\"post\" action=\"/signin\">" + hidden(csrf);
    auto users = rt_.store->users();
    std::erase_if(users, [&](const User& u) { return !user_may_sign_in(u.id); });
    if (users.empty()) body += "<p>No users are configured (host config \"users\").</p>";
    for (const auto& u : users)
        body += "<label><input type=\"radio\" name=\"user_id\" id=\"user-" + esc(u.id) + "\" value=\"" + esc(u.id) + "\"" +
                (u.id == users.front().id ? " checked" : "") + "> " + esc(u.display_name) + " <span class=\"muted\">(" +
                esc(u.id) + ")</span></label>";
    body += "<p><button type=\"submit\" id=\"sign-in\">Sign in</button></p></form></div>";
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

WebResponse WebApp::settings_page(const std::string& sid) {
    std::string user_id = user_of(sid);
    std::string csrf = csrf_of(sid);
    auto user = rt_.store->user(user_id);
    if (!user) return redirect("/signin");
    CommunicationSettings settings = rt_.store->settings(user_id);

    std::string header_right = "<form method=\"post\" action=\"/signout\">" + hidden(csrf) + "<span id=\"signed-in-as\">" +
                               esc(user->display_name) + "</span> &nbsp;<button class=\"secondary\" id=\"sign-out\">Sign out</button></form>";
    std::string b = "<h1>Communication</h1><p class=\"crumb\">Settings &gt; Communication</p>";
    for (const auto& f : take_flashes(sid))
        b += "<div class=\"flash " + esc(f.kind) + "\" role=\"status\">" + esc(f.text) + "</div>";

    // Integrations: one card per configured provider, including those that failed to load.
    b += "<h2 style=\"font-size:18px\">Integrations</h2>";
    // The providers the user can choose, with the address each is connected as (if any).
    std::vector<std::pair<const ProviderEntry*, std::string>> available;
    const auto provider_entries = rt_.providers->entries();  // a snapshot, outliving `available`
    for (const auto& e : provider_entries) {
        std::string id = e.id.empty() ? "unknown" : e.id;
        std::string title = id == "outlook" ? "Microsoft Outlook" : (e.display_name.empty() ? id : e.display_name);
        b += "<div class=\"card\" id=\"integration-" + esc(id) + "\"><h2>" + esc(title) + "</h2>";
        if (!e.available()) {
            b += "<span class=\"badge bad\">Unavailable</span><p class=\"muted\" id=\"load-error-" + esc(id) +
                 "\">This integration could not be loaded: " + esc(e.error) + "</p></div>";
            continue;
        }
        check_if_stale(e.id, user_id);
        json::object s = provider_status(e.id, user_id);
        available.emplace_back(&e, json_str(s, "email"));
        std::string state = json_str(s, "state");
        std::string connect_form = "<form method=\"post\" action=\"/settings/communication/connect\">" + hidden(csrf) +
                                   "<input type=\"hidden\" name=\"provider\" value=\"" + esc(e.id) + "\">";
        b += "<div id=\"status-" + esc(e.id) + "\" data-state=\"" + esc(state) + "\">";
        if (state == "connected") {
            b += "<span class=\"badge ok\">Connected</span> <strong id=\"email-" + esc(e.id) + "\">" + esc(json_str(s, "email")) +
                 "</strong> <span class=\"muted\">" + esc(json_str(s, "display_name")) + "</span>";
            // Permissions consented for the app that it never uses: said, so IT can remove them.
            std::string extras;
            if (auto it = s.find("extra_permissions"); it != s.end() && it->value().is_array())
                for (const auto& p : it->value().as_array())
                    if (p.is_string()) extras += (extras.empty() ? "" : ", ") + std::string(p.as_string());
            if (!extras.empty())
                b += "<p class=\"muted\" id=\"extra-permissions-" + esc(e.id) + "\">Microsoft also lists permissions this "
                     "app does not use: " + esc(extras) + " (granted earlier or by your organisation). It only reads your "
                     "name and address and sends mail; your IT administrator can remove the others.</p>";
            b += "</div><form method=\"post\" action=\"/settings/communication/disconnect\" style=\"margin-top:10px\">" +
                 hidden(csrf) + "<input type=\"hidden\" name=\"provider\" value=\"" + esc(e.id) + "\">"
                 "<p class=\"muted\">Disconnecting deletes every token stored for your account right away. "
                 "Microsoft offers no way for us to withdraw the app's permission ourselves: to remove it at "
                 "Microsoft as well, visit <a href=\"https://myapps.microsoft.com\">My Apps</a> (work or school "
                 "account) or <a href=\"https://account.live.com/consent/Manage\">account.live.com</a> (personal "
                 "account).</p><button class=\"secondary\" id=\"disconnect-" + esc(e.id) + "\">Disconnect</button></form>";
        } else if (state == "expired") {
            std::string who = json_str(s, "email").empty() ? "" : " (" + json_str(s, "email") + ")";
            std::string since = json_str(s, "since").empty() ? "" : " since " + json_str(s, "since");
            b += "<span class=\"badge warn\">Expired</span> <span class=\"muted\">" + esc(who + since) +
                 "</span><p id=\"reason-" + esc(e.id) + "\">" + esc(json_str(s, "message")) +
                 " Nudges are kept and go out once you connect again.</p></div>" + connect_form +
                 "<button id=\"connect-" + esc(e.id) + "\">Connect again</button></form>";
        } else if (state == "permission_denied") {
            std::string who = json_str(s, "email").empty() ? "" : " (" + json_str(s, "email") + ")";
            b += "<span class=\"badge bad\">Permission denied</span> <span class=\"muted\">" + esc(who) +
                 "</span><p id=\"reason-" + esc(e.id) + "\">" + esc(json_str(s, "message")) + "</p></div>" + connect_form +
                 "<button id=\"connect-" + esc(e.id) + "\">Connect again</button></form>";
        } else if (state == "admin_approval_required") {
            std::string app = json_str(s, "application_id");
            b += "<span class=\"badge warn\">Approval required</span><p>" + esc(json_str(s, "message")) + "</p>"
                 "<p>Tell your IT administrator: <em>please approve the application with ID <code id=\"application-id\">" +
                 esc(app) + "</code> in Microsoft Entra admin center &gt; Enterprise applications &gt; Admin consent "
                 "requests, or grant consent for the organisation with this link:</em> <a id=\"admin-consent-link\" href=\"" +
                 esc(json_str(s, "admin_consent_url")) + "\">link for your IT administrator (approves the app for your whole "
                 "organisation)</a>. Administrators should check that the "
                 "application ID matches before approving.</p></div>" + connect_form +
                 "<button id=\"connect-" + esc(e.id) + "\">Connect again after approval</button></form>";
        } else if (state == "configuration_error") {
            b += "<span class=\"badge bad\">Configuration problem</span><p>This integration cannot work until the "
                 "operator fixes its configuration. <span class=\"muted\" id=\"operator-message\">For the operator: " +
                 esc(json_str(s, "message")) + "</span></p></div>";
        } else {
            bool interactive = e.loaded->api.capabilities & EP_CAP_INTERACTIVE_CONNECT;
            b += "<span class=\"badge off\">Not connected</span></div>" + connect_form +
                 (interactive ? "<p class=\"muted\">You will sign in at Microsoft and approve what this app may do: read "
                                "your profile (name and address) and send mail as you. It cannot read your mail.</p>"
                              : std::string()) +
                 "<button id=\"connect-" + esc(e.id) + "\">Connect</button></form>";
        }
        if (state != "not_connected") {
            std::string checked = json_str(s, "checked_at");
            b += "<p class=\"muted\" id=\"checked-" + esc(e.id) + "\">" +
                 esc(checked.empty() ? "Not checked with the provider yet." : "Last checked with the provider: " + checked + ".") +
                 (s.contains("checking") ? " Checking now; reload to see the result." : "") + "</p>";
        }
        if (!json_str(s, "application_id").empty() && state != "admin_approval_required")
            b += "<p class=\"muted\">For your IT administrator: application ID <code>" + esc(json_str(s, "application_id")) +
                 "</code></p>";
        b += "</div>";
    }

    // Preferences.
    b += "<div class=\"card\"><h2>Preferences</h2><form method=\"post\" action=\"/settings/communication/preferences\">" +
         hidden(csrf) + "<p><strong>Preferred channel</strong></p><label><input type=\"radio\" name=\"channel\" "
         "id=\"channel-email\" value=\"email\"" + (settings.preferred_channel == "email" ? " checked" : "") +
         "> Email <span class=\"muted\">(the only channel this reference host offers)</span></label>"
         "<p><strong>Email Provider</strong></p>";
    for (const auto& [e, address] : available) {
        b += "<label><input type=\"radio\" name=\"email_provider\" id=\"provider-" + esc(e->id) + "\" value=\"" +
             esc(e->id) + "\"" + (settings.email_provider == e->id ? " checked" : "") + "> " + esc(e->display_name) +
             (address.empty() ? "" : " <span class=\"muted\">(" + esc(address) + ")</span>") + "</label>";
    }
    b += "<p><button id=\"save-preferences\">Save</button></p></form></div>";

    // Test nudge.
    b += "<div class=\"card\"><h2>Send a test nudge</h2><form method=\"post\" action=\"/settings/communication/nudge\">" +
         hidden(csrf) +
         "<label>To <input type=\"email\" name=\"to\" id=\"nudge-to\" required></label>"
         "<label>Subject <input type=\"text\" name=\"subject\" id=\"nudge-subject\" value=\"Quick follow-up\"></label>"
         "<label>Message <textarea name=\"text\" id=\"nudge-text\" rows=\"3\">Hi! Just following up on our conversation.</textarea></label>"
         "<p><button id=\"send-nudge\">Send test nudge</button></p></form></div>";

    // Outbox.
    b += "<div class=\"card\"><h2>Outbox</h2><table id=\"outbox\"><tr><th>#</th><th>To</th><th>Subject</th><th>Via</th>"
         "<th>State</th><th>Details</th><th></th></tr>";
    auto nudges = rt_.store->outbox(user_id);
    if (nudges.empty()) b += "<tr><td colspan=\"7\" class=\"muted\" id=\"outbox-empty\">No nudges yet.</td></tr>";
    for (const auto& n : nudges) {
        auto via = rt_.providers->find(n.provider);
        std::string via_name = via && !via->display_name.empty() ? via->display_name : n.provider;
        std::string state = to_string(n.state);
        std::string badge = n.state == NudgeState::sent ? "ok"
                            : (n.state == NudgeState::failed || n.state == NudgeState::needs_review) ? "bad"
                            : n.state == NudgeState::held || n.state == NudgeState::throttled ? "warn" : "off";
        std::string details = n.state == NudgeState::sent ? "sent " + iso(n.sent_ms) : n.last_message;
        if (n.state == NudgeState::held) details = is_stranded(n) ? n.last_message : "Held: it goes out when you connect again.";
        b += "<tr id=\"nudge-" + std::to_string(n.id) + "\" data-state=\"" + state + "\"><td>" + std::to_string(n.id) +
             "</td><td>" + esc(n.to) + "</td><td>" + esc(n.subject) + "</td><td>" + esc(via_name) +
             "</td><td><span class=\"badge " + badge + "\">" + esc(state == "needs_review" ? "needs review" : state) +
             "</span></td><td class=\"muted\">" + esc(details) + "</td><td>";
        if (n.state == NudgeState::needs_review)
            b += "<form method=\"post\" action=\"/settings/communication/resend\">" + hidden(csrf) +
                 "<input type=\"hidden\" name=\"id\" value=\"" + std::to_string(n.id) +
                 "\"><button class=\"secondary\" title=\"It may already have been sent\">Resend</button></form>";
        b += held_nudge_actions(n, csrf);
        b += "</td></tr>";
    }
    b += "</table></div>";

    b += "<div class=\"card\"><h2>Delete my account</h2><form method=\"post\" action=\"/settings/account/delete\">" +
         hidden(csrf) + "<p class=\"muted\">Deletes your user, your settings and outbox, and every token any provider "
         "stored for you.</p><button class=\"danger\" id=\"delete-account\">Delete my account</button></form></div>";
    return html(200, page("Settings > Communication", header_right, b));
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
    // even when the browser is still signed in to Microsoft as someone else.
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
    return redirect("/settings/communication");
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
    std::string outcome = json_str(o, "outcome");
    if (outcome == "connected") {
        flash(sid, "success", json_str(o, "message"));
        rt_.outbox->on_connected(user_id, provider);
    } else if (outcome == "admin_approval_required") {
        flash(sid, "warning", "Your organisation needs an administrator to approve this app: see below what to tell them.");
    } else if (outcome == "configuration_error") {
        flash(sid, "error", json_str(o, "message") + " (For the operator: " + json_str(o, "operator_message") + ")");
    } else {
        flash(sid, outcome == "cancelled" || outcome == "declined" ? "info" : "error", json_str(o, "message"));
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
        if (r.ok() && !ec && doc.is_object()) flash(sid, "info", json_str(doc, "message"));
        else flash(sid, "error", "Disconnect failed: " + r.document);
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::save_preferences(const std::string& sid, const Form& form) {
    std::string user_id = user_of(sid);
    CommunicationSettings s = rt_.store->settings(user_id);
    if (form.count("channel")) s.preferred_channel = form.at("channel");
    if (form.count("email_provider")) {
        auto p = rt_.providers->find(form.at("email_provider"));
        if (!p || !p->available()) {
            flash(sid, "error", "That email provider is not available.");
            return redirect("/settings/communication");
        }
        s.email_provider = p->id;
    }
    rt_.store->save_settings(user_id, s);
    flash(sid, "success", "Preferences saved.");
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
        int64_t id = rt_.outbox->enqueue(user_of(sid), std::move(message));
        flash(sid, "success", "Nudge #" + std::to_string(id) + " queued.");
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
    return redirect("/signin");
}

WebResponse WebApp::api_state(const std::string& sid) {
    std::string user_id = user_of(sid);
    json::object providers;
    for (const auto& e : rt_.providers->entries())
        if (!e.id.empty()) {
            if (e.available()) check_if_stale(e.id, user_id);
            providers[e.id] = e.available() ? json::value(provider_status(e.id, user_id))
                                                            : json::value(json::object{{"state", "unavailable"}, {"error", e.error}});
        }
    json::array outbox;
    for (const auto& n : rt_.store->outbox(user_id, 200))
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
