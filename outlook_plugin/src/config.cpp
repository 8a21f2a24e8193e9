#include "config.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace outlook {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

[[noreturn]] void config_error(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_CONFIG, "invalid_config", "outlook config: " + field + " " + what, field);
}

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

// Reads fields in a fixed order and refuses any key it was not asked about.
class ObjectReader {
public:
    ObjectReader(const json::value& v, std::string path) : path_(std::move(path)) {
        if (!v.is_object()) config_error(path_.empty() ? "config" : path_, "must be a JSON object");
        obj_ = &v.as_object();
    }
    std::string field(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }
    const json::value* get(std::string_view key) {
        seen_.emplace_back(key);
        auto it = obj_->find(key);
        return (it == obj_->end() || it->value().is_null()) ? nullptr : &it->value();
    }
    std::optional<std::string> string(std::string_view key) {
        const json::value* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_string()) config_error(field(key), "must be a string");
        return std::string(v->as_string());
    }
    std::string required_string(std::string_view key) {
        auto s = string(key);
        if (!s || s->empty()) config_error(field(key), "is required");
        return *s;
    }
    std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) {
        const json::value* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_int64() || v->as_int64() < lo || v->as_int64() > hi)
            config_error(field(key), "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
        return v->as_int64();
    }
    std::optional<bool> boolean(std::string_view key) {
        const json::value* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_bool()) config_error(field(key), "must be true or false");
        return v->as_bool();
    }
    bool has(std::string_view key) const { return obj_->contains(key); }
    // Call last: every key must have been asked for.
    void refuse_unknown() const {
        for (const auto& kv : *obj_)
            if (std::find(seen_.begin(), seen_.end(), kv.key()) == seen_.end()) {
                std::string known;
                for (const auto& s : seen_) known += (known.empty() ? "" : ", ") + s;
                config_error(field(kv.key()), "is not a known setting (known: " + known + ")");
            }
    }

private:
    const json::object* obj_ = nullptr;
    std::string path_;
    std::vector<std::string> seen_;
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

