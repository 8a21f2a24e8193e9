// The application behind the transport: routing, the shared mutable state, request
// bookkeeping (ids, counters, logging) and fault injection. The endpoint families live in
// identity_*.cpp, graph_endpoints.cpp and control_api.cpp and work on Service::State with
// Service::mutex held.
#pragma once

#include "common.hpp"
#include "faults.hpp"
#include "scenario.hpp"
#include "scopes.hpp"
#include "text.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace ms_sandbox::detail {

// Per-request identifiers shared by the Microsoft-shaped error bodies and headers.
struct RequestContext {
    std::string request_id;         // x-ms-request-id / request-id / trace_id
    std::string client_request_id;  // echoed when the client sent one
    std::string correlation_id;     // client-request-id, or a fresh GUID
    std::int64_t now = 0;           // sandbox clock, unix seconds
};

struct Route {
    Endpoint endpoint = Endpoint::unknown;
    std::string tenant;                 // first path segment for identity endpoints
    std::vector<std::string> segments;  // decoded path segments
};

// ---- state records ----

struct AuthorizeParams {
    std::string tenant_path;
    std::string client_id, redirect_uri, response_type, scope, response_mode, prompt;
    std::optional<std::string> state;
    std::string login_hint, domain_hint, code_challenge, code_challenge_method, nonce;
    std::string claims;  // the "claims" request parameter (JSON), e.g. answering a CAE challenge
};

struct AuthCode {
    std::string client_id, redirect_uri, tenant_path, upn;
    ScopeList scopes;
    std::string code_challenge, code_challenge_method, nonce, claims;
    std::int64_t issued = 0;
    bool redeemed = false;
    bool qualified = false;  // the authorize request named Graph scopes by URI
};

struct RefreshTokenRecord {
    std::string client_id, upn;
    ScopeList scopes;
    std::int64_t issued = 0;
    std::uint64_t serial = 0;  // issue order; revocations cut by serial, not by (coarse) time
    bool invalidated = false;  // used once while old_refresh_token_stays_valid is false
    bool qualified = false;    // scope form of the grant's last request (short names unless URIs were sent)
};

struct AccessTokenRecord {
    std::string client_id, upn;
    ScopeList scopes;
    std::int64_t expires = 0;
    std::uint64_t serial = 0;     // issue order, shared with refresh tokens; CAE events cut by it
    bool access_denied = false;   // minted by an "access_denied" fault: Graph answers 403
    bool cae_challenged = false;  // minted while a CAE event awaited an interactive sign-in
};

// A continuous-access-evaluation event (control API): Graph challenges the user's tokens
// issued before it, and those refreshed after it, until a sign-in carries the claims.
struct CaeEvent {
    std::string event;         // password_reset | session_revoked | user_disabled
    std::int64_t at = 0;       // the claims challenge asks for tokens with nbf >= at
    std::uint64_t serial = 0;  // access tokens with serial <= this are challenged
    bool answered = false;     // a sign-in carried the claims: new tokens are good again
};

enum class FlowKind { authorize, admin_consent, admin_consent_legacy };

// One interactive visit to the authorize / adminconsent endpoint, carried across pages by
// the hidden form field "flow".
struct PendingFlow {
    FlowKind kind = FlowKind::authorize;
    AuthorizeParams params;
    ScopeList scopes;
    std::optional<std::string> upn;  // set once signed in
    int interrupt_code = 0;          // 90093/90094/90095 while on an admin-approval page
    bool finished = false;
    std::int64_t created = 0;
};

struct ApprovalRequest {
    std::string id, tenant_id, client_id, upn, justification;
    ScopeList scopes;
    std::int64_t created = 0;
    std::string status = "pending";  // pending | approved
};

struct Revocation {
    std::string reason;  // inactivity | password_change | consent_revoked | mfa_required | signin_frequency
    std::int64_t at = 0;
    std::uint64_t serial = 0;  // refresh tokens with serial <= this are dead
};

// Vectors, not deques: an empty deque allocates over 500 bytes, and a bulk-mode load test keeps
// one MailboxLoad for each of some 300,000 mailboxes.
struct MailboxLoad {
    int in_flight = 0;
    int max_in_flight = 0;
    std::vector<std::int64_t> accepted_ms;                    // sandbox-clock times of accepted messages (rate window)
    std::vector<std::pair<std::int64_t, int>> recipients_ms;  // (time, recipients) of accepted messages (24 h)
};

// The compact ledger of accepted sendMail calls (GET /_sandbox/message-tally): a count per key,
// the client-request-id header when the client sent one, else the subject.
struct MessageTally {
    std::uint64_t total = 0;
    std::unordered_map<std::string, std::uint32_t> by_key;
};

class Service final : public RequestHandler {
public:
    using LogSink = std::function<void(std::string_view)>;
    Service(Scenario scenario, LogSink log);

    // Remembers a secret handed out (for GET /_sandbox/issued) and records it for the whole
    // run's secret scan (sandbox::record_issued_secret). Call under `mutex`.
    void record_issued(std::vector<std::string>& list, const std::string& secret);

