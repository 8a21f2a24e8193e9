// Personal Gmail's refresh, as the kit's token manager sees it: the request, Google's answers
// read into new tokens or a classified failure. Google's answer shapes:
// https://developers.google.com/identity/protocols/oauth2/web-server ("Refreshing an access
// token": no refresh_token in most answers) and https://developers.google.com/identity/protocols/oauth2
// ("Refresh token expiration": the causes behind "Token has been expired or revoked.").
#include <google_tokens.hpp>

#include <boost/url/parse_query.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;
constexpr int64_t kNow = 1'800'000'000'000;

gmail::GoogleTokens tokens(bool app_in_testing = false) {
    gmail::GoogleTokenSettings s;
    s.client.token_endpoint = "https://127.0.0.1:8443/token";
    s.client.client_id = "1234-abc.apps.googleusercontent.com";
    s.client.redirect_uri = "https://host.example/callback";
    s.client_secret = ep::kit::SecretString(std::string("GOCSPX-test-secret"));
    s.app_in_testing = app_in_testing;
    return gmail::GoogleTokens(std::move(s));
}

ep::kit::HttpResponse answer(int status, std::string body) {
    ep::kit::HttpResponse r;
    r.status = status;
    r.body = ep::kit::SecretString(std::move(body));
    return r;
}

ep::kit::GrantRecord grant_connected_days_ago(int days) {
    ep::kit::GrantRecord g;
    g.connected_at_ms = kNow - days * kDayMs;
    g.last_refresh_ms = kNow - kDayMs / 24;
    g.scopes = "openid email https://www.googleapis.com/auth/gmail.send";
    return g;
}

constexpr const char* kSendScope = "https://www.googleapis.com/auth/gmail.send";

TEST(GoogleTokens, RefreshIsAFormPostWithTheSecretInTheBody) {
    const ep::kit::HttpRequest r = tokens().refresh_request("1//0refresh-token");
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "https://127.0.0.1:8443/token");
    EXPECT_THAT(r.headers, ::testing::Contains("Content-Type: application/x-www-form-urlencoded"));
    std::map<std::string, std::string> form;
    // From a std::string: Boost.URL 1.81's parse_query reads past the end of a view (strlen).
    const std::string body(r.body.view());
    for (auto p : boost::urls::parse_query(body).value()) form[p.key.decode()] = p.value.decode();
    EXPECT_EQ(form["grant_type"], "refresh_token");
    EXPECT_EQ(form["refresh_token"], "1//0refresh-token");
    EXPECT_EQ(form["client_id"], "1234-abc.apps.googleusercontent.com");
    EXPECT_EQ(form["client_secret"], "GOCSPX-test-secret");
    EXPECT_THAT(r.wanted_headers, ElementsAre("retry-after"));
}

TEST(GoogleTokens, AnAnswerWithoutARefreshTokenKeepsTheStoredOne) {
    auto a = tokens().read_refresh(answer(200, R"({"access_token":"ya29.new","expires_in":3599,"token_type":"Bearer",
        "scope":"https://www.googleapis.com/auth/gmail.send openid https://www.googleapis.com/auth/userinfo.email"})"),
                                   grant_connected_days_ago(3), kNow);
    ASSERT_TRUE(a.tokens);
    EXPECT_EQ(a.tokens->access_token.view(), "ya29.new");
    EXPECT_TRUE(a.tokens->refresh_token.empty()) << "empty: the token manager keeps the stored refresh token";
    EXPECT_EQ(a.tokens->expires_in_s, 3599);
    EXPECT_THAT(a.missing, IsEmpty());
}

TEST(GoogleTokens, ANewRefreshTokenReplacesTheStoredOne) {
    auto a = tokens().read_refresh(
        answer(200, R"({"access_token":"ya29.new","expires_in":3599,"token_type":"Bearer","refresh_token":"1//0rotated",
            "scope":"openid email https://www.googleapis.com/auth/gmail.send"})"),
        grant_connected_days_ago(3), kNow);
    ASSERT_TRUE(a.tokens);
    EXPECT_EQ(a.tokens->refresh_token.view(), "1//0rotated");
}

