// The scenario: tenants, users, app registrations and server settings, loaded from JSON
// (format documented in README.md). Mutable fields (mailbox_enabled, secret state, admin
// consent) are changed by the control API under the service mutex.
#pragma once

#include "common.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace ms_sandbox::detail {

inline constexpr const char* kConsumersTenantId = "9188040d-6c67-4c5b-b112-36a304b66dad";
inline constexpr const char* kGraphResource = "https://graph.microsoft.com";
inline constexpr const char* kGraphAppId = "00000003-0000-0000-c000-000000000000";

struct MailboxLimits {
    int concurrent_requests = 4;   // 0 = unlimited
    int messages_per_minute = 30;  // 0 = unlimited
    // Exchange Online's recipient rate limit: to + cc + bcc over a rolling 24 hours; 0 = unlimited.
    int recipients_per_day = 10000;
};

// Lengths of issued secrets (README "Token shapes"); measured from real traffic, see
// outlook_plugin/docs/microsoft-behaviour.md §9.
struct TokenSizes {
    std::size_t work_access_token = 1900;      // a signed JWT, padded to about this length
    std::size_t personal_access_token = 1250;  // opaque
    std::size_t refresh_token = 1100;
    std::size_t code = 900;
};

struct Settings {
    std::int64_t access_token_lifetime = 3599;  // seconds; Microsoft randomises 60-90 min
    std::int64_t ext_expires_in = 3599;
    std::int64_t refresh_token_inactivity = 90LL * 24 * 3600;
    std::int64_t authorization_code_lifetime = 600;
    bool old_refresh_token_stays_valid = true;  // Microsoft's behaviour
    int pkce_mismatch_code = 501481;            // or 50148: both are seen live
    std::int64_t assertion_clock_skew = 300;    // seconds tolerated around nbf/exp
    MailboxLimits mailbox_limits;
    TokenSizes token_sizes;
    // The token response's "scope": "as_requested" (short names if the request used them),
    // "qualified" or "short"; optionally URL-encoded as in Microsoft's doc example, or absent.
    std::string token_scope_form = "as_requested";
    bool token_scope_url_encoded = false;
    bool token_scope_omitted = false;
    // Redirects as the address bar shows them: the query-mode callback URL ends in '#'.
    bool redirect_trailing_hash = false;
    // A MIME sendMail's Message-ID replaced by one of the stand-in's, as Exchange might do
    // (UNVERIFIED, outlook_plugin/docs/microsoft-behaviour.md §6d).
    bool replace_message_id = false;
};

struct Tenant {
    std::string id;  // GUID
    std::string domain;
    std::string display_name;
    bool consumers = false;  // the implicit MSA tenant
    bool user_consent_allowed = true;
    bool admin_consent_workflow = false;         // true: "Approval required" (90095); false: 90094/90093
    int consent_blocked_code = 90094;            // 90094 "Need admin approval" or 90093
    bool admin_consent_all_apps = false;         // scenario "admin_consent_granted": true
    std::set<std::string> admin_consented_apps;  // client ids granted tenant-wide
    // Earlier consents (e.g. Calendars.Read): listed in every token of the tenant's users.
    std::vector<std::string> consented_scopes;
    // Permissions an administrator removed (control API): gone from the next token.
    std::vector<std::string> removed_scopes;
    // Some tenants report a user's Cancel as error=consent_required without an AADSTS code.
    bool cancel_as_consent_required = false;
};

struct User {
    std::string upn;
    std::string id;  // GUID (work) or 16 hex digits (personal)
    std::string display_name, given_name, surname;
    std::optional<std::string> mail;  // null for MSA and for users without a mailbox
    bool personal = false;
    std::string tenant_id;
    bool mailbox_enabled = true;
    std::optional<std::string> password;  // unset: any password (or none) is accepted
    bool is_admin = false;
    std::optional<std::string> job_title, mobile_phone, office_location, preferred_language;
    MailboxLimits limits;
    std::vector<std::string> consented_scopes;  // earlier consents, as on Tenant
    std::vector<std::string> removed_scopes;    // removed by an administrator, as on Tenant

    // The object id that appears in tokens: the GUID, or for MSA the 16-hex id padded the way
    // Microsoft pads it ("00000000-0000-0000-xxxx-xxxxxxxxxxxx").
    std::string oid() const;
};

struct Secret {
    std::string id;
    std::string value;
    std::int64_t expires_unix = 0;  // 0 = never
    bool invalid = false;           // control API: POST /_sandbox/apps/{id}/secret {"state":"invalid"}
};

struct RegisteredCertificate {
    std::filesystem::path file;
    Certificate certificate;
};

struct App {
    std::string client_id;
    std::string display_name;
    std::string publisher;
    bool confidential = false;
    std::vector<std::string> redirect_uris;
    std::vector<Secret> secrets;
    std::vector<RegisteredCertificate> certificates;
    std::vector<std::string> api_permissions;  // canonical scope names used for ".default"
    std::string sign_in_audience = "AzureADandPersonalMicrosoftAccount";
    std::string home_tenant;  // tenant id; needed for AzureADMyOrg
};

struct Scenario {
    Settings settings;
    std::vector<Tenant> tenants;
    std::deque<User> users;  // a deque: adding a user never moves the others (pointers stay valid)
    std::vector<App> apps;

    Tenant* tenant_by_id_or_domain(std::string_view key);
    User* user(std::string_view upn);  // case-insensitive, O(1): load tests hold 100,000 users
    User& add_user(User u);

private:
    std::unordered_map<std::string, std::size_t> user_index_;  // lower-case UPN -> position in users

public:
    App* app(std::string_view client_id);
};

// Applies the fields present in `json` (the scenario's "settings" object, or a partial one
// from the control API) over `base`. Throws std::runtime_error naming the field.
Settings parse_settings(const boost::json::value& json, Settings base, const std::string& where = "settings");
boost::json::object settings_json(const Settings& s);

// Throws std::runtime_error naming the offending field ("users[2].upn: ...").
// Relative certificate paths resolve against `tls_dir`.
Scenario parse_scenario(const boost::json::value& json, const std::filesystem::path& tls_dir);

// "2099-01-01T00:00:00Z" (also with fractional seconds) -> unix seconds; nullopt if malformed.
std::optional<std::int64_t> parse_iso8601(std::string_view text);
std::string format_iso8601(std::int64_t unix_seconds);  // "2024-05-01T10:00:00Z"

}  // namespace ms_sandbox::detail
