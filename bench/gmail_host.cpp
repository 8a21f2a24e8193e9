#include "gmail_host.hpp"

#include "gmail_config.hpp"
#include "gmail_mail.hpp"

#include "ep_kit/account_store.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <stdexcept>

namespace bench {

// The stand-in's default scenario registers this client and redirect URI
// (sandboxes/google/scenarios/default.json); the autopilot returns the callback URL instead of
// loading it, so no host listens there.
constexpr const char* kGmailClientId = "1234567890-recruiting.apps.googleusercontent.com";
constexpr const char* kGmailRedirectUri = "http://127.0.0.1/callback";

std::string gmail_config(const std::string& base_url, const std::string& ca_file, const std::filesystem::path& tls_dir,
                         const std::filesystem::path& key_file) {
    return json::serialize(
        json::object{{"client_id", kGmailClientId},
                     {"client_secret", json::object{{"file", (tls_dir / "google-client-secret.txt").string()}}},
                     {"redirect_uri", kGmailRedirectUri},
                     {"publishing_status", "production"},
                     {"endpoints", json::object{{"accounts", base_url},
                                                {"oauth2", base_url},
                                                {"openidconnect", base_url},
                                                {"googleapis", base_url},
                                                {"gmail", base_url}}},
                     {"tls", json::object{{"ca_file", ca_file}}},
                     {"token_encryption",
                      json::object{{"active_key", "k1"},
                                   {"keys", json::array{json::object{{"id", "k1"}, {"file", key_file.string()}}}}}},
                     {"send", json::object{{"max_throttle_wait_seconds", 5}}}});
}

namespace {

std::string string_field(const std::string& document, std::string_view key) {
    json::value v = json::parse(document);
    const json::value* field = v.as_object().if_contains(key);
    return field && field->is_string() ? std::string(field->as_string()) : std::string();
}

}  // namespace

void connect_gmail_accounts(ep::loader::Provider& plugin, const SandboxProcess& sandbox,
                            const std::vector<std::string>& accounts, const std::vector<std::string>& users) {
    for (std::size_t i = 0; i < accounts.size(); ++i) {
        auto begun = plugin.begin_connect(accounts[i], json::serialize(json::object{{"login_hint", users[i]}}));
        if (!begun.ok()) throw std::runtime_error("begin_connect " + accounts[i] + ": " + begun.document);
        json::value pilot = sandbox.control(
            "POST", "/_sandbox/autopilot",
            json::object{{"authorize_url", string_field(begun.document, "authorization_url")}, {"user", users[i]}});
        const json::value* callback = pilot.as_object().if_contains("callback_url");
        if (!callback || !callback->is_string())
            throw std::runtime_error("the stand-in did not sign " + users[i] + " in: " + json::serialize(pilot));
        auto done = plugin.complete_connect(accounts[i],
                                            json::serialize(json::object{{"callback_url", callback->as_string()}}));
        if (!done.ok() || string_field(done.document, "outcome") != "connected")
            throw std::runtime_error("complete_connect " + accounts[i] + ": " + done.document);
    }
}

GmailRawLoad gmail_raw_load(PluginHost& host, const std::string& config_json, const std::vector<std::string>& accounts,
                            const std::string& message_json) {
    gmail::GmailConfig config = gmail::parse_config(config_json);  // the same key ring as the plugin's
    ep::kit::AccountStore store(ep::sdk::Host(host.api()), config.vault, std::string(gmail::kProviderName));
    GmailRawLoad load;
    gmail::MimeOptions sender;
    for (const std::string& account : accounts) {
        auto loaded = store.load_grant(account);
        if (!loaded.grant || loaded.grant->record.state != ep::kit::GrantState::connected)
            throw std::runtime_error(account + " has no connected Gmail grant");
        if (load.tokens.empty()) sender = {loaded.grant->record.email, loaded.grant->record.display_name, 0, {}};
        load.tokens.emplace_back(loaded.grant->record.access_token.view());
    }
    sender.date_unix_s = unix_ms() / 1000;
    constexpr int kBuilds = 1000;
    const auto started = Clock::now();
    for (int i = 0; i < kBuilds; ++i) gmail::build_send_request(ep::message::parse_message(message_json), sender);
    load.build_us = us_between(started, Clock::now()) / kBuilds;
    gmail::SendRequest request = gmail::build_send_request(ep::message::parse_message(message_json), sender);
    load.target.url = config.endpoints.gmail + request.path_and_query;
    load.target.body = std::move(request.body);
    load.target.headers = {{"Content-Type: " + request.content_type}, {"Accept: application/json"}};
    load.target.success_status = 200;
    return load;
}

}  // namespace bench
