// In-process stand-in for the Microsoft identity platform v2.0 and Microsoft Graph
// (authorize / token / adminconsent / discovery, GET /v1.0/me, POST /v1.0/me/sendMail).
//
//   ms_sandbox::Sandbox sandbox({});                  // default scenario, HTTPS, random port
//   curl_easy_setopt(h, CURLOPT_CAINFO, sandbox.ca_file().c_str());
//   auto url = sandbox.base_url() + "/common/oauth2/v2.0/authorize?...";
//   std::string callback = sandbox.autopilot(url, "adele@contoso.example", ms_sandbox::Answer::accept);
//
// Every method below mirrors one control endpoint (/_sandbox/..., see README.md) and runs the
// same code. All methods are thread-safe. No Beast/Asio in this header on purpose.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ms_sandbox {

// Where the build generated the test PKI (ca.pem, server.pem, client-cert.pem, ...).
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

// back: the Back button on the first page shown (error_subcode=cancel without a description).
enum class Answer { accept, cancel, decline, back, request_approval, return_from_approval };
enum class RevokeReason { inactivity, password_change, consent_revoked, mfa_required, signin_frequency };
enum class SecretState { valid, expired, invalid };

// A scripted fault; see README.md "Fault rules" for the semantics of each field.
struct FaultRule {
    std::string endpoint = "any";  // authorize | token | me | sendMail | adminconsent | any
    std::optional<std::string> user;
    std::optional<std::string> grant_type;
    int after = 0;
    int times = 1;                  // -1 = forever
    std::string action = "status";  // status | delay | drop_before_response | reset_before_body |
                                    // status_after_record | malformed_json | truncated_body |
                                    // huge_body | access_denied | redirect_error
    int status = 0;
    std::optional<std::string> retry_after;  // "10", "2.128" or an HTTP date
    int delay_ms = 0;
    std::optional<bool> process_first;
    std::string error_code;  // optional override (AADSTS number or Graph code)
    std::string message;     // optional override
    boost::json::value to_json() const;
};

struct RecordedAttachment {
    std::string name;
    std::optional<std::string> content_type;
    std::size_t size = 0;
    bool is_inline = false;
    std::optional<std::string> content_id;
};

struct Recipient {
    std::string address, name;
};

struct RecordedMessage {
    std::string sender;  // UPN of the mailbox that sent it
    std::string from;    // the mailbox's address (a MIME message's From, which must be it)
    std::string subject;
    std::string body_type;  // "Text", "HTML" or "MIME"
    std::string body_content;
    std::vector<Recipient> to, cc, bcc, reply_to;
    std::vector<RecordedAttachment> attachments;
    std::vector<std::pair<std::string, std::string>> headers;  // internetMessageHeaders
    bool save_to_sent_items = true;
    // The threading headers of a MIME message, msg-ids with their angle brackets, "" when absent;
    // the JSON form carries none (Exchange gives it its own Message-ID).
    std::string message_id;            // as recipients see it
    std::string submitted_message_id;  // as the client sent it (differs under the switch replace_message_id)
    std::string in_reply_to;
    std::vector<std::string> references;
    std::optional<std::string> client_request_id;
    std::string request_id;
    std::int64_t sent_at_unix = 0;  // sandbox clock
    boost::json::value raw;         // the full record as served by GET /_sandbox/messages
};

struct Counters {
    std::map<std::string, int> requests;                              // endpoint -> count
    std::map<std::string, int> token_by_grant;                        // grant_type -> count
    std::map<std::string, std::map<std::string, int>> token_by_user;  // upn (lower case) -> grant -> count
    std::map<std::string, int> max_concurrent_send;                   // upn (lower case) -> max in flight
};

struct IssuedSecrets {
    std::vector<std::string> codes, access_tokens, refresh_tokens, id_tokens;
    std::vector<std::string> all() const;
};

struct AutopilotRequest {
    std::string authorize_url;  // absolute or path+query; authorize or adminconsent
    std::string user;           // UPN to sign in as
    Answer answer = Answer::accept;
    std::string justification;  // for request_approval
    std::optional<std::string> password;
    bool sso = false;                        // pretend the browser already has a session for `user`
    bool on_behalf_of_organization = false;  // admin ticks "Consent on behalf of your organization"
    // The callback URL as a browser's address bar shows it, ending in '#'; unset = the
    // scenario's redirect_trailing_hash setting.
    std::optional<bool> address_bar;
};

