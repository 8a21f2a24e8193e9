// The ID token check against tokens this test signs itself, with an RSA key it generates: every
// claim Google's documentation says to check ("Validating an ID token",
// https://developers.google.com/identity/openid-connect/openid-connect), and the refusals, each
// naming what is wrong without quoting the token.
#include <id_token.hpp>

#include "ep_kit/encoding.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

using ::testing::HasSubstr;
using ::testing::Not;

namespace {

namespace json = boost::json;

constexpr int64_t kNow = 1'796'000'000;
constexpr const char* kClientId = "1234-abc.apps.googleusercontent.com";
constexpr const char* kNonce = "n-0S6_WzA2Mj";

struct Key {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{nullptr, EVP_PKEY_free};
    std::string kid;

    Key(unsigned bits, std::string key_id) : pkey(EVP_RSA_gen(bits), EVP_PKEY_free), kid(std::move(key_id)) {}

    std::string component(const char* name) const {
        BIGNUM* bn = nullptr;
        EXPECT_EQ(EVP_PKEY_get_bn_param(pkey.get(), name, &bn), 1);
        std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
        BN_free(bn);
        return ep::kit::base64url_encode(bytes);
    }
    // A JWK as in Google's https://www.googleapis.com/oauth2/v3/certs.
    json::object jwk() const {
        return {{"kid", kid},
                {"kty", "RSA"},
                {"alg", "RS256"},
                {"use", "sig"},
                {"n", component(OSSL_PKEY_PARAM_RSA_N)},
                {"e", component(OSSL_PKEY_PARAM_RSA_E)}};
    }
    std::string sign(std::string_view input) const {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        std::size_t size = 0;
        EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()), 1);
        EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()),
                                 input.size()),
                  1);
        std::string signature(size, '\0');
        EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                                 reinterpret_cast<const unsigned char*>(input.data()), input.size()),
                  1);
        signature.resize(size);
        return signature;
    }
};

// Generated once: RSA key generation takes a while.
const Key& google_key() {
    static const Key key(2048, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
    return key;
}

std::string jwks(std::initializer_list<const Key*> keys) {
    json::array list;
    for (const Key* k : keys) list.push_back(k->jwk());
    return json::serialize(json::object{{"keys", list}});
}

// The claims of a Google ID token (https://developers.google.com/identity/openid-connect/openid-connect
// "An ID token's payload").
json::object google_claims() {
    return {{"iss", "https://accounts.google.com"},
            {"azp", kClientId},
            {"aud", kClientId},
            {"sub", "110169484474386276334"},
            {"hd", "example.com"},
            {"email", "rita@example.com"},
            {"email_verified", true},
            {"at_hash", "HK6E_P6Dh8Y93mRNtsDB1Q"},
            {"nonce", kNonce},
            {"iat", kNow - 10},
            {"exp", kNow + 3590}};
}

std::string signed_token(const json::object& header, const json::object& claims, const Key& key) {
    std::string input =
        ep::kit::base64url_encode(json::serialize(header)) + "." + ep::kit::base64url_encode(json::serialize(claims));
    return input + "." + ep::kit::base64url_encode(key.sign(input));
}

std::string token(const json::object& claims, const Key& key = google_key(), std::string_view alg = "RS256",
                  std::string_view kid = "") {
    return signed_token({{"alg", alg}, {"kid", kid.empty() ? key.kid : std::string(kid)}, {"typ", "JWT"}}, claims, key);
}

gmail::IdTokenExpectations expected() {
    gmail::IdTokenExpectations e;
    e.client_id = kClientId;
    e.nonce = kNonce;
    e.now_unix_s = kNow;
    return e;
}

gmail::GoogleIdentity verify(const std::string& id_token, const gmail::IdTokenExpectations& e = expected()) {
    return gmail::verify_id_token(id_token, jwks({&google_key()}), e);
}

// Refused, naming `field`, never quoting the token or its claims.
void expect_refused(const std::string& id_token, const std::string& field,
                    const gmail::IdTokenExpectations& e = expected(), std::string jwks_json = "") {
    if (jwks_json.empty()) jwks_json = jwks({&google_key()});
    try {
        gmail::verify_id_token(id_token, jwks_json, e);
        ADD_FAILURE() << "accepted; expected a refusal naming " << field;
    } catch (const ep::sdk::Error& error) {
        EXPECT_EQ(error.field(), field) << error.what();
        EXPECT_EQ(error.code(), "invalid_id_token");
        EXPECT_EQ(error.status(), EP_ERR_INVALID_ARGUMENT);
        for (const char* secret : {"rita@example.com", "110169484474386276334", kNonce, "HK6E_P6Dh8Y93mRNtsDB1Q"})
            EXPECT_THAT(error.what(), Not(HasSubstr(secret)));
        if (id_token.size() > 20) {
            EXPECT_THAT(error.what(), Not(HasSubstr(id_token.substr(0, 20))));
        }
    }
}

}  // namespace

TEST(IdToken, AGoogleTokenGivesTheVerifiedIdentity) {
    const gmail::GoogleIdentity who = verify(token(google_claims()));
    EXPECT_EQ(who.subject, "110169484474386276334");
    EXPECT_EQ(who.email, "rita@example.com");
    EXPECT_EQ(who.hosted_domain, "example.com");
    EXPECT_EQ(who.expires_at, kNow + 3590);
    EXPECT_EQ(who.issued_at, kNow - 10);
}

