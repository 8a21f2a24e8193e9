// What a provider's token endpoint means, told to the kit's token manager by the provider: how
// to ask for a refresh, how to read the answer, and the words users and the log see. The
// token manager owns the lifecycle (cache, single flight, leases, compare-and-swap, backoff);
// the provider owns its protocol.
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/secret_string.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ep::kit {

// How a failed token request (a refresh or a code redemption) should be handled.
enum class GrantFailureKind {
    dead_grant,      // the refresh token will never work again: reconnect
    interaction,     // the user must act at the provider (MFA, consent, a policy): reconnect
    operator_error,  // the app registration or its credential is wrong: tokens kept
    transient,       // retry later (429, 5xx, network)
};

struct GrantFailure {
    GrantFailureKind kind = GrantFailureKind::transient;
    std::string reason;   // ep.status/1 expired reason (dead_grant / interaction)
    std::string message;  // for the user (or the operator for operator_error)
    std::string code;     // the provider's code, or the OAuth error
};

// A refresh's answer, as the provider reads it: new tokens, or why not.
struct RefreshAnswer {
    struct Tokens {
        SecretString access_token;
        SecretString refresh_token;  // empty unless the provider issued a new one (rotation)
        int64_t expires_in_s = 0;
        int64_t refresh_in_s = 0;  // when the provider asks for an early refresh; 0 = never
    };
    std::optional<Tokens> tokens;
    // With tokens: what was granted, read against what the app needs.
    std::vector<std::string> missing;  // required permissions no longer granted
    std::vector<std::string> extras;   // granted as well, never used by the app
    std::string scopes;                // the required permissions granted, as recorded
    // Without tokens: what went wrong.
    GrantFailure failure;
};

class TokenProtocol {
public:
    virtual ~TokenProtocol() = default;

    virtual HttpRequest refresh_request(std::string_view refresh_token) const = 0;
    // Reads the answer to refresh_request, transport failures included. Never throws. `grant` is
    // the connection being refreshed: some providers tell a refusal's likely cause from its age.
    virtual RefreshAnswer read_refresh(const HttpResponse& response, const GrantRecord& grant,
                                       int64_t now_unix_ms) const = 0;

    // The words users and the log see.
    virtual std::string service_name() const = 0;           // "Microsoft", "Google"
    virtual std::string not_connected_message() const = 0;  // the account never connected, or disconnected
    virtual std::string permission_denied_message() const = 0;
    // Tells the operator that a token carries permissions the app never uses (least privilege).
    virtual std::string least_privilege_notice(const std::vector<std::string>& extras) const = 0;
};

}  // namespace ep::kit
