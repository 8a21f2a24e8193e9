// The Gmail plugin's configuration: Google's endpoints by default, each replaceable for a
// stand-in, and a clear error naming the field for every bad value. Secrets never inline.
#include "process.hpp"

#include <gmail_config.hpp>

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

class GmailConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_.write("k1.key", std::string(64, 'a') + "\n");
        dir_.write("secret.txt", "GOCSPX-made-up-for-this-test\n");
        dir_.write("empty.txt", "\n");
    }

    json::object base() {
        return json::object{
            {"client_id", "1234567890-abc.apps.googleusercontent.com"},
            {"client_secret", json::object{{"file", (dir_ / "secret.txt").string()}}},
            {"redirect_uri", "https://host.example/callback"},
            {"token_encryption",
             json::object{{"active_key", "k1"},
                          {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}}}};
    }

    // The error (field and message) for a config, or {"", ""} when it is accepted.
    std::pair<std::string, std::string> error_of(const json::object& config) {
        try {
            gmail::parse_config(json::serialize(config));
        } catch (const ep::sdk::Error& e) {
            EXPECT_EQ(e.status(), EP_ERR_CONFIG);
            return {e.field(), e.what()};
        }
        return {};
    }

    TempDir dir_;
};

TEST_F(GmailConfigTest, DefaultsAreGooglesOwnEndpointsAndAPublishedApp) {
    gmail::GmailConfig c = gmail::parse_config(json::serialize(base()));
    EXPECT_EQ(c.google.client.authorization_endpoint, "https://accounts.google.com/o/oauth2/v2/auth");
    EXPECT_EQ(c.google.client.token_endpoint, "https://oauth2.googleapis.com/token");
    EXPECT_EQ(c.google.client.revoke_endpoint, "https://oauth2.googleapis.com/revoke");
    EXPECT_EQ(c.endpoints.userinfo(), "https://openidconnect.googleapis.com/v1/userinfo");
    EXPECT_EQ(c.endpoints.jwks(), "https://www.googleapis.com/oauth2/v3/certs");
    EXPECT_EQ(c.endpoints.gmail, "https://gmail.googleapis.com");
    EXPECT_EQ(c.google.client_secret.view(), "GOCSPX-made-up-for-this-test");
    EXPECT_FALSE(c.google.app_in_testing);
    EXPECT_EQ(c.max_concurrency_per_mailbox, 4);
}

TEST_F(GmailConfigTest, EveryEndpointCanPointAtAStandIn) {
    json::object c = base();
    c["allow_insecure_loopback_http"] = true;
    c["publishing_status"] = "testing";
    c["endpoints"] = json::object{{"accounts", "http://127.0.0.1:1/"},
                                  {"oauth2", "http://127.0.0.1:2"},
                                  {"openidconnect", "http://127.0.0.1:3"},
                                  {"googleapis", "http://127.0.0.1:4"},
                                  {"gmail", "http://127.0.0.1:5"}};
    gmail::GmailConfig g = gmail::parse_config(json::serialize(c));
    EXPECT_EQ(g.google.client.authorization_endpoint, "http://127.0.0.1:1/o/oauth2/v2/auth");
    EXPECT_EQ(g.google.client.token_endpoint, "http://127.0.0.1:2/token");
    EXPECT_EQ(g.endpoints.userinfo(), "http://127.0.0.1:3/v1/userinfo");
    EXPECT_EQ(g.endpoints.jwks(), "http://127.0.0.1:4/oauth2/v3/certs");
    EXPECT_EQ(g.endpoints.gmail, "http://127.0.0.1:5");
    EXPECT_TRUE(g.google.app_in_testing);
}

TEST_F(GmailConfigTest, EveryBadValueNamesItsField) {
    struct Case {
        std::string key;
        json::value value;
        std::string field;
        std::string says;
    };
    const std::vector<Case> cases = {
        {"client_id", "11111111-2222-4333-8444-555555555555", "client_id", "apps.googleusercontent.com"},
        {"client_secret", json::object{{"value", "GOCSPX-inline"}}, "client_secret.value", "not a known setting"},
        {"client_secret", json::object{}, "client_secret", "exactly one of"},
        {"client_secret", json::object{{"file", (dir_ / "empty.txt").string()}}, "client_secret.file", "empty"},
        {"client_secret", json::object{{"env", "EP_GMAIL_TEST_UNSET_VARIABLE"}}, "client_secret.env", "not set"},
        {"redirect_uri", "http://host.example/callback", "redirect_uri", "https"},
        {"redirect_uri", "https://host.example/callback?x=1", "redirect_uri", "query"},
        {"publishing_status", "beta", "publishing_status", "production"},
        {"endpoints", json::object{{"gmail", "http://gmail.example"}}, "endpoints.gmail", "https"},
        {"endpoints", json::object{{"gmail", "http://127.0.0.1:5"}}, "endpoints.gmail", "allow_insecure_loopback_http"},
        {"endpoints", json::object{{"imap", "https://imap.example"}}, "endpoints.imap", "not a known setting"},
        {"send", json::object{{"max_concurrency_per_mailbox", 9}}, "send.max_concurrency_per_mailbox", ""},
        {"tenant", "common", "tenant", "not a known setting"},
    };
    for (const Case& c : cases) {
        json::object config = base();
        config[c.key] = c.value;
        auto [field, message] = error_of(config);
        EXPECT_EQ(field, c.field) << c.key << " = " << json::serialize(c.value) << ": " << message;
        EXPECT_THAT(message, HasSubstr(c.says)) << c.key;
        EXPECT_THAT(message, ::testing::Not(HasSubstr("GOCSPX"))) << "a secret in an error";
    }
    json::object no_keys = base();
    no_keys.erase("token_encryption");
    EXPECT_EQ(error_of(no_keys).first, "token_encryption");
    json::object no_secret = base();
    no_secret.erase("client_secret");
    EXPECT_EQ(error_of(no_secret).first, "client_secret");
}

}  // namespace
