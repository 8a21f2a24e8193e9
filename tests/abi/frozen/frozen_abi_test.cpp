// A released ABI against today's code, end to end (tests/abi/README.md). Built twice per
// release by tests/CMakeLists.txt:
//   - FROZEN_PROVIDER: today's loader and host services load a provider built from the
//     released ep_abi.h (the C example, which needs nothing else);
//   - FROZEN_HOST: the loader and the host services compiled from the released ep_abi.h
//     load today's mock provider.
// Either way: load, negotiate, create, connect, status, send, disconnect.
#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

using ::testing::HasSubstr;
using ::testing::Not;

// The loader's namespace: today's (ep::loader), or the one a frozen loader was released with.
#ifndef FROZEN_LOADER_NAMESPACE
#define FROZEN_LOADER_NAMESPACE ep::loader
#endif
namespace loader = FROZEN_LOADER_NAMESPACE;

namespace {

std::string config_for(const std::filesystem::path& dir) {
#ifdef FROZEN_PROVIDER
    (void)dir;
    return "{}";
#else
    return R"({"outbox_dir":")" + dir.string() + R"("})";
#endif
}

}  // namespace

// FROZEN_SUITE names the release and the side built from it, e.g. FrozenAbi1_0Provider.
TEST(FROZEN_SUITE, ConnectStatusSendDisconnect) {
    test_support::TempDir dir;
    dir.write("provider.json", R"({"file_format_version":"1.0.0","provider":{"id":"frozen","display_name":"Frozen",
        "library_path":")" PLUGIN_PATH R"(","abi_version":")" FROZEN_RELEASE R"(","capabilities":[]}})");
    auto loaded = loader::load_provider(loader::read_manifest(dir / "provider.json"));
    EXPECT_EQ(loaded->abi_major, EP_ABI_VERSION_MAJOR);

    test_support::FakeHost host;
    auto instance = loader::ProviderInstance::create(loaded, host.api(), config_for(dir.path()));
    auto connect = instance->begin_connect("alice", "{}");
    ASSERT_TRUE(connect.ok()) << connect.document;
    auto status = instance->status("alice");
    ASSERT_TRUE(status.ok()) << status.document;
    EXPECT_THAT(status.document, HasSubstr(R"("state":"connected")"));
#ifdef FROZEN_PROVIDER
    // Today's host asks a provider of a release without check_connection for its status instead.
    EXPECT_FALSE(instance->can_check());
    auto checked = instance->check_blocking("alice");
    ASSERT_TRUE(checked.ok()) << checked.document;
    EXPECT_THAT(checked.document, HasSubstr(R"("state":"connected")"));
#endif

    auto sent = instance->send_blocking("alice", R"({"to":[{"address":"bob@example.org"}],"subject":"s","text":"t"})");
    EXPECT_EQ(sent.status, EP_OK);
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));

    ASSERT_TRUE(instance->disconnect("alice").ok());
    EXPECT_THAT(instance->status("alice").document, HasSubstr(R"("state":"not_connected")"));
}

#ifdef FROZEN_PROVIDER
// A provider of any release runs in an ep-provider-runner unchanged (ISOLATION.md): the runner
// negotiates with it as today's loader does, and its answers cross the channel as they are.
TEST(FROZEN_SUITE, RunsIsolatedUnchanged) {
    test_support::TempDir dir;
    dir.write("provider.json", R"({"file_format_version":"1.0.0","provider":{"id":"frozen","display_name":"Frozen",
        "library_path":")" PLUGIN_PATH R"(","abi_version":")" FROZEN_RELEASE R"(","capabilities":[]}})");
    test_support::FakeHost host;
    auto provider = loader::start_isolated(loader::read_manifest(dir / "provider.json"), host.api(), "{}");
    EXPECT_EQ(provider->info().plugin_abi_minor, std::stoi(std::string(FROZEN_RELEASE).substr(2)));
    EXPECT_FALSE(provider->can_check());
    ASSERT_TRUE(provider->begin_connect("alice", "{}").ok());
    EXPECT_THAT(provider->check_blocking("alice").document, HasSubstr(R"("state":"connected")"));
    auto sent = provider->send_blocking("alice", R"({"to":[{"address":"bob@example.org"}],"subject":"s","text":"t"})");
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));
    ASSERT_TRUE(provider->disconnect("alice").ok());
    EXPECT_THAT(provider->status("alice").document, HasSubstr(R"("state":"not_connected")"));
}
#endif