std::string read_text_file(const std::string& path, const std::string& field) {
    std::ifstream in(path, std::ios::binary);
    if (!in) config_error(field, "names a file that cannot be read: " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trim(std::string s) {
    auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

// An endpoint base: https, or http on loopback when explicitly allowed for tests.
std::string endpoint(const std::string& value, const std::string& field, bool allow_loopback_http) {
    auto url = boost::urls::parse_absolute_uri(value);
    if (!url || url->host().empty() || url->has_query() || url->has_fragment())
        config_error(field, "must be an absolute URL such as https://login.microsoftonline.com");
    if (url->scheme() != "https") {
        if (url->scheme() != "http" || !is_loopback_url(value))
            config_error(field, "must use https (plain http is allowed only for a loopback test endpoint)");
        if (!allow_loopback_http)
            config_error(field, "uses plain http; set \"allow_insecure_loopback_http\": true for a local test endpoint");
    }
    std::string s = value;
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

ClientCredential parse_credential(const json::value* v) {
    ClientCredential c;
    if (!v) return c;  // public client: PKCE only
    ObjectReader r(*v, "client_credential");
    std::string type = r.required_string("type");
    if (r.has("value") || r.has("secret") || r.has("private_key"))
        config_error("client_credential", "must not contain secrets inline: name an environment variable (\"env\") or a file");
    if (type == "none") {
        r.refuse_unknown();
        return c;
    }
    if (type == "secret") {
        c.type = CredentialType::secret;
        auto env = r.string("env");
        auto file = r.string("file");
        if (env.has_value() == file.has_value())
            config_error("client_credential", "of type secret needs exactly one of \"env\" or \"file\"");
        std::string secret;
        if (env) {
            const char* value = std::getenv(env->c_str());
            if (!value || !*value) config_error("client_credential.env", "names environment variable " + *env + ", which is not set");
            secret = value;
        } else {
            secret = trim(read_text_file(*file, "client_credential.file"));
            if (secret.empty()) config_error("client_credential.file", "names an empty file: " + *file);
        }
        c.secret = SecretString(std::move(secret));
        r.refuse_unknown();
        return c;
    }
    if (type == "certificate") {
        c.type = CredentialType::certificate;
        c.certificate_pem = read_text_file(r.required_string("certificate_file"), "client_credential.certificate_file");
        c.private_key_pem = SecretString(read_text_file(r.required_string("private_key_file"), "client_credential.private_key_file"));
        std::string alg = r.string("algorithm").value_or("PS256");
        if (alg == "PS256") c.algorithm = AssertionAlgorithm::ps256;
        else if (alg == "RS256") c.algorithm = AssertionAlgorithm::rs256;
        else config_error("client_credential.algorithm", "must be \"PS256\" (recommended) or \"RS256\"");
        r.refuse_unknown();
        return c;
    }
    config_error("client_credential.type", "must be \"none\", \"secret\" or \"certificate\"");
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
std::string OutlookConfig::authorize_endpoint() const { return login_base + "/" + authority + "/oauth2/v2.0/authorize"; }

OutlookConfig parse_config(std::string_view text) {
    boost::system::error_code ec;
    json::value root = json::parse(text, ec);
    if (ec) config_error("config", "is not valid JSON: " + ec.message());
    ObjectReader r(root, "");
    OutlookConfig c;

    c.client_id = r.required_string("client_id");
    if (!is_guid(c.client_id)) config_error("client_id", "must be the application (client) id, a GUID such as d70347e7-f4d1-4323-93a4-760a6a6c1d91");

    c.authority = r.string("authority").value_or("common");
    if (c.authority != "common" && c.authority != "organizations" && c.authority != "consumers" &&
        !is_tenant_id_or_domain(c.authority))
        config_error("authority", "must be common, organizations, consumers, a tenant id (GUID) or a tenant domain");

    std::string cloud = r.string("cloud").value_or("global");
    const CloudHosts* hosts = nullptr;
    for (const auto& k : kClouds)
        if (cloud == k.name) hosts = &k;
    if (!hosts) config_error("cloud", "must be one of global, us_gov_l4, us_gov_l5, china");
    c.cloud = hosts->cloud;
    c.scope_prefix = c.cloud == Cloud::global ? "" : std::string(hosts->graph) + "/";

    bool allow_loopback_http = r.boolean("allow_insecure_loopback_http").value_or(false);
    c.login_base = hosts->login;
    c.graph_base = std::string(hosts->graph) + "/v1.0";
    if (const json::value* e = r.get("endpoints")) {
        ObjectReader er(*e, "endpoints");
        if (auto login = er.string("login")) c.login_base = endpoint(*login, "endpoints.login", allow_loopback_http);
        if (auto graph = er.string("graph")) c.graph_base = endpoint(*graph, "endpoints.graph", allow_loopback_http);
        er.refuse_unknown();
    }

    c.redirect_uri = r.required_string("redirect_uri");
    {
        auto url = boost::urls::parse_absolute_uri(c.redirect_uri);
        if (!url || url->has_fragment()) config_error("redirect_uri", "must be an absolute URL without a fragment");
        if (url->scheme() != "https" && !(url->scheme() == "http" && is_loopback_url(c.redirect_uri)))
            config_error("redirect_uri", "must use https (http only on localhost / 127.0.0.1, as Microsoft requires)");
        if (c.redirect_uri.size() > 256) config_error("redirect_uri", "is longer than Microsoft's 256-character limit");
    }

    c.credential = parse_credential(r.get("client_credential"));

    const json::value* keys = r.get("token_encryption");
    if (!keys) config_error("token_encryption", "is required: tokens are always encrypted at rest");
    c.vault = std::make_shared<const Vault>(KeyRing::from_json(*keys, "token_encryption"));

    if (const json::value* t = r.get("tls")) {
        ObjectReader tr(*t, "tls");
        if (auto ca = tr.string("ca_file")) {
            std::ifstream probe(*ca);
            if (!probe) config_error("tls.ca_file", "names a file that cannot be read: " + *ca);
            c.tls.ca_file = *ca;
        }
        tr.refuse_unknown();
    }
    if (const json::value* t = r.get("timeouts")) {
        ObjectReader tr(*t, "timeouts");
        c.connect_timeout_ms = tr.integer("connect_ms", 100, 120'000).value_or(c.connect_timeout_ms);
        c.request_timeout_ms = tr.integer("request_ms", 100, 600'000).value_or(c.request_timeout_ms);
        tr.refuse_unknown();
    }
    c.refresh_skew_ms = r.integer("refresh_skew_seconds", 0, 3000).value_or(300) * 1000;
    c.pending_connect_ttl_ms = r.integer("pending_connect_ttl_seconds", 60, 3600).value_or(600) * 1000;
    if (const json::value* s = r.get("send")) {
        ObjectReader sr(*s, "send");
        c.send_queue_limit = static_cast<std::size_t>(sr.integer("queue_limit", 1, 10'000'000).value_or(10'000));
        c.max_concurrency_per_mailbox = static_cast<int>(sr.integer("max_concurrency_per_mailbox", 1, 4).value_or(4));
        c.max_send_attempts = static_cast<int>(sr.integer("max_attempts", 1, 10).value_or(3));
        c.max_throttle_wait_ms = sr.integer("max_throttle_wait_seconds", 0, 3600).value_or(60) * 1000;
        sr.refuse_unknown();
    }
    c.access_token_cache_size =
        static_cast<std::size_t>(r.integer("access_token_cache_size", 1, 10'000'000).value_or(10'000));
    r.refuse_unknown();
    return c;
}

}  // namespace outlook
