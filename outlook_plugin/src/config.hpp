// The Outlook plugin's instance configuration (the JSON a host passes to create), parsed and
// validated once. Every error names the field. Secrets are never accepted inline: the client
// secret and the token-encryption keys come from environment variables or files.
#pragma once

#include "ep_kit/plugin_settings.hpp"
#include "ep_kit/secret_string.hpp"
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

// The kit's settings (vault, TLS, timeouts, limits) and Microsoft's own.
struct OutlookConfig : PluginSettings {
    std::string client_id;  // the application (client) id, shown to admins for verification
    std::string authority;  // common | organizations | consumers | tenant id | domain
    Cloud cloud = Cloud::global;
    std::string login_base;    // e.g. https://login.microsoftonline.com (no trailing slash)
    std::string graph_base;    // e.g. https://graph.microsoft.com/v1.0 (no trailing slash)
    std::string scope_prefix;  // "" for global Graph short names, else "https://graph.microsoft.us/"
    std::string redirect_uri;
    ClientCredential credential;

    // The scopes requested at sign-in, in order (offline_access, User.Read, Mail.Send).
    std::string requested_scopes() const;
    std::string token_endpoint() const;  // for the configured authority
    std::string authorize_endpoint() const;
};

// Throws ep::sdk::Error(EP_ERR_CONFIG, "invalid_config", message, field).
OutlookConfig parse_config(std::string_view json_text);

// Whether `s` names one tenant: its id (a GUID) or one of its domains.
bool is_tenant_id_or_domain(std::string_view s);

}  // namespace outlook
