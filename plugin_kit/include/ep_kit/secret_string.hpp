// secret_string.hpp — a move-only holder for tokens, keys and codes that wipes its bytes.
#pragma once

#include <openssl/crypto.h>

#include <boost/json/fwd.hpp>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ep::kit {

// Cleanses the whole buffer of `s` (its capacity, not only its size, so bytes left behind
// by an earlier, longer content go too) and leaves it empty. Growing to capacity never
// reallocates, and makes every byte we cleanse part of the string's defined range.
inline void wipe(std::string& s) noexcept {
    s.resize(s.capacity());
    OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

// Cleanses every string in a parsed JSON document (token answers, stored grants, pending
// sign-ins hold tokens, codes and verifiers), at any depth, before it is freed.
void wipe_strings(boost::json::value& document) noexcept;

// The storage is a std::vector<char> sized exactly once, not a std::string: a short
// std::string keeps its bytes inside the object (small-string optimisation), so moving it
// copies them and the moved-from object still holds a readable copy. A vector always
// lives on the heap; a move hands the buffer over, leaving nothing behind. We never grow
// the vector after construction, so no reallocation leaves stale copies either.
//
// Deliberately missing: copying (each copy is one more place to wipe), implicit
// conversions, and stream output (a secret must not reach a log by accident).
class SecretString {
public:
    SecretString() noexcept = default;
    explicit SecretString(std::string_view text) : bytes_(text.begin(), text.end()) {}
    explicit SecretString(const char* text) : SecretString(std::string_view(text)) {}
    // Takes the content and wipes the source string.
    explicit SecretString(std::string&& text) : SecretString(std::string_view(text)) { wipe(text); }

    SecretString(SecretString&& other) noexcept : bytes_(std::move(other.bytes_)) { other.bytes_.clear(); }
    SecretString& operator=(SecretString&& other) noexcept {
        if (this != &other) {
            clear();
            bytes_ = std::move(other.bytes_);
            other.bytes_.clear();
        }
        return *this;
    }
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;
    ~SecretString() { clear(); }

    std::string_view view() const noexcept { return {bytes_.data(), bytes_.size()}; }
    std::size_t size() const noexcept { return bytes_.size(); }
    bool empty() const noexcept { return bytes_.empty(); }

    // Wipes the bytes and releases the buffer.
    void clear() noexcept {
        if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
        std::vector<char>().swap(bytes_);
    }

    // Constant time in the content (the length is not secret).
    bool operator==(const SecretString& other) const noexcept {
        return bytes_.size() == other.bytes_.size() &&
               CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
    }

    friend std::ostream& operator<<(std::ostream&, const SecretString&) = delete;

private:
    std::vector<char> bytes_;
};

}  // namespace ep::kit
