// Sessions and the page's security: the session cookie, CSRF tokens, the Host and Origin
// checks, the headers every response gets, and the local sign-in that starts a session.
#include "web/http_helpers.hpp"
#include "web/web_app.hpp"

#include "core/host_util.hpp"

#include <boost/url/parse.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <tuple>

namespace host {

namespace web {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool same_secret(const std::string& given, const std::string& expected) {
    return !expected.empty() && given.size() == expected.size() &&
           CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

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

}  // namespace web

using view::esc;
using web::hidden;
using web::html;
using web::lower;
using web::parse_form;
using web::same_secret;

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
    sessions_[id] = Session{user_id, std::move(csrf), {}, {}, limits_.now(), std::prev(lru.end())};
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
    return "ep_session=" + id + "; Path=/; HttpOnly; SameSite=Lax" +
           (public_url_.starts_with("https://") ? "; Secure" : "");
}

bool WebApp::host_allowed(const std::string& host_header) const {
    return allowed_hosts_.count(lower(host_header)) != 0;
}

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

WebResponse WebApp::handle(const WebRequest& r) {
    const auto started = std::chrono::steady_clock::now();
    auto observe = [&](int status) {
        if (rt_.metrics == nullptr) return;
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        rt_.metrics->http_request(route_pattern(web::path_of(r.target)), status, took.count());
    };
    WebResponse out;
    try {
        out = route(r);
    } catch (...) {
        observe(500);  // the server answers 500
        throw;
    }
    observe(out.status);
    out.headers.emplace_back("X-Content-Type-Options", "nosniff");
    out.headers.emplace_back("Referrer-Policy", "same-origin");
    return out;
}

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
    if (!notice.empty())
        body += "<div class=\"flash info\" role=\"status\" id=\"signin-notice\">" + esc(notice) + "</div>";
    body += "<div class=\"card\"><form method=\"post\" action=\"/signin\">" + hidden(csrf) +
            "<fieldset><legend>User</legend>";
    // The configured users still in the store, never every user in the store: a shared
    // database may hold a million.
    std::vector<User> users;
    for (const auto& configured : rt_.configured_users())
        if (auto u = rt_.store->user(configured.id)) users.push_back(std::move(*u));
    std::sort(users.begin(), users.end(), [](const User& a, const User& b) {
        return std::tie(a.display_name, a.id) < std::tie(b.display_name, b.id);
    });
    if (users.empty()) body += "<p>No users are configured (host config \"users\").</p>";
    for (const auto& u : users)
        body += "<label><input type=\"radio\" name=\"user_id\" id=\"user-" + esc(u.id) + "\" value=\"" + esc(u.id) +
                "\"" + (u.id == users.front().id ? " checked" : "") + "> " + esc(u.display_name) +
                " <span class=\"muted\">(" + esc(u.id) + ")</span></label>";
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

}  // namespace host
