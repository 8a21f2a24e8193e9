#include "scenario.hpp"

#include <sandbox/crypto.hpp>

#include <ep_json/reader.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace google_sandbox::detail {

namespace reader = ep::json_reader;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::vector<std::string> strings(const reader::Object& o, std::string_view key) {
    std::vector<std::string> out;
    if (auto a = o.array(key))
        for (std::size_t i = 0; i < a->size(); ++i) out.push_back(a->string(i));
    return out;
}

int positive(const reader::Object& o, std::string_view key, int fallback) {
    return static_cast<int>(o.integer(key, 1, 100000000).value_or(fallback));
}

Settings read_settings(const reader::Object& o) {
    o.only({"issuer", "access_token_lifetime_seconds", "authorization_code_lifetime_seconds",
            "refresh_token_unused_seconds", "testing_refresh_token_seconds", "max_refresh_tokens_per_client",
            "token_sizes", "send_units_per_minute", "daily_send_limit"});
    Settings s;
    s.issuer = o.non_empty_string("issuer").value_or(s.issuer);
    s.access_token_lifetime_seconds = o.integer("access_token_lifetime_seconds", 1, 86400).value_or(3599);
    s.authorization_code_lifetime_seconds = o.integer("authorization_code_lifetime_seconds", 1, 3600).value_or(600);
    s.refresh_token_unused_seconds =
        o.integer("refresh_token_unused_seconds", 1, 1LL << 40).value_or(s.refresh_token_unused_seconds);
    s.testing_refresh_token_seconds =
        o.integer("testing_refresh_token_seconds", 1, 1LL << 40).value_or(s.testing_refresh_token_seconds);
    s.max_refresh_tokens_per_client = positive(o, "max_refresh_tokens_per_client", 100);
    if (auto sizes = o.object("token_sizes", {"access_token", "refresh_token", "code"})) {
        s.access_token_length = static_cast<std::size_t>(sizes->integer("access_token", 16, 4096).value_or(218));
        s.refresh_token_length = static_cast<std::size_t>(sizes->integer("refresh_token", 16, 4096).value_or(103));
        s.code_length = static_cast<std::size_t>(sizes->integer("code", 32, 4096).value_or(73));
    }
    s.send_units_per_minute = positive(o, "send_units_per_minute", s.send_units_per_minute);
    s.daily_send_limit = positive(o, "daily_send_limit", s.daily_send_limit);
    return s;
}

Account read_account(const reader::Object& o) {
    Account a;
    a.email = lower(o.required_non_empty_string("email"));
    // A stable numeric "sub" derived from the address, 21 digits like Google's.
    const std::string digest = sandbox::sha256(a.email);
    a.sub = "1";
    for (std::size_t i = 0; a.sub.size() < 21; ++i)
        a.sub += static_cast<char>('0' + static_cast<unsigned char>(digest[i]) % 10);
    a.sub = o.non_empty_string("sub").value_or(a.sub);
    a.name = o.string("name").value_or(a.email);
    a.given_name = o.string("given_name").value_or("");
    a.family_name = o.string("family_name").value_or("");
    a.hd = o.non_empty_string("hd");
    a.gmail_enabled = o.boolean("gmail_enabled").value_or(true);
    if (o.has("send_units_per_minute")) a.send_units_per_minute = positive(o, "send_units_per_minute", 1);
    if (o.has("daily_send_limit")) a.daily_send_limit = positive(o, "daily_send_limit", 1);
    return a;
}

std::string read_secret(const reader::Object& o, const std::filesystem::path& tls_dir) {
    const std::string file = o.required_non_empty_string("secret_file");
    std::string secret;
    try {
        secret = reader::read_regular_file(tls_dir / file, 4096);
    } catch (const reader::FileError& e) {
        o.fail("secret_file", "cannot be read from the TLS dir: " + std::string(e.what()));
    }
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
    if (secret.empty()) o.fail("secret_file", "names an empty file");
    return secret;
}

Client read_client(const reader::Object& o, const std::filesystem::path& tls_dir) {
    Client c;
    c.client_id = o.required_non_empty_string("client_id");
    c.name = o.string("name").value_or(c.client_id);
    c.secret = read_secret(o, tls_dir);
    c.redirect_uris = strings(o, "redirect_uris");
    c.internal = o.one_of<bool>("user_type", {{"external", false}, {"internal", true}}).value_or(false);
    c.org_domain = lower(o.string("org_domain").value_or(""));
    if (c.internal && c.org_domain.empty()) o.fail("org_domain", "is required for an internal client");
    c.testing = o.one_of<bool>("publishing_status", {{"production", false}, {"testing", true}}).value_or(false);
    for (auto& u : strings(o, "test_users")) c.test_users.push_back(lower(u));
    c.verified = o.boolean("verified").value_or(true);
    c.deleted = o.boolean("deleted").value_or(false);
    return c;
}

}  // namespace

const Account* Scenario::account(std::string_view email) const {
    const std::string key = lower(email);
    for (const auto& a : accounts)
        if (a.email == key) return &a;
    return nullptr;
}

const Domain* Scenario::domain(std::string_view name) const {
    for (const auto& d : domains)
        if (d.name == name) return &d;
    return nullptr;
}

const Client* Scenario::client(std::string_view client_id) const {
    for (const auto& c : clients)
        if (c.client_id == client_id) return &c;
    return nullptr;
}

Scenario parse_scenario(const std::string& json_text, const std::filesystem::path& tls_dir) {
    try {
        const auto doc = reader::parse(json_text);
        const reader::Object root(doc, "", {"settings", "accounts", "domains", "clients"});
        Scenario s;
        if (auto settings = root.object("settings")) s.settings = read_settings(*settings);
        const auto accounts = root.required_array("accounts");
        for (std::size_t i = 0; i < accounts.size(); ++i)
            s.accounts.push_back(
                read_account(accounts.object(i, {"email", "sub", "name", "given_name", "family_name", "hd",
                                                 "gmail_enabled", "send_units_per_minute", "daily_send_limit"})));
        if (auto domains = root.array("domains"))
            for (std::size_t i = 0; i < domains->size(); ++i) {
                const auto d = domains->object(i, {"name", "blocks_unverified_apps"});
                s.domains.push_back(
                    {lower(d.required_non_empty_string("name")), d.boolean("blocks_unverified_apps").value_or(false)});
            }
        const auto clients = root.required_array("clients");
        for (std::size_t i = 0; i < clients.size(); ++i)
            s.clients.push_back(
                read_client(clients.object(i, {"client_id", "name", "secret_file", "redirect_uris", "user_type",
                                               "org_domain", "publishing_status", "test_users", "verified", "deleted"}),
                            tls_dir));
        return s;
    } catch (const reader::FieldError& e) {
        throw std::runtime_error("scenario: " + std::string(e.what()));
    }
}

}  // namespace google_sandbox::detail
