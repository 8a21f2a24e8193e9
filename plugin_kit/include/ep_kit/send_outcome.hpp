// What became of one send, in the words every provider's answer is mapped to (ep.send_result/1):
// each plugin classifies its API's answers into a SendClassification, and the kit, the SDK and
// the host act on it the same way whichever provider sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ep::kit {

enum class SendOutcome {
    sent,           // the provider took the message
    rejected,       // permanent: retrying the same message will not help
    auth_expired,   // not sent: refresh once and retry once (401), or the connection must be renewed
    throttled,      // not sent: retry after the provider's delay (Retry-After, or a time in its answer)
    transient,      // certainly not taken effect: safe to retry
    indeterminate,  // may have been sent: never resend silently
};
const char* to_string(SendOutcome outcome) noexcept;

struct SendClassification {
    SendOutcome outcome = SendOutcome::indeterminate;
    std::string code;                     // the provider's error code, else "http_<status>" or "unexpected_response"
    std::string user_message;             // plain words for the person sending, saying what to do
    bool retry_with_fresh_token = false;  // a 401: refresh once, retry once
    // The provider withdrew the permission to send (an administrator removed or restricted it):
    // the connection is in the product page's "Permission denied" state.
    bool permission_denied = false;
    // The app's own registration is the problem (an API not enabled, a project quota spent): the
    // operator must act; the message is kept.
    bool operator_error = false;
    // The mailbox's daily sending limit: nudges are held until retry_at_unix_ms.
    bool sending_limit = false;
    std::optional<int64_t> retry_at_unix_ms{};  // when the provider's answer names the time to retry
};

}  // namespace ep::kit
