#include "ep_kit/plugin_settings.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace ep::kit {
namespace {

namespace reader = ep::json_reader;

std::string trim(std::string s) {
    auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

}  // namespace

bool is_loopback_url(std::string_view uri) {
    auto url = boost::urls::parse_absolute_uri(uri);
    if (!url) return false;
    std::string host(url->host());
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
}

std::string read_text_file(const reader::Object& o, std::string_view key, const std::string& path) {
    try {
        return reader::read_regular_file(path);
    } catch (const reader::FileError& e) {
        o.fail(key, "names a file that cannot be read: " + path + " (the file " + e.what() + ")");
    }
}

SecretString read_secret_source(const reader::Object& r) {
    auto env = r.string("env");
    auto file = r.string("file");
    if (env.has_value() == file.has_value())
        reader::fail(r.path(), "needs exactly one of \"env\" or \"file\" (secrets are never written inline)");
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

std::string read_endpoint(const reader::Object& o, std::string_view key, const std::string& value,
                          bool allow_loopback_http, std::string_view example) {
    auto url = boost::urls::parse_absolute_uri(value);
    if (!url || url->host().empty() || url->has_query() || url->has_fragment())
        o.fail(key, "must be an absolute URL such as " + std::string(example));
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

void read_plugin_settings(const reader::Object& r, PluginSettings& c, int max_concurrency_cap) {
    const boost::json::value* keys = r.find("token_encryption");
    if (!keys) r.fail("token_encryption", "is required: tokens are always encrypted at rest");
    c.vault = std::make_shared<const Vault>(KeyRing::from_json(*keys, r.path("token_encryption")));
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
    c.max_concurrency_per_mailbox = max_concurrency_cap;
    if (auto s = r.object("send",
                          {"queue_limit", "max_concurrency_per_mailbox", "max_attempts", "max_throttle_wait_seconds"},
                          "must be a JSON object")) {
        c.send_queue_limit = static_cast<std::size_t>(s->integer("queue_limit", 1, 10'000'000).value_or(10'000));
        c.max_concurrency_per_mailbox = static_cast<int>(
            s->integer("max_concurrency_per_mailbox", 1, max_concurrency_cap).value_or(max_concurrency_cap));
        c.max_send_attempts = static_cast<int>(s->integer("max_attempts", 1, 10).value_or(3));
        c.max_throttle_wait_ms = s->integer("max_throttle_wait_seconds", 0, 3600).value_or(60) * 1000;
    }
    c.access_token_cache_size =
        static_cast<std::size_t>(r.integer("access_token_cache_size", 1, 10'000'000).value_or(10'000));
}

}  // namespace ep::kit
