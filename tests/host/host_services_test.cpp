// The host's side of ABI 1.3 count_event: the events providers count reach the sink the host
// runtime sets (its metrics), labelled by provider, and only words of plugin_api/SCHEMAS.md
// "events" get through, so that no plugin can grow the host's metrics without bound.
#include "process.hpp"

#include "core/host_runtime.hpp"
#include "core/logger.hpp"
#include "providers/host_services.hpp"
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_secret_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace {

ep_str view(std::string_view s) { return ep_str{s.data(), s.size()}; }

class HostEvents : public ::testing::Test {
protected:
    void count(const host::HostServices& services, std::string_view event, std::string_view outcome) {
        const ep_host_api& api = *services.api();
        ASSERT_GE(api.struct_size, offsetof(ep_host_api, count_event) + sizeof api.count_event);
        api.count_event(api.host_ctx, view(event), view(outcome));
    }
    std::vector<std::string> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    host::EventSink sink() {
        return [this](std::string_view provider, std::string_view event, std::string_view outcome) {
            std::lock_guard lock(mutex_);
            seen_.push_back(std::string(provider) + " " + std::string(event) + " " + std::string(outcome));
        };
    }

    test_support::TempDir dir_;
    host::SqliteHostDatabase db_ = host::SqliteHostDatabase::open(dir_ / "host.db");
    host::SqliteSecretStore store_{db_};
    host::Logger logger_{EP_LOG_ERROR, [](ep_log_level, std::string_view, std::string_view) {}};
    std::mutex mutex_;
    std::vector<std::string> seen_;
};

}  // namespace

TEST_F(HostEvents, KnownEventsReachTheSinkUnknownOutcomesAreOtherAndUnknownEventsAreDropped) {
    auto slot = std::make_shared<host::EventSinkSlot>();
    host::HostServices services("acme", store_, logger_, host::system_clock(), slot);
    count(services, "token_refresh", "ok");  // no sink yet: dropped
    slot->set(sink());
    count(services, "token_refresh", "ok");
    count(services, "token_refresh", "invalid_grant");
    count(services, "token_refresh", "conflict");
    count(services, "token_refresh", "alice@example.org");  // not an outcome: never a label
    count(services, "token_refresh", "");
    count(services, "signed_in_alice", "ok");  // not an event the host knows
    count(services, "", "");
    EXPECT_EQ(seen(), (std::vector<std::string>{"acme token_refresh ok", "acme token_refresh invalid_grant",
                                                "acme token_refresh conflict", "acme token_refresh other",
                                                "acme token_refresh other"}));
}

TEST_F(HostEvents, ASinkSetLaterOrReplacedServesProvidersAlreadyRunningAndNoSinkIsHarmless) {
    host::HostServices without_slot("plain", store_, logger_, host::system_clock());
    count(without_slot, "token_refresh", "ok");
    auto slot = std::make_shared<host::EventSinkSlot>();
    host::HostServices services("acme", store_, logger_, host::system_clock(), slot);
    slot->set(sink());
    count(services, "token_refresh", "transient");
    slot->set({});
    count(services, "token_refresh", "ok");
    EXPECT_EQ(seen(), std::vector<std::string>{"acme token_refresh transient"});
}

// The whole path: the runtime's providers, one in its runner and one in this process, each count
// an event (the probe counts one per status read) that reaches the runtime's sink with its id.
TEST_F(HostEvents, TheRuntimesProvidersCountThroughItsSinkWhereverTheyRun) {
    for (const char* id : {"probe", "inproc"})
        dir_.write(std::string("rt/") + id + ".json",
                   std::string(R"({"file_format_version":"1.0.0","provider":{"id":")") + id +
                       R"(","display_name":"Probe","library_path":")" EVENT_PROBE_PATH
                       R"(","abi_version":"1.3","capabilities":[]}})");
    dir_.write("rt/host.json", R"({"store":{"path":"host.db"},"log_level":"error","providers":[
        {"manifest":"probe.json","config":{}},
        {"manifest":"inproc.json","isolation":"in_process","config":{}}]})");
    host::HostRuntime runtime(dir_ / "rt/host.json");
    runtime.providers->set_event_sink(sink());
    ASSERT_TRUE(runtime.providers->instance("probe")->status("alice").ok());
    ASSERT_TRUE(runtime.providers->instance("inproc")->status("alice").ok());
    test_support::wait_until([&] { return seen().size() >= 2; }, std::chrono::seconds(5));
    EXPECT_THAT(seen(), ::testing::UnorderedElementsAre("probe token_refresh ok", "inproc token_refresh ok"));
}
