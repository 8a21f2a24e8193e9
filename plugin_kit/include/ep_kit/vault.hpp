// vault.hpp — encryption of the tokens the plugin hands to the host's secret store.
//
// The host store only ever sees envelopes: AES-256-GCM ciphertext under a key from a key
// ring, bound to what the blob is for, so that a blob copied to another account, slot or
// provider does not decrypt.
//
// Envelope format, version 1 (all integers big-endian):
//
//   offset     size  field
//   0          4     magic "EPV1" (the format version; any other value is refused)
//   4          1     L, the key id length, 1..32
//   5          L     key id, [A-Za-z0-9._-]
//   5+L        12    nonce, fresh from RAND_bytes for every seal
//   17+L       n     ciphertext (n = plaintext length)
//   17+L+n     16    GCM tag
//
// Associated data (authenticated, not stored): the magic, then provider, account, slot and
// key id, each preceded by its length as 4 bytes, so "ab"+"c" and "a"+"bc" differ. The
// header is therefore authenticated too: changing any byte of the envelope fails to open.
//
// Nonces are random, so one key should seal well under 2^32 blobs; rotating the active key
// (old blobs are rewrapped on their next write) keeps every key far below that.
#pragma once

#include "ep_kit/secret_string.hpp"

#include <boost/json/fwd.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct evp_cipher_st;

namespace ep::kit {

// What a blob is bound to. `slot` names the record, e.g. "grant" or "pending".
struct VaultContext {
    std::string_view provider;
    std::string_view account;
    std::string_view slot;
};

// Named 32-byte keys and the one that seals new blobs. Move-only; keys are wiped when the
// ring is destroyed.
class KeyRing {
public:
    static constexpr std::size_t kKeySize = 32;
    static constexpr std::size_t kMaxIdLength = 32;
    using Key = std::array<uint8_t, kKeySize>;

    KeyRing() = default;
    KeyRing(KeyRing&&) noexcept = default;
    KeyRing& operator=(KeyRing&&) noexcept;
    KeyRing(const KeyRing&) = delete;
    KeyRing& operator=(const KeyRing&) = delete;
    ~KeyRing();

    // Reads the key ring section of a config:
    //   {"active_key":"k2","keys":[{"id":"k1","file":"/path/k1.key"},
    //                              {"id":"k2","env":"OUTLOOK_TOKEN_KEY_K2"}]}
    // Each key comes from a file or an environment variable holding 64 hex digits or 44
    // characters of standard base64 (surrounding whitespace ignored); key material inline
    // in the config is refused. A relative file path is relative to the working directory.
    // Throws ep::sdk::Error(EP_ERR_CONFIG, "invalid_config", message, field) where field is
    // the JSON path below `field_path` (e.g. "token_encryption.keys[1].env").
    static KeyRing from_json(const boost::json::value& config, std::string_view field_path);

    // Throws std::invalid_argument on a malformed or duplicate id.
    void add(std::string id, const Key& key);
    // Throws std::invalid_argument when no key has this id.
    void set_active(std::string_view id);

    // Empty until set_active succeeds.
    const std::string& active_id() const noexcept { return active_; }
    bool contains(std::string_view id) const { return keys_.find(id) != keys_.end(); }

private:
    friend class Vault;
    // Comma-separated ids, for messages.
    std::string ids() const;
    void wipe_all() noexcept;

    // A node-based map: keys never move once inserted, so no stale copy is left behind.
    std::map<std::string, Key, std::less<>> keys_;
    std::string active_;
};

// Why an envelope did not open. The message names the key id where relevant and never
// holds key material or plaintext.
class VaultError : public std::runtime_error {
public:
    enum class Kind {
        malformed,    // not an envelope of a format this build reads (truncated, bad header)
        unknown_key,  // sealed with a key id that is not in the ring
        tampered,     // authentication failed: modified, or bound to another context
    };
    VaultError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};

// Seals and opens envelopes. All const methods may run concurrently.
class Vault {
public:
    // Throws std::invalid_argument when the ring has no active key.
    explicit Vault(KeyRing ring);

    // Encrypts under the active key.
    std::vector<uint8_t> seal(std::string_view plaintext, const VaultContext& context) const;
    // Throws VaultError.
    SecretString open(std::span<const uint8_t> envelope, const VaultContext& context) const;

    // The key id in an envelope's header. Throws VaultError(malformed).
    static std::string key_id_of(std::span<const uint8_t> envelope);
    // True when the envelope was sealed with another key than the active one, so the caller
    // should reseal it on its next write. Throws VaultError(malformed).
    bool needs_rewrap(std::span<const uint8_t> envelope) const;
    const std::string& active_key_id() const noexcept { return ring_.active_id(); }

private:
    struct CipherDeleter {
        void operator()(evp_cipher_st* cipher) const noexcept;
    };

    KeyRing ring_;
    // Fetched once: an implicit fetch on every call would take OpenSSL's provider lock.
    std::unique_ptr<evp_cipher_st, CipherDeleter> cipher_;
};

}  // namespace ep::kit