TEST(GoogleTokens, ARefreshWithoutGmailSendEndsTheConnectionAsPermissionDenied) {
    auto a = tokens().read_refresh(
        answer(200, R"({"access_token":"ya29.new","expires_in":3599,"token_type":"Bearer","scope":"openid email"})"),
        grant_connected_days_ago(3), kNow);
    ASSERT_TRUE(a.tokens);
    EXPECT_THAT(a.missing, ElementsAre(kSendScope)) << "the email scope alone is not needed once connected";
    EXPECT_THAT(tokens().permission_denied_message(), HasSubstr("Send email on your behalf"));
}

TEST(GoogleTokens, AnAnswerWithoutScopeLeavesTheGrantAsItWas) {
    ep::kit::GrantRecord g = grant_connected_days_ago(3);
    g.extra_scopes = {"https://www.googleapis.com/auth/drive.file"};
    auto a = tokens().read_refresh(
        answer(200, R"({"access_token":"ya29.new","expires_in":3599,"token_type":"Bearer"})"), g, kNow);
    ASSERT_TRUE(a.tokens);
    EXPECT_THAT(a.missing, IsEmpty());
    EXPECT_EQ(a.scopes, g.scopes);
    EXPECT_EQ(a.extras, g.extra_scopes);
}

TEST(GoogleTokens, EarlierGrantsAreReportedAsExtrasNotRefused) {
    auto a = tokens().read_refresh(answer(200, R"({"access_token":"ya29.new","expires_in":3599,"token_type":"Bearer",
            "scope":"openid email https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/drive.file"})"),
                                   grant_connected_days_ago(3), kNow);
    ASSERT_TRUE(a.tokens);
    EXPECT_THAT(a.missing, IsEmpty());
    EXPECT_THAT(a.extras, ElementsAre("https://www.googleapis.com/auth/drive.file"));
    EXPECT_THAT(tokens().least_privilege_notice(a.extras), HasSubstr("drive.file"));
}

TEST(GoogleTokens, ADeadTokenOfATestingAppSaysSoAfterSevenDays) {
    const std::string dead = R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})";
    auto testing = tokens(true).read_refresh(answer(400, dead), grant_connected_days_ago(8), kNow);
    EXPECT_FALSE(testing.tokens);
    EXPECT_EQ(testing.failure.kind, ep::kit::GrantFailureKind::dead_grant);
    EXPECT_EQ(testing.failure.reason, "app_in_testing");

    auto published = tokens(false).read_refresh(answer(400, dead), grant_connected_days_ago(8), kNow);
    EXPECT_EQ(published.failure.kind, ep::kit::GrantFailureKind::dead_grant);
    EXPECT_EQ(published.failure.reason, "grant_invalid") << "no cause is guessed";
}

TEST(GoogleTokens, ATokenUnusedForSixMonthsSaysSo) {
    ep::kit::GrantRecord g = grant_connected_days_ago(400);
    g.last_refresh_ms = kNow - 200 * kDayMs;
    auto a = tokens().read_refresh(
        answer(400, R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})"), g, kNow);
    EXPECT_EQ(a.failure.reason, "inactivity");
}

TEST(GoogleTokens, NoAnswerIsTransient) {
    ep::kit::HttpResponse r;
    r.failure = ep::kit::TransferFailure::not_sent;
    r.error = "Could not connect to server";
    auto a = tokens().read_refresh(r, grant_connected_days_ago(3), kNow);
    EXPECT_FALSE(a.tokens);
    EXPECT_EQ(a.failure.kind, ep::kit::GrantFailureKind::transient);

    auto unavailable = tokens().read_refresh(answer(503, "<html>busy</html>"), grant_connected_days_ago(3), kNow);
    EXPECT_EQ(unavailable.failure.kind, ep::kit::GrantFailureKind::transient);
}

}  // namespace
