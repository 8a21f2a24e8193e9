// host_stub as a user runs it: exit codes, one-line reasons, --json output.
#include "process.hpp"

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

using test_support::run_process;
using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

struct CliTest : ::testing::Test {
    TempDir dir;
    std::string config = (dir / "host.json").string();

    void SetUp() override {
        dir.write("host.json",
                  R"({"store":{"path":"host.db"},"providers":[
            {"manifest":")" EP_BUILD_DIR
                  R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox","address":"rita@example.com"}},
            {"manifest":"missing.json"}]})");
    }
    // Only the test's own provider search path: what this machine has installed stays out.
    std::vector<std::string> env = {"EP_PROVIDER_PATH=" + (dir / "providers.d").string()};

    test_support::ProcessResult host(std::vector<std::string> args, const std::string& input = {}) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", config});
        return run_process(args, input, env);
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
    EXPECT_EQ(list[0].as_object().at("abi_version"), "1.3");
    EXPECT_EQ(list[1].as_object().at("available"), false);
    EXPECT_THAT(std::string(list[1].as_object().at("error").as_string()), HasSubstr("missing.json"));
}

// Issue 26: an administrator's /etc manifest overrides a package's /usr/share one of the same
// id, and `providers` says where each was found, which one is shadowed and what is installed
// but not enabled.
TEST_F(CliTest, ProvidersSaysWhereEachManifestWasFoundAndWhatIsShadowedOrNotEnabled) {
    std::filesystem::create_directories(dir / "etc");
    // The build tree's manifest, linked in as an administrator links a package's manifest.
    std::filesystem::create_symlink(EP_BUILD_DIR "/manifests/mock.json", dir / "etc/mock.json");
    const std::string packaged = R"({"file_format_version":"1.0.0","provider":{"id":"ID","display_name":"NAME",
        "library_path":")" MOCK_PROVIDER_PATH R"(","abi_version":"1.2","capabilities":[]}})";
    auto manifest = [&](const std::string& id, const std::string& name) {
        std::string m = packaged;
        m.replace(m.find("ID"), 2, id);
        return m.replace(m.find("NAME"), 4, name);
    };
    dir.write("share/mock.json", manifest("mock", "Packaged mock"));
    dir.write("share/spare.json", manifest("spare", "Spare provider"));
    dir.write("share/broken.json", "{");
    dir.write("host.json", R"({"store":{"path":"host.db"},"providers":[
        {"id":"mock","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    env = {"EP_PROVIDER_PATH=" + (dir / "etc").string() + ":" + (dir / "share").string()};

    auto r = host({"--json", "providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto text = [](const boost::json::value& v) { return std::string(v.as_string()); };
    auto doc = boost::json::parse(r.out).as_object();
    const auto& mock = doc["providers"].as_array().at(0).as_object();
    EXPECT_EQ(mock.at("available"), true);
    EXPECT_EQ(mock.at("display_name"), "Mock provider (writes .eml files)") << "the /etc one wins";
    EXPECT_EQ(text(mock.at("manifest")), (dir / "etc/mock.json").string());
    EXPECT_EQ(text(mock.at("found_in")), (dir / "etc").string());
    const auto& search = doc["search_path"].as_object();
    ASSERT_EQ(search.at("shadowed").as_array().size(), 1u);
    const auto& shadowed = search.at("shadowed").as_array()[0].as_object();
    EXPECT_EQ(text(shadowed.at("manifest")), (dir / "share/mock.json").string());
    EXPECT_EQ(text(shadowed.at("shadowed_by")), (dir / "etc/mock.json").string());
    ASSERT_EQ(search.at("not_enabled").as_array().size(), 1u);
    EXPECT_EQ(search.at("not_enabled").as_array()[0].as_object().at("id"), "spare");
    ASSERT_EQ(search.at("invalid").as_array().size(), 1u);

    r = host({"providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("mock\tMock provider (writes .eml files)\tABI 1.3\town process\tfound in " +
                                 (dir / "etc").string() + "\n"));
    EXPECT_THAT(
        r.out, HasSubstr("spare\tSpare provider\tinstalled, not enabled\tfound in " + (dir / "share").string() + "\n"));
    EXPECT_THAT(r.out, HasSubstr("mock\tshadowed by " + (dir / "etc/mock.json").string() + "\t" +
                                 (dir / "share/mock.json").string() + "\n"));
    EXPECT_THAT(r.out, HasSubstr("?\tinvalid manifest\tmanifest " + (dir / "share/broken.json").string()));
}

TEST_F(CliTest, AnEnabledIdNoSearchDirectoryHasIsNamedWithTheDirectoriesAndOthersStillLoad) {
    dir.write("host.json", R"({"store":{"path":"host.db"},"providers":[{"id":"absent"},
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    auto r = host({"providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string why = "provider \"absent\" has no manifest in the provider search path (searched, in order: " +
                            (dir / "providers.d").string() + ")";
    EXPECT_THAT(r.out, HasSubstr("absent\tunavailable\tconfig " + (dir / "host.json").string() + ": " + why));
    EXPECT_THAT(r.err, HasSubstr(why)) << "logged at start";
    EXPECT_THAT(r.out, HasSubstr("mock\tMock provider (writes .eml files)\tABI 1.3\town process\tmanifest " EP_BUILD_DIR
                                 "/manifests/mock.json (config)\n"));
}

TEST_F(CliTest, ConnectThenSendWritesAnEml) {
    auto r = host({"connect", "--provider", "mock", "--account", "alice"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("connected as rita@example.com"));
    r = host({"send", "--provider", "mock", "--account", "alice", "--to", "bob@example.org", "--subject", "Hi",
              "--text", "Hello"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("sent"));
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir / "outbox")) files += e.path().extension() == ".eml";
    EXPECT_EQ(files, 1);
    r = host({"status", "--provider", "mock", "--account", "alice"});
    EXPECT_THAT(r.out, HasSubstr("connected as rita@example.com"));
}

TEST_F(CliTest, CheckAsksTheProviderNowAndSaysWhen) {
    auto r = host({"check", "--provider", "mock", "--account", "alice"});
    EXPECT_EQ(r.exit_code, 3) << "not connected is not a success";
    EXPECT_THAT(r.out, HasSubstr("not connected"));
    ASSERT_EQ(host({"connect", "--provider", "mock", "--account", "alice"}).exit_code, 0);
    r = host({"check", "--provider", "mock", "--account", "alice"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("connected as rita@example.com"));
    EXPECT_THAT(r.out, HasSubstr("checked at 20"));
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr("could not record")))
        << "an account without a host user is recorded too";
    r = host({"--json", "check", "--provider", "mock", "--account", "alice"});
    EXPECT_THAT(r.out, HasSubstr(R"("checked_at":")"));
    r = host({"status", "--provider", "mock", "--account", "alice"});
    EXPECT_THAT(r.out, HasSubstr("last checked with the provider at 20")) << "the check is remembered";
}

TEST_F(CliTest, AnAdminConsentLinkFromAProviderWithoutOneIsRefused) {
    auto r = host({"connect", "--provider", "mock", "--account", "alice", "--admin-consent"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("provider 'mock' has no admin-consent link"));
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("Send this link")));
}

TEST_F(CliTest, InvalidMessageExitsNonZeroNamingTheField) {
    host({"connect", "--provider", "mock", "--account", "alice"});
    auto r =
        host({"send", "--provider", "mock", "--account", "alice", "--to", "nobody", "--subject", "x", "--text", "y"});
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

// Issue 21: --config naming a FIFO hung until killed; /dev/zero ended in std::bad_alloc after
// seconds. Both are one-line errors at once.
TEST_F(CliTest, AConfigThatIsNotARegularFileIsAOneLineErrorAtOnce) {
    ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
    for (const std::string& file : {(dir / "fifo.json").string(), std::string("/dev/zero")}) {
        const auto start = std::chrono::steady_clock::now();
        auto r = run_process({HOST_STUB_PATH, "--config", file, "providers"});
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_THAT(r.err, HasSubstr(file + ": is not a regular file"));
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << file;
    }
}

// ---- Issue 16: inputs from an outside attack on the CLI -------------------------------------

TEST_F(CliTest, AttachRefusesWhatIsNotARegularFile) {
    ASSERT_EQ(host({"connect", "--provider", "mock", "--account", "alice"}).exit_code, 0);
    std::vector<std::string> send = {"send",          "--provider", "mock", "--account", "alice", "--to",
                                     "a@example.org", "--subject",  "s",    "--text",    "t",     "--attach"};
    auto with = [&](const std::string& file) {
        auto args = send;
        args.push_back(file);
        return host(args);
    };
    std::filesystem::create_directory(dir / "folder");
    auto r = with((dir / "folder").string());  // was: an empty attachment named "folder"
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("is not a regular file"));
    r = with("/dev/zero");  // was: read until memory ran out
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("/dev/zero: is not a regular file"));

    // A FIFO: was a blocking open, then a read until some writer closed it. If the host ever
    // waits on it again, a writer shows up after 3 s so that the test ends (and fails).
    std::string fifo = (dir / "pipe").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::atomic<bool> done{false};
    std::thread unblock([&] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        std::this_thread::sleep_for(std::chrono::seconds(3));
        while (!done && std::chrono::steady_clock::now() < deadline) {
            int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // only succeeds while a reader waits
            if (fd >= 0) {
                ::close(fd);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    auto started = std::chrono::steady_clock::now();
    r = with(fifo);
    auto elapsed = std::chrono::steady_clock::now() - started;
    done = true;
    unblock.join();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("is not a regular file"));
    EXPECT_LT(elapsed, std::chrono::seconds(3)) << "the host waited on the FIFO";

    // Too big (a sparse file): refused before it is read.
    std::ofstream(dir / "huge.bin").close();
    std::filesystem::resize_file(dir / "huge.bin", 21u << 20);
    r = with((dir / "huge.bin").string());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("huge.bin: is larger than the 20 MiB"));
}

TEST_F(CliTest, DeletingAnUnknownUserIsAnError) {
    auto r = host({"delete-user", "--user", "nobody"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("no host user 'nobody'"));
    EXPECT_THAT(r.out, Not(HasSubstr("deleted")));
}

TEST_F(CliTest, NudgeForAnUnknownUserNamesTheUser) {
    dir.write("host.json", R"({"store":{"path":"host.db"},"users":[{"id":"rita","display_name":"Rita"}],"providers":[
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    auto r = host({"nudge", "--user", "ghost", "--to", "casey@example.org", "--subject", "s", "--text", "t"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("no host user 'ghost'"));
    EXPECT_THAT(r.err, Not(HasSubstr("no email provider is chosen")));
}

TEST_F(CliTest, NudgeRefusesAnInvalidMessageWhenQueued) {
    dir.write("host.json", R"({"store":{"path":"host.db"},"users":[{"id":"rita","display_name":"Rita"}],"providers":[
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    ASSERT_EQ(host({"settings", "--user", "rita", "--channel", "email", "--email-provider", "mock"}).exit_code, 0);
    auto r = host({"nudge", "--user", "rita", "--to", "not an address", "--subject", "s", "--text", "t"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("to[0].address"));
    r = host({"nudge", "--user", "rita", "--to", "casey@example.org", "--subject", "line\nbreak", "--text", "t"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("subject"));
    EXPECT_THAT(host({"outbox", "--user", "rita"}).out, HasSubstr("(empty)")) << "nothing invalid was queued";
    EXPECT_EQ(host({"nudge", "--user", "rita", "--to", "casey@example.org", "--subject", "s", "--text", "t"}).exit_code,
              0);
}

// A provider that declares sending limits: the listing says how many more may go out today
// from the connected mailbox (and --json gives the limits and the count).
TEST_F(CliTest, OutboxSaysHowManyMoreMayGoOutToday) {
    dir.write("host.json", R"({"store":{"path":"host.db"},"users":[{"id":"rita","display_name":"Rita"}],"providers":[
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox",
         "sending_limits":{"messages_per_day":50}}}]})");
    ASSERT_EQ(host({"settings", "--user", "rita", "--channel", "email", "--email-provider", "mock"}).exit_code, 0);
    ASSERT_EQ(host({"connect", "--provider", "mock", "--account", "rita"}).exit_code, 0);
    EXPECT_THAT(host({"outbox", "--user", "rita"}).out,
                HasSubstr("From mock.sender@example.com: about 50 more today (limit 50 in 24 hours)."));
    auto listed = boost::json::parse(host({"--json", "outbox", "--user", "rita"}).out).as_object();
    EXPECT_EQ(listed["sending_limits"].as_object()["messages_per_day"], 50);
}

TEST_F(CliTest, ControlCharactersInAManifestAreShownEscaped) {
    dir.write("evil.json", R"({"file_format_version":"1.0.0","provider":{"id":"mock",
        "display_name":"Mock\u001b[2J\nfake\tline","library_path":")" MOCK_PROVIDER_PATH R"(","abi_version":"1.0",
        "capabilities":[]}})");
    // A second manifest whose load error (logged, and listed) carries its library path.
    dir.write("broken.json", R"({"file_format_version":"1.0.0","provider":{"id":"broken","display_name":"Broken",
        "library_path":"/nonexistent/\u001b[31m\n2026-01-01T00:00:00Z ERROR [host] forged.so","abi_version":"1.0",
        "capabilities":[]}})");
    dir.write("host.json", R"({"store":{"path":"host.db"},"providers":[
        {"manifest":"evil.json","config":{"outbox_dir":"${config_dir}/outbox"}},{"manifest":"broken.json"}]})");
    auto r = host({"providers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "a raw escape sequence reached the terminal";
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "a raw escape sequence reached the log";
    EXPECT_THAT(r.out, HasSubstr("Mock\\x1b[2J\\x0afake\\x09line"));
    EXPECT_THAT(r.err, HasSubstr("\\x1b[31m\\x0a2026-01-01T00:00:00Z ERROR [host] forged.so"));
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << "two providers, two lines";
    EXPECT_EQ(r.err.find("\n2026-01-01T00:00:00Z"), std::string::npos) << "a forged log line";
}

TEST_F(CliTest, OutboxRequeueAndFailNameWhatIsWrong) {
    dir.write("host.json", R"({"store":{"path":"host.db"},"users":[{"id":"rita","display_name":"Rita"}],"providers":[
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    ASSERT_EQ(host({"settings", "--user", "rita", "--email-provider", "mock"}).exit_code, 0);
    ASSERT_EQ(host({"nudge", "--user", "rita", "--to", "casey@example.org", "--subject", "s", "--text", "t"}).exit_code,
              0);

    auto r = host({"outbox", "requeue", "--id", "abc"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--id"));
    r = host({"outbox", "requeue", "--id", "0"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--id 0: a nudge id is a positive number"));
    r = host({"outbox", "fail", "--id", "999"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("there is no nudge 999"));
    r = host({"outbox", "frob", "--id", "1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("unknown action 'frob'"));
    r = host({"outbox", "requeue", "--id", "1"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("nudge 1 is queued, not held"));

    r = host({"--json", "outbox", "fail", "--id", "1", "--reason", "duplicate of 7"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(boost::json::parse(r.out).at("state"), "failed");
    EXPECT_THAT(host({"outbox", "--user", "rita"}).out, HasSubstr("Failed by an operator: duplicate of 7"));
    r = host({"outbox", "fail", "--id", "1"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_THAT(r.err, HasSubstr("nudge 1 is failed"));
}

TEST_F(CliTest, ReloadSignalsOnlyALiveServeThatHoldsThePidFile) {
    auto r = host({"reload"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--pid-file"));
    r = host({"reload", "--pid-file", (dir / "none.pid").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("cannot be read"));
    dir.write("stale.pid", "1\n");  // init: a stale file must never make us signal it
    r = host({"reload", "--pid-file", (dir / "stale.pid").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("no serve holds it"));

    std::string pid_file = (dir / "serve.pid").string();
    int pid = test_support::spawn_process(
        {HOST_STUB_PATH, "--config", config, "serve", "--port", "0", "--pid-file", pid_file}, dir / "serve.out",
        dir / "serve.err");
    ASSERT_TRUE(test_support::wait_until(
        [&] { return test_support::read_file(dir / "serve.out").find("Settings page") != std::string::npos; },
        std::chrono::seconds(10)))
        << test_support::read_file(dir / "serve.err");
    auto second = host({"serve", "--port", "0", "--pid-file", pid_file});
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_THAT(second.err, HasSubstr("another serve holds it"));

    // The missing manifest is fixed: serve picks it up without a restart.
    dir.write("spare.json", R"({"file_format_version":"1.0.0","provider":{"id":"spare","display_name":"Spare",
        "library_path":")" EP_BUILD_DIR R"(/lib/libmock_provider.so","abi_version":"1.1","capabilities":[]}})");
    dir.write("host.json", R"({"store":{"path":"host.db"},"providers":[
        {"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}},
        {"manifest":"spare.json","config":{"outbox_dir":"${config_dir}/outbox"}}]})");
    r = host({"reload", "--pid-file", pid_file});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("asked serve (pid " + std::to_string(pid) + ")"));
    EXPECT_TRUE(test_support::wait_until(
        [&] { return test_support::read_file(dir / "serve.err").find("added: spare") != std::string::npos; },
        std::chrono::seconds(10)))
        << test_support::read_file(dir / "serve.err");
    EXPECT_EQ(test_support::stop_process(pid, SIGTERM), 0);
    EXPECT_FALSE(std::filesystem::exists(pid_file)) << "serve removes its pid file";
}

// A new serve may take the lock on a stale file before it writes its pid: `reload` must ask the
// kernel who holds the lock and signal that process, never the pid the file names.
TEST_F(CliTest, ReloadSignalsTheLockHolderNotThePidWrittenInTheFile) {
    std::string pid_file = (dir / "serve.pid").string();
    int serve = test_support::spawn_process(
        {HOST_STUB_PATH, "--config", config, "serve", "--port", "0", "--pid-file", pid_file}, dir / "serve.out",
        dir / "serve.err");
    ASSERT_TRUE(test_support::wait_until(
        [&] { return test_support::read_file(dir / "serve.out").find("Settings page") != std::string::npos; },
        std::chrono::seconds(10)))
        << test_support::read_file(dir / "serve.err");
    int bystander = test_support::spawn_process({"/bin/sleep", "60"}, dir / "sleep.out", dir / "sleep.err");
    dir.write("serve.pid", std::to_string(bystander) + "\n");  // in place: serve keeps its lock
    auto r = host({"reload", "--pid-file", pid_file});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("asked serve (pid " + std::to_string(serve) + ")"));
    EXPECT_TRUE(test_support::wait_until(
        [&] { return test_support::read_file(dir / "serve.err").find("providers reloaded from") != std::string::npos; },
        std::chrono::seconds(10)))
        << test_support::read_file(dir / "serve.err");
    EXPECT_EQ(test_support::stop_process(bystander, SIGTERM), -SIGTERM) << "the pid in the file must not be signalled";
    EXPECT_EQ(test_support::stop_process(serve, SIGTERM), 0);
}

TEST_F(CliTest, PidFileThatIsNoRegularFileIsRefused) {
    dir.write("target.pid", "");
    std::filesystem::create_symlink(dir / "target.pid", dir / "link.pid");
    // Started in the background: a serve that wrongly accepts the link runs until stopped.
    int serve = test_support::spawn_process(
        {HOST_STUB_PATH, "--config", config, "serve", "--port", "0", "--pid-file", (dir / "link.pid").string()},
        dir / "serve.out", dir / "serve.err");
    int status = 0;
    bool exited =
        test_support::wait_until([&] { return waitpid(serve, &status, WNOHANG) == serve; }, std::chrono::seconds(10));
    if (!exited) test_support::stop_process(serve, SIGTERM);
    ASSERT_TRUE(exited) << "serve took a pid file that is a symbolic link";
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_THAT(test_support::read_file(dir / "serve.err"),
                HasSubstr("--pid-file " + (dir / "link.pid").string() + ": is a symbolic link"));
    auto r = host({"reload", "--pid-file", (dir / "link.pid").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("--pid-file " + (dir / "link.pid").string() + ": is a symbolic link"));
    std::filesystem::create_directory(dir / "dir.pid");
    r = host({"reload", "--pid-file", (dir / "dir.pid").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("--pid-file " + (dir / "dir.pid").string() + ": is not a regular file"));
}
