#include "sandbox/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace sandbox {

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const { BN_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string digest(const EVP_MD* md, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1)
        throw std::runtime_error("EVP_Digest failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string format_guid(std::string h) {  // 32 hex chars -> 8-4-4-4-12
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
           h.substr(20, 12);
}

std::string der_of(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) throw std::runtime_error("i2d_X509 failed");
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(cert, &p);
    return der;
}

std::string bn_bytes(const BIGNUM* bn) {
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

}  // namespace

std::string to_hex(std::string_view raw) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string random_urlsafe(std::size_t length) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::vector<unsigned char> raw(length);
    if (length > 0 && RAND_bytes(raw.data(), static_cast<int>(length)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    std::string out(length, 'A');
    for (std::size_t i = 0; i < length; ++i) out[i] = alphabet[raw[i] & 63];  // 64 symbols: no bias
    return out;
}

void record_issued_secret(const std::string& secret) {
    static const char* file = std::getenv("SANDBOX_ISSUED_FILE");
    if (file == nullptr || *file == '\0') return;
    static std::mutex file_mutex;  // several stand-ins may live in one process
    std::lock_guard lock(file_mutex);
    std::ofstream(file, std::ios::app) << secret << '\n';
}

std::string random_guid() {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
    raw[6] = static_cast<unsigned char>((raw[6] & 0x0f) | 0x40);
    raw[8] = static_cast<unsigned char>((raw[8] & 0x3f) | 0x80);
    return format_guid(to_hex(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)));
}

std::string guid_from_name(std::string_view name) {
    std::string h = to_hex(sha256(name)).substr(0, 32);
    h[12] = '5';  // name-based
    return format_guid(h);
}

std::string hex16_from_name(std::string_view name) { return to_hex(sha256(name)).substr(0, 16); }

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }
std::string sha1(std::string_view data) { return digest(EVP_sha1(), data); }

std::string base64_encode(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(raw), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=') {
            if (i + 2 < text.size()) return std::nullopt;  // '=' only in the last two positions
            ++pad;
        } else if (!alpha || pad > 0) {
            return std::nullopt;
        }
    }
    if (text.empty()) return std::string();
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(text), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);  // EVP_DecodeBlock counts padding as zeros
    return out;
}

std::string base64url_encode(std::string_view raw) {
    std::string s = base64_encode(raw);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (char& c : s) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    return s;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    std::string s(text);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (char& c : s) {
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/')
            return std::nullopt;
    }
    if (s.size() % 4 == 1) return std::nullopt;
    while (s.size() % 4 != 0) s += '=';
    return base64_decode(s);
}

// ---------------------------------------------------------------------------------------------

struct SigningKey::Impl {
    PkeyPtr key;
    X509Ptr cert;
};

SigningKey::SigningKey(std::string_view subject_common_name) : impl_(std::make_unique<Impl>()) {
    impl_->key.reset(EVP_RSA_gen(2048));
    if (!impl_->key) throw std::runtime_error("RSA key generation failed");
    impl_->cert.reset(X509_new());
    X509* c = impl_->cert.get();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 10L * 365 * 24 * 3600);
    X509_set_pubkey(c, impl_->key.get());
    X509_NAME* name = X509_get_subject_name(c);
    const std::string cn(subject_common_name);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, bytes(cn), -1, -1, 0);
    X509_set_issuer_name(c, name);
    if (X509_sign(c, impl_->key.get(), EVP_sha256()) == 0)
        throw std::runtime_error("self-signing the token key failed");
    certificate_der_ = der_of(c);
}

SigningKey::~SigningKey() = default;

std::string SigningKey::sign_rs256(std::string_view data) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, bytes(data), data.size()) != 1)
        throw std::runtime_error("RS256 signing failed");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes(data), data.size()) != 1)
        throw std::runtime_error("RS256 signing failed");
    sig.resize(len);
    return sig;
}

std::string SigningKey::certificate_pem() const {
    const std::string body = base64_encode(certificate_der_);
    std::string pem = "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
    return pem + "-----END CERTIFICATE-----\n";
}

std::string SigningKey::x5t() const { return base64url_encode(sha1(certificate_der_)); }

namespace {
std::string rsa_param_b64url(EVP_PKEY* key, const char* param) {
    BIGNUM* value = nullptr;
    EVP_PKEY_get_bn_param(key, param, &value);
    const std::unique_ptr<BIGNUM, BnFree> owned(value);
    return value ? base64url_encode(bn_bytes(value)) : "";
}
}  // namespace

std::string SigningKey::modulus_b64url() const { return rsa_param_b64url(impl_->key.get(), "n"); }
std::string SigningKey::exponent_b64url() const { return rsa_param_b64url(impl_->key.get(), "e"); }

// ---------------------------------------------------------------------------------------------

struct Certificate::Impl {
    X509Ptr cert;
};

Certificate::Certificate() : impl_(std::make_unique<Impl>()) {}
Certificate::Certificate(Certificate&&) noexcept = default;
Certificate& Certificate::operator=(Certificate&&) noexcept = default;
Certificate::~Certificate() = default;

std::optional<Certificate> Certificate::load(const std::filesystem::path& pem_file) {
    std::FILE* f = std::fopen(pem_file.c_str(), "rb");
    if (!f) return std::nullopt;
    X509* raw = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!raw) {
        ERR_clear_error();
        return std::nullopt;
    }
    Certificate c;
    c.impl_->cert.reset(raw);
    const std::string der = der_of(raw);
    c.x5t_ = base64url_encode(sha1(der));
    c.x5t_s256_ = base64url_encode(sha256(der));
    return c;
}

bool Certificate::verify(std::string_view alg, std::string_view signed_data, std::string_view signature) const {
    EVP_PKEY* pub = X509_get0_pubkey(impl_->cert.get());
    if (!pub) return false;
    MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pub) != 1) {
        ERR_clear_error();
        return false;
    }
    if (alg == "PS256") {
        // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash. OpenSSL's own signing
        // default is the maximum salt length, which strict verifiers reject: so do we.
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
            ERR_clear_error();
            return false;
        }
    } else if (alg != "RS256") {
        return false;
    }
    const bool ok =
        EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signed_data), signed_data.size()) == 1;
    // A failed verification leaves errors in this thread's OpenSSL queue; Asio's TLS engine on the
    // same I/O thread would otherwise read them as its own.
    ERR_clear_error();
    return ok;
}

}  // namespace sandbox
