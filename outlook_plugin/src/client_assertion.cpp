#include "client_assertion.hpp"

#include "ep_kit/encoding.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

namespace outlook {
namespace {

using ep::sdk::Error;

[[noreturn]] void config_error(const std::string& field, const std::string& what) {
    throw Error(EP_ERR_CONFIG, "invalid_config", field + " " + what, field);
}

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
    void operator()(X509* x) const { X509_free(x); }
};

std::unique_ptr<BIO, BioDeleter> memory_bio(std::string_view pem) {
    return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

ClientAssertionSigner::ClientAssertionSigner(std::string_view certificate_pem, std::string_view private_key_pem,
                                             AssertionAlgorithm algorithm, const std::string& field)
    : algorithm_(algorithm) {
    auto cert_bio = memory_bio(certificate_pem);
    std::unique_ptr<X509, X509Deleter> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!cert) config_error(field + ".certificate_file", "does not contain a PEM certificate");
    auto key_bio = memory_bio(private_key_pem);
    key_ = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
    if (!key_) config_error(field + ".private_key_file", "does not contain an unencrypted PEM private key");
    if (EVP_PKEY_get_base_id(key_) != EVP_PKEY_RSA) config_error(field + ".private_key_file", "must be an RSA key");
    if (X509_check_private_key(cert.get(), key_) != 1)
        config_error(field + ".private_key_file", "does not belong to the certificate in certificate_file");

    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert.get(), &der);
    if (der_len <= 0) config_error(field + ".certificate_file", "cannot be encoded");
    std::string der_bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len));
    OPENSSL_free(der);

    boost::json::object header{{"typ", "JWT"}};
    if (algorithm == AssertionAlgorithm::ps256) {
        header["alg"] = "PS256";
        header["x5t#S256"] = base64url_encode(sha256(der_bytes));
    } else {
        header["alg"] = "RS256";
        header["x5t"] = base64url_encode(sha1(der_bytes));
    }
    header_b64_ = base64url_encode(boost::json::serialize(header));
}

ClientAssertionSigner::~ClientAssertionSigner() { EVP_PKEY_free(key_); }

std::string ClientAssertionSigner::sign(std::string_view client_id, std::string_view token_endpoint,
                                        int64_t now_unix_ms) const {
    int64_t now = now_unix_ms / 1000;
    boost::json::object claims{{"aud", token_endpoint}, {"iss", client_id}, {"sub", client_id},
                               {"jti", random_uuid()},  {"nbf", now},       {"iat", now},
                               {"exp", now + 600}};
    std::string signing_input = header_b64_ + "." + base64url_encode(boost::json::serialize(claims));

    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = ctx && EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nullptr, key_) == 1;
    if (ok && algorithm_ == AssertionAlgorithm::ps256) {
        // RFC 7518 §3.5: PSS with MGF1-SHA-256 and a salt as long as the hash.
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
    }
    std::size_t sig_len = 0;
    ok = ok && EVP_DigestSign(ctx, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                              signing_input.size()) == 1;
    std::string sig(sig_len, '\0');
    ok = ok && EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) throw Error(EP_ERR_INTERNAL, "signing_failed", "could not sign the client assertion");
    sig.resize(sig_len);
    return signing_input + "." + base64url_encode(sig);
}

}  // namespace outlook
