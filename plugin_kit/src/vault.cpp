#include "ep_kit/vault.hpp"

#include <email_provider/ep_sdk.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ep::kit {
namespace {

constexpr std::array<uint8_t, 4> kMagic{'E', 'P', 'V', '1'};
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kIdOffset = kMagic.size() + 1;  // magic, then the key id length byte
// A key file holds 64 hex digits or 44 base64 characters; anything far larger is a mistake.
constexpr std::size_t kMaxKeyFileSize = 4096;

// ---- Key ids and key text -----------------------------------------------------------------

// Empty when `id` is a valid key id. Never echoes the id: a key pasted into the id field
// would otherwise end up in a message.
std::string id_problem(std::string_view id) {
    bool allowed = !id.empty() && id.size() <= KeyRing::kMaxIdLength;
    for (char c : id) {
        allowed = allowed && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                              c == '_' || c == '-');
    }
    if (allowed) return {};
    return "must be 1 to 32 characters of A-Z a-z 0-9 . _ - (got " + std::to_string(id.size()) + " characters)";
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view kSpace = " \t\r\n";
    const auto first = text.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool decode_hex_key(std::string_view text, KeyRing::Key& out) {
    if (text.size() != 2 * KeyRing::kKeySize) return false;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int high = hex_value(text[2 * i]);
        const int low = hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = static_cast<uint8_t>(high << 4 | low);
    }
    return true;
}

// Exactly 44 characters: 43 of the alphabet and one '=' of padding. The two bits left over
// must be zero, as a canonical encoder writes them; anything else is likely a typo.
bool decode_base64_key(std::string_view text, KeyRing::Key& out) {
    if (text.size() != 44 || text[43] != '=') return false;
    uint32_t bits = 0;
    int pending = 0;
    std::size_t written = 0;
    for (char c : text.substr(0, 43)) {
        const int value = base64_value(c);
        if (value < 0) return false;
        bits = bits << 6 | static_cast<uint32_t>(value);
        pending += 6;
        if (pending >= 8) {
            pending -= 8;
            out[written++] = static_cast<uint8_t>(bits >> pending);
        }
    }
    return (bits & ((1u << pending) - 1)) == 0;
}

bool decode_key(std::string_view text, KeyRing::Key& out) {
    text = trim(text);
    return decode_hex_key(text, out) || decode_base64_key(text, out);
}

// A key on the stack, wiped however its scope ends (a refused config throws mid-way).
struct ScopedKey {
    KeyRing::Key bytes{};
    ~ScopedKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

// ---- Config errors ------------------------------------------------------------------------

[[noreturn]] void config_error(const std::string& field, const std::string& what) {
    throw ep::sdk::Error(EP_ERR_CONFIG, "invalid_config", (field.empty() ? "the key ring" : field) + ": " + what,
                         field);
}

std::string join_path(std::string_view base, std::string_view name) {
    if (base.empty()) return std::string(name);
    std::string path(base);
    path += '.';
    path += name;
    return path;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string wrong_key_text(const std::string& source, std::string_view text) {
    return "the key in " + source + " must be 32 bytes written as 64 hex digits or base64 (44 characters); found " +
           std::to_string(trim(text).size()) + " characters";
}

// Field names under which someone might paste a key into the config itself.
bool is_inline_material(std::string_view name) {
    return name == "key" || name == "value" || name == "hex" || name == "base64";
}

const std::string kInlineRefused =
    "key material is never accepted inline in the config; put the key in a file (\"file\") or an "
    "environment variable (\"env\")";

// ---- Key sources --------------------------------------------------------------------------

// Reads with POSIX calls into a buffer we wipe: an ifstream would keep its own copy.
void read_key_file(const std::string& path, const std::string& field, KeyRing::Key& out) {
    struct Descriptor {
        int fd;
        ~Descriptor() { ::close(fd); }
    };
    struct Buffer {
        std::array<char, kMaxKeyFileSize + 1> bytes{};
        ~Buffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
    };

    const std::string source = "file " + quoted(path);
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);  // a FIFO must not block
    if (fd < 0) {
        const int error = errno;
        if (error == ENOENT) config_error(field, source + " not found");
        config_error(field, source + " cannot be read: " + std::generic_category().message(error));
    }
    Descriptor descriptor{fd};
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) config_error(field, source + " is not a regular file");

