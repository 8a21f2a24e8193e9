// fuzz_google_id_token: gmail::verify_id_token against a fixed JWKS of a test key the harness
// generates at start-up (never a key file).
//
// Input layout: byte 0 picks the mode. Even ('0'): the rest is the token, as it came from the
// token endpoint; almost nothing gets past the signature, so this explores the JWT split, the
// base64url and JSON of the header, and the key lookup. Odd ('1'): the rest is the header JSON,
// a newline, and the claims JSON; the harness signs them with the test key, so the claim checks
// (iss, aud, exp, iat, nonce, sub, email) see every shape the fuzzer makes.
//
// The token comes from the network: the only refusal is ep::sdk::Error(invalid_id_token) naming
// one of the documented fields, in UTF-8, and it never quotes the token or its claims. A token
// that is accepted meets Google's rules ("Validating an ID token",
// https://developers.google.com/identity/openid-connect/openid-connect), and the same token with
// its signature changed is refused.
#include "fuzz_support.hpp"

#include <id_token.hpp>

#include "ep_kit/encoding.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>
#include <set>
#include <string>

namespace {

namespace json = boost::json;

constexpr std::string_view kKid = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
constexpr int64_t kNow = 1'796'000'000;
const gmail::IdTokenExpectations kExpected{"1234-abc.apps.googleusercontent.com", "n-0S6_WzA2Mj", gmail::kGoogleIssuer,
                                           kNow, 300};

// The fields verify_id_token documents (id_token.hpp).
const std::set<std::string> kFields = {
    "token", "header", "header.alg", "header.crit", "header.kid", "jwks",  "signature",      "iss",
    "aud",   "exp",    "iat",        "nonce",       "sub",        "email", "email_verified", "hd"};

struct TestKey {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{EVP_RSA_gen(2048), EVP_PKEY_free};

    std::string component(const char* name) const {
        BIGNUM* bn = nullptr;
        if (EVP_PKEY_get_bn_param(pkey.get(), name, &bn) != 1) fuzz::fail(__FILE__, __LINE__, "RSA key", name);
        std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
        BN_free(bn);
        return ep::kit::base64url_encode(bytes);
    }
    // Google's https://www.googleapis.com/oauth2/v3/certs shape, with a second (rotated) key first.
    std::string jwks() const {
        const std::string n = component(OSSL_PKEY_PARAM_RSA_N), e = component(OSSL_PKEY_PARAM_RSA_E);
        json::array keys;
        for (std::string_view kid : {std::string_view("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"), kKid})
            keys.push_back(
                json::object{{"kid", kid}, {"kty", "RSA"}, {"alg", "RS256"}, {"use", "sig"}, {"n", n}, {"e", e}});
        return json::serialize(json::object{{"keys", std::move(keys)}});
    }
    std::string sign(std::string_view input) const {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        std::size_t size = 0;
        const auto* in = reinterpret_cast<const unsigned char*>(input.data());
        std::string signature;
        if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
            EVP_DigestSign(ctx.get(), nullptr, &size, in, input.size()) != 1 ||
            (signature.resize(size), EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                                                    &size, in, input.size())) != 1)
            fuzz::fail(__FILE__, __LINE__, "RS256 signature", "");
        signature.resize(size);
        return signature;
    }
};

// RSA key generation takes a while: once per process.
const TestKey& test_key() {
    static const TestKey key;
    return key;
}
const std::string& test_jwks() {
    static const std::string jwks = test_key().jwks();
    return jwks;
}

// No 24-byte run of what came in (the token, or the JSON it was made of) is in the message, but
// for the expected issuer, which the message names.
void check_not_quoted(std::string_view message, std::initializer_list<std::string_view> inputs) {
    for (std::string_view input : inputs)
        FUZZ_CHECK(!fuzz::quotes_input(message, input, 24, kExpected.issuer), message);
}

std::optional<gmail::GoogleIdentity> verify(std::string_view token, std::initializer_list<std::string_view> inputs,
                                            std::string* refused_field = nullptr) {
    try {
        return gmail::verify_id_token(token, test_jwks(), kExpected);
    } catch (const ep::sdk::Error& e) {
        FUZZ_CHECK(e.status() == EP_ERR_INVALID_ARGUMENT && e.code() == "invalid_id_token", e.code());
        FUZZ_CHECK(kFields.count(e.field()) == 1, e.field());
        FUZZ_CHECK(fuzz::is_document_safe(e.what()), e.what());
        check_not_quoted(e.what(), inputs);
        if (refused_field) *refused_field = e.field();
        return std::nullopt;
    }
}

std::string claim(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// What an accepted token must be, read again here from the JSON that was signed.
void check_accepted(const gmail::GoogleIdentity& id, std::string_view header, std::string_view payload) {
    const json::object h = json::parse(header).as_object(), p = json::parse(payload).as_object();
    FUZZ_CHECK(claim(h, "alg") == "RS256" && claim(h, "kid") == kKid && !h.contains("crit"), header);
    const std::string iss = claim(p, "iss");
    FUZZ_CHECK(iss == "https://accounts.google.com" || iss == "accounts.google.com", iss);
    FUZZ_CHECK(claim(p, "nonce") == kExpected.nonce, payload);
    FUZZ_CHECK(!id.subject.empty() && id.subject == claim(p, "sub") && !id.email.empty(), payload);
    FUZZ_CHECK(id.issued_at <= kNow + 300 && id.expires_at >= kNow - 300 && id.expires_at <= kNow + 24 * 3600,
               std::to_string(id.issued_at) + " " + std::to_string(id.expires_at));
}

void signed_claims(std::string_view input) {
    const std::size_t newline = input.find('\n');
    if (newline == std::string_view::npos) return;
    const std::string_view header = input.substr(0, newline), payload = input.substr(newline + 1);
    const std::string signing_input = ep::kit::base64url_encode(header) + "." + ep::kit::base64url_encode(payload);
    std::string signature = test_key().sign(signing_input);
    const std::optional<gmail::GoogleIdentity> id =
        verify(signing_input + "." + ep::kit::base64url_encode(signature), {header, payload});
    if (!id) return;
    check_accepted(*id, header, payload);
    signature[signature.size() / 2] ^= 0x01;
    std::string refused;
    FUZZ_CHECK(!verify(signing_input + "." + ep::kit::base64url_encode(signature), {header, payload}, &refused) &&
                   refused == "signature",
               refused);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest = fuzz::as_text(data + 1, size - 1);
    if (data[0] & 1) {
        signed_claims(rest);
    } else {
        // Not signed by the test key: nothing can be accepted.
        FUZZ_CHECK(!verify(rest, {rest}), rest);
    }
    return 0;
}
