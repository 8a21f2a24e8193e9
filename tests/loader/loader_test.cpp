// The host-side loader against real plugin libraries (the mock provider and its variants),
// after the Vulkan loader's test framework: temporary manifests drive the real loader, and
// every refusal is checked for a message naming the manifest and the cause.
#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <future>
#include <thread>

#include "core/host_config.hpp"
#include "providers/provider_set.hpp"

using ep::loader::LoadError;
using test_support::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

struct ManifestFields {
    std::string format = "\"1.0.0\"";
    std::string id = "\"mock\"";
    std::string display_name = "\"Mock\"";
    std::string library = "\"" MOCK_PROVIDER_PATH "\"";
    std::string abi = "\"1.3\"";
    std::string capabilities = "[\"html_body\"]";

    std::string json() const {
        std::string p = "{";
        auto add = [&](const char* k, const std::string& v) {
            if (v.empty()) return;
            if (p.size() > 1) p += ",";
            p += std::string("\"") + k + "\":" + v;
        };
        add("id", id);
        add("display_name", display_name);
        add("library_path", library);
        add("abi_version", abi);
        add("capabilities", capabilities);
        p += "}";
        std::string top = "{";
        if (!format.empty()) top += "\"file_format_version\":" + format + ",";
        return top + "\"provider\":" + p + "}";
    }
};

class LoaderTest : public ::testing::Test {
protected:
    std::filesystem::path write(const ManifestFields& f, const std::string& name = "provider.json") {
        dir_.write(name, f.json());
        return dir_ / name;
    }
    std::string load_error(const std::filesystem::path& manifest) {
        try {
            ep::loader::load_provider(ep::loader::read_manifest(manifest));
        } catch (const LoadError& e) {
            return e.what();
        }
        return "(loaded without error)";
    }
    std::string load_error(const ManifestFields& f) { return load_error(write(f)); }

    TempDir dir_;
};

}  // namespace

TEST_F(LoaderTest, LoadsTheMockProviderAndNegotiates13) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})));
    EXPECT_EQ(loaded->manifest.id, "mock");
    EXPECT_EQ(loaded->abi_major, 1);
    EXPECT_EQ(loaded->abi_minor, 3);
    EXPECT_EQ(loaded->provider_name, "Mock provider");
    EXPECT_EQ(loaded->api.struct_size, sizeof(ep_provider_api));
    EXPECT_NE(loaded->api.capabilities & EP_CAP_HTML_BODY, 0u);
}

TEST_F(LoaderTest, ResolvesRelativeLibraryPathAgainstTheCanonicalManifestDirectory) {
    std::filesystem::create_directories(dir_ / "pkg/lib");
    std::filesystem::create_directories(dir_ / "pkg/manifests");
    std::filesystem::copy_file(MOCK_PROVIDER_PATH, dir_ / "pkg/lib/libmock.so");
    ManifestFields f;
    f.library = "\"../lib/libmock.so\"";
    dir_.write("pkg/manifests/mock.json", f.json());
    // A symlink elsewhere must not change what "../lib" means.
    std::filesystem::create_directories(dir_ / "elsewhere");
    std::filesystem::create_symlink(dir_ / "pkg/manifests/mock.json", dir_ / "elsewhere/mock.json");
    auto m = ep::loader::read_manifest(dir_ / "elsewhere/mock.json");
    EXPECT_EQ(m.library_path, std::filesystem::canonical(dir_ / "pkg/lib/libmock.so"));
    EXPECT_NO_THROW(ep::loader::load_provider(m));
}

TEST_F(LoaderTest, RefusesMissingManifestFile) {
    EXPECT_THAT(load_error(dir_ / "absent.json"), AllOf(HasSubstr("absent.json"), HasSubstr("cannot be opened")));
}

