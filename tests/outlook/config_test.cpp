// The Outlook plugin's configuration: sensible defaults, national clouds, and a clear error
// naming the field for every bad value. Secrets are never accepted inline.
#include "process.hpp"

#include <config.hpp>

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

class ConfigTest : public ::testing::Test {
protected:
    void SetUp() override { dir_.write("k1.key", std::string(64, 'a') + "\n"); }

    json::object base() {
        return json::object{
            {"client_id", "11111111-2222-4333-8444-555555555555"},
            {"redirect_uri", "https://host.example/callback"},
            {"token_encryption",
             json::object{{"active_key", "k1"},
                          {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}}}};
    }

    // The error (field and message) for a config, or "" when it is accepted.
    std::pair<std::string, std::string> error_of(const json::object& config) {
        try {
            outlook::parse_config(json::serialize(config));
        } catch (const ep::sdk::Error& e) {
            EXPECT_EQ(e.status(), EP_ERR_CONFIG);
            return {e.field(), e.what()};
        }
        return {"", ""};
    }

    TempDir dir_;
};

}  // namespace

TEST_F(ConfigTest, DefaultsAreTheGlobalCloudCommonAuthorityAndGraphsLimits) {
    auto c = outlook::parse_config(json::serialize(base()));
    EXPECT_EQ(c.authority, "common");
    EXPECT_EQ(c.cloud, outlook::Cloud::global);
    EXPECT_EQ(c.login_base, "https://login.microsoftonline.com");
    EXPECT_EQ(c.graph_base, "https://graph.microsoft.com/v1.0");
    EXPECT_EQ(c.requested_scopes(), "offline_access User.Read Mail.Send");
    EXPECT_EQ(c.token_endpoint(), "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    EXPECT_EQ(c.refresh_skew_ms, 300'000);
    EXPECT_EQ(c.max_concurrency_per_mailbox, 4);
    EXPECT_EQ(c.credential.type, outlook::CredentialType::none);
}

TEST_F(ConfigTest, NationalCloudsChooseTheirHostsAndQualifiedScopes) {
    const std::tuple<const char*, const char*, const char*> clouds[] = {
        {"us_gov_l4", "https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0"},
        {"us_gov_l5", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/v1.0"},
        {"china", "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0"},
    };
    for (const auto& [cloud, login, graph] : clouds) {
        auto cfg = base();
        cfg["cloud"] = cloud;
        cfg["authority"] = "contoso.onmicrosoft.us";
        auto c = outlook::parse_config(json::serialize(cfg));
        EXPECT_EQ(c.login_base, login);
        EXPECT_EQ(c.graph_base, graph);
        std::string graph_host = std::string(graph).substr(0, std::string(graph).size() - 5);
        EXPECT_EQ(c.requested_scopes(), "offline_access " + graph_host + "/User.Read " + graph_host + "/Mail.Send");
    }
}

TEST_F(ConfigTest, EveryBadValueNamesItsField) {
    const std::tuple<const char*, json::value, const char*> cases[] = {
        {"client_id", "not-a-guid", "GUID"},
        {"authority", "not a tenant!", "common, organizations"},
        {"cloud", "mars", "global, us_gov_l4"},
        {"redirect_uri", "http://host.example/callback", "https"},
        {"redirect_uri", "https://host.example/cb#frag", "fragment"},
        {"refresh_skew_seconds", -5, "integer from 0"},
        {"pending_connect_ttl_seconds", "ten", "integer"},
        {"allow_insecure_loopback_http", "yes", "true or false"},
        {"unknown_setting", 1, "not a known setting"},
    };
    for (const auto& [field, value, words] : cases) {
        auto cfg = base();
        cfg[field] = value;
        auto [f, message] = error_of(cfg);
        EXPECT_EQ(f, field) << message;
        EXPECT_THAT(message, HasSubstr(words)) << field;
    }
    auto cfg = base();
    cfg.erase("client_id");
    EXPECT_EQ(error_of(cfg).first, "client_id");
    cfg = base();
    cfg.erase("token_encryption");
    EXPECT_THAT(error_of(cfg).second, HasSubstr("always encrypted"));
    cfg = base();
    cfg["send"] = json::object{{"max_concurrency_per_mailbox", 9}};
    EXPECT_EQ(error_of(cfg).first, "send.max_concurrency_per_mailbox") << "Graph allows at most 4";
    cfg = base();
    cfg["timeouts"] = json::object{{"request_ms", 1}};
    EXPECT_EQ(error_of(cfg).first, "timeouts.request_ms");
}

TEST_F(ConfigTest, EndpointsMustBeHttpsUnlessLoopbackAndExplicitlyAllowed) {
    auto cfg = base();
    cfg["endpoints"] = json::object{{"login", "http://login.example"}};
    EXPECT_EQ(error_of(cfg).first, "endpoints.login");
    cfg["endpoints"] = json::object{{"login", "http://127.0.0.1:8443"}};
    auto [field, message] = error_of(cfg);
    EXPECT_EQ(field, "endpoints.login");
    EXPECT_THAT(message, HasSubstr("allow_insecure_loopback_http"));
    cfg["allow_insecure_loopback_http"] = true;
    EXPECT_EQ(error_of(cfg).first, "");
    cfg["endpoints"] = json::object{{"graph", "ftp://127.0.0.1/v1.0"}};
    EXPECT_EQ(error_of(cfg).first, "endpoints.graph");
    cfg["endpoints"] = json::object{{"graph", "https://127.0.0.1:8443/v1.0/"}};
    EXPECT_EQ(outlook::parse_config(json::serialize(cfg)).graph_base, "https://127.0.0.1:8443/v1.0");
}

TEST_F(ConfigTest, ClientSecretsComeFromTheEnvironmentOrAFileNeverInline) {
    auto cfg = base();
    cfg["client_credential"] = json::object{{"type", "secret"}, {"value", "abc"}};
    auto [field, message] = error_of(cfg);
    EXPECT_EQ(field, "client_credential");
    EXPECT_THAT(message, HasSubstr("inline"));
    EXPECT_THAT(message, ::testing::Not(HasSubstr("abc")));
    cfg["client_credential"] = json::object{{"type", "secret"}, {"env", "OUTLOOK_TEST_UNSET_VARIABLE"}};
    EXPECT_EQ(error_of(cfg).first, "client_credential.env");
    cfg["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "absent").string()}};
    EXPECT_EQ(error_of(cfg).first, "client_credential.file");
    dir_.write("secret", "s3cr3t-value\n");
    cfg["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "secret").string()}};
    auto c = outlook::parse_config(json::serialize(cfg));
    EXPECT_EQ(c.credential.secret.view(), "s3cr3t-value");
    cfg["client_credential"] = json::object{{"type", "password"}};
    EXPECT_EQ(error_of(cfg).first, "client_credential.type");
}

TEST_F(ConfigTest, ACertificateCredentialMustBeReadable) {
    auto cfg = base();
    cfg["client_credential"] = json::object{{"type", "certificate"},
                                            {"certificate_file", (dir_ / "nope.pem").string()},
                                            {"private_key_file", (dir_ / "nope.key").string()}};
    EXPECT_EQ(error_of(cfg).first, "client_credential.certificate_file");
    cfg["client_credential"].as_object()["algorithm"] = "HS256";
    dir_.write("c.pem", "x");
    dir_.write("k.pem", "y");
    cfg["client_credential"].as_object()["certificate_file"] = (dir_ / "c.pem").string();
    cfg["client_credential"].as_object()["private_key_file"] = (dir_ / "k.pem").string();
    EXPECT_EQ(error_of(cfg).first, "client_credential.algorithm");
}

TEST_F(ConfigTest, TheKeyRingIsValidatedWithoutEchoingKeyMaterial) {
    auto cfg = base();
    cfg["token_encryption"] =
        json::object{{"active_key", "k1"}, {"keys", json::array{json::object{{"id", "k1"}, {"key", "00112233"}}}}};
    auto [field, message] = error_of(cfg);
    EXPECT_THAT(field, HasSubstr("token_encryption"));
    EXPECT_THAT(message, ::testing::Not(HasSubstr("00112233")));
    dir_.write("short.key", "abcd");
    cfg["token_encryption"] =
        json::object{{"active_key", "k1"},
                     {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "short.key").string()}}}}};
    EXPECT_THAT(error_of(cfg).second, HasSubstr("32 bytes"));
}

