// The Gmail plugin's instance configuration (the JSON a host passes to create), parsed and
// validated once. Every error names the field. Secrets are never accepted inline: the OAuth
// client secret and the token-encryption keys come from environment variables or files.
#pragma once

#include "ep_kit/plugin_settings.hpp"
#include "google_tokens.hpp"
#include "uses_kit.hpp"

#include <string>
#include <string_view>

namespace gmail {

// The name the plugin's sealed blobs are bound to (ep::kit::AccountStore, VaultContext).
inline constexpr std::string_view kProviderName = "gmail";

// Google's hosts, each replaceable for a stand-in: accounts.google.com (sign-in),
// oauth2.googleapis.com (token, revoke), openidconnect.googleapis.com (userinfo),
// www.googleapis.com (the ID tokens' keys) and gmail.googleapis.com.
struct GoogleEndpoints {
    std::string accounts = "https://accounts.google.com";
    std::string oauth2 = "https://oauth2.googleapis.com";
    std::string openidconnect = "https://openidconnect.googleapis.com";
    std::string googleapis = "https://www.googleapis.com";
    std::string gmail = "https://gmail.googleapis.com";

    std::string userinfo() const { return openidconnect + "/v1/userinfo"; }
    std::string jwks() const { return googleapis + "/oauth2/v3/certs"; }
};

// The kit's settings (vault, TLS, timeouts, limits) and Google's own.
struct GmailConfig : PluginSettings {
    // The OAuth client (id, secret, redirect URI, token endpoints, publishing status): moved into
    // the provider's GoogleTokens, the one holder of the client secret, and read there.
    GoogleTokenSettings google;
    GoogleEndpoints endpoints;
};

// Throws ep::sdk::Error(EP_ERR_CONFIG, "invalid_config", message, field).
GmailConfig parse_config(std::string_view json_text);

}  // namespace gmail
