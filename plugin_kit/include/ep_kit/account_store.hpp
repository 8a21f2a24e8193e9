// What a provider plugin keeps per account in the host's secret store, always sealed by the
// vault under the provider's name:
//
//   account/<id>/grant    the connection: tokens and profile, or why it ended (expired,
//                         approval required) without any token
//   account/<id>/pending  sign-ins in progress (PKCE verifier + hashed state), single use
//
// <id> is the host account id with '%' and '/' percent-encoded, so one account's prefix is
// never a prefix of another's. Every write is a compare-and-swap on the store version.
#pragma once

#include "ep_kit/secret_string.hpp"
#include "ep_kit/vault.hpp"

#include <email_provider/ep_sdk.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ep::kit {

// permission_denied: the provider withdrew a permission the plugin needs (an administrator
// removed or restricted it); like expired, it keeps no token and ends with a reconnect.
enum class GrantState { connected, expired, admin_approval_required, permission_denied };

struct OperatorError {
    std::string code;     // the provider's code, e.g. AADSTS7000222
    std::string message;  // for the operator
    int64_t since_ms = 0;
};

struct GrantRecord {
    GrantState state = GrantState::connected;
    // connected
    SecretString refresh_token;
    SecretString access_token;
    int64_t access_expires_at_ms = 0;
    int64_t refresh_after_ms = 0;           // proactive refresh point (refresh_in), 0 = none
    std::string scopes;                     // the requested permissions granted, space-separated
    std::vector<std::string> extra_scopes;  // also consented for this app, never used by it
    int64_t connected_at_ms = 0;
    int64_t last_refresh_ms = 0;
    std::optional<OperatorError> operator_error;  // tokens kept; status shows configuration_error
    // Cross-process single flight: the instance refreshing holds a lease other instances wait on.
    int64_t refresh_lease_until_ms = 0;
    std::string refresh_lease_owner;
    // identity (kept in every state, for the UI)
    std::string email;
    std::string display_name;
    std::string user_id;    // the provider's stable id of the person
    std::string tenant_id;  // their organisation at the provider (a tenant, a Workspace domain), if any
    std::string cloud;      // the provider's cloud or region, if it has several
    // expired / admin_approval_required / permission_denied
    std::string reason;             // ep.status/1 reason code
    std::string message;            // for the user
    std::string error_code;         // the provider's code, e.g. AADSTS700082
    std::string admin_consent_url;  // where an administrator approves the app, when there is one
    std::string claims;             // a challenge the next sign-in must satisfy (Microsoft's CAE claims, JSON)
    int64_t since_ms = 0;
};

struct StoredGrant {
    GrantRecord record;
    uint64_t version = 0;
};

// A grant that exists but cannot be read (missing key, tampered, malformed): the account is
// "expired" with reason storage, and the blob is kept so a fixed key ring can read it again.
struct UnreadableGrant {
    uint64_t version = 0;
    std::string problem;  // names the key id where relevant; no secret
};

struct PendingFlow {
    std::string state_hash;  // hex SHA-256 of the state: the state itself is never stored
    SecretString verifier;
    int64_t created_ms = 0;
    std::string login_hint;
    std::string nonce;  // OpenID Connect's, echoed in the ID token; empty when the provider has none
};

struct PendingFlows {
    std::vector<PendingFlow> flows;
    std::vector<std::pair<std::string, int64_t>> consumed;  // recent state hashes: tell "reused" from "unknown"
    uint64_t version = 0;
};

class AccountStore {
public:
    // `provider` binds every sealed blob to this provider (VaultContext): "outlook", "gmail".
    AccountStore(ep::sdk::Host host, std::shared_ptr<const Vault> vault, std::string provider);

    // nullopt: no grant. Throws ep::sdk::Error(EP_ERR_STORAGE) when the store fails.
    struct LoadResult {
        std::optional<StoredGrant> grant;
        std::optional<UnreadableGrant> unreadable;
        bool absent() const { return !grant && !unreadable; }
    };
    LoadResult load_grant(std::string_view account) const;
    // Compare-and-swap; returns the new version or nullopt on conflict.
    std::optional<uint64_t> save_grant(std::string_view account, const GrantRecord& record,
                                       uint64_t expected_version) const;

    // Pending flows that cannot be read are treated as none (the user just starts again).
    PendingFlows load_pending(std::string_view account) const;
    std::optional<uint64_t> save_pending(std::string_view account, const PendingFlows& flows) const;

    // Deletes every key of the account (grant and pending) at once.
    void erase_account(std::string_view account) const;

    static std::string key_prefix(std::string_view account);

private:
    ep::sdk::Host host_;
    std::shared_ptr<const Vault> vault_;
    std::string provider_;
};

}  // namespace ep::kit
