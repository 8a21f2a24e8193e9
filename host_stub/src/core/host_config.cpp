#include "core/host_config.hpp"

#include "core/logger.hpp"

#include <boost/json.hpp>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/authority_rule.hpp>

#include <ep_json/reader.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>

namespace host {
namespace {

namespace json = boost::json;
namespace reader = ep::json_reader;

// Boost.JSON reads 1e400 as infinity and would write it back as "Infinity", which is not
// JSON: the provider would receive a config it cannot parse.
void refuse_non_finite(const json::value& v, const std::string& path) {
    if (v.is_double() && !std::isfinite(v.as_double())) reader::fail(path, "is a number too large to represent");
    if (v.is_array())
        for (std::size_t i = 0; i < v.as_array().size(); ++i)
            refuse_non_finite(v.as_array()[i], reader::element_path(path, i));
    if (v.is_object())
        for (const auto& kv : v.as_object()) refuse_non_finite(kv.value(), reader::member_path(path, kv.key()));
}

// A NUL byte (\u0000 in JSON) would silently cut a path or an id short where it meets a C
// API: "host.db\u0000x" would open "host.db". Refused anywhere in the file, keys included.
void refuse_nul(const json::value& v, const std::string& path) {
    if (v.is_string() && v.as_string().find('\0') != json::string::npos) reader::fail(path, "contains a NUL byte");
    if (v.is_array())
        for (std::size_t i = 0; i < v.as_array().size(); ++i)
            refuse_nul(v.as_array()[i], reader::element_path(path, i));
    if (v.is_object())
        for (const auto& kv : v.as_object()) {
            if (kv.key().find('\0') != json::string_view::npos)
                reader::fail(path.empty() ? "(a key)" : path, "has a key with a NUL byte");
            refuse_nul(kv.value(), reader::member_path(path, kv.key()));
        }
}

// The page's own routes: a callback_path equal to one of them would shadow it (or be shadowed).
bool is_page_route(std::string_view path) {
    for (std::string_view route :
         {"/", "/healthz", "/readyz", "/favicon.ico", "/signin", "/signout", "/api/state", "/_debug/clock"})
        if (path == route) return true;
    for (std::string_view tree : {"/settings", "/api/", "/_debug/"})
        if (path.starts_with(tree)) return true;
    return false;
}

// The origin the browser sees ("https://host[:port]"): compared with Origin headers and used
// to build absolute links, so it has no path, query, fragment or user name.
std::string validated_public_url(const reader::Object& web, std::string text) {
    while (!text.empty() && text.back() == '/') text.pop_back();
    auto url = boost::urls::parse_absolute_uri(text);
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->encoded_host().empty())
        web.fail("public_url", "must be an http:// or https:// URL such as \"https://host.example:8443\"");
    if (url->has_userinfo() || url->has_query() || url->has_fragment() || !url->encoded_path().empty())
        web.fail("public_url", "must be an origin only (scheme, host, port): no path, query, fragment or user name");
    return text;
}

std::string validated_callback_path(const reader::Object& web, std::string path) {
    if (!path.starts_with("/")) web.fail("callback_path", "must be a path starting with '/'");
    auto parsed = boost::urls::parse_origin_form(path);
    if (!parsed || parsed->has_query() || path.find('#') != std::string::npos)
        web.fail("callback_path", "must be a plain path (no query, fragment, spaces or control characters)");
    if (is_page_route(path))
        web.fail("callback_path", "\"" + path +
                                      "\" is one of the settings page's own routes; "
                                      "choose another path such as \"/callback\"");
    return path;
}

std::string validated_product_name(const reader::Object& web, std::string name) {
    if (name.empty() || name.size() > 80) web.fail("product_name", "must be a non-empty string of at most 80 bytes");
    if (std::any_of(name.begin(), name.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }))
        web.fail("product_name", "must not contain control characters (line breaks, tabs)");
    return name;
}

// A "${name}" a provider config's strings may use, and the directory it stands for (nullopt:
// the environment variable it comes from is not set).
struct Placeholder {
    std::string_view token;
    std::optional<std::string> dir;
    std::string_view variable;  // where dir comes from, for the error when it is not set
};

// The directories systemd gives a service, from the environment it sets (systemd.exec(5)):
// LoadCredential='s credentials and StateDirectory=. With several StateDirectory= entries the
// variable lists them all, separated by ':': the first is the state directory.
std::optional<std::string> directory_from_environment(const char* variable) {
    const char* value = std::getenv(variable);
    if (value == nullptr || *value == '\0') return std::nullopt;
    std::string dir(value);
    return dir.substr(0, dir.find(':'));
}

