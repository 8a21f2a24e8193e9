// Google's ID token (an RS256 JWT, RFC 7519 / RFC 7515) verified against Google's JWKS document
// (RFC 7517), as https://developers.google.com/identity/openid-connect/openid-connect ("Validating
// an ID token") says: the signature by the key named in `kid`, `iss`, `aud`, `exp`; and, because
// this app sends one, `nonce`. The claims and their checks follow google-auth-library-nodejs
// (src/auth/oauth2client.ts verifySignedJwtWithCertsAsync, src/auth/loginticket.ts).
#pragma once

#include "google_oauth.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gmail {

struct IdTokenExpectations {
    std::string_view client_id;  // `aud` must be it
    std::string_view nonce;      // as sent in the authorization URL; must not be empty
    // Google writes either form of its issuer (discovery's `issuer`, and the legacy host name):
    // `issuer` and `issuer` without its "https://" are both accepted.
    std::string_view issuer = kGoogleIssuer;
    int64_t now_unix_s = 0;
    int64_t clock_skew_s = 300;  // google-auth-library-nodejs CLOCK_SKEW_SECS
};

// Who signed in. `subject` is the stable key of the account; the email can change.
struct GoogleIdentity {
    std::string subject;        // sub
    std::string email;          // verified (email_verified)
    std::string hosted_domain;  // hd: the Workspace domain; empty for consumer accounts
    int64_t issued_at = 0;      // iat
    int64_t expires_at = 0;     // exp
};

// Verifies `id_token` against `jwks_json` ({"keys":[{"kid","kty":"RSA","alg":"RS256","use":"sig","n","e"}]}).
// Throws ep::sdk::Error(EP_ERR_INVALID_ARGUMENT, "invalid_id_token") whose message says what is wrong and
// whose field() names it ("token", "header", "header.alg", "header.crit", "header.kid", "jwks", "signature", "iss",
// "aud", "exp", "iat", "nonce", "sub", "email", "email_verified", "hd"); neither ever quotes the token or its claims.
GoogleIdentity verify_id_token(std::string_view id_token, std::string_view jwks_json,
                               const IdTokenExpectations& expected);

}  // namespace gmail
