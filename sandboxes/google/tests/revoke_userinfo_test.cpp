// /revoke and /v1/userinfo. Facts: https://developers.google.com/identity/protocols/oauth2/web-server
// ("Revoking a token": POST ?token=, 200, removes the whole grant); googleapis/google-api-ruby-client#796
// (400 for a dead token; revoking an access token ends its refresh token too); the userinfo
// endpoint and its claims in https://developers.google.com/identity/openid-connect/openid-connect.
#include "support.hpp"

#include <iostream>
#include <sstream>

namespace gst {
namespace {

class RevokeTest : public GoogleSandboxTest {};

TEST_F(RevokeTest, RevokingTheRefreshTokenEndsTheGrant) {
    auto t = sign_in(kGrace);
    const std::string rt(t.at("refresh_token").as_string()), at(t.at("access_token").as_string());
    auto r =
        request("POST", "/revoke?token=" + url_escape(rt), "", {"Content-Type: application/x-www-form-urlencoded"});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(refresh(rt).json().at("error").as_string(), "invalid_grant");
    EXPECT_EQ(get("/v1/userinfo", {"Authorization: Bearer " + at}).status, 401);  // its access tokens too
    EXPECT_EQ(sandbox->dead_cause(rt), google_sandbox::DeadCause::revoked_by_app);
    // The grant is gone: the next sign-in asks for consent again and brings a refresh token.
    EXPECT_TRUE(sign_in(kGrace).contains("refresh_token"));

    auto again = request("POST", "/revoke?token=" + url_escape(rt));
    EXPECT_EQ(again.status, 400);
    EXPECT_EQ(again.json().at("error").as_string(), "invalid_token");
}

TEST_F(RevokeTest, RevokingTheAccessTokenEndsItsRefreshToken) {
    auto t = sign_in(kAlan);
    auto r = post_form("/revoke", {{"token", std::string(t.at("access_token").as_string())}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(refresh(std::string(t.at("refresh_token").as_string())).status, 400);
}

TEST_F(RevokeTest, MissingToken) {
    auto r = request("POST", "/revoke");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.json().at("error").as_string(), "invalid_request");
}

TEST_F(RevokeTest, UserinfoAnswersWhoTheUserIs) {
    auto t = sign_in(kAlan);
    auto r = get("/v1/userinfo", {"Authorization: Bearer " + std::string(t.at("access_token").as_string())});
    ASSERT_EQ(r.status, 200);
    auto o = r.json().as_object();
    EXPECT_EQ(o.at("email").as_string(), kAlan);
    EXPECT_TRUE(o.at("email_verified").as_bool());
    EXPECT_EQ(o.at("hd").as_string(), "acme.example");
    EXPECT_EQ(o.at("sub").as_string().size(), 21u);
    EXPECT_FALSE(o.contains("name"));  // no profile scope asked

    auto none = get("/v1/userinfo");
    EXPECT_EQ(none.status, 401);
    EXPECT_NE(none.header("www-authenticate").find("invalid_token"), std::string::npos);
    sandbox->advance_clock(std::chrono::seconds(3600));  // expires_in 3599
    EXPECT_EQ(get("/v1/userinfo", {"Authorization: Bearer " + std::string(t.at("access_token").as_string())}).status,
              401);
}

// The request log names method, path and status, never a query, a body or a token.
class LogTest : public GoogleSandboxTest {
protected:
    // A sign-in, a refresh and a revoke with the request log on; returns the secrets they used.
    std::vector<std::string> exercise() {
        google_sandbox::Options o;  // log_requests defaults to true
        sandbox = std::make_unique<google_sandbox::Sandbox>(o);
        auto cb = callback_for(kGrace);
        auto tokens = redeem(cb.at("code")).json().as_object();
        std::vector<std::string> secrets{cb.at("code"), secret, std::string(tokens.at("access_token").as_string()),
                                         std::string(tokens.at("refresh_token").as_string())};
        refresh(secrets[3]);
        request("POST", "/revoke?token=" + url_escape(secrets[3]));
        sandbox.reset();  // joins the I/O threads: every line is written
        return secrets;
    }
};

TEST_F(LogTest, SecretsNeverReachTheLog) {
    sandbox.reset();
    std::ostringstream captured;
    std::streambuf* original = std::clog.rdbuf(captured.rdbuf());
    const auto secrets = exercise();
    std::clog.rdbuf(original);
    const std::string log = captured.str();
    EXPECT_NE(log.find("POST /token 200"), std::string::npos) << log;
    EXPECT_NE(log.find("POST /revoke 200"), std::string::npos) << log;
    for (const auto& s : secrets) EXPECT_EQ(log.find(s), std::string::npos);
    EXPECT_EQ(log.find("token="), std::string::npos);
}

}  // namespace
}  // namespace gst