// Issue 21: a file the config names that is a FIFO hung the plugin's create until someone
// wrote to it. Every file is refused at once unless it is a regular file of at most 1 MiB.
TEST_F(ConfigTest, FilesTheConfigNamesMustBeRegularFilesAndAreRefusedAtOnce) {
    ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
    const std::string fifo = (dir_ / "fifo").string();
    dir_.write("c.pem", "x");
    const std::pair<const char*, json::object> cases[] = {
        {"client_credential.file",
         json::object{{"client_credential", json::object{{"type", "secret"}, {"file", fifo}}}}},
        {"client_credential.certificate_file",
         json::object{{"client_credential", json::object{{"type", "certificate"},
                                                         {"certificate_file", fifo},
                                                         {"private_key_file", (dir_ / "c.pem").string()}}}}},
        {"client_credential.private_key_file",
         json::object{{"client_credential", json::object{{"type", "certificate"},
                                                         {"certificate_file", (dir_ / "c.pem").string()},
                                                         {"private_key_file", fifo}}}}},
        {"tls.ca_file", json::object{{"tls", json::object{{"ca_file", fifo}}}}},
        {"tls.ca_file", json::object{{"tls", json::object{{"ca_file", "/dev/zero"}}}}},
    };
    for (const auto& [field, extra] : cases) {
        auto cfg = base();
        for (const auto& kv : extra) cfg[kv.key()] = kv.value();
        const auto start = std::chrono::steady_clock::now();
        auto [f, message] = error_of(cfg);
        EXPECT_EQ(f, field) << message;
        EXPECT_THAT(message, HasSubstr("is not a regular file")) << field;
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << field;
    }
}

TEST_F(ConfigTest, AKeyFileThatIsAFifoIsRefusedAtOnce) {
    ASSERT_EQ(::mkfifo((dir_ / "fifo.key").c_str(), 0600), 0);
    auto cfg = base();
    cfg["token_encryption"] =
        json::object{{"active_key", "k1"},
                     {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "fifo.key").string()}}}}};
    const auto start = std::chrono::steady_clock::now();
    auto [field, message] = error_of(cfg);
    EXPECT_THAT(field, HasSubstr("token_encryption"));
    EXPECT_THAT(message, HasSubstr("is not a regular file"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}
