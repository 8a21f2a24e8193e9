#include "process.hpp"

#include "core/host_config.hpp"

#include <email_provider/manifest.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>

using test_support::TempDir;
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
    EXPECT_EQ(c.store.sqlite_path, "/etc/host/data/host.db");
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
    EXPECT_THAT(error_of(R"({"providers":[{}]})"), HasSubstr("field 'providers[0]' must name the provider"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":""}]})"),
                HasSubstr("'providers[0].manifest' must be a non-empty"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","enabled":"yes"}]})"), HasSubstr("'providers[0].enabled'"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","config":[]}]})"),
                HasSubstr("'providers[0].config' must be an object"));
    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a","typo":1}]})"),
                HasSubstr("'providers[0].typo' is not a known"));
    EXPECT_THAT(error_of(R"({"providers":[],"log_level":"loud"})"), HasSubstr("'log_level' must be one of"));
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"path":3}})"), HasSubstr("'store.path'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"port":70000}})"), HasSubstr("'web.port'"));
    EXPECT_THAT(error_of(R"({"providers":[],"extra":1})"), HasSubstr("'extra' is not a known setting"));
}

TEST(HostConfig, LogFormatIsTextUnlessJsonIsAsked) {
    EXPECT_EQ(host::parse_host_config(R"({"providers":[]})", "/etc/host/host.json").log_format, host::LogFormat::text);
    EXPECT_EQ(host::parse_host_config(R"({"providers":[],"log_format":"json"})", "/etc/host/host.json").log_format,
              host::LogFormat::json);
    EXPECT_THAT(error_of(R"({"providers":[],"log_format":"xml"})"),
                AllOf(HasSubstr("field 'log_format'"), HasSubstr("text"), HasSubstr("json")));
}

// The directories systemd gives the service (LoadCredential=, StateDirectory=), in provider
// configs as ${credentials_dir} and ${state_dir}; refused, naming the field and the variable,
// when the service manager did not set them.
TEST(HostConfig, CredentialsAndStateDirectoriesComeFromTheServiceManager) {
    const std::string text = R"({"providers":[{"manifest":"m.json","config":{
        "secret":{"file":"${credentials_dir}/client-secret"},"keys":["${credentials_dir}/k1"],
        "cache":"${state_dir}/cache"}}]})";
    ::setenv("CREDENTIALS_DIRECTORY", "/run/credentials/email-provider-host.service", 1);
    ::setenv("STATE_DIRECTORY", "/var/lib/email-provider:/var/lib/other", 1);
    auto c = host::parse_host_config(text, "/etc/host/host.json");
    EXPECT_EQ(c.providers[0].config_json,
              R"({"secret":{"file":"/run/credentials/email-provider-host.service/client-secret"},)"
              R"("keys":["/run/credentials/email-provider-host.service/k1"],"cache":"/var/lib/email-provider/cache"})");

    ::unsetenv("CREDENTIALS_DIRECTORY");
    EXPECT_THAT(error_of(text), AllOf(HasSubstr("field 'providers[0].config.secret.file'"),
                                      HasSubstr("${credentials_dir}"), HasSubstr("$CREDENTIALS_DIRECTORY is not set")));
    ::setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1);
    ::unsetenv("STATE_DIRECTORY");
    EXPECT_THAT(error_of(text),
                AllOf(HasSubstr("field 'providers[0].config.cache'"), HasSubstr("$STATE_DIRECTORY is not set")));
    ::unsetenv("CREDENTIALS_DIRECTORY");
    // A config that uses neither needs neither, and a directory's own text is not expanded again.
    auto odd = host::parse_host_config(R"({"providers":[{"manifest":"m.json","config":{"a":"${config_dir}/x"}}]})",
                                       "/etc/${state_dir}/host.json");
    EXPECT_EQ(odd.providers[0].config_json, R"({"a":"/etc/${state_dir}/x"})");
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
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"ftp://host.example"}})"),
                HasSubstr("'web.public_url'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"host.example:8080"}})"),
                HasSubstr("'web.public_url'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"https://host.example/app"}})"),
                HasSubstr("must be an origin only"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"public_url":"https://user@host.example"}})"),
                HasSubstr("must be an origin only"));
    EXPECT_EQ(error_of(R"({"providers":[],"web":{"public_url":"https://host.example:8443/"}})"), "(accepted)");
}

TEST(HostConfig, TheProductNameAndDeveloperProvidersAreChecked) {
    auto c = host::parse_host_config(R"({"providers":[]})", "/etc/host/host.json");
    EXPECT_EQ(c.web.product_name, "Nudges");
    EXPECT_FALSE(c.web.show_developer_providers);
    c = host::parse_host_config(
        R"({"providers":[],"web":{"product_name":"Acme Hiring","show_developer_providers":true}})",
        "/etc/host/host.json");
    EXPECT_EQ(c.web.product_name, "Acme Hiring");
    EXPECT_TRUE(c.web.show_developer_providers);
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"product_name":""}})"), HasSubstr("'web.product_name'"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"product_name":"a\nb"}})"), HasSubstr("control characters"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"product_name":")" + std::string(81, 'x') + R"("}})"),
                HasSubstr("at most 80 bytes"));
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"show_developer_providers":"yes"}})"),
                HasSubstr("'web.show_developer_providers' must be true or false"));
}