struct AutopilotResult {
    std::optional<std::string> callback_url;  // where Microsoft would send the browser
    std::optional<int> error_page_code;       // Microsoft showed its own error page instead
    std::string error_page_message;
    std::optional<int> interrupt_code;  // user left on an approval page (90093/90094/90095)
    std::string page;                   // last page reached
    bool consent_page_shown = false;
    std::optional<std::string> approval_request_id;
    boost::json::value raw;
};

// TEST-ONLY bulk seeding for load tests (POST /_sandbox/bulk-grants): for each user, what a
// completed sign-in leaves at the stand-in (the user, its consent, an access + refresh token
// minted by the token endpoint's own code), without the sign-in pages.
struct BulkGrantsRequest {
    std::string client_id;
    std::vector<std::string> users;  // explicit UPNs; when empty, `count` generated users:
    int count = 0;                   //   <prefix><first + i>@<tenant's domain>
    int first = 0;
    std::string prefix = "bulk";
    std::string tenant = "contoso.example";  // work tenant (id or domain) for users that do not exist yet
    std::vector<std::string> scopes = {"offline_access", "User.Read", "Mail.Send"};
    // Bulk mode (README "Bulk mode"; count form only): no user and no token stored, tokens the
    // stand-in verifies by their HMAC; `expires_in` (seconds, > 0) overrides the access tokens'
    // lifetime (stateless only).
    bool stateless = false;
    std::optional<std::int64_t> expires_in{};
};

// GET /_sandbox/message-tally: every accepted sendMail counted by its client-request-id header
// (else its subject); the keys seen more than once, most frequent first (at most 100 listed).
struct MessageTally {
    std::uint64_t total = 0;                                        // messages accepted
    std::uint64_t distinct = 0;                                     // distinct keys
    std::uint64_t duplicate_keys = 0;                               // keys seen more than once
    std::vector<std::pair<std::string, std::uint64_t>> duplicates;  // (key, count)
};

struct BulkGrant {
    std::string upn, user_id, tenant_id;
    std::string access_token, refresh_token;
    std::string scope;  // as /token returns it
    std::int64_t expires_in = 0;
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

    // Generic access to any control endpoint: method, "/_sandbox/..." (+ query), JSON body.
    // Throws std::runtime_error when the endpoint answers with an error status.
    boost::json::value control(std::string_view method, std::string_view path, boost::json::value body = nullptr);

    // Clock (sandbox time = wall clock + offset; drives code/token/secret expiry and rate windows).
    std::chrono::system_clock::time_point now() const;
    void advance_clock(std::chrono::seconds by);
    void set_clock(std::chrono::system_clock::time_point t);

    // Faults.
    int add_fault(const FaultRule& rule);  // returns the rule id
    void clear_faults();
    boost::json::value faults();  // rules with matched/fired counts

    // Grants, mailboxes, credentials, consent.
    void revoke_grant(const std::string& upn, RevokeReason reason);
    void set_mailbox_enabled(const std::string& upn, bool enabled);
    void set_secret_state(const std::string& client_id, SecretState state);
    void set_admin_consent(const std::string& tenant, bool granted, std::optional<std::string> client_id = {});
    boost::json::value approval_requests();
    void approve_request(const std::string& request_id);

    // Observations.
    Counters counters();
    int token_requests(std::string_view grant_type, std::string_view user = {});
    void reset_counters();
    std::vector<RecordedMessage> messages(std::optional<std::string> user = {});
    void clear_messages();  // also forgets the message tally
    MessageTally message_tally();
    void clear_message_tally();
    IssuedSecrets issued();

    // TEST-ONLY: users with tokens as if each had signed in (see BulkGrantsRequest).
    std::vector<BulkGrant> bulk_grants(const BulkGrantsRequest& request);

    // Drive the sign-in pages without a browser. Returns the callback URL, or throws
    // std::runtime_error if Microsoft would show an error / approval page instead.
    std::string autopilot(const std::string& authorize_url, const std::string& upn, Answer answer = Answer::accept);
    AutopilotResult autopilot(const AutopilotRequest& request);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms_sandbox