    void set_base_url(std::string url) { base_url_ = std::move(url); }
    // The HMAC key of stateless bulk tokens (stateless_tokens.hpp), drawn at start; never logged.
    const std::string& stateless_key() const { return stateless_key_; }
    const std::string& base_url() const { return base_url_; }

    // RequestHandler
    bool reset_before_body(const HttpRequest& request) override;
    HttpResponse handle(HttpRequest& request) override;
    HttpResponse malformed(MalformedRequest kind, const HttpRequest* partial) override;
    void log_line(std::string_view line) override;

    // Control API entry used by both HTTP (/_sandbox/...) and the C++ Sandbox class.
    struct ControlResult {
        int status = 200;
        boost::json::value body;
    };
    ControlResult control(std::string_view method, std::string_view path_and_query, const boost::json::value& body);

    std::int64_t now() const;  // sandbox clock, unix seconds
    std::int64_t now_ms() const;
    void advance_clock(std::int64_t seconds) { clock_offset_ms_ += seconds * 1000; }
    void set_clock(std::int64_t unix_seconds);

    // ---- shared state (guard with `mutex`) ----
    struct State {
        Scenario scenario;
        std::map<std::string, AuthCode> codes;
        std::map<std::string, RefreshTokenRecord> refresh_tokens;
        std::map<std::string, AccessTokenRecord> access_tokens;
        std::map<std::string, PendingFlow> flows;
        std::map<std::string, std::string> sso_sessions;                       // ESTSAUTH cookie -> upn
        std::map<std::pair<std::string, std::string>, ScopeList> user_grants;  // (upn lc, client) -> scopes
        std::vector<ApprovalRequest> approval_requests;
        std::map<std::string, Revocation> revocations;  // upn lc -> latest revocation
        std::map<std::string, CaeEvent> cae_events;     // upn lc -> pending CAE event
        std::set<std::string> used_assertion_ids;       // client assertion jti values
        std::uint64_t last_serial = 0;                  // last refresh token serial handed out
        std::vector<boost::json::object> messages;      // in full; not those sent with stateless tokens
        MessageTally message_tally;                     // every accepted sendMail
        // Stateless refresh tokens spent while old_refresh_token_stays_valid is false: the first
        // 16 bytes of each one's MAC.
        std::set<std::array<unsigned char, 16>> spent_stateless;
        FaultEngine faults;
        // secrets handed out, for GET /_sandbox/issued
        std::vector<std::string> issued_codes, issued_access_tokens, issued_refresh_tokens, issued_id_tokens;
        // counters
        std::map<std::string, int> requests_by_endpoint;
        std::map<std::string, int> token_requests_by_grant;
        std::map<std::string, std::map<std::string, int>> token_requests_by_user;
    };
    std::mutex mutex;
    State state;

    // Per-mailbox in-flight tracking has its own lock: the guard is released by the transport
    // after the response is written, possibly while another request holds `mutex`.
    std::shared_ptr<void> try_enter_mailbox(const std::string& upn, int limit, int* in_flight_now);
    int max_concurrent(const std::string& upn);
    std::map<std::string, int> max_concurrent_all();
    void reset_max_concurrent();
    // Message-rate window (sliding 60 s on the sandbox clock). Returns seconds to wait, or 0.
    int rate_limit_wait(const std::string& upn, int per_minute);
    // Recipient window (rolling 24 h on the sandbox clock): whether `recipients` more would pass `per_day`.
    bool over_recipient_limit(const std::string& upn, int per_day, int recipients);
    void record_accepted(const std::string& upn, int recipients);

    RequestContext make_context(const HttpRequest& request) const;

private:
    Route classify(const HttpRequest& request) const;
    std::string fault_user(const Route& route, const HttpRequest& request, std::string* grant_type);
    HttpResponse dispatch(const Route& route, HttpRequest& request, RequestContext& ctx);
    HttpResponse answer_control(const HttpRequest& request);
    HttpResponse answer_with_fault(const FaultRule& fault, const Route& route, HttpRequest& request,
                                   RequestContext& ctx);
    void apply_fault_after(const FaultRule& fault, const Route& route, const RequestContext& ctx, HttpResponse& res);
    void finish(const Route& route, const HttpRequest& request, const RequestContext& ctx, HttpResponse& response);

    std::string base_url_;
    std::string stateless_key_;
    LogSink log_;
    std::mutex log_mutex_;
    std::atomic<std::int64_t> clock_offset_ms_{0};
    std::mutex load_mutex_;
    std::map<std::string, MailboxLoad> loads_;  // upn lc -> load
};

// ---- endpoint families (called with Service::mutex held) ----
HttpResponse handle_identity(Service& svc, const Route& route, HttpRequest& request, RequestContext& ctx);
HttpResponse handle_graph(Service& svc, const Route& route, HttpRequest& request, RequestContext& ctx);
Service::ControlResult handle_control(Service& svc, std::string_view method, const std::vector<std::string>& segments,
                                      const Params& query, const boost::json::value& body);

}  // namespace ms_sandbox::detail
