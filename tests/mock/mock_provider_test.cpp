// The mock provider through the real loader: connect, send, and the .eml it writes parsed
// back by an independent parser (Python's email package).
#include "fake_host.hpp"
#include "process.hpp"

#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>

#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace json = boost::json;
using test_support::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

namespace {

class MockProviderTest : public ::testing::Test {
protected:
    void SetUp() override { create(""); }

    void create(const std::string& extra_config) {
        instance_.reset();
        dir_.write("mock.json", R"({"file_format_version":"1.0.0","provider":{"id":"mock","display_name":"Mock",
            "library_path":")" MOCK_PROVIDER_PATH R"(","abi_version":"1.0","capabilities":[]}})");
        auto loaded = ep::loader::load_provider(ep::loader::read_manifest(dir_ / "mock.json"));
        std::string config = R"({"outbox_dir":")" + (dir_ / "outbox").string() +
                             R"(","address":"recruiter@example.com","display_name":"Rita Recruiter")" + extra_config +
                             "}";
        instance_ = ep::loader::ProviderInstance::create(loaded, host_.api(), config);
    }

    json::object send(const std::string& message) {
        auto r = instance_->send_blocking("alice", message);
        return json::parse(r.document).as_object();
    }

    std::vector<std::filesystem::path> eml_files() {
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(dir_ / "outbox"))
            if (e.path().extension() == ".eml") files.push_back(e.path());
        return files;
    }

    json::object parse_eml(const std::filesystem::path& file) {
        auto r = test_support::run_process(
            {"/usr/bin/env", "python3", EP_SOURCE_DIR "/tests/tools/parse_eml.py", file.string()});
        EXPECT_EQ(r.exit_code, 0) << "parser found defects: " << r.out << r.err;
        return json::parse(r.out).as_object();
    }

    test_support::FakeHost host_;
    TempDir dir_;
    std::unique_ptr<ep::loader::ProviderInstance> instance_;
};

}  // namespace

TEST_F(MockProviderTest, ConnectsAtOnceWithTheConfiguredAddress) {
    EXPECT_THAT(instance_->status("alice").document, HasSubstr("\"state\":\"not_connected\""));
    auto r = instance_->begin_connect("alice", "{}");
    ASSERT_TRUE(r.ok()) << r.document;
    auto doc = json::parse(r.document).as_object();
    EXPECT_EQ(doc["action"], "none");
    EXPECT_EQ(doc["status"].as_object()["state"], "connected");
    EXPECT_EQ(doc["status"].as_object()["email"], "recruiter@example.com");
    EXPECT_THAT(instance_->status("alice").document, HasSubstr("\"state\":\"connected\""));
    auto d = instance_->disconnect("alice");
    EXPECT_TRUE(d.ok());
    EXPECT_THAT(instance_->status("alice").document, HasSubstr("\"state\":\"not_connected\""));
    EXPECT_EQ(host_.count_prefix("account/alice"), 0u);
}

TEST_F(MockProviderTest, WritesAMessageThatParsesBackAsRfc5322) {
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    auto result = send(R"({
        "to":[{"address":"bob@example.org","name":"Bob \"the\" Builder"},{"address":"carol@example.net"}],
        "cc":[{"address":"dave@example.com","name":"Dävé Ünïcode"}],
        "bcc":[{"address":"hidden@example.com"}],
        "reply_to":[{"address":"replies@example.com"}],
        "subject":"Nudge: Ünïcode subject that is long enough to need more than one encoded word in its header",
        "text":"Hello Bob,\nplease reply.","html":"<p>Hello <b>Bob</b></p>",
        "attachments":[{"name":"résumé.pdf","content_type":"application/pdf","content_base64":"JVBERi0xLjQK"},
                       {"name":"logo.png","content_type":"image/png","content_base64":"iVBORw0=","inline":true,"content_id":"logo1"}],
        "headers":[{"name":"x-nudge-id","value":"n-42"}],
        "importance":"high","client_request_id":"crid-1"})");
    ASSERT_EQ(result["outcome"], "sent") << json::serialize(result);
    EXPECT_EQ(result["client_request_id"], "crid-1");

    auto files = eml_files();
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(result["file"].as_string(), files[0].string());
    auto eml = parse_eml(files[0]);
    auto& h = eml["headers"].as_object();
    EXPECT_EQ(h["From"], "Rita Recruiter <recruiter@example.com>");
    EXPECT_EQ(h["To"], "\"Bob \\\"the\\\" Builder\" <bob@example.org>, carol@example.net");
    EXPECT_EQ(h["Cc"], "Dävé Ünïcode <dave@example.com>");
    EXPECT_FALSE(h.contains("Bcc"));
    EXPECT_EQ(h["Reply-To"], "replies@example.com");
    EXPECT_EQ(h["Subject"],
              "Nudge: Ünïcode subject that is long enough to need more than one encoded word in its header");
    EXPECT_EQ(h["Importance"], "high");
    EXPECT_EQ(h["MIME-Version"], "1.0");
    EXPECT_EQ(eml["custom"].as_object()["x-nudge-id"], "n-42");
    EXPECT_FALSE(eml["bare_lf"].as_bool());
    EXPECT_EQ(eml["text"], "Hello Bob,\nplease reply.");
    EXPECT_EQ(eml["html"], "<p>Hello <b>Bob</b></p>");
    auto& atts = eml["attachments"].as_array();
    ASSERT_EQ(atts.size(), 2u);
    EXPECT_EQ(atts[0].as_object().at("name"), "résumé.pdf");
    EXPECT_EQ(atts[0].as_object().at("size"), 9);
    EXPECT_EQ(atts[1].as_object().at("inline"), true);
    EXPECT_EQ(atts[1].as_object().at("content_id"), "<logo1>");
    // Date is the host's (injectable) clock.
    EXPECT_THAT(std::string(h["Date"].as_string()), HasSubstr("2026"));
}

