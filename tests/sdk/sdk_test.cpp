// The SDK's firewall, called through the table EP_DECLARE_PROVIDER would export, as a host
// calls it: what a host gets back when the SDK cannot allocate the document it returns.
#include "fake_host.hpp"

#include <email_provider/ep_sdk.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {

std::atomic<bool> fail_nothrow_array_new{false};

}  // namespace

// The SDK allocates returned documents with new (std::nothrow) char[]. This binary replaces
// the array forms of operator new and delete (all of them, so that every array allocation
// pairs malloc with free) to make exactly that allocation fail on demand.
void* operator new[](std::size_t n) {
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return fail_nothrow_array_new ? nullptr : std::malloc(n ? n : 1);
}
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

class StatusOnly final : public ep::sdk::Provider {
public:
    StatusOnly(ep::sdk::Host, std::string_view) {}
    std::string begin_connect(std::string_view, std::string_view) override { return {}; }
    std::string complete_connect(std::string_view, std::string_view) override { return {}; }
    std::string status(std::string_view) override { return R"({"schema":"ep.status/1","state":"not_connected"})"; }
    std::string disconnect(std::string_view) override { return {}; }
    std::string forget_account(std::string_view) override { return {}; }
    ep::sdk::SendAdmission send(std::string_view, std::string_view, ep::sdk::SendCallback) override {
        return {EP_ERR_UNSUPPORTED, {}};
    }
};

using Exports = ep::sdk::detail::Exports<StatusOnly>;

class SdkTest : public ::testing::Test {
protected:
    void SetUp() override {
        ep_owned_str out{};
        ASSERT_EQ(Exports::create(host_.api(), ep::sdk::to_ep("{}"), &instance_, &out), EP_OK);
        ep::sdk::detail::free_str(&out);
    }
    void TearDown() override {
        fail_nothrow_array_new = false;
        Exports::destroy(instance_);
    }

    test_support::FakeHost host_;
    ep_instance* instance_ = nullptr;
};

}  // namespace

TEST_F(SdkTest, ReturnsTheDocumentItCouldAllocate) {
    ep_owned_str out{};
    ASSERT_EQ(Exports::get_status(instance_, ep::sdk::to_ep("alice"), &out), EP_OK);
    EXPECT_EQ(std::string(out.data, out.len), R"({"schema":"ep.status/1","state":"not_connected"})");
    ep::sdk::detail::free_str(&out);
}

TEST_F(SdkTest, ReportsNoMemoryRatherThanSuccessWhenTheDocumentCannotBeAllocated) {
    fail_nothrow_array_new = true;
    ep_owned_str out{};
    EXPECT_EQ(Exports::get_status(instance_, ep::sdk::to_ep("alice"), &out), EP_ERR_NO_MEMORY);
    EXPECT_EQ(out.data, nullptr);
    EXPECT_EQ(out.len, 0u);
}

// A provider that does not override check_connection says so, and never calls back: hosts
// then fall back to get_status (ABI 1.1).
TEST_F(SdkTest, CheckConnectionDefaultsToUnsupportedWithoutCallingBack) {
    static std::atomic<int> called{0};
    auto callback = [](void*, ep_str) noexcept { called.fetch_add(1); };
    EXPECT_EQ(Exports::check_connection(instance_, ep::sdk::to_ep("alice"), callback, nullptr), EP_ERR_UNSUPPORTED);
    EXPECT_EQ(Exports::check_connection(instance_, ep::sdk::to_ep("alice"), nullptr, nullptr), EP_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(called.load(), 0);
}

// One writing of the documents' times for the host and every provider (SCHEMAS.md: ISO 8601
// UTC); 0 is "never", not the epoch.
TEST(SdkIsoTime, WritesUtcToTheSecondAndNothingForNever) {
    EXPECT_EQ(ep::sdk::iso_time(1764493500999), "2025-11-30T09:05:00Z");
    EXPECT_EQ(ep::sdk::iso_time(1000), "1970-01-01T00:00:01Z");
    EXPECT_EQ(ep::sdk::iso_time(0), "");
    EXPECT_EQ(ep::sdk::iso_time(-5), "");
}

// ABI 1.3: Host::count_event reaches the host only when its table has count_event; a table of
// 1.2's size, or one whose size ends inside the field, has none, and counting does nothing.
TEST(SdkHost, CountsEventsOnlyThroughATableThatHasCountEvent) {
    test_support::FakeHost host;
    ep::sdk::Host(host.api()).count_event("token_refresh", "ok");
    EXPECT_EQ(host.events(), std::vector<std::string>{"token_refresh/ok"});

    for (uint32_t size :
         {uint32_t(offsetof(ep_host_api, count_event)), uint32_t(offsetof(ep_host_api, count_event) + 4)}) {
        ep_host_api older = *host.api();
        older.struct_size = size;
        ep::sdk::Host(&older).count_event("token_refresh", "transient");
        EXPECT_EQ(host.events().size(), 1u) << "a table of " << size << " bytes";
    }
}