TEST(HostConfig, ListeningOnEveryInterfaceNeedsAPublicUrl) {
    EXPECT_THAT(error_of(R"({"providers":[],"web":{"listen_address":"0.0.0.0"}})"),
                AllOf(HasSubstr("'web.public_url' is required"), HasSubstr("all interfaces")));
    EXPECT_EQ(error_of(R"({"providers":[],"web":{"listen_address":"0.0.0.0","public_url":"https://host.example"}})"),
              "(accepted)");
}

// Issue 15: the store engine, and a PostgreSQL password that never sits in the config file.
TEST(HostConfig, StoreEngineIsSqliteUnlessPostgresqlIsNamed) {
    auto c = host::parse_host_config(R"({"providers":[]})", "/etc/host/host.json");
    EXPECT_EQ(c.store.engine, host::StoreEngine::sqlite);
    EXPECT_EQ(c.store.sqlite_path, "/etc/host/host.db");
    TempDir dir;
    dir.write("pg-password", "from-the-file\n");
    setenv("EP_TEST_CONNINFO", "host=/run/postgresql dbname=ep password=from-the-env", 1);
    auto pg = host::parse_host_config(R"({"providers":[],"store":{"engine":"postgresql","outbox_lease_seconds":2.5,
        "postgresql":{"conninfo":"host=/run/postgresql dbname=ep user=ep","password_file":"pg-password"}}})",
                                      dir / "host.json");
    EXPECT_EQ(pg.store.engine, host::StoreEngine::postgresql);
    EXPECT_EQ(pg.store.pg_conninfo, "host=/run/postgresql dbname=ep user=ep");
    EXPECT_EQ(pg.store.pg_password, "from-the-file") << "read from the file, line end dropped";
    EXPECT_EQ(pg.store.outbox_lease_ms, 2500);
    auto from_env = host::parse_host_config(R"({"providers":[],"store":{"engine":"postgresql",
        "postgresql":{"conninfo_env":"EP_TEST_CONNINFO"}}})",
                                            "/etc/host/host.json");
    EXPECT_EQ(from_env.store.pg_conninfo, "host=/run/postgresql dbname=ep password=from-the-env");
    unsetenv("EP_TEST_CONNINFO");
}

TEST(HostConfig, StoreMistakesAreNamedAndNoPasswordIsRepeated) {
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"engine":"mysql"}})"),
                HasSubstr("field 'store.engine' must be \"sqlite\" or \"postgresql\""));
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"engine":"postgresql"}})"),
                HasSubstr("field 'store.postgresql' must be"));
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"postgresql":{"conninfo":"dbname=ep"}}})"),
                HasSubstr("'store.postgresql' is given but store.engine is not \"postgresql\""));
    EXPECT_THAT(
        error_of(
            R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"a=b","conninfo_env":"X"}}})"),
        HasSubstr("exactly one of conninfo, conninfo_env, conninfo_file"));
    std::string inline_password = error_of(
        R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"host=db dbname=ep password=Hunter2-secret"}}})");
    EXPECT_THAT(inline_password, HasSubstr("'store.postgresql.conninfo' contains a password"));
    EXPECT_THAT(inline_password, ::testing::Not(HasSubstr("Hunter2-secret")));
    std::string uri_password = error_of(
        R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"postgresql://ep:Hunter2-secret@db/ep"}}})");
    EXPECT_THAT(uri_password, HasSubstr("contains a password"));
    EXPECT_THAT(uri_password, ::testing::Not(HasSubstr("Hunter2-secret")));
    EXPECT_THAT(
        error_of(
            R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"host='unterminated Hunter2-secret"}}})"),
        AllOf(HasSubstr("is not a valid libpq connection string"), ::testing::Not(HasSubstr("Hunter2-secret"))));
    EXPECT_THAT(
        error_of(
            R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo_env":"EP_SURELY_UNSET_VARIABLE"}}})"),
        HasSubstr("names the environment variable EP_SURELY_UNSET_VARIABLE, which is not set"));
    EXPECT_THAT(
        error_of(
            R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"dbname=ep","password_file":"/nonexistent/pw"}}})"),
        HasSubstr("names /nonexistent/pw, which cannot be read"));
    EXPECT_THAT(error_of(R"({"providers":[],"store":{"outbox_lease_seconds":0}})"),
                HasSubstr("'store.outbox_lease_seconds'"));
    EXPECT_THAT(
        error_of(
            R"({"providers":[],"store":{"engine":"postgresql","path":"x.db","postgresql":{"conninfo":"dbname=ep"}}})"),
        HasSubstr("'store.path' is for the sqlite engine"));
}

