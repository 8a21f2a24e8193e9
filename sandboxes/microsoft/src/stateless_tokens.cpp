// Stateless bulk tokens: minting and verification (format in stateless_tokens.hpp).
#include "stateless_tokens.hpp"

#include "common.hpp"
#include "service.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace ms_sandbox::detail {

namespace {

constexpr std::string_view kMark = "sl1.";
constexpr std::size_t kMacB64 = 43;  // base64url of 32 bytes, unpadded

void put_int(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_str(std::string& out, std::string_view s) {
    if (s.size() > 255) throw std::invalid_argument("stateless token field longer than 255 bytes");
    out += static_cast<char>(s.size());
    out += s;
}

struct Reader {
    std::string_view in;
    bool ok = true;
    std::uint64_t get_int(int bytes) {
        if (in.size() < static_cast<std::size_t>(bytes)) {
            ok = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
        in.remove_prefix(static_cast<std::size_t>(bytes));
        return v;
    }
    std::string get_str() {
        const auto n = static_cast<std::size_t>(get_int(1));
        if (!ok || in.size() < n) {
            ok = false;
            return {};
        }
        std::string s(in.substr(0, n));
        in.remove_prefix(n);
        return s;
    }
};

std::string hmac(const std::string& key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
        throw std::runtime_error("HMAC failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

// `n` characters of the base64url alphabet from a splitmix64 stream seeded by the MAC.
void append_padding(std::string& out, std::string_view mac, std::size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::uint64_t state = 0;
    for (int i = 0; i < 8; ++i) state = (state << 8) | static_cast<unsigned char>(mac[static_cast<std::size_t>(i)]);
    const std::size_t at = out.size();
    out.resize(at + n);
    char* p = out.data() + at;
    std::size_t i = 0;
    while (i < n) {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        for (int k = 0; k < 10 && i < n; ++k, ++i, z >>= 6) p[i] = alphabet[z & 63];  // 10 six-bit symbols a word
    }
}

std::string scope_text(const ScopeList& scopes) {
    std::string s;
    for (const auto& sc : scopes) s += (s.empty() ? "" : " ") + sc;
    return s;
}

}  // namespace

std::string stateless_key() {
    std::string key(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return key;
}

bool looks_stateless(std::string_view token) { return token.substr(0, kMark.size()) == kMark; }

std::string stateless_batch_mark(std::string_view token) {
    return std::string(token.substr(0, kMark.size() + 32));  // 24 bytes = 32 base64url characters
}

std::string mint_stateless(const std::string& key, const StatelessToken& t, std::size_t length) {
    std::string payload;
    payload.reserve(64 + t.client_id.size() + t.tenant_id.size() + t.prefix.size() + 64);
    put_int(payload, static_cast<std::uint8_t>(t.kind), 1);
    put_int(payload, t.qualified ? 1 : 0, 1);
    const std::size_t length_at = payload.size();
    put_int(payload, 0, 2);  // total length, filled in below
    put_int(payload, t.generation, 4);
    put_int(payload, static_cast<std::uint64_t>(t.issued), 8);
    put_int(payload, static_cast<std::uint64_t>(t.expires), 8);
    put_int(payload, t.number, 8);
    put_str(payload, t.client_id);
    put_str(payload, t.tenant_id);
    put_str(payload, t.prefix);
    put_str(payload, scope_text(t.scopes));
    const std::size_t fixed = kMark.size() + 4 * ((payload.size() + 2) / 3) + 1 + kMacB64 + 1;
    const std::size_t total = std::min<std::size_t>(std::max(length, fixed), 65535);
    payload[length_at] = static_cast<char>(total >> 8);
    payload[length_at + 1] = static_cast<char>(total & 0xff);

    std::string out;
    out.reserve(total);
    out += kMark;
    out += base64url_encode(payload);
    const std::string mac = hmac(key, out);
    out += '.';
    out += base64url_encode(mac);
    out += '.';
    if (total > out.size()) append_padding(out, mac, total - out.size());
    return out;
}

std::optional<StatelessToken> verify_stateless(const std::string& key, std::string_view token) {
    if (!looks_stateless(token)) return std::nullopt;
    const auto dot1 = token.find('.', kMark.size());
    if (dot1 == std::string_view::npos || token.size() < dot1 + 1 + kMacB64 + 1 || token[dot1 + 1 + kMacB64] != '.')
        return std::nullopt;
    const std::string mac = hmac(key, token.substr(0, dot1));
    const std::string mac_b64 = base64url_encode(mac);
    if (CRYPTO_memcmp(mac_b64.data(), token.data() + dot1 + 1, kMacB64) != 0) return std::nullopt;
    // The MAC matches: the payload is ours. Length and padding must match too (truncation, edits).
    auto payload = base64url_decode(token.substr(kMark.size(), dot1 - kMark.size()));
    if (!payload) return std::nullopt;
    Reader r{*payload};
    StatelessToken t;
    const auto kind = r.get_int(1);
    if (kind != 'A' && kind != 'R') return std::nullopt;
    t.kind = static_cast<StatelessToken::Kind>(kind);
    t.qualified = (r.get_int(1) & 1) != 0;
    const auto total = static_cast<std::size_t>(r.get_int(2));
    t.generation = static_cast<std::uint32_t>(r.get_int(4));
    t.issued = static_cast<std::int64_t>(r.get_int(8));
    t.expires = static_cast<std::int64_t>(r.get_int(8));
    t.number = r.get_int(8);
    t.client_id = r.get_str();
    t.tenant_id = r.get_str();
    t.prefix = r.get_str();
    const std::string scopes = r.get_str();
    if (!r.ok || !r.in.empty() || total != token.size()) return std::nullopt;
    const std::size_t pad_at = dot1 + 1 + kMacB64 + 1;
    std::string expected_pad;
    append_padding(expected_pad, mac, token.size() - pad_at);
    if (token.substr(pad_at) != expected_pad) return std::nullopt;
    for (std::size_t pos = 0; pos < scopes.size();) {
        auto end = scopes.find(' ', pos);
        if (end == std::string::npos) end = scopes.size();
        if (end > pos) t.scopes.push_back(scopes.substr(pos, end - pos));
        pos = end + 1;
    }
    std::copy_n(reinterpret_cast<const unsigned char*>(mac.data()), t.id.size(), t.id.begin());
    return t;
}

User bulk_work_user(const Settings& settings, const Tenant& tenant, const std::string& upn) {
    User u;
    u.upn = upn;
    u.display_name = upn;
    u.given_name = upn.substr(0, upn.find('@'));
    u.mail = upn;
    u.tenant_id = tenant.id;
    u.id = guid_from_name(upn);
    u.limits = settings.mailbox_limits;
    return u;
}

std::optional<std::string> stateless_upn(Service& svc, const StatelessToken& t) {
    const Tenant* tenant = svc.state.scenario.tenant_by_id_or_domain(t.tenant_id);
    if (!tenant || tenant->consumers) return std::nullopt;
    return t.prefix + std::to_string(t.number) + "@" + tenant->domain;
}

std::optional<User> stateless_user(Service& svc, const StatelessToken& t) {
    auto upn = stateless_upn(svc, t);
    if (!upn) return std::nullopt;
    return bulk_work_user(svc.state.scenario.settings, *svc.state.scenario.tenant_by_id_or_domain(t.tenant_id), *upn);
}

}  // namespace ms_sandbox::detail
