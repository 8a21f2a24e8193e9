// Discovery and the key sets. Facts: Google's discovery document (snapshot in panva/wellknown
// issuers/google); the PEM map at /oauth2/v1/certs that google-auth-library-nodejs's
// verifyIdToken uses in Node (src/auth/oauth2client.ts).
#include "support.hpp"

namespace gst {
namespace {

class DiscoveryTest : public GoogleSandboxTest {};

TEST_F(DiscoveryTest, DocumentNamesGooglesIssuerAndTheStandInsEndpoints) {
    auto r = get("/.well-known/openid-configuration");
    ASSERT_EQ(r.status, 200);
    auto d = r.json().as_object();
    // The issuer is Google's, not the stand-in's URL: Google's libraries accept only
    // accounts.google.com or https://accounts.google.com (google-auth-library-nodejs, issuers).
    EXPECT_EQ(d.at("issuer").as_string(), "https://accounts.google.com");
    EXPECT_EQ(d.at("authorization_endpoint").as_string(), url("/o/oauth2/v2/auth"));
    EXPECT_EQ(d.at("token_endpoint").as_string(), url("/token"));
    EXPECT_EQ(d.at("revocation_endpoint").as_string(), url("/revoke"));
    EXPECT_EQ(d.at("userinfo_endpoint").as_string(), url("/v1/userinfo"));
    EXPECT_EQ(d.at("jwks_uri").as_string(), url("/oauth2/v3/certs"));
    EXPECT_EQ(d.at("code_challenge_methods_supported"), (json::array{"plain", "S256"}));
    EXPECT_EQ(d.at("token_endpoint_auth_methods_supported"),
              (json::array{"client_secret_post", "client_secret_basic"}));
    EXPECT_EQ(d.at("id_token_signing_alg_values_supported"), (json::array{"RS256"}));
    EXPECT_EQ(d.at("subject_types_supported"), (json::array{"public"}));
    EXPECT_TRUE(d.at("authorization_response_iss_parameter_supported").as_bool());
}

TEST_F(DiscoveryTest, JwksAndPemMapDescribeTheSameKey) {
    auto jwks = get("/oauth2/v3/certs");
    ASSERT_EQ(jwks.status, 200);
    EXPECT_NE(jwks.header("cache-control").find("max-age="), std::string::npos);  // the libraries cache by it
    const auto key = jwks.json().at("keys").at(0).as_object();
    for (const char* member : {"kid", "kty", "alg", "use", "n", "e"}) EXPECT_TRUE(key.contains(member)) << member;
    EXPECT_EQ(key.at("kty").as_string(), "RSA");
    EXPECT_EQ(key.at("alg").as_string(), "RS256");
    EXPECT_EQ(key.at("use").as_string(), "sig");
    EXPECT_EQ(key.at("kid").as_string().size(), 40u);  // Google's kids are 40 hex digits

    auto pem = get("/oauth2/v1/certs");
    ASSERT_EQ(pem.status, 200);
    const auto map = pem.json().as_object();
    ASSERT_EQ(map.size(), 1u);
    ASSERT_TRUE(map.contains(key.at("kid").as_string()));
    EXPECT_EQ(std::string(map.at(key.at("kid").as_string()).as_string()).rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
}

TEST_F(DiscoveryTest, EachRunHasAFreshKey) {
    const auto kid = [this] { return std::string(get("/oauth2/v1/certs").json().as_object().begin()->key()); };
    google_sandbox::Options o;
    o.log_requests = false;
    auto other = std::make_unique<google_sandbox::Sandbox>(o);
    const std::string mine = kid();
    std::swap(sandbox, other);
    const std::string theirs = kid();
    std::swap(sandbox, other);
    EXPECT_EQ(mine.size(), 40u);
    EXPECT_NE(mine, theirs);
}

}  // namespace
}  // namespace gst