    Buffer buffer;
    std::size_t size = 0;
    while (size < buffer.bytes.size()) {
        const ssize_t got = ::read(fd, buffer.bytes.data() + size, buffer.bytes.size() - size);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) config_error(field, source + " cannot be read: " + std::generic_category().message(errno));
        if (got == 0) break;
        size += static_cast<std::size_t>(got);
    }
    if (size > kMaxKeyFileSize)
        config_error(field, source + " is larger than " + std::to_string(kMaxKeyFileSize) +
                                " bytes; a key file holds only the key");
    const std::string_view text(buffer.bytes.data(), size);
    if (!decode_key(text, out)) config_error(field, wrong_key_text(source, text));
}

// The value stays in the environment; we decode it in place and copy nothing.
void read_key_env(const std::string& name, const std::string& field, KeyRing::Key& out) {
    const std::string source = "environment variable " + quoted(name);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) config_error(field, source + " is not set");
    if (*value == '\0') config_error(field, source + " is empty");
    if (!decode_key(value, out)) config_error(field, wrong_key_text(source, value));
}

std::string required_string(const boost::json::object& entry, std::string_view name, const std::string& field) {
    const boost::json::value* value = entry.if_contains(name);
    if (value == nullptr) config_error(field, "is missing");
    if (!value->is_string() || value->as_string().empty()) config_error(field, "must be a non-empty string");
    return std::string(value->as_string());
}

// ---- OpenSSL ------------------------------------------------------------------------------