TEST_F(MockProviderTest, RejectsAnInvalidMessageNamingTheFieldWithoutCallingBack) {
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    std::atomic<int> callbacks{0};
    auto refusal =
        instance_->send("alice", R"({"to":[{"address":"bob@example.org"},{"address":"not an address"}],"text":"x"})",
                        [&](std::string_view) { ++callbacks; });
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->status, EP_ERR_INVALID_ARGUMENT);
    auto doc = json::parse(refusal->document).as_object();
    EXPECT_EQ(doc["outcome"], "rejected");
    EXPECT_EQ(doc["field"], "to[1].address");
    instance_.reset();  // waits for any callback
    EXPECT_EQ(callbacks.load(), 0);
    EXPECT_TRUE(eml_files().empty());
}

TEST_F(MockProviderTest, AnswersTheConfiguredOutcome) {
    create(R"(,"outcome":"throttled","retry_after_seconds":7)");
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    auto r = send(R"({"to":[{"address":"bob@example.org"}],"text":"x"})");
    EXPECT_EQ(r["outcome"], "throttled");
    EXPECT_EQ(r["retry_after_ms"], 7000);
    EXPECT_TRUE(eml_files().empty());
}

TEST_F(MockProviderTest, AnswersEachOutcomeChosenPerMessage) {
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    for (std::string outcome : {"rejected", "auth_expired", "throttled", "transient", "indeterminate", "sent"}) {
        auto r =
            send(R"({"to":[{"address":"bob@example.org"}],"text":"x","headers":[{"name":"x-mock-outcome","value":")" +
                 outcome + "\"}]}");
        EXPECT_EQ(r["outcome"].as_string(), outcome);
    }
    EXPECT_EQ(eml_files().size(), 1u);
}

// For hosts' pacing tests: the limits the config gives (none without), and a throttled answer
// that says the mailbox reached its daily limit (SCHEMAS.md ep.send_result/1 sending_limit).
TEST_F(MockProviderTest, DeclaresItsConfiguredSendingLimitsAndCanRefuseForTheDailyLimit) {
    EXPECT_EQ(instance_->sending_limits("alice").status, EP_ERR_UNSUPPORTED) << "none configured: none declared";
    create(R"(,"sending_limits":{"messages_per_minute":3,"recipients_per_day":50})");
    auto limits = instance_->sending_limits("alice");
    ASSERT_TRUE(limits.ok()) << limits.document;
    auto doc = json::parse(limits.document).as_object();
    EXPECT_EQ(doc["schema"], "ep.sending_limits/1");
    EXPECT_EQ(doc["messages_per_minute"], 3);
    EXPECT_EQ(doc["recipients_per_day"], 50);
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    auto r = send(R"({"to":[{"address":"bob@example.org"}],"text":"x","headers":[)"
                  R"({"name":"x-mock-outcome","value":"throttled"},{"name":"X-Mock-Sending-Limit","value":"daily"}]})");
    EXPECT_EQ(r["outcome"], "throttled");
    EXPECT_EQ(r["sending_limit"], "daily");
    EXPECT_GT(r["retry_after_ms"].as_int64(), 0);
}

TEST_F(MockProviderTest, SendingFromAnAccountThatNeverConnectedIsAuthExpired) {
    auto r = send(R"({"to":[{"address":"bob@example.org"}],"text":"x"})");
    EXPECT_EQ(r["outcome"], "auth_expired");
}

TEST_F(MockProviderTest, DestroyDeliversEveryAcceptedSendBeforeReturning) {
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    std::atomic<int> callbacks{0};
    int accepted = 0;
    for (int i = 0; i < 50; ++i)
        if (!instance_->send("alice", R"({"to":[{"address":"bob@example.org"}],"text":"x"})", [&](std::string_view r) {
                if (r.find("\"sent\"") != std::string_view::npos) ++callbacks;
            }))
            ++accepted;
    instance_.reset();
    EXPECT_EQ(accepted, 50);
    EXPECT_EQ(callbacks.load(), 50);
    EXPECT_EQ(eml_files().size(), 50u);
}