// Issue 21: a manifest that is a FIFO hung the host until it was killed. Only a regular file
// is read, and a FIFO is refused at once, naming the file.
TEST_F(LoaderTest, RefusesAManifestThatIsAFifoAtOnce) {
    ASSERT_EQ(::mkfifo((dir_ / "fifo.json").c_str(), 0600), 0);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT(load_error(dir_ / "fifo.json"), AllOf(HasSubstr("fifo.json"), HasSubstr("is not a regular file")));
    EXPECT_THAT(load_error("/dev/zero"), AllOf(HasSubstr("/dev/zero"), HasSubstr("is not a regular file")));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(LoaderTest, RefusesManifestThatIsNotJson) {
    dir_.write("bad.json", "{ not json");
    EXPECT_THAT(load_error(dir_ / "bad.json"), AllOf(HasSubstr("bad.json"), HasSubstr("is not valid JSON")));
}

TEST_F(LoaderTest, RefusesManifestThatIsNotAnObject) {
    dir_.write("array.json", "[1,2]");
    EXPECT_THAT(load_error(dir_ / "array.json"), HasSubstr("must contain a JSON object"));
}

TEST_F(LoaderTest, RefusesOtherFormatMajorAndMalformedVersions) {
    ManifestFields f;
    f.format = "\"2.0.0\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("file_format_version"), HasSubstr("unsupported major version 2")));
    f.format = "\"1.0\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("file_format_version"), HasSubstr("must look like")));
    f.format = "1";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("file_format_version"), HasSubstr("must be a string")));
}

TEST_F(LoaderTest, AcceptsNewerFormatMinorWithAWarning) {
    ManifestFields f;
    f.format = "\"1.3.0\"";
    auto m = ep::loader::read_manifest(write(f));
    ASSERT_EQ(m.warnings.size(), 1u);
    EXPECT_THAT(m.warnings[0], HasSubstr("newer than 1.0.0"));
}

TEST_F(LoaderTest, RefusesEachMissingField) {
    const std::pair<std::string ManifestFields::*, const char*> fields[] = {
        {&ManifestFields::format, "file_format_version"},
        {&ManifestFields::id, "provider.id"},
        {&ManifestFields::display_name, "provider.display_name"},
        {&ManifestFields::library, "provider.library_path"},
        {&ManifestFields::abi, "provider.abi_version"},
        {&ManifestFields::capabilities, "provider.capabilities"}};
    for (const auto& [member, name] : fields) {
        ManifestFields f;
        f.*member = "";
        EXPECT_THAT(load_error(f), AllOf(HasSubstr(std::string("field '") + name + "'"), HasSubstr("is missing")))
            << name;
    }
}

TEST_F(LoaderTest, RefusesMistypedFields) {
    ManifestFields f;
    f.id = "42";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("'provider.id'"), HasSubstr("must be a string")));
    f = {};
    f.capabilities = "\"html_body\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("'provider.capabilities'"), HasSubstr("array")));
    f = {};
    f.capabilities = "[\"html_body\", 3]";
    EXPECT_THAT(load_error(f), HasSubstr("'provider.capabilities[1]'"));
    f = {};
    f.abi = "\"one\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("'provider.abi_version'"), HasSubstr("must look like \"1.0\"")));
    dir_.write("noprov.json", R"({"file_format_version":"1.0.0","provider":[]})");
    EXPECT_THAT(load_error(dir_ / "noprov.json"), AllOf(HasSubstr("'provider'"), HasSubstr("must be an object")));
}

TEST_F(LoaderTest, RefusesEmptyOrInvalidId) {
    ManifestFields f;
    f.id = "\"\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("'provider.id'"), HasSubstr("must not be empty")));
    f.id = "\"Out Look\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("'provider.id'"), HasSubstr("a-z")));
}

TEST_F(LoaderTest, RefusesLibraryNotFound) {
    ManifestFields f;
    f.library = "\"../nowhere/libabsent.so\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("provider.json"), HasSubstr("libabsent.so not found")));
}

TEST_F(LoaderTest, RefusesAFileThatIsNotASharedLibrary) {
    dir_.write("libfake.so", "this is text, not ELF");
    ManifestFields f;
    f.library = "\"libfake.so\"";
    EXPECT_THAT(load_error(f), HasSubstr("libfake.so is not a shared library"));
}

