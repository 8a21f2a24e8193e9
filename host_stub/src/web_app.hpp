// The reference host's web settings page: a local sign-in as one of the host's users, then
// Settings > Communication — the integrations built from the loaded manifests, connect and
// disconnect, the preferred channel and email provider, a test nudge, and the outbox.
//
// Sessions live in memory behind an HttpOnly, SameSite=Lax cookie (Lax, because the OAuth
// redirect back from Microsoft is a cross-site top-level navigation that must carry it);
// every form carries the session's CSRF token.
#pragma once

#include "host_runtime.hpp"
#include "web_server.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace host {

class WebApp {
public:
    WebApp(HostRuntime& runtime, std::string public_url);
    WebResponse handle(const WebRequest& request);

private:
    struct Flash {
        std::string kind;  // success | info | warning | error
        std::string text;
    };
    struct Session {
        std::string user_id;
        std::string csrf;
        std::string connecting_provider;  // set while a sign-in at a provider is in progress
        std::vector<Flash> flashes;
    };
    using Form = std::map<std::string, std::string>;

    // Routes.
    // Reuses the browser's signed-out session when it has one, so that another tab or a
    // stray request (a favicon) never makes the form on screen stale.
    WebResponse sign_in_page(const std::string& session_id, const std::string& error = {});
    WebResponse sign_in(const WebRequest& request);
    WebResponse settings_page(const std::string& session_id);
    WebResponse connect(const std::string& session_id, const Form& form);
    WebResponse callback(const std::string& session_id, const WebRequest& request);
    WebResponse disconnect(const std::string& session_id, const Form& form);
    WebResponse save_preferences(const std::string& session_id, const Form& form);
    WebResponse send_test_nudge(const std::string& session_id, const Form& form);
    WebResponse resend(const std::string& session_id, const Form& form);
    WebResponse delete_account(const std::string& session_id);
    WebResponse api_state(const std::string& session_id);
    WebResponse debug_clock(const WebRequest& request);

    // Sessions.
    std::string session_id_of(const WebRequest& request);
    Session* session(const std::string& id);  // under mutex_
    void flash(const std::string& session_id, std::string kind, std::string text);
    std::vector<Flash> take_flashes(const std::string& session_id);
    std::string user_of(const std::string& session_id);
    std::string csrf_of(const std::string& session_id);

    boost::json::object provider_status(const std::string& provider_id, const std::string& user_id);

    HostRuntime& rt_;
    std::string public_url_;
    std::mutex mutex_;
    std::map<std::string, Session> sessions_;
};

}  // namespace host
