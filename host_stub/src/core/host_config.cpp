#include "core/host_config.hpp"

#include "core/logger.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <optional>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace host {
namespace {

namespace json = boost::json;

[[noreturn]] void fail(const std::filesystem::path& file, std::string_view field, std::string_view what) {
    throw ConfigError("config " + file.string() + ": field '" + std::string(field) + "' " + std::string(what));
}

// Boost.JSON reads 1e400 as infinity and would write it back as "Infinity", which is not
// JSON: the provider would receive a config it cannot parse.
void refuse_non_finite(const json::value& v, const std::filesystem::path& file, const std::string& path) {
    if (v.is_double() && !std::isfinite(v.as_double())) fail(file, path, "is a number too large to represent");
    if (v.is_array())
        for (std::size_t i = 0; i < v.as_array().size(); ++i)
            refuse_non_finite(v.as_array()[i], file, path + "[" + std::to_string(i) + "]");
    if (v.is_object())
        for (const auto& kv : v.as_object()) refuse_non_finite(kv.value(), file, path + "." + std::string(kv.key()));
}

// A NUL byte (\u0000 in JSON) would silently cut a path or an id short where it meets a C
// API: "host.db\u0000x" would open "host.db". Refused anywhere in the file, keys included.
void refuse_nul(const json::value& v, const std::filesystem::path& file, const std::string& path) {
    if (v.is_string() && v.as_string().find('\0') != json::string::npos) fail(file, path, "contains a NUL byte");
    if (v.is_array())
        for (std::size_t i = 0; i < v.as_array().size(); ++i) refuse_nul(v.as_array()[i], file, path + "[" + std::to_string(i) + "]");
    if (v.is_object())
        for (const auto& kv : v.as_object()) {
            std::string child = path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key());
            if (kv.key().find('\0') != json::string_view::npos) fail(file, path.empty() ? "(a key)" : path, "has a key with a NUL byte");
            refuse_nul(kv.value(), file, child);
        }
}

// The page's own routes: a callback_path equal to one of them would shadow it (or be shadowed).
bool is_page_route(std::string_view path) {
    for (std::string_view route : {"/", "/healthz", "/favicon.ico", "/signin", "/signout", "/api/state", "/_debug/clock"})
        if (path == route) return true;
    for (std::string_view tree : {"/settings", "/api/", "/_debug/"})
        if (path.starts_with(tree)) return true;
    return false;
}

// The origin the browser sees ("https://host[:port]"): compared with Origin headers and used
// to build absolute links, so it has no path, query, fragment or user name.
std::string validated_public_url(const std::string& text, const std::filesystem::path& file) {
    auto url = boost::urls::parse_absolute_uri(text);
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->encoded_host().empty())
        fail(file, "web.public_url", "must be an http:// or https:// URL such as \"https://host.example:8443\"");
    if (url->has_userinfo() || url->has_query() || url->has_fragment() || !url->encoded_path().empty())
        fail(file, "web.public_url", "must be an origin only (scheme, host, port): no path, query, fragment or user name");
    return text;
}

void expand_config_dir(json::value& v, const std::string& dir) {
    if (v.is_string()) {
        std::string s(v.as_string());
        const std::string token = "${config_dir}";
        for (auto pos = s.find(token); pos != std::string::npos; pos = s.find(token, pos + dir.size()))
            s.replace(pos, token.size(), dir);
        v = s;
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) expand_config_dir(e, dir);
    } else if (v.is_object()) {
        for (auto& kv : v.as_object()) expand_config_dir(kv.value(), dir);
    }
}

std::filesystem::path resolve(const std::filesystem::path& base_dir, const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : (base_dir / path).lexically_normal();
}


