#include "id_token.hpp"

#include "ep_kit/encoding.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <optional>
#include <stdexcept>

namespace gmail {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

// Google's ID tokens are about 1 KB; its JWKS document holds two or three keys.
constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr std::size_t kMaxJwksBytes = 64 * 1024;
// google-auth-library-nodejs loginticket MAX_TOKEN_LIFETIME_SECS: Google's tokens live an hour,
// so an expiry more than a day ahead is not Google's.
constexpr int64_t kMaxTokenLifetimeSeconds = 24 * 3600;
// Google's keys are 2048-bit RSA; smaller ones are forgeable (NIST SP 800-131A).
constexpr int kMinRsaBits = 2048;

[[noreturn]] void refuse(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_id_token", "the ID token " + what, field);
}

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBuildPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

std::optional<std::string> base64url(std::string_view text) {
    try {
        return base64url_decode(text);
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

std::optional<json::object> json_object(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

std::string string_member(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

std::optional<int64_t> number_member(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64() && it->value().as_uint64() <= static_cast<uint64_t>(INT64_MAX))
        return static_cast<int64_t>(it->value().as_uint64());
    if (it->value().is_double() && it->value().as_double() >= 0 && it->value().as_double() < 1e15)
        return static_cast<int64_t>(it->value().as_double());
    return std::nullopt;
}

struct Jwt {
    json::object header;
    json::object payload;
    std::string_view signing_input;  // "<header>.<payload>", as signed
    std::string signature;
};

// RFC 7515 §7.1: three base64url parts separated by dots.
Jwt split(std::string_view token) {
    if (token.empty() || token.size() > kMaxTokenBytes) refuse("token", "is empty or too long");
    const std::size_t first = token.find('.');
    const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
        refuse("token", "is not a signed JWT (three base64url parts separated by dots)");
    Jwt jwt;
    std::optional<std::string> header = base64url(token.substr(0, first));
    std::optional<std::string> payload = base64url(token.substr(first + 1, second - first - 1));
    std::optional<std::string> signature = base64url(token.substr(second + 1));
    if (!header || !payload || !signature) refuse("token", "has a part that is not base64url");
    std::optional<json::object> h = json_object(*header), p = json_object(*payload);
    if (!h) refuse("header", "header is not a JSON object");
    if (!p) refuse("token", "payload is not a JSON object");
    jwt.header = std::move(*h);
    jwt.payload = std::move(*p);
    jwt.signing_input = token.substr(0, second);
    jwt.signature = std::move(*signature);
    return jwt;
}

// n and e (big-endian, RFC 7518 §6.3.1) into an OpenSSL 3 public key.
PkeyPtr rsa_public_key(const std::string& n, const std::string& e) {
    BignumPtr modulus(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
    BignumPtr exponent(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
    ParamBuildPtr build(OSSL_PARAM_BLD_new());
    if (!modulus || !exponent || !build ||
        OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1)
        throw std::runtime_error("OpenSSL could not build an RSA key");
    ParamsPtr params(OSSL_PARAM_BLD_to_param(build.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        refuse("jwks", "names a signing key that is not a valid RSA public key");
    PkeyPtr pkey(key);
    if (EVP_PKEY_get_bits(pkey.get()) < kMinRsaBits) refuse("jwks", "names a signing key shorter than 2048 bits");
    return pkey;
}

// The public key the JWKS document names `kid`: RSA, for signatures, RS256 (RFC 7518 §6.3.1).
PkeyPtr key_for(std::string_view jwks_json, const std::string& kid) {
    if (jwks_json.size() > kMaxJwksBytes) refuse("jwks", "cannot be checked: the key set is too large");
    std::optional<json::object> jwks = json_object(jwks_json);
    const json::value* keys = jwks ? jwks->if_contains("keys") : nullptr;
    if (keys == nullptr || !keys->is_array()) refuse("jwks", "cannot be checked: the key set has no \"keys\" array");
    for (const json::value& k : keys->as_array()) {
        if (!k.is_object() || string_member(k.as_object(), "kid") != kid) continue;
        const json::object& key = k.as_object();
        if (string_member(key, "kty") != "RSA" || (key.contains("alg") && string_member(key, "alg") != "RS256") ||
            (key.contains("use") && string_member(key, "use") != "sig"))
            refuse("jwks", "names a signing key that is not an RS256 signature key");
        std::optional<std::string> n = base64url(string_member(key, "n"));
        std::optional<std::string> e = base64url(string_member(key, "e"));
        if (!n || !e || n->empty() || e->empty()) refuse("jwks", "names a signing key without a valid \"n\" and \"e\"");
        return rsa_public_key(*n, *e);
    }
    refuse("header.kid", "is signed by a key that is not in Google's current key set (rotated, or not Google's)");
}

// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3) over "<header>.<payload>".
void check_signature(const Jwt& jwt, EVP_PKEY* key) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1)
        throw std::runtime_error("OpenSSL could not start a signature check");
    const int verdict =
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(jwt.signature.data()), jwt.signature.size(),
                         reinterpret_cast<const unsigned char*>(jwt.signing_input.data()), jwt.signing_input.size());
    if (verdict != 1) refuse("signature", "signature does not verify with Google's key");
}

void check_issuer_and_audience(const json::object& claims, const IdTokenExpectations& expected) {
    const std::string iss = string_member(claims, "iss");
    std::string_view bare_issuer = expected.issuer;
    if (bare_issuer.starts_with("https://")) bare_issuer.remove_prefix(8);
    if (iss.empty() || (iss != expected.issuer && iss != bare_issuer))
        refuse("iss", "was not issued by " + std::string(expected.issuer));
    // Google's `aud` is the client id (a string); OpenID Connect Core 1.0
    // (https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation) allows an array, which must then
    // contain the client id and name it as `azp`.
    auto aud = claims.find("aud");
    bool ours = false;
    if (aud != claims.end() && aud->value().is_string()) ours = aud->value().as_string() == expected.client_id;
    if (aud != claims.end() && aud->value().is_array())
        for (const json::value& a : aud->value().as_array())
            ours = ours || (a.is_string() && a.as_string() == expected.client_id &&
                            string_member(claims, "azp") == expected.client_id);
    if (!ours) refuse("aud", "is for another application (its audience is not this app's client id)");
}

void check_times(const json::object& claims, const IdTokenExpectations& expected, GoogleIdentity& identity) {
    std::optional<int64_t> exp = number_member(claims, "exp"), iat = number_member(claims, "iat");
    if (!iat) refuse("iat", "has no issue time (iat)");
    if (!exp) refuse("exp", "has no expiry time (exp)");
    const int64_t now = expected.now_unix_s, skew = expected.clock_skew_s;
    if (*iat > now + skew) refuse("iat", "was issued in the future: check this server's clock");
    if (*exp < now - skew) refuse("exp", "has expired");
    if (*exp > now + kMaxTokenLifetimeSeconds)
        refuse("exp", "expires more than a day from now, which Google never does");
    identity.issued_at = *iat;
    identity.expires_at = *exp;
}

void check_nonce(const json::object& claims, const IdTokenExpectations& expected) {
    if (expected.nonce.empty()) refuse("nonce", "cannot be checked: no nonce was sent with this sign-in");
    const std::string nonce = string_member(claims, "nonce");
    if (nonce.size() != expected.nonce.size() || CRYPTO_memcmp(nonce.data(), expected.nonce.data(), nonce.size()) != 0)
        refuse("nonce", "nonce is not the one sent with this sign-in (a replayed or foreign token)");
}

// `email_verified` is a boolean, or the string "true" in older tokens.
bool email_verified(const json::object& claims) {
    auto it = claims.find("email_verified");
    if (it == claims.end()) return false;
    return it->value().is_bool() ? it->value().as_bool() : it->value().is_string() && it->value().as_string() == "true";
}

GoogleIdentity read_identity(const json::object& claims) {
    GoogleIdentity identity;
    identity.subject = string_member(claims, "sub");
    if (identity.subject.empty() || !ep::sdk::is_valid_utf8(identity.subject)) refuse("sub", "has no subject (sub)");
    identity.email = string_member(claims, "email");
    if (identity.email.empty() || !ep::sdk::is_valid_utf8(identity.email))
        refuse("email", "has no email address (was the email scope granted?)");
    if (!email_verified(claims)) refuse("email_verified", "says the email address is not verified");
    identity.hosted_domain = string_member(claims, "hd");
    if (!ep::sdk::is_valid_utf8(identity.hosted_domain)) refuse("hd", "has a hosted domain that is not UTF-8");
    return identity;
}

}  // namespace

GoogleIdentity verify_id_token(std::string_view id_token, std::string_view jwks_json,
                               const IdTokenExpectations& expected) {
    const Jwt jwt = split(id_token);
    // RS256 only (Google's discovery: id_token_signing_alg_values_supported); never "none" or HS256.
    if (string_member(jwt.header, "alg") != "RS256") refuse("header.alg", "is not signed with RS256");
    // RFC 7515 §4.1.11: a critical extension that is not understood makes the token invalid.
    if (jwt.header.contains("crit")) refuse("header.crit", "has critical header extensions this check does not know");
    const std::string kid = string_member(jwt.header, "kid");
    if (kid.empty()) refuse("header.kid", "does not name its signing key (kid)");
    PkeyPtr key = key_for(jwks_json, kid);
    check_signature(jwt, key.get());
    check_issuer_and_audience(jwt.payload, expected);
    GoogleIdentity identity = read_identity(jwt.payload);
    check_times(jwt.payload, expected, identity);
    check_nonce(jwt.payload, expected);
    return identity;
}

}  // namespace gmail