// Issue 21: a key under users[] nobody reads (a typo such as "display-name") was accepted.
TEST(HostConfig, AnUnknownKeyUnderUsersIsRefused) {
    EXPECT_THAT(error_of(R"({"providers":[],"users":[{"id":"rita","display_name":"Rita","role":"admin"}]})"),
                HasSubstr("field 'users[0].role' is not a known setting (known: id, display_name)"));
}

// Issue 21: a config that is a FIFO hung the host until it was killed; /dev/zero ended in
// std::bad_alloc after seconds. Only a regular file of at most 1 MiB is read, and at once.
TEST(HostConfig, AConfigThatIsNotARegularFileOfSaneSizeIsRefusedAtOnce) {
    TempDir dir;
    ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
    dir.write("big.json", R"({"providers":[]})" + std::string(1024 * 1024, ' '));
    const std::pair<std::filesystem::path, std::string> cases[] = {
        {dir / "fifo.json", "is not a regular file (it is a FIFO)"},
        {"/dev/zero", "is not a regular file (it is a character device)"},
        {dir.path(), "is not a regular file (it is a directory)"},
        {dir / "big.json", "is larger than 1 MiB"},
    };
    for (const auto& [file, says] : cases) {
        const auto start = std::chrono::steady_clock::now();
        try {
            host::read_host_config(file);
            ADD_FAILURE() << file << " was read";
        } catch (const host::ConfigError& e) {
            EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr(file.string()), HasSubstr(says)));
        }
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << file;
    }
}

TEST(HostConfig, ASecretFileThatIsAFifoIsRefusedAtOnceNamingTheField) {
    TempDir dir;
    ASSERT_EQ(::mkfifo((dir / "pw").c_str(), 0600), 0);
    const std::string text = R"({"providers":[],"store":{"engine":"postgresql","postgresql":{"conninfo":"dbname=ep",)"
                             R"("password_file":")" +
                             (dir / "pw").string() + R"("}}})";
    EXPECT_THAT(error_of(text),
                AllOf(HasSubstr("field 'store.postgresql.password_file'"),
                      HasSubstr("which cannot be read: the file is not a regular file (it is a FIFO)")));
}

TEST(HostConfig, ProvidersRunInTheirOwnProcessUnlessTrustedInAndIsolationIsChecked) {
    auto c = host::parse_host_config(
        R"({"providers":[{"manifest":"a.json"},{"manifest":"b.json","isolation":"in_process"}],
            "isolation":{"runner":"bin/ep-provider-runner","address_space_mb":512,"open_files":256,
                         "deadline_seconds":{"quick":2.5,"check":30},"pass_environment":["HTTPS_PROXY"],
                         "quarantine_crashes":5,"quarantine_window_seconds":60}})",
        "/etc/host/host.json");
    ASSERT_EQ(c.providers.size(), 2u);
    EXPECT_TRUE(c.providers[0].isolated) << "the default";
    EXPECT_FALSE(c.providers[1].isolated);
    EXPECT_EQ(c.isolation.runner, "/etc/host/bin/ep-provider-runner");
    EXPECT_EQ(c.isolation.address_space_bytes, 512u << 20);
    EXPECT_EQ(c.isolation.open_files, 256u);
    EXPECT_EQ(c.isolation.deadlines.quick, std::chrono::milliseconds(2500));
    EXPECT_EQ(c.isolation.deadlines.check, std::chrono::milliseconds(30000));
    EXPECT_EQ(c.isolation.deadlines.slow, std::chrono::milliseconds(60000)) << "untouched";
    EXPECT_EQ(c.isolation.pass_environment, std::vector<std::string>{"HTTPS_PROXY"});
    EXPECT_EQ(c.isolation.restart.quarantine_crashes, 5);
    EXPECT_EQ(c.isolation.restart.quarantine_window, std::chrono::milliseconds(60000));

    EXPECT_THAT(error_of(R"({"providers":[{"manifest":"a.json","isolation":"sandbox"}]})"),
                AllOf(HasSubstr("field 'providers[0].isolation'"), HasSubstr("\"in_process\"")));
    EXPECT_THAT(error_of(R"({"providers":[],"isolation":{"deadline_seconds":{"quick":0}}})"),
                HasSubstr("field 'isolation.deadline_seconds.quick'"));
    EXPECT_THAT(error_of(R"({"providers":[],"isolation":{"address_space_mb":1}})"),
                HasSubstr("field 'isolation.address_space_mb'"));
    EXPECT_THAT(error_of(R"({"providers":[],"isolation":{"seccomp":true}})"),
                HasSubstr("field 'isolation.seccomp' is not a known setting"));
}