TEST_F(LoaderTest, RefusesLibraryWithoutEntryPoint) {
    ManifestFields f;
    f.library = "\"" MOCK_NO_ENTRY_PATH "\"";
    EXPECT_THAT(load_error(f), HasSubstr("entry point ep_negotiate is missing"));
}

TEST_F(LoaderTest, RefusesAbiMajor2EvenWhenThePluginClaimsSuccess) {
    ManifestFields f;
    f.library = "\"" MOCK_ABI2_PATH "\"";
    EXPECT_THAT(load_error(f), AllOf(HasSubstr("ABI major mismatch"), HasSubstr("plugin implements 2.0")));
}

TEST_F(LoaderTest, RefusesWhenNegotiationIsRefused) {
    ManifestFields f;
    f.library = "\"" MOCK_REFUSES_PATH "\"";
    EXPECT_THAT(load_error(f), HasSubstr("negotiation refused by the plugin"));
}

TEST_F(LoaderTest, RefusesATableTooSmall) {
    ManifestFields f;
    f.library = "\"" MOCK_SMALL_TABLE_PATH "\"";
    EXPECT_THAT(load_error(f), HasSubstr("provider table too small"));
}

TEST_F(LoaderTest, RefusesManifestWhoseAbiMajorDisagreesWithTheLibrary) {
    ManifestFields f;
    f.abi = "\"2.0\"";
    EXPECT_THAT(load_error(f), HasSubstr("manifest declares ABI 2.0 but the library implements 1.3"));
}

TEST_F(LoaderTest, NewerMinorPluginWorksInA10Host) {
    ManifestFields f;
    f.library = "\"" MOCK_MINOR1_PATH "\"";
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write(f)));
    EXPECT_EQ(loaded->plugin_abi_minor, EP_ABI_VERSION_MINOR + 1);
    EXPECT_EQ(loaded->abi_minor, EP_ABI_VERSION_MINOR);  // what both sides speak
    // The table the plugin declared (the next minor's: one pointer more), not the host's.
    EXPECT_EQ(loaded->api.struct_size, sizeof(ep_provider_api) + sizeof(void*));
    test_support::FakeHost host;
    TempDir outbox;
    std::string config = R"({"outbox_dir":")" + outbox.path().string() + R"("})";
    auto instance = ep::loader::ProviderInstance::create(loaded, host.api(), config);
    EXPECT_TRUE(instance->begin_connect("alice", "{}").ok());
    auto r = instance->send_blocking("alice", R"({"to":[{"address":"bob@example.org"}],"subject":"s","text":"t"})");
    EXPECT_THAT(r.document, HasSubstr("\"outcome\":\"sent\""));
}

TEST_F(LoaderTest, TodaysPluginWorksInANewerMinorHost) {
    ep::loader::LoadOptions options;
    options.host_abi_minor = EP_ABI_VERSION_MINOR + 2;
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})), options);
    EXPECT_EQ(loaded->plugin_abi_minor, EP_ABI_VERSION_MINOR);
    EXPECT_EQ(loaded->abi_minor, EP_ABI_VERSION_MINOR);
}

// ABI 1.3: the host's table is lent as the negotiated minor has it (CONTRACT.md EP_HOST_13), so a
// plugin of 1.3 loaded by a host offering 1.2 finds no count_event and counts nothing.
TEST_F(LoaderTest, CountEventIsLentOnlyToAPluginThatNegotiated13) {
    ManifestFields f;
    f.library = "\"" EVENT_PROBE_PATH "\"";
    const auto manifest = ep::loader::read_manifest(write(f));
    for (uint16_t host_minor : {uint16_t{2}, uint16_t{EP_ABI_VERSION_MINOR}}) {
        test_support::FakeHost host;
        auto instance = ep::loader::ProviderInstance::create(
            ep::loader::load_provider(manifest, ep::loader::LoadOptions{host_minor}), host.api(), "{}");
        ASSERT_TRUE(instance->status("alice").ok());
        EXPECT_EQ(host.events(),
                  host_minor >= 3 ? std::vector<std::string>{"token_refresh/ok"} : std::vector<std::string>{})
            << "host offering 1." << host_minor;
    }
}

