// In-process stand-in for Google's OAuth 2.0 / OpenID Connect endpoints and Gmail's
// users.messages.send (discovery, certs, /o/oauth2/v2/auth, /token, /revoke, /v1/userinfo,
// /gmail/v1/users/{userId}/messages/send and its /upload form).
//
//   google_sandbox::Sandbox sandbox({});               // default scenario, HTTPS, random port
//   curl_easy_setopt(h, CURLOPT_CAINFO, sandbox.ca_file().c_str());
//   auto url = sandbox.base_url() + "/o/oauth2/v2/auth?...";
//   std::string callback = sandbox.autopilot(url, "grace@gmail.example");
//
// Every method below mirrors one control endpoint (/_sandbox/..., see README.md) and runs the
// same code. All methods are thread-safe. No Beast/Asio in this header on purpose.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace google_sandbox {

// Where the build generated the test PKI (ca.pem, server.pem, google-client-secret.txt, ...).
std::filesystem::path default_tls_dir();
// scenarios/default.json in the source tree.
std::filesystem::path default_scenario_file();

struct Options {
    std::filesystem::path scenario_file;  // used when scenario_json is empty; empty = default scenario
    std::string scenario_json;            // inline scenario (takes precedence)
    std::filesystem::path tls_dir = default_tls_dir();
    bool tls = true;                   // false: plain HTTP (still loopback only)
    std::string server_cert = "good";  // "good" | "wrong-host" | "expired"
    std::uint16_t port = 0;            // 0 = pick a free port
    int threads = 2;
    bool log_requests = true;  // one line per request to stderr (never secrets)
};

// The consent page's two buttons.
enum class Answer { allow, deny };

// Why a refresh token stopped working. Google answers all of them the same way on /token
// ("Token has been expired or revoked."), so only the stand-in's records tell them apart.
enum class DeadCause {
    revoked_by_user,    // the user removed the app's access (myaccount.google.com)
    revoked_by_app,     // the client called /revoke
    password_change,    // the token carried Gmail scopes
    unused_six_months,  // not used for six months
    testing_expiry,     // the app is in "Testing" status: 7-day refresh tokens
    token_limit,        // over 100 refresh tokens for this account and client: the oldest goes
};

struct AutopilotRequest {
    std::string authorize_url;  // absolute or path+query
    std::string user;           // the account picked in the account chooser
    Answer answer = Answer::allow;
    std::set<std::string> untick;  // scopes whose consent checkbox is cleared, e.g. ".../auth/gmail.send"
};

struct AutopilotResult {
    std::optional<std::string> callback_url;  // where Google would send the browser
    std::string error_code;                   // Google showed its own error page: "admin_policy_enforced", ...
    int error_status = 0;                     // the "Error 400" of that page
    std::string error_message;
    bool consent_page_shown = false;
    boost::json::value raw;
};

struct SentMessage {
    std::string id, thread_id;
    std::string user;  // the account that sent it
    std::string from, subject;
    std::vector<std::string> to, cc, bcc;  // addresses only
    std::size_t size = 0;                  // bytes of the RFC 5322 message
    std::string upload_type;               // "json", "media" or "multipart"
    std::int64_t sent_at_unix = 0;         // sandbox clock
    // Threading (README "Threads"): the message's own headers, each msg-id with its angle
    // brackets, and the threadId the request asked for (empty: none); thread_id is where it went.
    std::string message_id, in_reply_to;
    std::vector<std::string> references;
    std::string requested_thread_id;
};

// A scripted fault; see README.md "Faults" for the semantics of each field.
struct FaultRule {
    std::string endpoint = "any";  // authorize | token | revoke | userinfo | certs | send | any
    std::optional<std::string> user;
    int after = 0;
    int times = 1;                  // -1 = forever
    std::string action = "status";  // status | delay | drop_before_response | reset_before_body | malformed_json
    int status = 0;
    int delay_ms = 0;
    std::optional<bool> process_first;
    boost::json::value to_json() const;
};

class Sandbox {
public:
    // Loads the scenario and starts listening on 127.0.0.1; throws std::runtime_error on failure.
    explicit Sandbox(Options options = {});
    ~Sandbox();  // stops the server and joins its threads
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    std::uint16_t port() const;
    std::string base_url() const;           // "https://127.0.0.1:PORT" (http:// with tls=false)
    std::filesystem::path ca_file() const;  // the CA clients must trust
    std::filesystem::path tls_dir() const;
    // The client secret of the scenario's web client, read from the generated file.
    std::string client_secret(const std::string& client_id) const;

    // Generic access to any control endpoint: method, "/_sandbox/..." (+ query), JSON body.
    // Throws std::runtime_error when the endpoint answers with an error status.
    boost::json::value control(std::string_view method, std::string_view path, boost::json::value body = nullptr);

    // Clock (sandbox time = wall clock + offset; drives code/token expiry and quota windows).
    std::chrono::system_clock::time_point now() const;
    void advance_clock(std::chrono::seconds by);

    // Kills every refresh token of `user` (for one client, or all) with a cause.
    void kill_refresh_tokens(const std::string& user, DeadCause cause, std::optional<std::string> client_id = {});
    // The cause recorded for a refresh token, or nullopt while it is alive.
    std::optional<DeadCause> dead_cause(const std::string& refresh_token);

    int add_fault(const FaultRule& rule);  // returns the rule id
    void clear_faults();
    boost::json::value faults();  // the rules with their matched/fired counts

    std::vector<SentMessage> messages(std::optional<std::string> user = {});
    void clear_messages();

    // Drive the chooser and consent pages without a browser. Returns the callback URL, or throws
    // std::runtime_error if Google would show its own error page instead.
    std::string autopilot(const std::string& authorize_url, const std::string& user, Answer answer = Answer::allow);
    AutopilotResult autopilot(const AutopilotRequest& request);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace google_sandbox