// One pass from left to right: a directory's own text is never expanded again.
std::string expanded(std::string_view text, const std::string& path, const std::vector<Placeholder>& placeholders) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto hit = std::find_if(placeholders.begin(), placeholders.end(),
                                [&](const Placeholder& p) { return text.substr(i).starts_with(p.token); });
        if (hit == placeholders.end()) {
            out.push_back(text[i++]);
            continue;
        }
        if (!hit->dir)
            reader::fail(path, "uses " + std::string(hit->token) + " but $" + std::string(hit->variable) +
                                   " is not set (systemd sets it for the service; see the README)");
        out += *hit->dir;
        i += hit->token.size();
    }
    return out;
}

void expand_placeholders(json::value& v, const std::string& path, const std::vector<Placeholder>& placeholders) {
    if (v.is_string()) {
        v = expanded(v.as_string(), path, placeholders);
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.as_array().size(); ++i)
            expand_placeholders(v.as_array()[i], reader::element_path(path, i), placeholders);
    } else if (v.is_object()) {
        for (auto& kv : v.as_object())
            expand_placeholders(kv.value(), reader::member_path(path, kv.key()), placeholders);
    }
}

std::filesystem::path resolve(const std::filesystem::path& base_dir, const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : (base_dir / path).lexically_normal();
}

// A secret named by the config (an environment variable or a file), never its value.
std::string read_secret_source(const reader::Object& o, std::string_view env_key, std::string_view file_key,
                               const std::filesystem::path& file) {
    if (o.has(env_key) && o.has(file_key))
        o.fail(env_key, "and " + std::string(file_key) + " are both given: name one");
    if (auto name = o.non_empty_string(env_key)) {
        const char* value = std::getenv(name->c_str());
        if (value == nullptr || *value == '\0')
            o.fail(env_key, "names the environment variable " + *name + ", which is not set");
        return value;
    }
    if (auto name = o.non_empty_string(file_key)) {
        auto secret_file = resolve(file.parent_path(), *name);
        std::string value;
        try {
            value = reader::read_regular_file(secret_file);
        } catch (const reader::FileError& e) {
            o.fail(file_key, "names " + secret_file.string() + ", which cannot be read: the file " + e.what());
        }
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        if (value.empty()) o.fail(file_key, "names " + secret_file.string() + ", which is empty");
        return value;
    }
    return {};
}

// Written in the file, so it must not carry the password: that comes from elsewhere.
std::string checked_conninfo(const reader::Object& pg, std::string conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (options == nullptr) {
        PQfreemem(error);  // it may quote the string, password included: not repeated
        pg.fail("conninfo", "is not a valid libpq connection string");
    }
    bool has_password = false;
    for (auto* opt = options; opt->keyword != nullptr; ++opt)
        if (std::string_view(opt->keyword) == "password" && opt->val != nullptr && *opt->val != '\0')
            has_password = true;
    PQconninfoFree(options);
    if (has_password)
        pg.fail("conninfo",
                "contains a password: give it with password_env or password_file "
                "(or name the whole string with conninfo_env / conninfo_file)");
    return conninfo;
}

void read_postgresql(const reader::Object& pg, const std::filesystem::path& file, StoreSettings& store) {
    if (pg.has("conninfo") + pg.has("conninfo_env") + pg.has("conninfo_file") != 1)
        reader::fail(pg.path(), "must have exactly one of conninfo, conninfo_env, conninfo_file");
    if (auto conninfo = pg.string("conninfo"))
        store.pg_conninfo = checked_conninfo(pg, *conninfo);
    else
        store.pg_conninfo = read_secret_source(pg, "conninfo_env", "conninfo_file", file);
    store.pg_password = read_secret_source(pg, "password_env", "password_file", file);
}

