// The host's deployment configuration (one JSON file; manifests/host.example.json):
//
//   {
//     "store": { "path": "host.db" },                 (or, for several hosts on one database:)
//     "store": { "engine": "postgresql",
//                "postgresql": { "conninfo": "host=db.internal dbname=ep user=ep",
//                                "password_file": "/run/secrets/ep-db-password" },
//                "outbox_lease_seconds": 60 },
//     "log_level": "info",
//     "log_format": "text",                          (or "json": one JSON object per line)
//     "providers": [
//       { "id": "example", "config": { ... } },          (found by the provider search path)
//       { "manifest": "mock.json", "enabled": true, "isolation": "process",
//         "config": { "outbox_dir": "${config_dir}/outbox" } }
//     ],
//     "metrics": { "listen": "127.0.0.1:9464" },      (absent: no /metrics endpoint)
//     "isolation": { "address_space_mb": 2048, "open_files": 1024,
//                    "deadline_seconds": { "quick": 10, "slow": 60, "check": 60, "send_completion": 900 },
//                    "quarantine_crashes": 3, "quarantine_window_seconds": 300 }
//   }
//
// A provider is named by "id", by "manifest" or by both. An "id" alone is found by the loader's
// search path (plugin_api/MANIFEST.md "Where hosts find manifests": EP_PROVIDER_PATH, then
// /etc/email-provider/providers.d before /usr/share/email-provider/providers.d), afresh at every
// start and reload, so an installed provider package needs no path here. A "manifest" path is
// used as it is; given with "id", the manifest's provider.id must be that id.
//
// Relative paths (store.path, providers[].manifest) are relative to the config file's
// directory. In provider configs, "${config_dir}" inside any string is replaced by that
// directory, "${credentials_dir}" by $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) and
// "${state_dir}" by $STATE_DIRECTORY (StateDirectory=), refused naming the field when the
// variable is not set; nothing else is interpreted, the provider validates its own config.
//
// Refused with the field named: a key the host does not know (outside providers[].config), a
// NUL byte in any string, a provider with neither id nor manifest, duplicate provider or user
// ids, a public_url that is not an http(s) origin, a callback_path that is one of the page's
// own routes, and listening on every interface without a public_url (the page checks Host
// against it).
#pragma once

#include "core/logger.hpp"

#include <email_provider/ep_abi.h>
#include <email_provider/isolation.hpp>
#include <email_provider/manifest.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace host {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Where a provider's manifest came from, when the config names its path.
inline constexpr std::string_view kManifestFromConfig = "config";

struct ProviderSetting {
    std::string id;                  // empty when only "manifest" is given
    std::filesystem::path manifest;  // absolute; empty until an "id" alone is located
    // "config" (kManifestFromConfig) for a path the config names, else the search directory
    // that held the manifest (set by locate_manifest).
    std::string manifest_source;
    bool enabled = true;
    // "isolation": "process" (the default: an ep-provider-runner serves it, so that its
    // crashes and hangs cannot take the host down) or "in_process".
    bool isolated = true;
    std::string config_json;  // "{}" when absent
};

struct WebSettings {
    std::string listen_address = "127.0.0.1";
    uint16_t port = 8080;
    std::string public_url;                   // e.g. http://127.0.0.1:8080 (default: from the listen address)
    std::string callback_path = "/callback";  // where providers' redirect_uri points
    bool debug_clock = false;                 // POST /_debug/clock moves the host clock (demo and tests only)
    std::size_t max_connections = 512;        // keep well below the process's file descriptor limit
    std::string product_name = "Nudges";      // the page's header and title
    // Providers whose status says developer_only (the mock) are left off the page unless true.
    bool show_developer_providers = false;
};

enum class StoreEngine { sqlite, postgresql };

// Where the host keeps users, settings, the outbox and the plugins' secrets. A PostgreSQL
// password never sits in the config file: the connection string or the password comes from an
// environment variable or a file (read when the config is read), or from libpq's own
// PGPASSWORD / PGPASSFILE.
struct StoreSettings {
    StoreEngine engine = StoreEngine::sqlite;
    std::filesystem::path sqlite_path;  // absolute
    std::string pg_conninfo;            // libpq connection string (keywords or URI)
    std::string pg_password;            // empty: none given here
    // How long a host may hold a nudge in `sending` without renewing its claim; a host that
    // died leaves its nudges to turn needs_review after this.
    int64_t outbox_lease_ms = 60000;
};

// The keep-alive sweep (checks/keep_alive.hpp). "keep_alive": {"enabled", "interval_days",
// "max_checks_per_second", "max_in_flight", "page_check_after_seconds"}.
struct KeepAliveSettings {
    bool enabled = true;
    // Well inside the shortest disuse after which a provider's refresh token may die (90 days,
    // six months for another; each documented with its plugin): a host down for a few
    // intervals still finds every grant alive.
    int64_t interval_ms = int64_t{7} * 24 * 3600 * 1000;
    double max_checks_per_second = 20;
    int max_in_flight = 16;
    // The settings page checks a connection it shows when its last check is older than this.
    int64_t page_check_after_ms = int64_t{5} * 60 * 1000;
};

// The Prometheus endpoint (README.md, "Metrics"), on its own address, apart from the page's.
struct MetricsSettings {
    // "address:port" with an IPv4 address ("127.0.0.1:9464"; port 0: any free port); empty
    // when the config has no "metrics" block: no endpoint.
    std::string listen;
};

struct HostUserSetting {
    std::string id;
    std::string display_name;
};

struct HostConfig {
    std::filesystem::path file;
    StoreSettings store;
    ep_log_level log_level = EP_LOG_INFO;
    LogFormat log_format = LogFormat::text;
    std::vector<ProviderSetting> providers;
    std::vector<HostUserSetting> users;  // the reference host's local users (sign-in picker)
    WebSettings web;
    KeepAliveSettings keep_alive;
    MetricsSettings metrics;
    ep::loader::IsolationOptions isolation;  // for every provider whose isolation is "process"
    // Where providers named by id are looked for, in order: the loader's search path in this
    // process's environment when the config was read.
    std::vector<std::filesystem::path> provider_search_path;
};

// The file (and any password_file / conninfo_file it names) must be a regular file of at
// most 1 MiB; anything else (a FIFO, /dev/zero) is refused at once, naming the file.
HostConfig read_host_config(const std::filesystem::path& file);
HostConfig parse_host_config(std::string_view json_text, const std::filesystem::path& file);

// `setting` with its manifest located: a path the config names as it is, an id alone where
// `found` has it. Throws ConfigError naming the id, the config file and every directory searched
// when none has a manifest of that id.
ProviderSetting locate_manifest(const ProviderSetting& setting, const ep::loader::ManifestDiscovery& found,
                                const std::filesystem::path& config_file);

}  // namespace host
