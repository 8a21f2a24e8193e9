#include "config.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <ep_json/reader.hpp>

#include <algorithm>
#include <cstdlib>

namespace outlook {
namespace {

namespace json = boost::json;
namespace reader = ep::json_reader;
using ep::sdk::Error;

struct CloudHosts {
    Cloud cloud;
    const char* name;
    const char* login;
    const char* graph;
};

// outlook_plugin/docs/microsoft-behaviour.md §7. China's login host follows the Entra national-cloud page cited there.
constexpr CloudHosts kClouds[] = {
    {Cloud::global, "global", "https://login.microsoftonline.com", "https://graph.microsoft.com"},
    {Cloud::us_gov_l4, "us_gov_l4", "https://login.microsoftonline.us", "https://graph.microsoft.us"},
    {Cloud::us_gov_l5, "us_gov_l5", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"},
    {Cloud::china, "china", "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn"},
};

bool is_guid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

bool is_domain(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
    return s.front() != '.' && s.back() != '.' && s.find("..") == std::string_view::npos;
}

std::string read_text_file(const reader::Object& o, std::string_view key, const std::string& path) {
    try {
        return reader::read_regular_file(path);
    } catch (const reader::FileError& e) {
        o.fail(key, "names a file that cannot be read: " + path + " (the file " + e.what() + ")");
    }
}

std::string trim(std::string s) {
    auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

// An endpoint base: https, or http on loopback when explicitly allowed for tests.
std::string endpoint(const reader::Object& o, std::string_view key, const std::string& value,
                     bool allow_loopback_http) {
    auto url = boost::urls::parse_absolute_uri(value);
    if (!url || url->host().empty() || url->has_query() || url->has_fragment())
        o.fail(key, "must be an absolute URL such as https://login.microsoftonline.com");
    if (url->scheme() != "https") {
        if (url->scheme() != "http" || !is_loopback_url(value))
            o.fail(key, "must use https (plain http is allowed only for a loopback test endpoint)");
        if (!allow_loopback_http)
            o.fail(key, "uses plain http; set \"allow_insecure_loopback_http\": true for a local test endpoint");
    }
    std::string s = value;
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

SecretString read_client_secret(const reader::Object& r) {
    auto env = r.string("env");
    auto file = r.string("file");
    if (env.has_value() == file.has_value())
        reader::fail(r.path(), "of type secret needs exactly one of \"env\" or \"file\"");
    std::string secret;
    if (env) {
        const char* value = std::getenv(env->c_str());
        if (!value || !*value) r.fail("env", "names environment variable " + *env + ", which is not set");
        secret = value;
    } else {
        secret = trim(read_text_file(r, "file", *file));
        if (secret.empty()) r.fail("file", "names an empty file: " + *file);
    }
    return SecretString(std::move(secret));
}

ClientCredential parse_credential(const json::value* v) {
    ClientCredential c;
    if (!v) return c;  // public client: PKCE only
    const reader::Object r(*v, "client_credential", reader::Null::is_absent, "must be a JSON object");
    if (r.has("value") || r.has("secret") || r.has("private_key"))
        reader::fail(r.path(), "must not contain secrets inline: name an environment variable (\"env\") or a file");
    const std::string type = r.required_non_empty_string("type");
    if (type == "none") {
        r.only({"type"});
    } else if (type == "secret") {
        r.only({"type", "env", "file"});
        c.type = CredentialType::secret;
        c.secret = read_client_secret(r);
    } else if (type == "certificate") {
        r.only({"type", "certificate_file", "private_key_file", "algorithm"});
        c.type = CredentialType::certificate;
        c.certificate_pem = read_text_file(r, "certificate_file", r.required_non_empty_string("certificate_file"));
        c.private_key_pem =
            SecretString(read_text_file(r, "private_key_file", r.required_non_empty_string("private_key_file")));
        c.algorithm = r.one_of<AssertionAlgorithm>(
                           "algorithm", {{"PS256", AssertionAlgorithm::ps256}, {"RS256", AssertionAlgorithm::rs256}})
                          .value_or(AssertionAlgorithm::ps256);
    } else {
        r.fail("type", "must be \"none\", \"secret\" or \"certificate\"");
    }
    return c;
}

}  // namespace

bool is_tenant_id_or_domain(std::string_view s) { return is_guid(s) || is_domain(s); }

const char* to_string(Cloud c) {
    for (const auto& k : kClouds)
        if (k.cloud == c) return k.name;
    return "global";
}

bool is_loopback_url(std::string_view uri) {
    auto url = boost::urls::parse_absolute_uri(uri);
    if (!url) return false;
    std::string host(url->host());
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
}

std::string OutlookConfig::requested_scopes() const {
    // Short names mean Graph on the global cloud; national clouds get fully-qualified scopes
    // for their own Graph host (outlook_plugin/docs/microsoft-behaviour.md §7). offline_access is never qualified.
    return "offline_access " + scope_prefix + "User.Read " + scope_prefix + "Mail.Send";
}

std::string OutlookConfig::token_endpoint() const { return login_base + "/" + authority + "/oauth2/v2.0/token"; }
std::string OutlookConfig::authorize_endpoint() const {
    return login_base + "/" + authority + "/oauth2/v2.0/authorize";
}

namespace {

void read_authority_and_cloud(const reader::Object& r, OutlookConfig& c) {
    c.client_id = r.required_non_empty_string("client_id");
    if (!is_guid(c.client_id))
        r.fail("client_id", "must be the application (client) id, a GUID such as d70347e7-f4d1-4323-93a4-760a6a6c1d91");
    c.authority = r.string("authority").value_or("common");
    if (c.authority != "common" && c.authority != "organizations" && c.authority != "consumers" &&
        !is_tenant_id_or_domain(c.authority))
        r.fail("authority", "must be common, organizations, consumers, a tenant id (GUID) or a tenant domain");
    const CloudHosts* hosts = r.one_of<const CloudHosts*>("cloud", {{kClouds[0].name, &kClouds[0]},
                                                                    {kClouds[1].name, &kClouds[1]},
                                                                    {kClouds[2].name, &kClouds[2]},
                                                                    {kClouds[3].name, &kClouds[3]}})
                                  .value_or(&kClouds[0]);
    c.cloud = hosts->cloud;
    c.scope_prefix = c.cloud == Cloud::global ? "" : std::string(hosts->graph) + "/";
    c.login_base = hosts->login;
    c.graph_base = std::string(hosts->graph) + "/v1.0";
    const bool allow_loopback_http = r.boolean("allow_insecure_loopback_http").value_or(false);
    if (auto e = r.object("endpoints", {"login", "graph"}, "must be a JSON object")) {
        if (auto login = e->string("login")) c.login_base = endpoint(*e, "login", *login, allow_loopback_http);
        if (auto graph = e->string("graph")) c.graph_base = endpoint(*e, "graph", *graph, allow_loopback_http);
    }
}

void read_redirect_uri(const reader::Object& r, OutlookConfig& c) {
    c.redirect_uri = r.required_non_empty_string("redirect_uri");
    auto url = boost::urls::parse_absolute_uri(c.redirect_uri);
    if (!url || url->has_fragment()) r.fail("redirect_uri", "must be an absolute URL without a fragment");
    if (url->scheme() != "https" && !(url->scheme() == "http" && is_loopback_url(c.redirect_uri)))
        r.fail("redirect_uri", "must use https (http only on localhost / 127.0.0.1, as Microsoft requires)");
    if (c.redirect_uri.size() > 256) r.fail("redirect_uri", "is longer than Microsoft's 256-character limit");
}

void read_limits(const reader::Object& r, OutlookConfig& c) {
    if (auto tls = r.object("tls", {"ca_file"}, "must be a JSON object"))
        if (auto ca = tls->string("ca_file")) {
            read_text_file(*tls, "ca_file", *ca);  // readable now, not at the first request
            c.tls.ca_file = *ca;
        }
    if (auto t = r.object("timeouts", {"connect_ms", "request_ms"}, "must be a JSON object")) {
        c.connect_timeout_ms = t->integer("connect_ms", 100, 120'000).value_or(c.connect_timeout_ms);
        c.request_timeout_ms = t->integer("request_ms", 100, 600'000).value_or(c.request_timeout_ms);
    }
    c.refresh_skew_ms = r.integer("refresh_skew_seconds", 0, 3000).value_or(300) * 1000;
    c.pending_connect_ttl_ms = r.integer("pending_connect_ttl_seconds", 60, 3600).value_or(600) * 1000;
    if (auto s = r.object("send",
                          {"queue_limit", "max_concurrency_per_mailbox", "max_attempts", "max_throttle_wait_seconds"},
                          "must be a JSON object")) {
        c.send_queue_limit = static_cast<std::size_t>(s->integer("queue_limit", 1, 10'000'000).value_or(10'000));
        c.max_concurrency_per_mailbox = static_cast<int>(s->integer("max_concurrency_per_mailbox", 1, 4).value_or(4));
        c.max_send_attempts = static_cast<int>(s->integer("max_attempts", 1, 10).value_or(3));
        c.max_throttle_wait_ms = s->integer("max_throttle_wait_seconds", 0, 3600).value_or(60) * 1000;
    }
    c.access_token_cache_size =
        static_cast<std::size_t>(r.integer("access_token_cache_size", 1, 10'000'000).value_or(10'000));
}

OutlookConfig read_document(const json::value& root) {
    const reader::Object r(root, "",
                           {"client_id", "authority", "cloud", "allow_insecure_loopback_http", "endpoints",
                            "redirect_uri", "client_credential", "token_encryption", "tls", "timeouts",
                            "refresh_skew_seconds", "pending_connect_ttl_seconds", "send", "access_token_cache_size"},
                           reader::Null::is_absent, "must be a JSON object");
    OutlookConfig c;
    read_authority_and_cloud(r, c);
    read_redirect_uri(r, c);
    c.credential = parse_credential(r.find("client_credential"));
    const json::value* keys = r.find("token_encryption");
    if (!keys) r.fail("token_encryption", "is required: tokens are always encrypted at rest");
    c.vault = std::make_shared<const Vault>(KeyRing::from_json(*keys, "token_encryption"));
    read_limits(r, c);
    return c;
}

}  // namespace

OutlookConfig parse_config(std::string_view text) {
    try {
        return read_document(reader::parse(text));
    } catch (const reader::FieldError& e) {
        const std::string field = e.path().empty() ? "config" : e.path();
        throw Error(EP_ERR_CONFIG, "invalid_config", "outlook config: " + field + " " + e.problem(), field);
    }
}

}  // namespace outlook
