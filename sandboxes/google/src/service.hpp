// The application behind the transport: routing, the shared state under one mutex, request
// logging and faults. The endpoint families (oauth_flow.cpp, token_endpoint.cpp,
// gmail_send.cpp, control_api.cpp) work on Service::State with Service::mutex held.
#pragma once

#include "faults.hpp"
#include "google_sandbox/sandbox.hpp"
#include "scenario.hpp"

#include <sandbox/crypto.hpp>
#include <sandbox/http_types.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace google_sandbox::detail {

using sandbox::HttpRequest;
using sandbox::HttpResponse;
using sandbox::Params;
using ScopeList = std::vector<std::string>;  // canonical scope strings, in request order

struct AuthorizeParams {
    std::string client_id, redirect_uri, response_type, scope, code_challenge, code_challenge_method;
    std::string access_type = "online", prompt, login_hint, nonce;
    std::optional<std::string> state;
    bool include_granted_scopes = false;
};

struct PendingFlow {
    AuthorizeParams params;
    ScopeList scopes;  // requested, canonical
    std::optional<std::string> email;
};

struct AuthCode {
    std::string client_id, redirect_uri, email, code_challenge, code_challenge_method, nonce;
    ScopeList scopes;  // granted
    bool offline = false;
    bool consent_prompted = false;  // prompt=consent: a new refresh token even if one exists
    std::int64_t issued = 0;
    bool redeemed = false;
};

struct RefreshToken {
    std::string client_id, email;
    ScopeList scopes;
    std::int64_t issued = 0, last_used = 0;
    std::uint64_t serial = 0;  // issue order: the 101st token drops the lowest serial
    std::optional<DeadCause> dead;
};

struct AccessToken {
    std::string client_id, email, refresh_token;  // refresh_token: the one it came from, if any
    ScopeList scopes;
    std::int64_t expires = 0;
    bool revoked = false;
};

// Outcome of an authorize step: a page to show, or the redirect back to the client.
struct FlowOutcome {
    enum class Page { chooser, consent, error, redirect } page = Page::error;
    std::string flow_id;
    int error_status = 400;
    std::string error_code, error_message;
    std::string redirect_url;
};

class Service : public sandbox::RequestHandler {
public:
    Service(Scenario scenario, bool log_requests);

    void set_base_url(std::string url) { base_url_ = std::move(url); }
    const std::string& base_url() const { return base_url_; }
    std::int64_t now() const;  // sandbox clock, unix seconds
    void advance_clock(std::int64_t seconds) { clock_offset_ += seconds; }

    bool reset_before_body(const HttpRequest& request) override;
    HttpResponse handle(HttpRequest& request) override;
    HttpResponse malformed(sandbox::MalformedRequest kind, const HttpRequest* partial) override;
    void log_line(std::string_view line) override;

    // The control API (also what the C++ API calls). Returns the status and JSON answer.
    std::pair<int, boost::json::value> control(std::string_view method, std::string_view target,
                                               const boost::json::value& body);

    struct State {
        Scenario scenario;
        std::map<std::string, PendingFlow> flows;
        std::map<std::string, AuthCode> codes;
        std::map<std::string, RefreshToken> refresh_tokens;
        std::map<std::string, AccessToken> access_tokens;
        std::map<std::pair<std::string, std::string>, std::set<std::string>> grants;  // (email, client) -> scopes
        std::map<std::string, std::deque<std::int64_t>> sends;                        // email -> send times
        std::vector<SentMessage> messages;
        std::set<std::string> reauth_required;  // accounts whose refreshes answer invalid_rapt
        Faults faults;
        std::uint64_t next_serial = 1;
    };
    std::mutex mutex;
    State state;
    const sandbox::SigningKey signing_key;  // fresh per instance: clients must fetch the certs
    const std::string kid;                  // 40 hex digits, like Google's

private:
    HttpResponse route(HttpRequest& request);
    HttpResponse respond(HttpRequest& request);  // route(), with the faults applied
    std::string base_url_;
    std::atomic<std::int64_t> clock_offset_{0};
    bool log_requests_;
};

// ---- endpoint families (each called with Service::mutex held) ----

HttpResponse handle_authorize(Service& svc, const HttpRequest& request);
HttpResponse handle_chooser_post(Service& svc, const HttpRequest& request);
HttpResponse handle_consent_post(Service& svc, const HttpRequest& request);
AutopilotResult run_autopilot(Service& svc, const AutopilotRequest& request);
// The HTML of an outcome: chooser, consent or error page, or the 302 back to the client.
HttpResponse render_outcome(Service& svc, const FlowOutcome& outcome);

HttpResponse handle_discovery(Service& svc);
HttpResponse handle_certs(Service& svc, bool pem);
HttpResponse handle_token(Service& svc, const HttpRequest& request);
HttpResponse handle_revoke(Service& svc, const HttpRequest& request);
HttpResponse handle_userinfo(Service& svc, const HttpRequest& request);
HttpResponse handle_send(Service& svc, const HttpRequest& request, const std::string& user_id, bool upload);
// GMime's one-time set-up, which is not thread-safe: the service calls it when it is made, before
// its threads parse (a plugin in the same test process initializes GMime too).
void init_gmime();
// A Gmail API error body for a scripted status (500 backendError, 503, 429 ...).
HttpResponse gmail_error_for_status(int status);

void kill_refresh_tokens(Service& svc, const std::string& email, DeadCause cause,
                         const std::optional<std::string>& client_id);

// ---- shared helpers ----

HttpResponse json_response(int status, const boost::json::value& body);
HttpResponse html_response(int status, std::string body);
// The live access token of a "Authorization: Bearer" header, or nullptr.
const AccessToken* bearer_token(Service& svc, const HttpRequest& request);
// "email" -> ".../auth/userinfo.email", "profile" -> ".../auth/userinfo.profile"; others unchanged.
std::string canonical_scope(std::string_view scope);
bool is_sign_in_scope(std::string_view canonical);
std::string join_scopes(const ScopeList& scopes);
const char* dead_cause_name(DeadCause cause);

inline constexpr const char* kGmailSendScope = "https://www.googleapis.com/auth/gmail.send";

}  // namespace google_sandbox::detail