// ABI 1.1: the mock answers a check on its worker thread, stamped with checked_at.
TEST_F(LoaderTest, AConnectionCheckRunsOnThePluginsThreadAndSaysWhen) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})));
    test_support::FakeHost host;
    TempDir outbox;
    auto instance = ep::loader::ProviderInstance::create(loaded, host.api(),
                                                         R"({"outbox_dir":")" + outbox.path().string() + R"("})");
    ASSERT_TRUE(instance->can_check());
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());
    std::promise<std::thread::id> answered_on;
    instance->check_connection("alice", [&](ep::loader::CallResult r) {
        EXPECT_THAT(r.document, HasSubstr(R"("state":"connected")"));
        EXPECT_THAT(r.document, HasSubstr(R"("checked_at":")"));
        answered_on.set_value(std::this_thread::get_id());
    });
    EXPECT_NE(answered_on.get_future().get(), std::this_thread::get_id());
    EXPECT_THAT(instance->check_blocking("bob").document, HasSubstr(R"("state":"not_connected")"));
}

// Hosts check on their outbox thread: a check that does not answer in time is a failed check,
// and the plugin's late answer is harmless.
TEST_F(LoaderTest, ACheckThatDoesNotAnswerInTimeIsAFailedCheck) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})));
    test_support::FakeHost host;
    TempDir outbox;
    auto instance = ep::loader::ProviderInstance::create(
        loaded, host.api(), R"({"outbox_dir":")" + outbox.path().string() + R"(","check_delay_ms":1000})");
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());
    auto started = std::chrono::steady_clock::now();
    auto r = instance->check_blocking("alice", std::chrono::milliseconds(50));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(900));
    EXPECT_TRUE(r.ok());
    EXPECT_THAT(
        r.document,
        HasSubstr(
            R"("check_failed":{"code":"timeout","message":"the provider did not answer the check within 50 ms"})"));
    EXPECT_THAT(r.document, Not(HasSubstr("state")));
    // In time, the same check answers.
    EXPECT_THAT(instance->check_blocking("alice", std::chrono::seconds(10)).document,
                HasSubstr(R"("state":"connected")"));
}

// A host offering 1.0 never calls what 1.0 does not have: the check is get_status's answer.
TEST_F(LoaderTest, AHostSpeaking10FallsBackToGetStatusForChecks) {
    ep::loader::LoadOptions options;
    options.host_abi_minor = 0;
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})), options);
    test_support::FakeHost host;
    TempDir outbox;
    auto instance = ep::loader::ProviderInstance::create(loaded, host.api(),
                                                         R"({"outbox_dir":")" + outbox.path().string() + R"("})");
    EXPECT_FALSE(instance->can_check());
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());
    auto r = instance->check_blocking("alice");
    EXPECT_TRUE(r.ok());
    EXPECT_THAT(r.document, HasSubstr(R"("state":"connected")"));
    EXPECT_THAT(r.document, Not(HasSubstr("checked_at")));
}

TEST_F(LoaderTest, ReportsAnInstanceThatFailsToInitialise) {
    ManifestFields f;
    f.library = "\"" MOCK_CREATE_FAILS_PATH "\"";
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write(f)));
    test_support::FakeHost host;
    TempDir outbox;
    try {
        ep::loader::ProviderInstance::create(loaded, host.api(),
                                             R"({"outbox_dir":")" + outbox.path().string() + R"("})");
        FAIL() << "create should have failed";
    } catch (const LoadError& e) {
        EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("instance creation failed"), HasSubstr("init_failed")));
    }
}

