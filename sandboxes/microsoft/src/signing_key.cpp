#include "common.hpp"

#include <boost/json/array.hpp>

namespace ms_sandbox::detail {

const sandbox::SigningKey& signing_key() {
    static const sandbox::SigningKey key("accounts.sandbox.invalid");  // thread-safe initialisation
    return key;
}

std::string signing_kid() { return signing_key().x5t(); }

boost::json::object signing_jwk() {
    const auto& key = signing_key();
    boost::json::object jwk;
    jwk["kty"] = "RSA";
    jwk["use"] = "sig";
    jwk["kid"] = signing_kid();
    jwk["x5t"] = key.x5t();
    jwk["n"] = key.modulus_b64url();
    jwk["e"] = key.exponent_b64url();
    jwk["x5c"] = boost::json::array{base64_encode(key.certificate_der())};
    return jwk;
}

}  // namespace ms_sandbox::detail
