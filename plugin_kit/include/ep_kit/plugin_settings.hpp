// What every real provider reads from its instance configuration the same way: the vault's
// keys, TLS, timeouts, the token and send engines' limits, and the readers of fields that
// recur (a secret from an environment variable or a file, an endpoint URL). Each plugin still
// lists its own known keys, so a misspelt one is refused by name.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/secret_string.hpp"
#include "ep_kit/send_protocol.hpp"
#include "ep_kit/token_manager.hpp"
#include "ep_kit/vault.hpp"

#include <ep_json/reader.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ep::kit {

struct PluginSettings {
    std::shared_ptr<const Vault> vault;
    TlsSettings tls;
    long connect_timeout_ms = 10000;
    long request_timeout_ms = 30000;
    int64_t refresh_skew_ms = 300'000;
    int64_t pending_connect_ttl_ms = 600'000;
    std::size_t send_queue_limit = 10'000;
    int max_concurrency_per_mailbox = 4;
    int max_send_attempts = 3;              // only for outcomes that certainly did not take effect
    int64_t max_throttle_wait_ms = 60'000;  // longer waits go back to the host as "throttled"
    std::size_t access_token_cache_size = 10'000;

    // For the token manager: a refresh lease lasts as long as one token request may take.
    TokenSettings token_settings() const {
        return {refresh_skew_ms, access_token_cache_size, connect_timeout_ms + request_timeout_ms};
    }
    SendSettings send_settings() const {
        return {send_queue_limit, max_concurrency_per_mailbox, max_send_attempts, max_throttle_wait_ms};
    }
};

// Reads token_encryption (required), tls, timeouts, refresh_skew_seconds,
// pending_connect_ttl_seconds, send and access_token_cache_size. `max_concurrency_cap` is the
// provider's own limit of requests in flight per mailbox. Throws json_reader::FieldError.
void read_plugin_settings(const json_reader::Object& config, PluginSettings& settings, int max_concurrency_cap);

// The whole file `path` names, for the field `key`; the error names the field and the file.
std::string read_text_file(const json_reader::Object& object, std::string_view key, const std::string& path);

// A secret given as {"env": NAME} or {"file": PATH} (trimmed), never inline: the object at
// `object` must hold exactly one of the two, and the secret must not be empty.
SecretString read_secret_source(const json_reader::Object& object);

// An endpoint base URL: https, or plain http on loopback when `allow_loopback_http` (tests).
// Returned without trailing slashes. `example` completes "must be an absolute URL such as ...".
std::string read_endpoint(const json_reader::Object& object, std::string_view key, const std::string& value,
                          bool allow_loopback_http, std::string_view example);

// Whether `uri` is http(s) on 127.0.0.1 / localhost / [::1].
bool is_loopback_url(std::string_view uri);

}  // namespace ep::kit