TEST_F(LoaderTest, ReportsTheConfigFieldOfABadInstanceConfig) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write({})));
    test_support::FakeHost host;
    try {
        ep::loader::ProviderInstance::create(loaded, host.api(), R"({"outbox_dir":"/tmp/x","outcome":"maybe"})");
        FAIL() << "create should have failed";
    } catch (const LoadError& e) {
        EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("\"field\":\"outcome\""), HasSubstr("must be one of")));
    }
}

TEST_F(LoaderTest, OtherProvidersStillLoadWhenOneFailsAndDuplicateIdsAreRefused) {
    write({}, "good.json");
    ManifestFields bad;
    bad.id = "\"broken\"";
    bad.library = "\"" MOCK_ABI2_PATH "\"";
    write(bad, "bad.json");
    write({}, "dup.json");  // same id "mock" as good.json
    TempDir outbox;
    std::string cfg = R"({"outbox_dir":")" + outbox.path().string() + R"("})";
    std::string config_text = R"({"providers":[{"manifest":"bad.json"},{"manifest":"good.json","config":)" + cfg +
                              R"(},{"manifest":"dup.json","config":)" + cfg + "}]}";
    dir_.write("host.json", config_text);
    auto config = host::read_host_config(dir_ / "host.json");
    test_support::FakeHost fake;
    struct NullStore final : host::SecretStore {
        std::optional<Entry> get(std::string_view) override { return std::nullopt; }
        std::optional<uint64_t> put(std::string_view, std::span<const uint8_t>, uint64_t) override { return 1; }
        bool erase(std::string_view, uint64_t) override { return true; }
        void erase_prefix(std::string_view) override {}
        std::size_t count_prefix(std::string_view) override { return 0; }
    } store;
    host::Logger logger(EP_LOG_ERROR, [](ep_log_level, std::string_view, std::string_view) {});
    host::ProviderSet set(config, store, logger, [] { return int64_t{0}; });
    ASSERT_EQ(set.entries().size(), 3u);
    EXPECT_FALSE(set.entries()[0].available());
    EXPECT_THAT(set.entries()[0].error, HasSubstr("ABI major mismatch"));
    EXPECT_TRUE(set.entries()[1].available());
    EXPECT_FALSE(set.entries()[2].available());
    EXPECT_THAT(set.entries()[2].error, AllOf(HasSubstr("dup.json"), HasSubstr("already used by")));
    EXPECT_NO_THROW(set.instance("mock"));
    EXPECT_THROW(set.instance("broken"), std::runtime_error);
}