void read_store(const reader::Object& s, const std::filesystem::path& file, StoreSettings& store) {
    store.engine =
        s.one_of<StoreEngine>("engine", {{"sqlite", StoreEngine::sqlite}, {"postgresql", StoreEngine::postgresql}})
            .value_or(store.engine);
    if (auto path = s.non_empty_string("path")) store.sqlite_path = resolve(file.parent_path(), *path);
    if (auto lease = s.number("outbox_lease_seconds", 1, 86400))
        store.outbox_lease_ms = static_cast<int64_t>(*lease * 1000);
    if (store.engine == StoreEngine::sqlite) {
        if (s.has("postgresql")) s.fail("postgresql", "is given but store.engine is not \"postgresql\"");
        return;
    }
    if (s.has("path")) s.fail("path", "is for the sqlite engine; PostgreSQL is named by store.postgresql");
    const std::string_view needs = "must be an object naming the database (conninfo, conninfo_env or conninfo_file)";
    auto pg =
        s.object("postgresql", {"conninfo", "conninfo_env", "conninfo_file", "password_env", "password_file"}, needs);
    if (!pg) s.fail("postgresql", std::string(needs));
    read_postgresql(*pg, file, store);
}

ep_log_level read_log_level(const std::string& name) {
    auto level = Logger::parse_level(name);
    if (!level) reader::fail("log_level", "must be one of trace, debug, info, warn, error");
    return *level;
}

void read_web(const reader::Object& w, WebSettings& web) {
    web.listen_address = w.string("listen_address").value_or(web.listen_address);
    if (auto port = w.integer("port", 0, 65535)) web.port = static_cast<uint16_t>(*port);
    if (auto url = w.string("public_url")) web.public_url = validated_public_url(w, *url);
    if (auto path = w.string("callback_path")) web.callback_path = validated_callback_path(w, *path);
    if (auto n = w.integer("max_connections", 1, 100000)) web.max_connections = static_cast<std::size_t>(*n);
    web.debug_clock = w.boolean("debug_clock").value_or(web.debug_clock);
    if (auto name = w.string("product_name")) web.product_name = validated_product_name(w, *name);
    web.show_developer_providers = w.boolean("show_developer_providers").value_or(web.show_developer_providers);
    // The page answers only requests whose Host names it; on every interface no name can be
    // derived from the listen address, so the operator must say which one the browser uses.
    if ((web.listen_address == "0.0.0.0" || web.listen_address == "::") && web.public_url.empty())
        w.fail("public_url", "is required when web.listen_address is \"" + web.listen_address +
                                 "\" (all interfaces): requests must name the server as the public URL does");
}

