#include "gmail_config.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/url/parse.hpp>
#include <ep_json/reader.hpp>

namespace gmail {
namespace {

namespace reader = ep::json_reader;
using ep::sdk::Error;

// Per-user concurrent requests Gmail tolerates before "Too many concurrent requests for user"
// (429 rateLimitExceeded, https://developers.google.com/workspace/gmail/api/reference/quota).
constexpr int kGmailMaxConcurrentSendsPerMailbox = 4;

// A web application's client id: "<project number>-<id>.apps.googleusercontent.com".
void read_client(const reader::Object& r, GoogleClient& client) {
    client.client_id = r.required_non_empty_string("client_id");
    constexpr std::string_view kSuffix = ".apps.googleusercontent.com";
    if (client.client_id.size() <= kSuffix.size() || !client.client_id.ends_with(kSuffix))
        r.fail("client_id",
               "must be the OAuth client id from the Google Cloud console, such as "
               "1234567890-abc123.apps.googleusercontent.com");
    client.redirect_uri = r.required_non_empty_string("redirect_uri");
    auto url = boost::urls::parse_absolute_uri(client.redirect_uri);
    if (!url || url->has_fragment() || url->has_query())
        r.fail("redirect_uri", "must be an absolute URL without a query or fragment");
    // Google accepts http only for localhost and 127.0.0.1
    // (https://developers.google.com/identity/protocols/oauth2/web-server#uri-validation).
    if (url->scheme() != "https" && !(url->scheme() == "http" && is_loopback_url(client.redirect_uri)))
        r.fail("redirect_uri", "must use https (http only on localhost / 127.0.0.1, as Google requires)");
}

void read_endpoints(const reader::Object& r, GmailConfig& c) {
    const bool allow_loopback_http = r.boolean("allow_insecure_loopback_http").value_or(false);
    GoogleEndpoints& e = c.endpoints;
    if (auto o = r.object("endpoints", {"accounts", "oauth2", "openidconnect", "googleapis", "gmail"},
                          "must be a JSON object")) {
        auto base = [&](std::string_view key, std::string& target) {
            if (auto v = o->string(key)) target = read_endpoint(*o, key, *v, allow_loopback_http, target);
        };
        base("accounts", e.accounts);
        base("oauth2", e.oauth2);
        base("openidconnect", e.openidconnect);
        base("googleapis", e.googleapis);
        base("gmail", e.gmail);
    }
    GoogleClient& client = c.google.client;
    client.authorization_endpoint = e.accounts + "/o/oauth2/v2/auth";
    client.token_endpoint = e.oauth2 + "/token";
    client.revoke_endpoint = e.oauth2 + "/revoke";
}

GmailConfig read_document(const boost::json::value& root) {
    const reader::Object r(root, "",
                           {"client_id", "client_secret", "redirect_uri", "publishing_status",
                            "allow_insecure_loopback_http", "endpoints", "token_encryption", "tls", "timeouts",
                            "refresh_skew_seconds", "pending_connect_ttl_seconds", "send", "access_token_cache_size"},
                           reader::Null::is_absent, "must be a JSON object");
    GmailConfig c;
    read_client(r, c.google.client);
    // A web application is a confidential client: Google's token endpoint wants its secret.
    const reader::Object secret = r.required_object("client_secret", "must be a JSON object");
    secret.only({"env", "file"});
    c.google.client_secret = read_secret_source(secret);
    c.google.app_in_testing =
        r.one_of<bool>("publishing_status", {{"production", false}, {"testing", true}}).value_or(false);
    read_endpoints(r, c);
    read_plugin_settings(r, c, kGmailMaxConcurrentSendsPerMailbox);
    c.google.connect_timeout_ms = c.connect_timeout_ms;
    c.google.request_timeout_ms = c.request_timeout_ms;
    return c;
}

}  // namespace

GmailConfig parse_config(std::string_view text) {
    try {
        return read_document(reader::parse(text));
    } catch (const reader::FieldError& e) {
        const std::string field = e.path().empty() ? "config" : e.path();
        throw Error(EP_ERR_CONFIG, "invalid_config", "gmail config: " + field + " " + e.problem(), field);
    }
}

}  // namespace gmail