// Issue 21: the host read a FIFO manifest (to notice changes on reload) before the loader
// could refuse it, and hung there.
TEST_F(LoaderTest, AProviderSetRefusesAFifoManifestWithoutHanging) {
    ASSERT_EQ(::mkfifo((dir_ / "fifo.json").c_str(), 0600), 0);
    dir_.write("host.json", R"({"providers":[{"manifest":"fifo.json"}]})");
    auto config = host::read_host_config(dir_ / "host.json");
    struct NullStore final : host::SecretStore {
        std::optional<Entry> get(std::string_view) override { return std::nullopt; }
        std::optional<uint64_t> put(std::string_view, std::span<const uint8_t>, uint64_t) override { return 1; }
        bool erase(std::string_view, uint64_t) override { return true; }
        void erase_prefix(std::string_view) override {}
        std::size_t count_prefix(std::string_view) override { return 0; }
    } store;
    host::Logger logger(EP_LOG_ERROR, [](ep_log_level, std::string_view, std::string_view) {});
    auto loading = std::async(std::launch::async, [&] {
        host::ProviderSet set(config, store, logger, [] { return int64_t{0}; });
        return set.entries().empty() ? std::string("(no entry)") : set.entries()[0].error;
    });
    ASSERT_EQ(loading.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "hung on the FIFO";
    EXPECT_THAT(loading.get(), AllOf(HasSubstr("fifo.json"), HasSubstr("is not a regular file")));
}

// Issue 26: providers enabled by id are found by the search path at start, and again at
// reload (a package installed since is picked up); a path and an id that disagree are refused.
TEST_F(LoaderTest, AProviderSetFindsIdsInTheSearchPathAgainAtEachReload) {
    write({}, "etc/mock.json");
    write({}, "share/mock.json");
    ManifestFields other;
    other.id = "\"other\"";
    TempDir outbox;
    const std::string cfg = R"("isolation":"in_process","config":{"outbox_dir":")" + outbox.path().string() + "\"}";
    dir_.write("host.json", R"({"providers":[{"id":"mock",)" + cfg + R"(},{"id":"other",)" + cfg +
                                R"(},{"id":"elsewhere","manifest":"share/mock.json"}]})");
    auto config = host::read_host_config(dir_ / "host.json");
    config.provider_search_path = {dir_ / "etc", dir_ / "share"};
    struct NullStore final : host::SecretStore {
        std::optional<Entry> get(std::string_view) override { return std::nullopt; }
        std::optional<uint64_t> put(std::string_view, std::span<const uint8_t>, uint64_t) override { return 1; }
        bool erase(std::string_view, uint64_t) override { return true; }
        void erase_prefix(std::string_view) override {}
        std::size_t count_prefix(std::string_view) override { return 0; }
    } store;
    std::vector<std::string> errors;
    host::Logger logger(EP_LOG_ERROR,
                        [&](ep_log_level, std::string_view, std::string_view m) { errors.emplace_back(m); });
    host::ProviderSet set(config, store, logger, [] { return int64_t{0}; });

    auto entries = set.entries();
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_TRUE(entries[0].available()) << entries[0].error;
    EXPECT_EQ(entries[0].manifest_path, dir_ / "etc/mock.json");
    EXPECT_EQ(entries[0].manifest_found_in, (dir_ / "etc").string());
    EXPECT_EQ(entries[1].id, "other");
    EXPECT_THAT(entries[1].error, AllOf(HasSubstr("provider \"other\" has no manifest"),
                                        HasSubstr((dir_ / "etc").string() + ", " + (dir_ / "share").string())));
    EXPECT_THAT(errors, ::testing::Contains(entries[1].error)) << "logged, as a manifest that fails to load is";
    EXPECT_THAT(entries[2].error, AllOf(HasSubstr("provider \"elsewhere\" names the manifest"),
                                        HasSubstr("share/mock.json"), HasSubstr("provider.id is \"mock\"")));
    ASSERT_EQ(set.discovered()->find("mock")->shadowed.size(), 1u);

    write(other, "share/other.json");  // a provider package installed while the host runs
    auto report = set.reload(config);
    EXPECT_EQ(report.unchanged, std::vector<std::string>{"mock"});
    EXPECT_EQ(report.failed, std::vector<std::string>{"elsewhere"});
    EXPECT_TRUE(set.find("other")->available());
    EXPECT_EQ(set.entries()[1].manifest_found_in, (dir_ / "share").string());
}

