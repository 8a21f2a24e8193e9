// Scripted faults: rules posted to /_sandbox/faults (or Sandbox::add_fault) that make the
// next matching requests fail in a chosen way. Matching and bookkeeping live here; the
// responses are built by service.cpp, which knows each endpoint's error shape.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ms_sandbox::detail {

enum class Endpoint {
    authorize,     // GET/POST /{tenant}/oauth2/v2.0/authorize
    login_pages,   // the sign-in / consent / approval form posts
    token,         // POST /{tenant}/oauth2/v2.0/token
    adminconsent,  // /{tenant}/v2.0/adminconsent and /{tenant}/adminconsent
    discovery,     // openid-configuration, JWKS, instance discovery
    me,            // GET /v1.0/me
    send_mail,     // POST /v1.0/me/sendMail
    control,       // /_sandbox/...
    unknown,
};
const char* endpoint_name(Endpoint e);  // "authorize", "token", "me", "sendMail", ...

enum class FaultAction {
    status,                // answer `status` with the endpoint's realistic error body
    delay,                 // only wait delay_ms (combine delay_ms with any other action too)
    drop_before_response,  // read the request, close without answering
    reset_before_body,     // close right after the request header, before reading the body
    status_after_record,   // sendMail: record the message, then answer `status` (default 504)
    malformed_json,        // 200/202 with a broken JSON body
    truncated_body,        // Content-Length larger than what is sent, then close
    huge_body,             // a valid-looking answer of huge_body_bytes
    access_denied,         // Graph 403 ErrorAccessDenied; token: an access token Graph refuses
    redirect_error,        // authorize: redirect back with error=<redirect_error> (server_error...)
};

struct FaultRule {
    int id = 0;
    std::string endpoint = "any";           // authorize | token | me | sendMail | adminconsent | any
    std::optional<std::string> user;        // UPN (case-insensitive)
    std::optional<std::string> grant_type;  // token requests only
    int after = 0;                          // let the first `after` matching requests through
    int times = 1;                          // how many requests it hits; -1 = forever
    FaultAction action = FaultAction::status;
    int status = 0;
    std::optional<std::string> retry_after;  // "10", "2.128" or an HTTP date; sent verbatim
    int delay_ms = 0;
    bool process_first = false;  // run the real handler first, then apply the fault
    std::string error_code;      // override: AADSTS number (token) or Graph code
    std::string message;         // override of the error message
    std::string redirect_error = "temporarily_unavailable";
    std::size_t huge_body_bytes = 20 * 1024 * 1024;
    // bookkeeping
    int matched = 0;  // requests that matched the filters
    int fired = 0;    // requests it actually hit

    boost::json::object to_json() const;
};

// Throws std::invalid_argument with a readable message.
FaultRule parse_fault_rule(const boost::json::value& json);

class FaultEngine {
public:
    int add(FaultRule rule);
    void clear() { rules_.clear(); }
    const std::vector<FaultRule>& rules() const { return rules_; }
    // The first rule that fires for this request, if any. `header_phase` selects the
    // reset_before_body rules (evaluated before the body is read) vs all the others.
    std::optional<FaultRule> match(Endpoint endpoint, std::string_view user, std::string_view grant_type,
                                   bool header_phase);

private:
    std::vector<FaultRule> rules_;
    int next_id_ = 1;
};

}  // namespace ms_sandbox::detail