// A secret named by the config (an environment variable or a file), never its value.
std::string read_secret_source(const json::object& o, std::string_view env_key, std::string_view file_key,
                               const std::filesystem::path& file, const std::string& path) {
    auto env = o.find(env_key);
    auto from_file = o.find(file_key);
    if (env != o.end() && from_file != o.end())
        fail(file, path + "." + std::string(env_key), "and " + std::string(file_key) + " are both given: name one");
    if (env != o.end()) {
        if (!env->value().is_string() || env->value().as_string().empty())
            fail(file, path + "." + std::string(env_key), "must name an environment variable");
        std::string name(env->value().as_string());
        const char* value = std::getenv(name.c_str());
        if (value == nullptr || *value == '\0')
            fail(file, path + "." + std::string(env_key), "names the environment variable " + name + ", which is not set");
        return value;
    }
    if (from_file != o.end()) {
        if (!from_file->value().is_string() || from_file->value().as_string().empty())
            fail(file, path + "." + std::string(file_key), "must be a file path");
        auto secret_file = resolve(file.parent_path(), std::string(from_file->value().as_string()));
        std::ifstream in(secret_file, std::ios::binary);
        if (!in) fail(file, path + "." + std::string(file_key), "names " + secret_file.string() + ", which cannot be read");
        std::ostringstream text;
        text << in.rdbuf();
        std::string value = text.str();
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        if (value.empty()) fail(file, path + "." + std::string(file_key), "names " + secret_file.string() + ", which is empty");
        return value;
    }
    return {};
}

void parse_store(const json::value& v, const std::filesystem::path& file, StoreSettings& store) {
    if (!v.is_object()) fail(file, "store", "must be an object");
    const auto& s = v.as_object();
    for (const auto& kv : s)
        if (kv.key() != "engine" && kv.key() != "path" && kv.key() != "postgresql" && kv.key() != "outbox_lease_seconds")
            fail(file, "store." + std::string(kv.key()), "is not a known setting (known: engine, path, postgresql, outbox_lease_seconds)");
    if (auto e = s.find("engine"); e != s.end()) {
        if (e->value() == "sqlite") store.engine = StoreEngine::sqlite;
        else if (e->value() == "postgresql") store.engine = StoreEngine::postgresql;
        else fail(file, "store.engine", "must be \"sqlite\" or \"postgresql\"");
    }
    if (auto p = s.find("path"); p != s.end()) {
        if (!p->value().is_string() || p->value().as_string().empty()) fail(file, "store.path", "must be a non-empty string");
        store.sqlite_path = resolve(file.parent_path(), std::string(p->value().as_string()));
    }
    if (auto l = s.find("outbox_lease_seconds"); l != s.end()) {
        if (!l->value().is_number() || l->value().to_number<double>() < 1 || l->value().to_number<double>() > 86400)
            fail(file, "store.outbox_lease_seconds", "must be a number of seconds from 1 to 86400");
        store.outbox_lease_ms = static_cast<int64_t>(l->value().to_number<double>() * 1000);
    }
    auto pg = s.find("postgresql");
    if (store.engine == StoreEngine::sqlite) {
        if (pg != s.end()) fail(file, "store.postgresql", "is given but store.engine is not \"postgresql\"");
        return;
    }
    if (s.find("path") != s.end()) fail(file, "store.path", "is for the sqlite engine; PostgreSQL is named by store.postgresql");
    if (pg == s.end() || !pg->value().is_object())
        fail(file, "store.postgresql", "must be an object naming the database (conninfo, conninfo_env or conninfo_file)");
    const auto& o = pg->value().as_object();
    for (const auto& kv : o)
        if (kv.key() != "conninfo" && kv.key() != "conninfo_env" && kv.key() != "conninfo_file" && kv.key() != "password_env" &&
            kv.key() != "password_file")
            fail(file, "store.postgresql." + std::string(kv.key()),
                 "is not a known setting (known: conninfo, conninfo_env, conninfo_file, password_env, password_file)");
    int sources = o.contains("conninfo") + o.contains("conninfo_env") + o.contains("conninfo_file");
    if (sources != 1) fail(file, "store.postgresql", "must have exactly one of conninfo, conninfo_env, conninfo_file");
    if (auto c = o.find("conninfo"); c != o.end()) {
        if (!c->value().is_string()) fail(file, "store.postgresql.conninfo", "must be a libpq connection string");
        store.pg_conninfo = std::string(c->value().as_string());
        // Written in the file, so it must not carry the password: that comes from elsewhere.
        char* error = nullptr;
        PQconninfoOption* options = PQconninfoParse(store.pg_conninfo.c_str(), &error);
        if (options == nullptr) {
            PQfreemem(error);  // it may quote the string, password included: not repeated
            fail(file, "store.postgresql.conninfo", "is not a valid libpq connection string");
        }
        bool has_password = false;
        for (auto* opt = options; opt->keyword != nullptr; ++opt)
            if (std::string_view(opt->keyword) == "password" && opt->val != nullptr && *opt->val != '\0') has_password = true;
        PQconninfoFree(options);
        if (has_password)
            fail(file, "store.postgresql.conninfo", "contains a password: give it with password_env or password_file "
                                                    "(or name the whole string with conninfo_env / conninfo_file)");
    } else {
        store.pg_conninfo = read_secret_source(o, "conninfo_env", "conninfo_file", file, "store.postgresql");
    }
    store.pg_password = read_secret_source(o, "password_env", "password_file", file, "store.postgresql");
}
}  // namespace