struct ContextDeleter {
    void operator()(EVP_CIPHER_CTX* context) const noexcept { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, ContextDeleter>;

CipherContext new_context() {
    CipherContext context(EVP_CIPHER_CTX_new());
    if (!context) throw std::bad_alloc();
    return context;
}

// ---- Envelopes ----------------------------------------------------------------------------

struct Header {
    std::string_view key_id;
    std::size_t nonce_offset;
};

Header parse_header(std::span<const uint8_t> envelope) {
    using Kind = VaultError::Kind;
    if (envelope.size() < kIdOffset)
        throw VaultError(Kind::malformed, "envelope is truncated: " + std::to_string(envelope.size()) + " bytes");
    if (!std::equal(kMagic.begin(), kMagic.end(), envelope.begin()))
        throw VaultError(Kind::malformed, "not a vault envelope of a format this build reads (expected \"EPV1\")");
    const std::size_t id_length = envelope[kMagic.size()];
    if (id_length == 0 || id_length > KeyRing::kMaxIdLength)
        throw VaultError(Kind::malformed,
                         "envelope header has an invalid key id length (" + std::to_string(id_length) + ")");
    const std::size_t nonce_offset = kIdOffset + id_length;
    const std::size_t minimum = nonce_offset + kNonceSize + kTagSize;
    if (envelope.size() < minimum)
        throw VaultError(Kind::malformed, "envelope is truncated: " + std::to_string(envelope.size()) +
                                              " bytes, at least " + std::to_string(minimum) + " expected");
    const std::string_view key_id(reinterpret_cast<const char*>(envelope.data() + kIdOffset), id_length);
    if (!id_problem(key_id).empty()) throw VaultError(Kind::malformed, "envelope header has an invalid key id");
    return {key_id, nonce_offset};
}

void append_field(std::vector<uint8_t>& out, std::string_view field) {
    if (field.size() > UINT32_MAX) throw std::length_error("vault: a context field is longer than 4 GiB");
    const auto size = static_cast<uint32_t>(field.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(size >> shift));
    out.insert(out.end(), field.begin(), field.end());
}

std::vector<uint8_t> associated_data(const VaultContext& context, std::string_view key_id) {
    std::vector<uint8_t> aad(kMagic.begin(), kMagic.end());
    aad.reserve(kMagic.size() + 16 + context.provider.size() + context.account.size() + context.slot.size() +
                key_id.size());
    append_field(aad, context.provider);
    append_field(aad, context.account);
    append_field(aad, context.slot);
    append_field(aad, key_id);
    return aad;
}

// EVP takes int lengths.
int checked_length(std::size_t size) {
    if (size > static_cast<std::size_t>(INT_MAX)) throw std::length_error("vault: data larger than 2 GiB");
    return static_cast<int>(size);
}

}  // namespace

// ---- KeyRing ------------------------------------------------------------------------------

KeyRing& KeyRing::operator=(KeyRing&& other) noexcept {
    if (this != &other) {
        wipe_all();
        keys_ = std::move(other.keys_);
        active_ = std::move(other.active_);
        other.keys_.clear();
        other.active_.clear();
    }
    return *this;
}

KeyRing::~KeyRing() { wipe_all(); }

void KeyRing::wipe_all() noexcept {
    for (auto& [id, key] : keys_) OPENSSL_cleanse(key.data(), key.size());
    keys_.clear();
}

void KeyRing::add(std::string id, const Key& key) {
    if (const std::string problem = id_problem(id); !problem.empty()) throw std::invalid_argument("key id " + problem);
    if (contains(id)) throw std::invalid_argument("duplicate key id " + quoted(id));
    keys_.emplace(std::move(id), key);
}

void KeyRing::set_active(std::string_view id) {
    if (!contains(id)) throw std::invalid_argument("no key in the ring has the id given as active");
    active_ = std::string(id);
}

std::string KeyRing::ids() const {
    std::string list;
    for (const auto& entry : keys_) {
        if (!list.empty()) list += ", ";
        list += entry.first;
    }
    return list;
}

KeyRing KeyRing::from_json(const boost::json::value& config, std::string_view field_path) {
    const std::string base(field_path);
    const boost::json::object* object = config.if_object();
    if (object == nullptr) config_error(base, "must be an object with \"active_key\" and \"keys\"");
    for (const auto& field : *object) {
        const std::string path = join_path(base, field.key());
        if (is_inline_material(field.key())) config_error(path, kInlineRefused);
        if (field.key() != "active_key" && field.key() != "keys")
            config_error(path, "is not a known field (expected \"active_key\" and \"keys\")");
    }

    const std::string keys_path = join_path(base, "keys");
    const boost::json::value* keys = object->if_contains("keys");
    if (keys == nullptr)
        config_error(keys_path,
                     "is missing: list the keys as {\"id\": ..., \"file\": ...} or {\"id\": ..., \"env\": ...}");
    if (!keys->is_array()) config_error(keys_path, "must be an array of keys");
    if (keys->as_array().empty()) config_error(keys_path, "is empty: list at least one key");

    KeyRing ring;
    std::size_t index = 0;
    for (const boost::json::value& item : keys->as_array()) {
        const std::string entry_path = keys_path + "[" + std::to_string(index++) + "]";
        const boost::json::object* entry = item.if_object();
        if (entry == nullptr)
            config_error(entry_path, "must be an object such as {\"id\": \"k1\", \"file\": \"/path/k1.key\"}");
        for (const auto& field : *entry) {
            const std::string path = join_path(entry_path, field.key());
            if (is_inline_material(field.key())) config_error(path, kInlineRefused);
            if (field.key() != "id" && field.key() != "file" && field.key() != "env")
                config_error(path, "is not a known field (expected \"id\" and one of \"file\" or \"env\")");
        }

        const std::string id_path = join_path(entry_path, "id");
        std::string id = required_string(*entry, "id", id_path);
        if (const std::string problem = id_problem(id); !problem.empty()) config_error(id_path, problem);
        if (ring.contains(id)) config_error(id_path, "duplicate key id " + quoted(id));

        const bool has_file = entry->contains("file");
        if (has_file == entry->contains("env"))
            config_error(entry_path, has_file ? "has both \"file\" and \"env\"; give exactly one"
                                              : "has neither \"file\" nor \"env\"; give exactly one");
        ScopedKey key;
        if (has_file) {
            const std::string path = join_path(entry_path, "file");
            read_key_file(required_string(*entry, "file", path), path, key.bytes);
        } else {
            const std::string path = join_path(entry_path, "env");
            read_key_env(required_string(*entry, "env", path), path, key.bytes);
        }
        ring.add(std::move(id), key.bytes);
    }

    const std::string active_path = join_path(base, "active_key");
    const std::string active = required_string(*object, "active_key", active_path);
    if (!id_problem(active).empty()) config_error(active_path, "is not a valid key id");
    if (!ring.contains(active))
        config_error(active_path, "names no key: " + quoted(active) + " is not among the keys (" + ring.ids() + ")");
    ring.set_active(active);
    return ring;
}

// ---- Vault --------------------------------------------------------------------------------

void Vault::CipherDeleter::operator()(evp_cipher_st* cipher) const noexcept { EVP_CIPHER_free(cipher); }

Vault::Vault(KeyRing ring) : ring_(std::move(ring)), cipher_(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr)) {
    if (ring_.active_id().empty()) throw std::invalid_argument("vault: the key ring has no active key");
    if (!cipher_) throw std::runtime_error("vault: OpenSSL has no AES-256-GCM implementation");
}

