// The reference host's web settings page: a local sign-in as one of the host's users, then
// Settings > Communication — the integrations built from the loaded manifests, connect and
// disconnect, the preferred channel and email provider, a test nudge, and the outbox.
//
// Sessions live in memory behind an HttpOnly, SameSite=Lax cookie (Lax, because the OAuth
// redirect back from a provider's sign-in is a cross-site top-level navigation that must carry it;
// Secure when the public URL is https); every form carries the session's CSRF token.
// Sessions expire when idle and their number is capped: the least recently used go first.
// Every request but /healthz and /readyz must name this host in its Host header (public URL or listen
// address), which defeats DNS rebinding.
#pragma once

#include "core/host_runtime.hpp"
#include "web/settings_view.hpp"
#include "web/web_server.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace host {

struct SessionLimits {
    std::size_t max_signed_in = 10000;
    std::size_t max_signed_out = 1000;  // anyone can make these: a sign-in form per request
    std::chrono::seconds signed_in_idle = std::chrono::hours(8);
    std::chrono::seconds signed_out_idle = std::chrono::minutes(15);
    std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

class WebApp {
public:
    // listen_port: the port the server got (the Host header may name the listen address).
    WebApp(HostRuntime& runtime, std::string public_url, uint16_t listen_port, SessionLimits limits = {});
    WebResponse handle(const WebRequest& request);
    std::size_t session_count();

private:
    struct Flash {
        std::string kind;  // success | info | warning | error
        std::string text;
    };
    struct Session {
        std::string user_id;
        std::string csrf;
        // Providers whose sign-in is in progress in this browser, the latest last: a sign-in
        // comes back to <callback_path>/<provider id>, or to <callback_path> for the latest.
        std::vector<std::string> connecting_providers;
        std::vector<Flash> flashes;
        std::chrono::steady_clock::time_point last_seen;
        std::list<std::string>::iterator lru_position;  // in signed_in_lru_ or signed_out_lru_
    };
    using Form = std::map<std::string, std::string>;

    WebResponse route(const WebRequest& request);
    // The metrics' route label: one of the page's routes, "{callback}", or "other" (never the
    // raw path, which anyone can vary).
    std::string route_pattern(const std::string& path) const;
    bool is_callback(const std::string& path) const;
    // GET /readyz: 200 when the database answers and every enabled provider is available.
    WebResponse readyz();
    // A signed-in session's requests: the page and its parts, then the forms that change things.
    WebResponse route_signed_in(const WebRequest& request, const std::string& path, const std::string& session_id);
    bool host_allowed(const std::string& host_header) const;
    bool from_our_origin(const WebRequest& request) const;
    bool user_may_sign_in(const std::string& user_id);

    // Routes (sessions.cpp: the sign-in; settings_actions.cpp: the forms; sign_in_callback.cpp).
    // Reuses the browser's signed-out session when it has one, so that another tab or a
    // stray request (a favicon) never makes the form on screen stale.
    WebResponse sign_in_page(const std::string& session_id, const std::string& error = {},
                             const std::string& notice = {});
    WebResponse sign_in(const WebRequest& request);
    WebResponse settings_page(const std::string& session_id);
    // GET /settings/communication/{outbox,integrations}: one part of the page, for its script.
    WebResponse fragment(const std::string& session_id, const std::string& part);
    WebResponse connect(const std::string& session_id, const Form& form);
    // `path_provider`: the provider id after <callback_path>/, or "" for <callback_path> itself.
    WebResponse callback(const std::string& session_id, const WebRequest& request, const std::string& path_provider);
    WebResponse disconnect(const std::string& session_id, const Form& form);
    WebResponse save_preferences(const std::string& session_id, const Form& form);
    WebResponse send_test_nudge(const std::string& session_id, const Form& form);
    WebResponse resend(const std::string& session_id, const Form& form);
    // Send (with the current provider) or discard a held nudge that will not go out by itself.
    WebResponse decide_held(const std::string& session_id, const Form& form, bool send);
    WebResponse delete_account(const std::string& session_id);
    WebResponse api_state(const std::string& session_id);
    WebResponse debug_clock(const WebRequest& request);

    // Sessions.
    std::string session_id_of(const WebRequest& request);
    Session* session(const std::string& id);  // under mutex_; nullptr when unknown or expired
    std::string create_session(const std::string& user_id, std::string csrf);  // under mutex_
    void erase_session(const std::string& id);                                 // under mutex_
    void expire_sessions();                                                    // under mutex_
    std::list<std::string>& lru_of(const Session& s) { return s.user_id.empty() ? signed_out_lru_ : signed_in_lru_; }
    std::string session_cookie(const std::string& id) const;
    void flash(const std::string& session_id, std::string kind, std::string text);
    std::vector<Flash> take_flashes(const std::string& session_id);
    std::string user_of(const std::string& session_id);
    std::string csrf_of(const std::string& session_id);

    // The page's parts (settings_view.hpp renders them).
    std::string page(const std::string& title, const std::string& header_right, const std::string& content) const;
    std::vector<view::Card> cards(const std::string& user_id);
    std::string outbox_html(const std::string& user_id, const std::vector<Nudge>& nudges,
                            const std::vector<view::Card>& cards, const std::string& csrf);
    void offer_to_use(const std::string& session_id, const std::string& user_id, const ProviderHandle& provider);

    // The provider's status as the page shows it (state "unavailable" or "error" when there is
    // none to read), with when the host last had it confirmed and whether a check is under way.
    ProviderStatus provider_status(const std::string& user_id, const std::string& provider_id);
    void check_if_stale(const std::string& user_id, const std::string& provider_id);

    HostRuntime& rt_;
    std::string public_url_;
    std::set<std::string> allowed_hosts_;  // lower case host[:port] values accepted in Host
    SessionLimits limits_;
    std::mutex mutex_;
    std::map<std::string, Session> sessions_;
    std::list<std::string> signed_in_lru_, signed_out_lru_;  // session ids, least recently used first
};

}  // namespace host
