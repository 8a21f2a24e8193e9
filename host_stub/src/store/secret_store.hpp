// The host's persistence behind the plugins' secret-store service: versioned opaque blobs
// with compare-and-swap. Implementations must be safe for concurrent use from many threads
// (and, for shared engines, many processes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace host {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Keys are compared bytewise (no LIKE, so '%' and '_' are plain bytes), so the keys starting
// with `prefix` are exactly those in [prefix, successor): the successor is the prefix with
// trailing 0xff bytes dropped and its last byte incremented. Empty when no such bound exists
// (the prefix is all 0xff): then every key from `prefix` on matches.
inline std::string prefix_successor(std::string_view prefix) {
    std::string bound(prefix);
    while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) bound.pop_back();
    if (!bound.empty()) bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
    return bound;
}

class SecretStore {
public:
    struct Entry {
        std::vector<uint8_t> value;
        uint64_t version = 0;
    };

    virtual ~SecretStore() = default;
    // All throw StoreError on an engine failure.
    virtual std::optional<Entry> get(std::string_view key) = 0;
    // Writes when the current version equals expected_version (0: key must be absent).
    // Returns the new version, or nullopt on a version conflict.
    virtual std::optional<uint64_t> put(std::string_view key, std::span<const uint8_t> value,
                                        uint64_t expected_version) = 0;
    // Deletes (unconditionally when expected_version is 0). False on a version conflict.
    virtual bool erase(std::string_view key, uint64_t expected_version) = 0;
    // Deletes every key that starts with `prefix` (bytes, not a pattern), in one transaction.
    virtual void erase_prefix(std::string_view prefix) = 0;
    // Number of stored keys with this prefix (diagnostics and tests).
    virtual std::size_t count_prefix(std::string_view prefix) = 0;
};

}  // namespace host
