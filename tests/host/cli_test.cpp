// host_stub as a user runs it: exit codes, one-line reasons, --json output.
#include "process.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using test_support::run_process;
using test_support::TempDir;
using ::testing::HasSubstr;

namespace {

struct CliTest : ::testing::Test {
    TempDir dir;
    std::string config = (dir / "host.json").string();

    void SetUp() override {
        dir.write("host.json", R"({"store":{"path":"host.db"},"providers":[
            {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox","address":"rita@example.com"}},
            {"manifest":"missing.json"}]})");
    }
    test_support::ProcessResult host(std::vector<std::string> args, const std::string& input = {}) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", config});
        return run_process(args, input);
    }
};

}  // namespace

TEST_F(CliTest, HelpAndUsageErrors) {
    auto r = run_process({HOST_STUB_PATH, "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr("usage: host_stub"));
    r = run_process({HOST_STUB_PATH});
    EXPECT_EQ(r.exit_code, 2);
    r = host({"frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("unknown command 'frobnicate'"));
    r = host({"send", "--provider", "mock"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--account"));
}

TEST_F(CliTest, ProvidersListsLoadedOnesAndWhyOthersFailed) {
    auto r = host({"--json", "providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto doc = boost::json::parse(r.out).as_object();
    auto& list = doc["providers"].as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].as_object().at("id"), "mock");
    EXPECT_EQ(list[0].as_object().at("abi_version"), "1.0");
    EXPECT_EQ(list[1].as_object().at("available"), false);
    EXPECT_THAT(std::string(list[1].as_object().at("error").as_string()), HasSubstr("missing.json"));
}

TEST_F(CliTest, ConnectThenSendWritesAnEml) {
    auto r = host({"connect", "--provider", "mock", "--account", "alice"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("connected as rita@example.com"));
    r = host({"send", "--provider", "mock", "--account", "alice", "--to", "bob@example.org", "--subject", "Hi", "--text", "Hello"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("sent"));
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir / "outbox")) files += e.path().extension() == ".eml";
    EXPECT_EQ(files, 1);
    r = host({"status", "--provider", "mock", "--account", "alice"});
    EXPECT_THAT(r.out, HasSubstr("connected as rita@example.com"));
}

TEST_F(CliTest, AnAdminConsentLinkFromAProviderWithoutOneIsRefused) {
    auto r = host({"connect", "--provider", "mock", "--account", "alice", "--admin-consent"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("provider 'mock' has no admin-consent link"));
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("Send this link")));
}

TEST_F(CliTest, InvalidMessageExitsNonZeroNamingTheField) {
    host({"connect", "--provider", "mock", "--account", "alice"});
    auto r = host({"send", "--provider", "mock", "--account", "alice", "--to", "nobody", "--subject", "x", "--text", "y"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("to[0].address"));
    r = host({"--json", "send", "--provider", "mock", "--account", "alice", "--to", "a@example.org", "--subject", "x"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.out, HasSubstr("\"field\":\"text\""));
}

TEST_F(CliTest, UnavailableProviderAndBadConfigAreOneLineErrors) {
    auto r = host({"status", "--provider", "outlook", "--account", "a"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("no provider with id 'outlook'"));
    r = run_process({HOST_STUB_PATH, "--config", (dir / "absent.json").string(), "providers"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("absent.json: cannot be opened"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}