void read_keep_alive(const reader::Object& k, KeepAliveSettings& keep_alive) {
    keep_alive.enabled = k.boolean("enabled").value_or(keep_alive.enabled);
    // Below the shortest provider limit (90 days) with room to spare, or the sweep cannot keep
    // a grant alive.
    if (auto days = k.number("interval_days", 0.0001, 60))
        keep_alive.interval_ms = static_cast<int64_t>(*days * 86'400'000);
    keep_alive.max_checks_per_second =
        k.number("max_checks_per_second", 0.001, 10'000).value_or(keep_alive.max_checks_per_second);
    if (auto n = k.number("max_in_flight", 1, 10'000)) keep_alive.max_in_flight = static_cast<int>(*n);
    if (auto seconds = k.number("page_check_after_seconds", 0, 86'400))
        keep_alive.page_check_after_ms = static_cast<int64_t>(*seconds * 1000);
}

// "metrics": {"listen": "address:port"}: civetweb (under prometheus-cpp's Exposer) listens on
// an IP address and a port only, and Debian's civetweb 1.15 is built without IPv6 (`civetweb -I`
// lists no IPv6 feature; "[::1]:9464" is "an invalid port spec"), so that is an IPv4 address.
void read_metrics(const reader::Object& m, MetricsSettings& metrics) {
    metrics.listen = m.string("listen").value_or("127.0.0.1:9464");
    const std::string_view example = " (for example \"127.0.0.1:9464\"; port 0: any free port)";
    auto authority = boost::urls::grammar::parse(metrics.listen, boost::urls::authority_rule);
    if (!authority || authority->has_userinfo() || !authority->has_port() || authority->port().empty())
        m.fail("listen", "must be an IPv4 address and a port" + std::string(example));
    if (authority->host_type() != boost::urls::host_type::ipv4)
        m.fail("listen",
               "must name an IPv4 address (not a host name; the metrics server has no IPv6)" + std::string(example));
    // The rule allows only digits in a port: at most five of them, and not above 65535.
    if (authority->port().size() > 5 || std::stoul(std::string(authority->port())) > 65535)
        m.fail("listen", "has a port outside 0-65535" + std::string(example));
}

std::vector<HostUserSetting> read_users(const reader::Array& users) {
    std::vector<HostUserSetting> out;
    std::set<std::string> ids;
    for (std::size_t i = 0; i < users.size(); ++i) {
        const reader::Object u = users.object(i, {"id", "display_name"});
        HostUserSetting user{u.required_non_empty_string("id"), u.required_non_empty_string("display_name")};
        if (!ids.insert(user.id).second) u.fail("id", "\"" + user.id + "\" is the id of an earlier user too");
        out.push_back(std::move(user));
    }
    return out;
}

// The provider's own config, passed on as JSON text with ${config_dir}, ${credentials_dir}
// and ${state_dir} expanded.
std::string provider_config_json(const json::value& config, const std::string& path, const std::filesystem::path& dir) {
    refuse_non_finite(config, path);
    json::value copy = config;
    expand_placeholders(
        copy, path,
        {{"${config_dir}", dir.string(), ""},
         {"${credentials_dir}", directory_from_environment("CREDENTIALS_DIRECTORY"), "CREDENTIALS_DIRECTORY"},
         {"${state_dir}", directory_from_environment("STATE_DIRECTORY"), "STATE_DIRECTORY"}});
    return json::serialize(copy);
}

// Where a provider runs: its own runner process unless the operator trusts it into the host's.
bool read_isolated(const reader::Object& p) {
    std::string isolation = p.string("isolation").value_or("process");
    if (isolation != "process" && isolation != "in_process")
        p.fail("isolation",
               "must be \"process\" (the default: the provider runs in its own process) or "
               "\"in_process\" (loaded into the host: for trusted providers and benchmarks)");
    return isolation == "process";
}

// "isolation": {"runner", "address_space_mb", "open_files", "deadline_seconds": {...},
// "pass_environment", "quarantine_crashes", "quarantine_window_seconds"}: the same for every
// isolated provider.
void read_isolation(const reader::Object& o, const std::filesystem::path& dir, ep::loader::IsolationOptions& iso) {
    if (auto runner = o.non_empty_string("runner")) iso.runner = resolve(dir, *runner);
    if (auto mb = o.integer("address_space_mb", 64, 1 << 20)) iso.address_space_bytes = uint64_t(*mb) << 20;
    if (auto n = o.integer("open_files", 16, 1 << 20)) iso.open_files = uint64_t(*n);
    if (auto d = o.object("deadline_seconds", {"load", "quick", "slow", "check", "send_completion", "shutdown"})) {
        auto seconds = [&](std::string_view key, std::chrono::milliseconds& field) {
            if (auto s = d->number(key, 0.1, 86'400))
                field = std::chrono::milliseconds(static_cast<int64_t>(*s * 1000));
        };
        seconds("load", iso.deadlines.hello);
        seconds("quick", iso.deadlines.quick);
        seconds("slow", iso.deadlines.slow);
        seconds("check", iso.deadlines.check);
        seconds("send_completion", iso.deadlines.send_completion);
        seconds("shutdown", iso.deadlines.shutdown);
    }
    if (auto names = o.array("pass_environment", "must be an array of environment variable names"))
        for (std::size_t i = 0; i < names->size(); ++i) iso.pass_environment.push_back(names->string(i));
    if (auto n = o.integer("quarantine_crashes", 1, 1000)) iso.restart.quarantine_crashes = static_cast<int>(*n);
    if (auto s = o.number("quarantine_window_seconds", 1, 86'400))
        iso.restart.quarantine_window = std::chrono::milliseconds(static_cast<int64_t>(*s * 1000));
}

// "id" (found by the search path), "manifest" (a path), or both (which must agree: checked
// when the manifest is read).
void read_provider_name(const reader::Object& p, const std::filesystem::path& dir, ProviderSetting& s) {
    if (!p.has("id") && !p.has("manifest"))
        reader::fail(p.path(), "must name the provider: \"id\" (found in the provider search path) or \"manifest\"");
    if (auto id = p.non_empty_string("id")) {
        if (!ep::loader::is_valid_provider_id(*id))
            p.fail("id", "must be 1-64 characters of a-z, 0-9, '_' or '-', got \"" + *id + "\"");
        s.id = *id;
    }
    if (auto manifest = p.non_empty_string("manifest")) {
        s.manifest = resolve(dir, *manifest);
        s.manifest_source = kManifestFromConfig;
    }
}

std::vector<ProviderSetting> read_providers(const reader::Array& providers, const std::filesystem::path& dir) {
    std::vector<ProviderSetting> out;
    std::set<std::string> ids;
    for (std::size_t i = 0; i < providers.size(); ++i) {
        const reader::Object p = providers.object(i, {"id", "manifest", "enabled", "isolation", "config"});
        ProviderSetting s;
        read_provider_name(p, dir, s);
        if (!s.id.empty() && !ids.insert(s.id).second)
            p.fail("id", "\"" + s.id + "\" is the id of an earlier provider too");
        s.enabled = p.boolean("enabled").value_or(true);
        s.isolated = read_isolated(p);
        s.config_json = p.object("config") ? provider_config_json(*p.find("config"), p.path("config"), dir) : "{}";
        out.push_back(std::move(s));
    }
    return out;
}

HostConfig read_document(const json::value& root, const std::filesystem::path& file) {
    if (!root.is_object()) reader::fail("", "must contain a JSON object");
    refuse_nul(root, "");
    const reader::Object o(
        root, "",
        {"store", "log_level", "log_format", "providers", "isolation", "users", "web", "keep_alive", "metrics"});
    HostConfig c;
    c.file = file;
    c.store.sqlite_path = file.parent_path() / "host.db";
    if (auto store = o.object("store", {"engine", "path", "postgresql", "outbox_lease_seconds"}))
        read_store(*store, file, c.store);
    if (auto level = o.string("log_level")) c.log_level = read_log_level(*level);
    c.log_format = o.one_of<LogFormat>("log_format", {{"text", LogFormat::text}, {"json", LogFormat::json}})
                       .value_or(c.log_format);
    if (auto web = o.object("web", {"listen_address", "port", "public_url", "callback_path", "debug_clock",
                                    "max_connections", "product_name", "show_developer_providers"}))
        read_web(*web, c.web);
    if (auto keep_alive = o.object("keep_alive", {"enabled", "interval_days", "max_checks_per_second", "max_in_flight",
                                                  "page_check_after_seconds"}))
        read_keep_alive(*keep_alive, c.keep_alive);
    if (auto metrics = o.object("metrics", {"listen"})) read_metrics(*metrics, c.metrics);
    if (auto isolation = o.object("isolation", {"runner", "address_space_mb", "open_files", "deadline_seconds",
                                                "pass_environment", "quarantine_crashes", "quarantine_window_seconds"}))
        read_isolation(*isolation, file.parent_path(), c.isolation);
    if (auto users = o.array("users", "must be an array of {\"id\", \"display_name\"}")) c.users = read_users(*users);
    c.providers = read_providers(o.required_array("providers"), file.parent_path());
    c.provider_search_path = ep::loader::manifest_search_dirs();
    return c;
}

std::string joined(const std::vector<std::filesystem::path>& dirs) {
    std::string out;
    for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d.string();
    return out.empty() ? "(none)" : out;
}

}  // namespace

HostConfig parse_host_config(std::string_view text, const std::filesystem::path& file) {
    try {
        return read_document(reader::parse(text), file);
    } catch (const reader::FieldError& e) {
        const std::string field = e.path().empty() ? "" : "field '" + e.path() + "' ";
        throw ConfigError("config " + file.string() + ": " + field + e.problem());
    }
}

HostConfig read_host_config(const std::filesystem::path& file) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(file, ec);
    if (ec) throw ConfigError("config " + file.string() + ": cannot be opened: " + ec.message());
    std::string text;
    try {
        text = reader::read_regular_file(canonical);
    } catch (const reader::FileError& e) {
        throw ConfigError("config " + file.string() + ": " + e.what());
    }
    return parse_host_config(text, canonical);
}

ProviderSetting locate_manifest(const ProviderSetting& setting, const ep::loader::ManifestDiscovery& found,
                                const std::filesystem::path& config_file) {
    if (!setting.manifest.empty()) return setting;
    const ep::loader::DiscoveredProvider* provider = found.find(setting.id);
    if (provider == nullptr)
        throw ConfigError(
            "config " + config_file.string() + ": provider \"" + setting.id +
            "\" has no manifest in the provider search path (searched, in order: " + joined(found.searched) +
            "); install its package, set EP_PROVIDER_PATH, or name its manifest with \"manifest\"");
    ProviderSetting located = setting;
    located.manifest = provider->winner.file;
    located.manifest_source = provider->winner.directory.string();
    return located;
}

}  // namespace host
