// OpenSSL-backed primitives shared by the stand-ins: randomness, digests, base64, RSA signing
// (id_tokens) and certificate-based signature verification (client assertions).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sandbox {

// `length` random characters from [A-Za-z0-9_-]; every issued secret goes through this.
std::string random_urlsafe(std::size_t length);

// Appends a secret a stand-in handed out (a code, a token) to the file the environment variable
// SANDBOX_ISSUED_FILE names, when it names one, so that a whole test run's output can be searched
// for every secret any stand-in issued (scripts/check-no-secrets.sh). Thread-safe.
void record_issued_secret(const std::string& secret);
// Random RFC 4122 v4 GUID, lower case.
std::string random_guid();
// Deterministic GUID-shaped / 16-hex identifiers derived from a name (stable ids for scenario
// users that do not set one).
std::string guid_from_name(std::string_view name);
std::string hex16_from_name(std::string_view name);

std::string to_hex(std::string_view raw);   // lower case
std::string sha256(std::string_view data);  // raw 32 bytes
std::string sha1(std::string_view data);    // raw 20 bytes

std::string base64_encode(std::string_view raw);
// Strict RFC 4648 base64 (padding required, no whitespace); nullopt if invalid.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view raw);  // no padding
// Accepts unpadded (JWT style) and padded base64url; nullopt if invalid.
std::optional<std::string> base64url_decode(std::string_view text);

// A token-signing key: RSA 2048 with a self-signed certificate (for a JWKS x5c or a PEM key map).
// Each stand-in decides how its key set names and shapes the key (kid, JWK members).
class SigningKey {
public:
    // Generates a fresh key; slow under sanitizers, so stand-ins keep one per process or instance.
    explicit SigningKey(std::string_view subject_common_name);
    ~SigningKey();
    SigningKey(const SigningKey&) = delete;
    SigningKey& operator=(const SigningKey&) = delete;

    std::string sign_rs256(std::string_view data) const;  // raw signature bytes
    const std::string& certificate_der() const { return certificate_der_; }
    std::string certificate_pem() const;  // "-----BEGIN CERTIFICATE-----\n...", 64-column lines
    std::string x5t() const;              // base64url SHA-1 of the certificate's DER
    std::string modulus_b64url() const;   // the JWK "n"
    std::string exponent_b64url() const;  // the JWK "e"

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string certificate_der_;
};

// An X.509 certificate registered on a confidential app.
class Certificate {
public:
    // Nullopt if the file is missing or not a PEM certificate.
    static std::optional<Certificate> load(const std::filesystem::path& pem_file);
    Certificate(Certificate&&) noexcept;
    Certificate& operator=(Certificate&&) noexcept;
    ~Certificate();

    const std::string& x5t() const { return x5t_; }            // base64url SHA-1 of the DER
    const std::string& x5t_s256() const { return x5t_s256_; }  // base64url SHA-256 of the DER
    // alg: "RS256" (PKCS#1 v1.5) or "PS256" (PSS, MGF1-SHA256, salt length = 32 per RFC 7518).
    bool verify(std::string_view alg, std::string_view signed_data, std::string_view signature) const;

private:
    Certificate();
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string x5t_, x5t_s256_;
};

}  // namespace sandbox