// ABI 1.2 across releases. Today's host asks a provider of any release whether it threads and
// what its sending limits are; the C example (of every release) does neither, and a message with
// threading fields still goes out: a plugin that does not know them ignores them. A host of 1.2
// gets today's mock's Message-ID back; a host of an older release never puts threading fields in
// a message (it has none to put), and today's mock still sends what it gets.
TEST(FROZEN_SUITE, ThreadingAcrossReleases) {
    test_support::TempDir dir;
    dir.write("provider.json", R"({"file_format_version":"1.0.0","provider":{"id":"frozen","display_name":"Frozen",
        "library_path":")" PLUGIN_PATH R"(","abi_version":")" FROZEN_RELEASE R"(","capabilities":[]}})");
    auto loaded = loader::load_provider(loader::read_manifest(dir / "provider.json"));
    test_support::FakeHost host;
    auto instance = loader::ProviderInstance::create(loaded, host.api(), config_for(dir.path()));
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());
    const std::string plain = R"({"to":[{"address":"bob@example.org"}],"subject":"s","text":"t")";
    const std::string threaded = plain + R"(,"message_id":"<b@x.org>","in_reply_to":"<a@x.org>","references":["<a@x.org>"]})";
#ifdef FROZEN_PROVIDER
    EXPECT_FALSE(instance->threads_messages());
    EXPECT_EQ(instance->sending_limits("alice").status, EP_ERR_UNSUPPORTED);
    auto sent = instance->send_blocking("alice", threaded);
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));
#elif EP_ABI_VERSION_MINOR >= 2
    EXPECT_TRUE(instance->threads_messages());
    auto sent = instance->send_blocking("alice", threaded);
    EXPECT_THAT(sent.document, HasSubstr(R"("internet_message_id":"<b@x.org>")"));
#else
    auto sent = instance->send_blocking("alice", plain + "}");
    EXPECT_THAT(sent.document, HasSubstr(R"("outcome":"sent")"));
    EXPECT_THAT(sent.document, Not(HasSubstr("<b@x.org>")));
#endif
}

#ifndef FROZEN_PROVIDER
// The other plugins of today load and negotiate too (the Outlook plugin needs the Microsoft
// stand-in to go further; the mock above goes all the way).
TEST(FROZEN_SUITE, NegotiatesWithEachOfTodaysPlugins) {
    for (const char* path : {OUTLOOK_PLUGIN_PATH, C_PROVIDER_PATH}) {
        test_support::TempDir dir;
        dir.write("provider.json", std::string(R"({"file_format_version":"1.0.0","provider":{"id":"today",
            "display_name":"Today","library_path":")") + path + R"(","abi_version":")" FROZEN_RELEASE R"(",
            "capabilities":[]}})");
        auto loaded = loader::load_provider(loader::read_manifest(dir / "provider.json"));
        EXPECT_EQ(loaded->abi_major, EP_ABI_VERSION_MAJOR) << path;
        EXPECT_GE(loaded->api.struct_size, sizeof(ep_provider_api)) << path;
    }
}
#endif

#ifndef FROZEN_PROVIDER
// ABI 1.3 across releases: today's plugin counts its events through count_event (the probe counts
// one per status read) only in a host that lends it. A host of an older release has a smaller
// table; here it is followed by a function where 1.3's count_event would be, which a plugin that
// read past the table's struct_size would call.
TEST(FROZEN_SUITE, CountsEventsOnlyInAHostThatLendsCountEvent) {
    test_support::TempDir dir;
    dir.write("provider.json", R"({"file_format_version":"1.0.0","provider":{"id":"probe","display_name":"Probe",
        "library_path":")" EVENT_PROBE_PATH R"(","abi_version":")" FROZEN_RELEASE R"(","capabilities":[]}})");
    auto loaded = loader::load_provider(loader::read_manifest(dir / "provider.json"));
    test_support::FakeHost host;
#if EP_ABI_VERSION_MINOR >= 3
    auto instance = loader::ProviderInstance::create(loaded, host.api(), "{}");
    ASSERT_TRUE(instance->status("alice").ok());
    EXPECT_EQ(host.events(), std::vector<std::string>{"token_refresh/ok"});
#else
    static std::atomic<int> past_the_table{0};
    struct TableAndMore {
        ep_host_api api;
        void(EP_CALL* next)(void*, ep_str, ep_str);
    } table{*host.api(), [](void*, ep_str, ep_str) { ++past_the_table; }};
    auto instance = loader::ProviderInstance::create(loaded, &table.api, "{}");
    ASSERT_TRUE(instance->status("alice").ok());
    EXPECT_EQ(past_the_table.load(), 0);
    EXPECT_TRUE(host.events().empty());
#endif
}
#endif
