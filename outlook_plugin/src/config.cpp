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
// Outlook's limit of concurrent requests per mailbox (outlook_plugin/docs/microsoft-behaviour.md §6).
constexpr int kGraphMaxConcurrentRequestsPerMailbox = 4;

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
        c.secret = read_secret_source(r);
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
        if (auto login = e->string("login"))
            c.login_base = read_endpoint(*e, "login", *login, allow_loopback_http, kClouds[0].login);
        if (auto graph = e->string("graph"))
            c.graph_base = read_endpoint(*e, "graph", *graph, allow_loopback_http, kClouds[0].graph);
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
    read_plugin_settings(r, c, kGraphMaxConcurrentRequestsPerMailbox);
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
