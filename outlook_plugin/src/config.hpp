// The Outlook plugin's instance configuration (the JSON a host passes to create), parsed and
// validated once. Every error names the field. Secrets are never accepted inline: the client
// secret and the token-encryption keys come from environment variables or files.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/secret_string.hpp"
#include "ep_kit/send_protocol.hpp"
#include "ep_kit/token_manager.hpp"
#include "ep_kit/vault.hpp"
#include "uses_kit.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace outlook {

// The name the plugin's sealed blobs are bound to (ep::kit::AccountStore, VaultContext).
inline constexpr std::string_view kProviderName = "outlook";

enum class Cloud { global, us_gov_l4, us_gov_l5, china };
const char* to_string(Cloud);

enum class CredentialType { none, secret, certificate };
enum class AssertionAlgorithm { ps256, rs256 };

struct ClientCredential {
    CredentialType type = CredentialType::none;
    SecretString secret;           // type == secret
    std::string certificate_pem;   // type == certificate (public: not a secret)
    SecretString private_key_pem;  // type == certificate
    AssertionAlgorithm algorithm = AssertionAlgorithm::ps256;
};

struct OutlookConfig {
    std::string client_id;  // the application (client) id, shown to admins for verification
    std::string authority;  // common | organizations | consumers | tenant id | domain
    Cloud cloud = Cloud::global;
    std::string login_base;    // e.g. https://login.microsoftonline.com (no trailing slash)
    std::string graph_base;    // e.g. https://graph.microsoft.com/v1.0 (no trailing slash)
    std::string scope_prefix;  // "" for global Graph short names, else "https://graph.microsoft.us/"
    std::string redirect_uri;
    ClientCredential credential;
    std::shared_ptr<const Vault> vault;
    TlsSettings tls;
    long connect_timeout_ms = 10000;
    long request_timeout_ms = 30000;
    int64_t refresh_skew_ms = 300'000;
    int64_t pending_connect_ttl_ms = 600'000;
    std::size_t send_queue_limit = 10'000;
    int max_concurrency_per_mailbox = 4;    // Graph's Outlook limit
    int max_send_attempts = 3;              // only for outcomes that certainly did not take effect
    int64_t max_throttle_wait_ms = 60'000;  // longer waits go back to the host as "throttled"
    std::size_t access_token_cache_size = 10'000;

    // The scopes requested at sign-in, in order (offline_access, User.Read, Mail.Send).
    std::string requested_scopes() const;
    std::string token_endpoint() const;  // for the configured authority
    std::string authorize_endpoint() const;
    // For the kit's token manager: a refresh lease lasts as long as one token request may take.
    TokenSettings token_settings() const {
        return {refresh_skew_ms, access_token_cache_size, connect_timeout_ms + request_timeout_ms};
    }
    SendSettings send_settings() const {
        return {send_queue_limit, max_concurrency_per_mailbox, max_send_attempts, max_throttle_wait_ms};
    }
};

// Throws ep::sdk::Error(EP_ERR_CONFIG, "invalid_config", message, field).
OutlookConfig parse_config(std::string_view json_text);

// Whether `s` names one tenant: its id (a GUID) or one of its domains.
bool is_tenant_id_or_domain(std::string_view s);

// Whether `uri` is http(s) on 127.0.0.1 / localhost / [::1].
bool is_loopback_url(std::string_view uri);

}  // namespace outlook