TEST(PluginExports, EachPluginExportsExactlyTheEntryPoint) {
    const std::pair<const char*, const char*> plugins[] = {
        {MOCK_PROVIDER_PATH, "ep_negotiate\n"},  {MOCK_MINOR1_PATH, "ep_negotiate\n"},
        {MOCK_ABI2_PATH, "ep_negotiate\n"},      {MOCK_NO_ENTRY_PATH, ""},
        {OUTLOOK_PLUGIN_PATH, "ep_negotiate\n"},
    };
    for (const auto& [path, expected] : plugins) {
        auto r = test_support::run_process(
            {"/bin/sh", "-c", std::string("nm -D --defined-only '") + path + "' | awk '{print $3}'"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, expected) << path;
    }
}

// GCC 12's LeakSanitizer misreads the dynamic TLS of a dlopen'ed module and, now and then,
// crashes at exit scanning a bogus range; our plugins therefore keep no thread_local state.
TEST(PluginExports, OurPluginsHaveNoThreadLocalStorage) {
    for (const char* path : {MOCK_PROVIDER_PATH, OUTLOOK_PLUGIN_PATH}) {
        auto r = test_support::run_process({"/bin/sh", "-c", std::string("readelf -lW '") + path + "'"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        ASSERT_THAT(r.out, HasSubstr("LOAD")) << "not a program-header listing: " << path;
        EXPECT_THAT(r.out, Not(HasSubstr(" TLS "))) << path << " has a TLS segment (a thread_local?)";
    }
}

// ---- The manifest against the library (MANIFEST.md) ------------------------------------

TEST_F(LoaderTest, RefusesACapabilityOutsideTheVocabulary) {
    ManifestFields f;
    f.capabilities = R"(["html_body", "teleport"])";
    EXPECT_THAT(
        load_error(f),
        AllOf(HasSubstr("field 'provider.capabilities[1]'"), HasSubstr("\"teleport\" is not a capability of ABI 1.3"),
              HasSubstr("known: interactive_connect, html_body, attachments, custom_headers, threading")));
}

TEST_F(LoaderTest, IgnoresAnUnknownCapabilityOfANewerMinorManifestWithAWarning) {
    ManifestFields f;
    f.abi = "\"1.9\"";
    f.capabilities = R"(["html_body", "teleport"])";
    auto m = ep::loader::read_manifest(write(f));
    EXPECT_EQ(m.capabilities, std::vector<std::string>{"html_body"});
    ASSERT_EQ(m.warnings.size(), 1u);
    EXPECT_THAT(m.warnings[0], AllOf(HasSubstr("\"teleport\""), HasSubstr("ignored")));
}

TEST_F(LoaderTest, WarnsWhenTheManifestClaimsAnotherMinorThanTheLibrary) {
    ManifestFields f;
    f.abi = "\"1.7\"";
    f.capabilities = R"(["html_body", "attachments", "custom_headers", "threading"])";
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write(f)));
    ASSERT_EQ(loaded->warnings.size(), 1u);
    EXPECT_THAT(loaded->warnings[0], HasSubstr("manifest declares ABI 1.7 but the library implements 1.3"));
}

TEST_F(LoaderTest, WarnsWhenTheManifestsCapabilitiesDisagreeWithTheTable) {
    ManifestFields f;
    f.capabilities = R"(["html_body", "attachments", "custom_headers", "threading"])";  // what the mock advertises
    EXPECT_THAT(ep::loader::load_provider(ep::loader::read_manifest(write(f)))->warnings, ::testing::IsEmpty());

    f.capabilities = R"(["interactive_connect", "html_body"])";
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write(f)));
    EXPECT_THAT(
        loaded->warnings,
        ::testing::UnorderedElementsAre(
            HasSubstr("manifest lists capabilities the library does not advertise: interactive_connect"),
            HasSubstr(
                "library advertises capabilities the manifest does not list: attachments, custom_headers, threading")));
}

TEST(ManifestSearch, FollowsTheDocumentedOrder) {
    std::map<std::string, std::string> env = {{"HOME", "/home/rita"}, {"EP_ADD_PROVIDER_PATH", "/opt/a:/opt/b"}};
    auto getenv = [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    };
    using P = std::filesystem::path;
    EXPECT_EQ(ep::loader::manifest_search_dirs(getenv),
              (std::vector<P>{"/opt/a", "/opt/b", "/home/rita/.config/email-provider/providers.d",
                              "/etc/xdg/email-provider/providers.d", "/etc/email-provider/providers.d",
                              "/home/rita/.local/share/email-provider/providers.d",
                              "/usr/local/share/email-provider/providers.d", "/usr/share/email-provider/providers.d"}));
    env["XDG_DATA_DIRS"] = "/srv/share";
    EXPECT_EQ(ep::loader::manifest_search_dirs(getenv).back(), P("/srv/share/email-provider/providers.d"));
    env["EP_PROVIDER_PATH"] = "/only/here";
    EXPECT_EQ(ep::loader::manifest_search_dirs(getenv), std::vector<P>{"/only/here"});
}