TEST_F(MockProviderTest, RefusesBadArgumentsAtTheBoundary) {
    auto r = instance_->status("");
    EXPECT_EQ(r.status, EP_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(r.document, HasSubstr("account id is empty"));
    r = instance_->status(std::string("bad\xff", 4));
    EXPECT_EQ(r.status, EP_ERR_INVALID_ARGUMENT);
    EXPECT_THAT(r.document, HasSubstr("not valid UTF-8"));
    // NULL pointers straight through the C table.
    const ep_provider_api& api = instance_->provider().api;
    ep_owned_str out{};
    EXPECT_EQ(api.get_status(nullptr, ep_str{"a", 1}, &out), EP_ERR_INVALID_ARGUMENT);
    api.free_str(&out);
    EXPECT_EQ(api.get_status(nullptr, ep_str{nullptr, 5}, &out), EP_ERR_INVALID_ARGUMENT);
    api.free_str(&out);
    EXPECT_EQ(api.create(nullptr, ep_str{"{}", 2}, nullptr, &out), EP_ERR_INVALID_ARGUMENT);
    api.free_str(&out);
}

// Issue 16: the mock's key is "account/<id>" with nothing after it, so a prefix delete of
// "account/sam" also took "account/samantha".
TEST_F(MockProviderTest, DisconnectingOneAccountLeavesAnAccountWhoseIdStartsTheSame) {
    ASSERT_TRUE(instance_->begin_connect("sam", "{}").ok());
    ASSERT_TRUE(instance_->begin_connect("samantha", "{}").ok());
    ASSERT_TRUE(instance_->disconnect("sam").ok());
    EXPECT_THAT(instance_->status("sam").document, HasSubstr("\"state\":\"not_connected\""));
    EXPECT_THAT(instance_->status("samantha").document, HasSubstr("\"state\":\"connected\""));
    ASSERT_TRUE(instance_->forget_account("sam").ok());
    EXPECT_THAT(instance_->status("samantha").document, HasSubstr("\"state\":\"connected\""));
}

// Issue 16: a message set From and Bcc in the .eml through its custom headers.
TEST_F(MockProviderTest, AMessageCannotSetFromOrAnyHeaderButXHeaders) {
    ASSERT_TRUE(instance_->begin_connect("alice", "{}").ok());
    for (const char* name : {"From", "Bcc", "Sender", "Content-Type"}) {
        auto r = instance_->send(
            "alice",
            std::string(
                R"({"to":[{"address":"bob@example.org"}],"text":"x","headers":[{"name":"x-ok","value":"1"},{"name":")") +
                name + R"(","value":"boss@example.org"}]})",
            [](std::string_view) {});
        ASSERT_TRUE(r.has_value()) << name;
        auto doc = json::parse(r->document).as_object();
        EXPECT_EQ(doc["outcome"], "rejected") << name;
        EXPECT_EQ(doc["field"], "headers[1].name") << name;
    }
    // Line breaks in a header value never reach the file either (refused by the message model).
    auto r = instance_->send(
        "alice",
        R"({"to":[{"address":"bob@example.org"}],"text":"x","headers":[{"name":"x-a","value":"1\r\nFrom: boss@example.org"}]})",
        [](std::string_view) {});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(json::parse(r->document).as_object()["field"], "headers[0].value");
    instance_.reset();
    EXPECT_TRUE(eml_files().empty());
}

// Issue 16: a relative outbox_dir meant "relative to wherever the host was started".
TEST_F(MockProviderTest, ARelativeOutboxDirIsRefused) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(dir_ / "mock.json"));
    try {
        ep::loader::ProviderInstance::create(loaded, host_.api(), R"({"outbox_dir":"mock-outbox"})");
        FAIL() << "a relative outbox_dir was accepted";
    } catch (const std::exception& e) {
        EXPECT_THAT(std::string(e.what()),
                    AllOf(HasSubstr("outbox_dir"), HasSubstr("must be an absolute path"), HasSubstr("${config_dir}")));
    }
    EXPECT_FALSE(std::filesystem::exists("mock-outbox"));
}

// Issue 21: an outbox_dir with non-ASCII letters (/tmp/Müller) was refused; any UTF-8 path is
// a path.
TEST_F(MockProviderTest, AnOutboxDirWithNonAsciiLettersIsAccepted) {
    auto loaded = ep::loader::load_provider(ep::loader::read_manifest(dir_ / "mock.json"));
    const std::filesystem::path outbox = dir_ / "Müller Ünïcode";
    auto instance =
        ep::loader::ProviderInstance::create(loaded, host_.api(), R"({"outbox_dir":")" + outbox.string() + R"("})");
    ASSERT_TRUE(instance->begin_connect("alice", "{}").ok());
    auto r = instance->send_blocking("alice", R"({"to":[{"address":"bob@example.org"}],"text":"x"})");
    EXPECT_THAT(r.document, HasSubstr(R"("outcome":"sent")"));
    ASSERT_TRUE(std::filesystem::is_directory(outbox));
    EXPECT_FALSE(std::filesystem::is_empty(outbox));
}
