// The scenario: Google accounts, Workspace domains and OAuth clients the stand-in knows, and
// its settings. Parsed from JSON with the project's reader (errors name the field).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace google_sandbox::detail {

struct Settings {
    // The id_token "iss". Google's is https://accounts.google.com whatever host served the token
    // (https://developers.google.com/identity/openid-connect/openid-connect), and Google's
    // libraries only accept that or "accounts.google.com" (google-auth-library-nodejs
    // src/auth/oauth2client.ts, issuers), so the stand-in's own URL would fail them.
    std::string issuer = "https://accounts.google.com";
    std::int64_t access_token_lifetime_seconds = 3599;
    std::int64_t authorization_code_lifetime_seconds = 600;
    std::int64_t refresh_token_unused_seconds = 183LL * 24 * 3600;  // "unused for six months"
    std::int64_t testing_refresh_token_seconds = 7LL * 24 * 3600;   // apps in Testing status
    int max_refresh_tokens_per_client = 100;                        // per account and client
    std::size_t access_token_length = 218;                          // "ya29." + random
    std::size_t refresh_token_length = 103;                         // "1//0" + random
    std::size_t code_length = 73;                                   // "4/0A" + random
    int send_units_per_minute = 6000;                               // per user; a send costs 100
    int daily_send_limit = 2000;                                    // messages per rolling 24 h
};

struct Account {
    std::string email, sub, name, given_name, family_name;
    std::optional<std::string> hd;  // the Workspace domain; none for consumer accounts
    bool gmail_enabled = true;
    std::optional<int> send_units_per_minute, daily_send_limit;  // per-user overrides
};

struct Domain {
    std::string name;
    bool blocks_unverified_apps = false;  // the admin allows only trusted / verified apps
};

struct Client {
    std::string client_id, name, secret;
    std::vector<std::string> redirect_uris;
    bool internal = false;   // "User type: Internal": only accounts of org_domain
    std::string org_domain;  // the project's Workspace domain (internal apps)
    bool testing = false;    // "Publishing status: Testing": only test_users, 7-day tokens
    std::vector<std::string> test_users;
    bool verified = true;  // passed Google's verification for its sensitive scopes
    bool deleted = false;  // deleted in the Cloud console
};

struct Scenario {
    Settings settings;
    std::vector<Account> accounts;
    std::vector<Domain> domains;
    std::vector<Client> clients;

    const Account* account(std::string_view email) const;  // case-insensitive
    const Domain* domain(std::string_view name) const;
    const Client* client(std::string_view client_id) const;
};

// Throws std::runtime_error("scenario: <field path> <problem>"). Secret files resolve against tls_dir.
Scenario parse_scenario(const std::string& json_text, const std::filesystem::path& tls_dir);

}  // namespace google_sandbox::detail