std::vector<uint8_t> Vault::seal(std::string_view plaintext, const VaultContext& context) const {
    const std::string& key_id = ring_.active_id();
    const KeyRing::Key& key = ring_.keys_.find(key_id)->second;
    const std::vector<uint8_t> aad = associated_data(context, key_id);
    const int aad_length = checked_length(aad.size());
    const int plaintext_length = checked_length(plaintext.size());

    // The ciphertext goes straight into the envelope: no plaintext temporary to wipe.
    std::vector<uint8_t> envelope(kIdOffset + key_id.size() + kNonceSize + plaintext.size() + kTagSize);
    std::copy(kMagic.begin(), kMagic.end(), envelope.begin());
    envelope[kMagic.size()] = static_cast<uint8_t>(key_id.size());
    std::copy(key_id.begin(), key_id.end(), envelope.begin() + kIdOffset);
    uint8_t* nonce = envelope.data() + kIdOffset + key_id.size();
    uint8_t* ciphertext = nonce + kNonceSize;
    uint8_t* tag = ciphertext + plaintext.size();
    if (RAND_bytes(nonce, static_cast<int>(kNonceSize)) != 1)
        throw std::runtime_error("vault: the random generator failed to produce a nonce");

    CipherContext ctx = new_context();
    int written = 0;
    int final_written = 0;
    const bool ok = EVP_EncryptInit_ex2(ctx.get(), cipher_.get(), key.data(), nonce, nullptr) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), nullptr, &written, aad.data(), aad_length) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), ciphertext, &written,
                                      reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext_length) == 1 &&
                    EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &final_written) == 1 &&
                    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), tag) == 1;
    if (!ok) throw std::runtime_error("vault: AES-256-GCM encryption failed inside OpenSSL");
    return envelope;
}

SecretString Vault::open(std::span<const uint8_t> envelope, const VaultContext& context) const {
    const Header header = parse_header(envelope);
    const auto found = ring_.keys_.find(header.key_id);
    if (found == ring_.keys_.end())
        throw VaultError(VaultError::Kind::unknown_key, "envelope was sealed with key " + quoted(header.key_id) +
                                                            ", which is not in the key ring (keys: " + ring_.ids() +
                                                            ")");
    const std::vector<uint8_t> aad = associated_data(context, header.key_id);
    const int aad_length = checked_length(aad.size());
    const uint8_t* nonce = envelope.data() + header.nonce_offset;
    const auto ciphertext = envelope.subspan(header.nonce_offset + kNonceSize,
                                             envelope.size() - header.nonce_offset - kNonceSize - kTagSize);
    // EVP wants a mutable tag pointer; the tag is public, a copy costs nothing.
    std::array<uint8_t, kTagSize> tag{};
    std::copy(envelope.end() - kTagSize, envelope.end(), tag.begin());
    const int ciphertext_length = checked_length(ciphertext.size());

    // GCM writes plaintext before it checks the tag: wipe it on every failure path.
    std::string plaintext(ciphertext.size(), '\0');
    auto* out = reinterpret_cast<uint8_t*>(plaintext.data());
    CipherContext ctx = new_context();
    int written = 0;
    int final_written = 0;
    const bool decrypted =
        EVP_DecryptInit_ex2(ctx.get(), cipher_.get(), found->second.data(), nonce, nullptr) == 1 &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &written, aad.data(), aad_length) == 1 &&
        EVP_DecryptUpdate(ctx.get(), out, &written, ciphertext.data(), ciphertext_length) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), tag.data()) == 1;
    if (!decrypted) {
        wipe(plaintext);
        throw std::runtime_error("vault: AES-256-GCM decryption failed inside OpenSSL");
    }
    if (EVP_DecryptFinal_ex(ctx.get(), out + written, &final_written) != 1) {
        wipe(plaintext);
        throw VaultError(VaultError::Kind::tampered,
                         "envelope sealed with key " + quoted(header.key_id) +
                             " failed authentication: it was altered, or it belongs to another provider, account or "
                             "slot");
    }
    return SecretString(std::move(plaintext));
}

std::string Vault::key_id_of(std::span<const uint8_t> envelope) { return std::string(parse_header(envelope).key_id); }

bool Vault::needs_rewrap(std::span<const uint8_t> envelope) const {
    return parse_header(envelope).key_id != ring_.active_id();
}

}  // namespace ep::kit