TEST(IdToken, TheLegacyIssuerAndTheOldStringEmailVerifiedAreGooglesToo) {
    json::object claims = google_claims();
    claims["iss"] = "accounts.google.com";  // both forms: google-auth-library-nodejs oauth2client.ts issuers
    claims["email_verified"] = "true";      // a string in older tokens
    claims.erase("hd");                     // consumer accounts have no hd
    const gmail::GoogleIdentity who = verify(token(claims));
    EXPECT_EQ(who.email, "rita@example.com");
    EXPECT_EQ(who.hosted_domain, "");
}

TEST(IdToken, AStandInIssuerIsAcceptedWhenConfigured) {
    json::object claims = google_claims();
    claims["iss"] = "https://127.0.0.1:8443";
    auto e = expected();
    e.issuer = "https://127.0.0.1:8443";
    EXPECT_EQ(verify(token(claims), e).subject, "110169484474386276334");
    expect_refused(token(claims), "iss");
}

TEST(IdToken, TheKeyIsFoundByKidAmongSeveral) {
    const Key other(2048, "other");
    EXPECT_EQ(gmail::verify_id_token(token(google_claims()), jwks({&other, &google_key()}), expected()).email,
              "rita@example.com");
    // Signed by a key Google's set does not have.
    expect_refused(token(google_claims(), other), "header.kid");
    // Signed by another key under Google's kid: the signature fails.
    expect_refused(token(google_claims(), other, "RS256", google_key().kid), "signature");
}

TEST(IdToken, ATamperedTokenFailsItsSignature) {
    const std::string good = token(google_claims());
    json::object claims = google_claims();
    claims["email"] = "mallory@example.com";
    const std::string forged_payload = ep::kit::base64url_encode(json::serialize(claims));
    const std::size_t first = good.find('.'), second = good.rfind('.');
    expect_refused(good.substr(0, first + 1) + forged_payload + good.substr(second), "signature");
}

// RS256 only: "none" and HMAC with the public key as secret are the classic JWT forgeries (RFC 8725 §2.1).
TEST(IdToken, OnlyRs256IsAccepted) {
    expect_refused(token(google_claims(), google_key(), "none"), "header.alg");
    expect_refused(token(google_claims(), google_key(), "HS256"), "header.alg");
    expect_refused(token(google_claims(), google_key(), "RS512"), "header.alg");
    // RFC 7515 §4.1.11: an extension the check does not know, marked critical.
    expect_refused(signed_token({{"alg", "RS256"}, {"kid", google_key().kid}, {"crit", json::array{"exp"}}, {"exp", 1}},
                                google_claims(), google_key()),
                   "header.crit");
}

TEST(IdToken, EveryClaimIsCheckedAndNamed) {
    auto with = [](const char* name, json::value value) {
        json::object claims = google_claims();
        if (value.is_null())
            claims.erase(name);
        else
            claims[name] = std::move(value);
        return token(claims);
    };
    expect_refused(with("iss", "https://evil.example"), "iss");
    expect_refused(with("iss", nullptr), "iss");
    expect_refused(with("aud", "someone-else.apps.googleusercontent.com"), "aud");
    expect_refused(with("aud", json::array{"someone-else"}), "aud");
    expect_refused(with("exp", kNow - 301), "exp");
    expect_refused(with("exp", nullptr), "exp");
    expect_refused(with("exp", kNow + 2 * 86400), "exp");
    expect_refused(with("iat", nullptr), "iat");
    expect_refused(with("iat", kNow + 3600), "iat");
    expect_refused(with("nonce", "another-nonce"), "nonce");
    expect_refused(with("nonce", nullptr), "nonce");
    expect_refused(with("sub", nullptr), "sub");
    expect_refused(with("email", nullptr), "email");
    expect_refused(with("email_verified", false), "email_verified");
    expect_refused(with("email_verified", "false"), "email_verified");
    expect_refused(with("email_verified", nullptr), "email_verified");

    // Within the 300 s skew (google-auth-library-nodejs CLOCK_SKEW_SECS) an expiry just past is fine.
    EXPECT_NO_THROW(verify(with("exp", kNow - 200)));
    // An audience list naming this client and it as azp
    // (https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation).
    EXPECT_NO_THROW(verify(with("aud", json::array{kClientId, "another"})));
}

TEST(IdToken, ANonceMustHaveBeenSent) {
    auto e = expected();
    e.nonce = "";
    expect_refused(token(google_claims()), "nonce", e);
}

TEST(IdToken, MalformedTokensAndKeySetsAreRefused) {
    for (const std::string& bad :
         std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", std::string(20000, 'a')})
        expect_refused(bad, bad == "e30.e30." ? "header.alg" : "token");
    const std::string good = token(google_claims());
    expect_refused(good, "jwks", expected(), "{}");
    expect_refused(good, "jwks", expected(), R"({"keys":5})");
    json::object ec_key = google_key().jwk();
    ec_key["kty"] = "EC";
    expect_refused(good, "jwks", expected(), json::serialize(json::object{{"keys", json::array{ec_key}}}));
    json::object no_modulus = google_key().jwk();
    no_modulus["n"] = "";
    expect_refused(good, "jwks", expected(), json::serialize(json::object{{"keys", json::array{no_modulus}}}));
}

TEST(IdToken, ShortKeysAreRefused) {
    const Key weak(1024, "weak");
    expect_refused(token(google_claims(), weak), "jwks", expected(), jwks({&weak}));
}