// Issue 26: a provider package installs its manifest where the loader's search path finds it;
// the config then enables it by id alone.
TEST(HostConfig, AProviderIsNamedByIdByManifestOrByBoth) {
    auto c = host::parse_host_config(
        R"({"providers":[{"id":"outlook"},{"manifest":"mock.json"},{"id":"gmail","manifest":"/opt/gmail.json"}]})",
        "/etc/host/host.json");
    ASSERT_EQ(c.providers.size(), 3u);
    EXPECT_EQ(c.providers[0].id, "outlook");
    EXPECT_TRUE(c.providers[0].manifest.empty()) << "located at start and at each reload";
    EXPECT_EQ(c.providers[0].manifest_source, "");
    EXPECT_EQ(c.providers[1].id, "");
    EXPECT_EQ(c.providers[1].manifest, "/etc/host/mock.json");
    EXPECT_EQ(c.providers[1].manifest_source, "config");
    EXPECT_EQ(c.providers[2].id, "gmail");
    EXPECT_EQ(c.providers[2].manifest, "/opt/gmail.json");

    EXPECT_THAT(error_of(R"({"providers":[{"enabled":true}]})"),
                AllOf(HasSubstr("field 'providers[0]' must name the provider"), HasSubstr("\"id\""),
                      HasSubstr("\"manifest\"")));
    EXPECT_THAT(error_of(R"({"providers":[{"id":""}]})"), HasSubstr("field 'providers[0].id' must be a non-empty"));
    EXPECT_THAT(error_of(R"({"providers":[{"id":"../outlook"}]})"),
                AllOf(HasSubstr("field 'providers[0].id' must be 1-64 characters"), HasSubstr("\"../outlook\"")));
    EXPECT_THAT(error_of(R"({"providers":[{"id":"outlook"},{"id":"outlook","enabled":false}]})"),
                AllOf(HasSubstr("field 'providers[1].id'"), HasSubstr("\"outlook\" is the id of an earlier provider")));
}

TEST(HostConfig, TheSearchPathIsTheLoadersInTheHostsEnvironment) {
    const char* before = std::getenv("EP_PROVIDER_PATH");
    const std::string saved = before ? before : "";
    ::setenv("EP_PROVIDER_PATH", "/srv/etc/providers.d:/srv/share/providers.d", 1);
    auto c = host::parse_host_config(R"({"providers":[]})", "/etc/host/host.json");
    before ? ::setenv("EP_PROVIDER_PATH", saved.c_str(), 1) : ::unsetenv("EP_PROVIDER_PATH");
    EXPECT_EQ(c.provider_search_path,
              (std::vector<std::filesystem::path>{"/srv/etc/providers.d", "/srv/share/providers.d"}));
}

TEST(HostConfig, AnIdIsLocatedWhereTheSearchPathFirstHasItAndAnUnknownOneNamesEveryDirectory) {
    TempDir dir;
    auto manifest = [](const std::string& id, const std::string& name) {
        return R"({"file_format_version":"1.0.0","provider":{"id":")" + id + R"(","display_name":")" + name +
               R"(","library_path":"libx.so","abi_version":"1.2","capabilities":[]}})";
    };
    dir.write("etc/outlook.json", manifest("outlook", "Site override"));
    dir.write("share/outlook.json", manifest("outlook", "Packaged"));
    const auto found = ep::loader::discover_manifests({dir / "etc", dir / "share"});
    auto c = host::parse_host_config(R"({"providers":[{"id":"outlook"},{"manifest":"mock.json"},{"id":"gmail"}]})",
                                     "/etc/host/host.json");

    const host::ProviderSetting outlook = host::locate_manifest(c.providers[0], found, c.file);
    EXPECT_EQ(outlook.manifest, dir / "etc/outlook.json") << "/etc overrides /usr/share";
    EXPECT_EQ(outlook.manifest_source, (dir / "etc").string());
    const host::ProviderSetting named = host::locate_manifest(c.providers[1], found, c.file);
    EXPECT_EQ(named.manifest, "/etc/host/mock.json");
    EXPECT_EQ(named.manifest_source, "config");
    try {
        host::locate_manifest(c.providers[2], found, c.file);
        FAIL() << "an id no directory has was located";
    } catch (const host::ConfigError& e) {
        EXPECT_THAT(std::string(e.what()),
                    AllOf(HasSubstr("/etc/host/host.json"), HasSubstr("provider \"gmail\" has no manifest"),
                          HasSubstr((dir / "etc").string() + ", " + (dir / "share").string())));
    }
}
