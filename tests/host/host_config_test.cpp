#include "process.hpp"

#include <host_config.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using ::testing::AllOf;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string& text) {
    try {
        host::parse_host_config(text, "/etc/host/host.json");
    } catch (const host::ConfigError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST(HostConfig, ParsesAndResolvesPathsAgainstTheConfigDirectory) {
    auto c = host::parse_host_config(R"({"store":{"path":"data/host.db"},"log_level":"debug",
        "providers":[{"manifest":"m/mock.json","config":{"outbox_dir":"${config_dir}/out","n":[ "${config_dir}" ]}},
                     {"manifest":"/abs/outlook.json","enabled":false}]})",
                                     "/etc/host/host.json");
    EXPECT_EQ(c.store_path, "/etc/host/data/host.db");
    EXPECT_EQ(c.log_level, EP_LOG_DEBUG);
    ASSERT_EQ(c.providers.size(), 2u);
    EXPECT_EQ(c.providers[0].manifest, "/etc/host/m/mock.json");
    EXPECT_EQ(c.providers[0].config_json, R"({"outbox_dir":"/etc/host/out","n":["/etc/host"]})");
    EXPECT_FALSE(c.providers[1].enabled);
    EXPECT_EQ(c.providers[1].config_json, "{}");
}

TEST(HostConfig, EveryBadInputNamesTheFileAndTheField) {
    EXPECT_THAT(error_of("{"), AllOf(HasSubstr("/etc/host/host.json"), HasSubstr("not valid JSON")));
    EXPECT_THAT(error_of("[]"), HasSubstr("must contain a JSON object"));
    EXPECT_THAT(error_of("{}"), HasSubstr("field 'providers' is missing"));
    EXPECT_THAT(error_of(R"({"providers":{}})"), HasSubstr("field 'providers' must be an array"));
    EXPECT_THAT(error_of(R"({"providers":[{}]})"), HasSubstr("field 'providers[0].manifest' is missing"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":""}]})"), HasSubstr("'providers[0].manifest' must be a non-empty"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","enabled":"yes"}]})"), HasSubstr("'providers[0].enabled'"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","config":[]}]})"), HasSubstr("'providers[0].config' must be an object"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","typo":1}]})"), HasSubstr("'providers[0].typo' is not a known"));
    EXPECT_THAT(error_of(R"({"providers":[],"log_level":"loud"})"), HasSubstr("'log_level' must be one of"));
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"path":3}})"), HasSubstr("'store.path'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"port":70000}})"), HasSubstr("'web.port'"));
    EXPECT_THAT(error_of(R"({"providers":[],"extra":1})"), HasSubstr("'extra' is not a known setting"));
}

TEST(HostConfig, MissingFileIsNamed) {
    try {
        host::read_host_config("/nonexistent/host.json");
        FAIL();
    } catch (const host::ConfigError& e) {
        EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("/nonexistent/host.json"), HasSubstr("cannot be opened")));
    }
}

// Issue 16: inputs an outside attack used to cut paths short, merge users or shadow routes.
TEST(HostConfig, ANulByteAnywhereIsRefusedNamingTheField) {
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"path":"host.db\u0000.txt"}})"),
                HasSubstr("field 'store.path' contains a NUL byte"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"mock.json\u0000x"}]})"),
                HasSubstr("field 'providers[0].manifest' contains a NUL byte"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"m.json","config":{"outbox_dir":"/tmp/a\u0000b"}}]})"),
                HasSubstr("field 'providers[0].config.outbox_dir' contains a NUL byte"));
}

TEST(HostConfig, DuplicateUserIdsAreRefused) {
    EXPECT_THAT(error_of(R"({"providers":[],"users":[{"id":"rita","display_name":"Rita"},
                                                     {"id":"rita","display_name":"Rita Two"}]})"),
                AllOf(HasSubstr("'users[1].id'"), HasSubstr("\"rita\" is the id of an earlier user too")));
}

TEST(HostConfig, CallbackPathMayNotBeOneOfThePagesRoutes) {
    for (const char* route : {"/signin", "/healthz", "/settings/communication", "/settings/communication/connect",
                              "/api/state", "/_debug/clock", "/"})
        EXPECT_THAT(error_of(std::string(R"({"providers":[],"web":{"callback_path":")") + route + R"("}})"),
                    HasSubstr("one of the settings page's own routes"))
            << route;
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"callback_path":"/cb?x=1"}})"), HasSubstr("must be a plain path"));
    EXPECT_EQ(error_of(R"({"providers":[],"web":{"callback_path":"/oauth/callback"}})"), "(accepted)");
}

TEST(HostConfig, PublicUrlMustBeAnHttpOrigin) {
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"ftp://host.example"}})"), HasSubstr("'web.public_url'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"host.example:8080"}})"), HasSubstr("'web.public_url'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"https://host.example/app"}})"),
                HasSubstr("must be an origin only"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"https://user@host.example"}})"),
                HasSubstr("must be an origin only"));
    EXPECT_EQ(error_of(R"({"providers":[],"web":{"public_url":"https://host.example:8443/"}})"), "(accepted)");
}

TEST(HostConfig, ListeningOnEveryInterfaceNeedsAPublicUrl) {
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"listen_address":"0.0.0.0"}})"),
                AllOf(HasSubstr("'web.public_url' is required"), HasSubstr("all interfaces")));
    EXPECT_EQ(error_of(R"({"providers":[],"web":{"listen_address":"0.0.0.0","public_url":"https://host.example"}})"),
              "(accepted)");
}