HostConfig parse_host_config(std::string_view text, const std::filesystem::path& file) {
    boost::system::error_code ec;
    json::value root = json::parse(text, ec);
    if (ec) throw ConfigError("config " + file.string() + ": is not valid JSON: " + ec.message());
    if (!root.is_object()) throw ConfigError("config " + file.string() + ": must contain a JSON object");
    const json::object& o = root.as_object();
    const std::filesystem::path dir = file.parent_path();
    refuse_nul(root, file, "");

    static const std::vector<std::string_view> known = {"store", "log_level", "providers", "users", "web", "keep_alive"};
    for (const auto& kv : o)
        if (std::find(known.begin(), known.end(), kv.key()) == known.end())
            fail(file, kv.key(), "is not a known setting (known: store, log_level, providers, users, web, keep_alive)");

    HostConfig c;
    c.file = file;
    c.store.sqlite_path = dir / "host.db";
    if (auto it = o.find("store"); it != o.end()) parse_store(it->value(), file, c.store);
    if (auto it = o.find("log_level"); it != o.end()) {
        if (!it->value().is_string()) fail(file, "log_level", "must be a string");
        auto level = Logger::parse_level(std::string(it->value().as_string()));
        if (!level) fail(file, "log_level", "must be one of trace, debug, info, warn, error");
        c.log_level = *level;
    }
    if (auto it = o.find("web"); it != o.end()) {
        if (!it->value().is_object()) fail(file, "web", "must be an object");
        const auto& w = it->value().as_object();
        if (auto p = w.find("listen_address"); p != w.end()) {
            if (!p->value().is_string()) fail(file, "web.listen_address", "must be a string");
            c.web.listen_address = std::string(p->value().as_string());
        }
        if (auto p = w.find("port"); p != w.end()) {
            if (!p->value().is_int64() || p->value().as_int64() < 0 || p->value().as_int64() > 65535)
                fail(file, "web.port", "must be an integer from 0 to 65535");
            c.web.port = static_cast<uint16_t>(p->value().as_int64());
        }
        if (auto p = w.find("public_url"); p != w.end()) {
            if (!p->value().is_string()) fail(file, "web.public_url", "must be a string");
            c.web.public_url = std::string(p->value().as_string());
            while (!c.web.public_url.empty() && c.web.public_url.back() == '/') c.web.public_url.pop_back();
            c.web.public_url = validated_public_url(c.web.public_url, file);
        }
        if (auto p = w.find("callback_path"); p != w.end()) {
            if (!p->value().is_string() || !p->value().as_string().starts_with("/"))
                fail(file, "web.callback_path", "must be a path starting with '/'");
            c.web.callback_path = std::string(p->value().as_string());
            auto parsed = boost::urls::parse_origin_form(c.web.callback_path);
            if (!parsed || parsed->has_query() || c.web.callback_path.find('#') != std::string::npos)
                fail(file, "web.callback_path", "must be a plain path (no query, fragment, spaces or control characters)");
            if (is_page_route(c.web.callback_path))
                fail(file, "web.callback_path", "\"" + c.web.callback_path + "\" is one of the settings page's own routes; "
                                                "choose another path such as \"/callback\"");
        }
        if (auto p = w.find("max_connections"); p != w.end()) {
            if (!p->value().is_int64() || p->value().as_int64() < 1 || p->value().as_int64() > 100000)
                fail(file, "web.max_connections", "must be an integer from 1 to 100000");
            c.web.max_connections = static_cast<std::size_t>(p->value().as_int64());
        }
        if (auto p = w.find("debug_clock"); p != w.end()) {
            if (!p->value().is_bool()) fail(file, "web.debug_clock", "must be true or false");
            c.web.debug_clock = p->value().as_bool();
        }
        if (auto p = w.find("product_name"); p != w.end()) {
            if (!p->value().is_string() || p->value().as_string().empty() || p->value().as_string().size() > 80)
                fail(file, "web.product_name", "must be a non-empty string of at most 80 bytes");
            c.web.product_name = std::string(p->value().as_string());
            if (std::any_of(c.web.product_name.begin(), c.web.product_name.end(),
                            [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }))
                fail(file, "web.product_name", "must not contain control characters (line breaks, tabs)");
        }
        if (auto p = w.find("show_developer_providers"); p != w.end()) {
            if (!p->value().is_bool()) fail(file, "web.show_developer_providers", "must be true or false");
            c.web.show_developer_providers = p->value().as_bool();
        }
        static const std::vector<std::string_view> known_web = {"listen_address", "port", "public_url", "callback_path",
                                                                "debug_clock", "max_connections", "product_name",
                                                                "show_developer_providers"};
        for (const auto& kv : w)
            if (std::find(known_web.begin(), known_web.end(), kv.key()) == known_web.end())
                fail(file, "web." + std::string(kv.key()),
                     "is not a known setting (known: listen_address, port, public_url, callback_path, debug_clock, "
                     "max_connections, product_name, show_developer_providers)");
    }
    if (auto it = o.find("keep_alive"); it != o.end()) {
        if (!it->value().is_object()) fail(file, "keep_alive", "must be an object");
        const auto& k = it->value().as_object();
        auto number = [&](const char* name, double low, double high) -> std::optional<double> {
            auto p = k.find(name);
            if (p == k.end()) return std::nullopt;
            if (!p->value().is_number()) fail(file, std::string("keep_alive.") + name, "must be a number");
            double v = p->value().to_number<double>();
            if (!(v >= low && v <= high))
                fail(file, std::string("keep_alive.") + name,
                     "must be from " + std::to_string(low) + " to " + std::to_string(high));
            return v;
        };
        if (auto p = k.find("enabled"); p != k.end()) {
            if (!p->value().is_bool()) fail(file, "keep_alive.enabled", "must be true or false");
            c.keep_alive.enabled = p->value().as_bool();
        }
        // Below 90 days with room to spare, or the sweep cannot keep a grant alive.
        if (auto v = number("interval_days", 0.0001, 60)) c.keep_alive.interval_ms = static_cast<int64_t>(*v * 86'400'000);
        if (auto v = number("max_checks_per_second", 0.001, 10'000)) c.keep_alive.max_checks_per_second = *v;
        if (auto v = number("max_in_flight", 1, 10'000)) c.keep_alive.max_in_flight = static_cast<int>(*v);
        if (auto v = number("page_check_after_seconds", 0, 86'400))
            c.keep_alive.page_check_after_ms = static_cast<int64_t>(*v * 1000);
        for (const auto& kv : k)
            if (kv.key() != "enabled" && kv.key() != "interval_days" && kv.key() != "max_checks_per_second" &&
                kv.key() != "max_in_flight" && kv.key() != "page_check_after_seconds")
                fail(file, "keep_alive." + std::string(kv.key()),
                     "is not a known setting (known: enabled, interval_days, max_checks_per_second, max_in_flight, "
                     "page_check_after_seconds)");
    }
    // The page answers only requests whose Host names it; on every interface no name can be
    // derived from the listen address, so the operator must say which one the browser uses.
    if ((c.web.listen_address == "0.0.0.0" || c.web.listen_address == "::") && c.web.public_url.empty())
        fail(file, "web.public_url", "is required when web.listen_address is \"" + c.web.listen_address +
                                         "\" (all interfaces): requests must name the server as the public URL does");
    if (auto it = o.find("users"); it != o.end()) {
        if (!it->value().is_array()) fail(file, "users", "must be an array of {\"id\", \"display_name\"}");
        const auto& arr = it->value().as_array();
        std::set<std::string> ids;
        for (std::size_t i = 0; i < arr.size(); ++i) {
            std::string path = "users[" + std::to_string(i) + "]";
            if (!arr[i].is_object()) fail(file, path, "must be an object");
            const auto& u = arr[i].as_object();
            auto id = u.find("id");
            auto name = u.find("display_name");
            if (id == u.end() || !id->value().is_string() || id->value().as_string().empty())
                fail(file, path + ".id", "must be a non-empty string");
            if (name == u.end() || !name->value().is_string() || name->value().as_string().empty())
                fail(file, path + ".display_name", "must be a non-empty string");
            if (!ids.insert(std::string(id->value().as_string())).second)
                fail(file, path + ".id", "\"" + std::string(id->value().as_string()) + "\" is the id of an earlier user too");
            c.users.push_back(HostUserSetting{std::string(id->value().as_string()), std::string(name->value().as_string())});
        }
    }

    auto it = o.find("providers");
    if (it == o.end()) fail(file, "providers", "is missing");
    if (!it->value().is_array()) fail(file, "providers", "must be an array");
    const auto& arr = it->value().as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
        std::string path = "providers[" + std::to_string(i) + "]";
        if (!arr[i].is_object()) fail(file, path, "must be an object");
        const auto& p = arr[i].as_object();
        ProviderSetting s;
        auto m = p.find("manifest");
        if (m == p.end()) fail(file, path + ".manifest", "is missing");
        if (!m->value().is_string() || m->value().as_string().empty())
            fail(file, path + ".manifest", "must be a non-empty string");
        s.manifest = resolve(dir, std::string(m->value().as_string()));
        if (auto e = p.find("enabled"); e != p.end()) {
            if (!e->value().is_bool()) fail(file, path + ".enabled", "must be true or false");
            s.enabled = e->value().as_bool();
        }
        if (auto cfg = p.find("config"); cfg != p.end()) {
            if (!cfg->value().is_object()) fail(file, path + ".config", "must be an object");
            refuse_non_finite(cfg->value(), file, path + ".config");
            json::value copy = cfg->value();
            expand_config_dir(copy, dir.string());
            s.config_json = json::serialize(copy);
        } else {
            s.config_json = "{}";
        }
        for (const auto& kv : p)
            if (kv.key() != "manifest" && kv.key() != "enabled" && kv.key() != "config")
                fail(file, path + "." + std::string(kv.key()), "is not a known setting (known: manifest, enabled, config)");
        c.providers.push_back(std::move(s));
    }
    return c;
}

HostConfig read_host_config(const std::filesystem::path& file) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(file, ec);
    if (ec) throw ConfigError("config " + file.string() + ": cannot be opened: " + ec.message());
    std::ifstream in(canonical, std::ios::binary);
    if (!in) throw ConfigError("config " + file.string() + ": cannot be opened for reading");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_host_config(text.str(), canonical);
}

}  // namespace host
