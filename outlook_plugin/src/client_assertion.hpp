// Signed client assertions (RFC 7523 JWT bearer) for confidential clients that
// authenticate with a certificate instead of a secret: PS256 with an x5t#S256 thumbprint
// (Microsoft's current guidance) or RS256 with x5t (the older form), per
// outlook_plugin/docs/microsoft-behaviour.md §2b.
#pragma once

#include "config.hpp"

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace outlook {

class ClientAssertionSigner {
public:
    // Throws ep::sdk::Error(EP_ERR_CONFIG) naming `field` when the certificate or key cannot
    // be read, is not RSA, or the key does not belong to the certificate.
    ClientAssertionSigner(std::string_view certificate_pem, std::string_view private_key_pem,
                          AssertionAlgorithm algorithm, const std::string& field);
    ~ClientAssertionSigner();

    // A fresh assertion: aud = the token endpoint, iss = sub = client id, a unique jti,
    // nbf = iat = now, exp = now + 10 minutes.
    std::string sign(std::string_view client_id, std::string_view token_endpoint, int64_t now_unix_ms) const;

private:
    AssertionAlgorithm algorithm_;
    std::string header_b64_;  // constant per certificate
    EVP_PKEY* key_ = nullptr;
};

}  // namespace outlook