TEST(ManifestSearch, FindsJsonFilesSortedPerDirectoryInSearchOrder) {
    TempDir dir;
    dir.write("first/b.json", "{}");
    dir.write("first/a.json", "{}");
    dir.write("first/notes.txt", "");
    dir.write("second/0.json", "{}");
    EXPECT_EQ(ep::loader::find_manifests({dir / "first", dir / "absent", dir / "second"}),
              (std::vector<std::filesystem::path>{dir / "first/a.json", dir / "first/b.json", dir / "second/0.json"}));
}

// What an administrator's /etc override and a package's /usr/share manifest of one id give.
TEST_F(LoaderTest, DiscoveryLetsTheFirstDirectoryWinAndReportsShadowedAndBrokenManifests) {
    ManifestFields admin;
    admin.display_name = "\"Mock (site override)\"";
    write(admin, "etc/mock.json");
    write({}, "share/mock.json");
    ManifestFields other;
    other.id = "\"other\"";
    write(other, "share/other.json");
    dir_.write("share/broken.json", "{ not json");
    // Reached twice (a directory listed twice, a symlink to a file already read): counted once.
    std::filesystem::create_symlink(dir_ / "share/other.json", dir_ / "etc/other-link.json");

    auto found = ep::loader::discover_manifests({dir_ / "etc", dir_ / "share", dir_ / "etc", dir_ / "absent"});
    EXPECT_EQ(found.searched, (std::vector<std::filesystem::path>{dir_ / "etc", dir_ / "share", dir_ / "absent"}));
    ASSERT_EQ(found.providers.size(), 2u);
    const auto* mock = found.find("mock");
    ASSERT_NE(mock, nullptr);
    EXPECT_EQ(mock->winner.directory, dir_ / "etc");
    EXPECT_EQ(mock->winner.file, dir_ / "etc/mock.json");
    EXPECT_EQ(mock->winner.manifest.display_name, "Mock (site override)");
    ASSERT_EQ(mock->shadowed.size(), 1u);
    EXPECT_EQ(mock->shadowed[0].file, dir_ / "share/mock.json");
    const auto* linked = found.find("other");
    ASSERT_NE(linked, nullptr);
    EXPECT_EQ(linked->winner.file, dir_ / "etc/other-link.json");
    EXPECT_TRUE(linked->shadowed.empty()) << "the same file is not its own shadow";
    ASSERT_EQ(found.refused.size(), 1u);
    EXPECT_EQ(found.refused[0].directory, dir_ / "share");
    EXPECT_THAT(found.refused[0].error, AllOf(HasSubstr("broken.json"), HasSubstr("not valid JSON")));
    EXPECT_EQ(found.find("absent"), nullptr);
}

// ---- Messages are validated by the host (CONTRACT.md EP_HOST_9) -------------------------

TEST_F(LoaderTest, TheHostRefusesAnInvalidMessageBeforeTheProviderSeesIt) {
    ManifestFields f;
    f.id = "\"c_example\"";
    f.library = "\"" C_PROVIDER_PATH "\"";  // validates nothing itself
    f.capabilities = "[]";
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(write(f)));
    test_support::FakeHost host;
    auto instance = ep::loader::ProviderInstance::create(loaded, host.api(), "{}");
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());

    auto refused =
        instance->send_blocking("alice", R"({"to":[{"address":"not an address"}],"subject":"s","text":"t"})");
    EXPECT_EQ(refused.status, EP_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(refused.document, AllOf(HasSubstr(R"("outcome":"rejected")"), HasSubstr(R"("field":"to[0].address")")));
    EXPECT_THAT(instance->send_blocking("alice", "[]").document, HasSubstr(R"("outcome":"rejected")"));

    // The provider itself would have sent: the refusal was the host's.
    auto sent = instance->send_blocking("alice", R"({"to":[{"address":"bob@example.org"}],"subject":"s","text":"t"})");
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));
}
