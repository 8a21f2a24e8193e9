// Secrets stay secret and deleted means deleted, checked on the real host process: connect two
// accounts of a confidential app (client secret from a file), refresh and send, disconnect one,
// delete the other host user; then the host's log and output, and the SQLite file with its WAL,
// hold none of the codes or tokens the stand-in issued, nor the client secret or the token
// encryption key, and neither deleted account's encrypted blob.
#include "process.hpp"

#include <ms_sandbox/sandbox.hpp>
#include "store/sqlite_host_database.hpp"
#include "store/sqlite_secret_store.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace json = boost::json;
using test_support::TempDir;

namespace {

constexpr const char* kSecretClientId = "22222222-3333-4444-8555-666666666666";

class SecurityTest : public ::testing::Test {
protected:
    SecurityTest() : sandbox_(options()) {}

    static ms_sandbox::Options options() {
        ms_sandbox::Options o;
        o.log_requests = false;
        return o;
    }

    void SetUp() override {
        key_hex_ = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        dir_.write("token.key", key_hex_ + "\n");
        client_secret_ = test_support::read_file(sandbox_.tls_dir() / "client-secret.txt");
        client_secret_.erase(client_secret_.find_last_not_of("\r\n") + 1);
        json::object outlook{
            {"client_id", kSecretClientId},
            {"client_credential",
             json::object{{"type", "secret"}, {"file", (sandbox_.tls_dir() / "client-secret.txt").string()}}},
            {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
            {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
            {"redirect_uri", "http://127.0.0.1/callback"},
            {"token_encryption",
             json::object{{"active_key", "k"},
                          {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
        json::object config{{"store", json::object{{"path", "host.db"}}},
                            {"log_level", "trace"},  // the most talkative level: it must still say nothing secret
                            {"users", json::array{json::object{{"id", "ann"}, {"display_name", "Ann"}},
                                                  json::object{{"id", "bob"}, {"display_name", "Bob"}}}},
                            {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                                   {"config", outlook}}}}};
        dir_.write("host.json", json::serialize(config));
    }

    test_support::ProcessResult host(std::vector<std::string> args) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", (dir_ / "host.json").string()});
        auto r = test_support::run_process(args);
        output_ += r.out + r.err;
        return r;
    }

    void connect(const std::string& account, const std::string& upn) {
        auto begin = host({"connect", "--provider", "outlook", "--account", account});
        std::string url = begin.out.substr(0, begin.out.find('\n'));
        auto done = host(
            {"complete", "--provider", "outlook", "--account", account, "--callback", sandbox_.autopilot(url, upn)});
        ASSERT_EQ(done.exit_code, 0) << done.err;
    }

    std::vector<uint8_t> blob(const std::string& key) {
        auto db = host::SqliteHostDatabase::open(dir_ / "host.db");
        host::SqliteSecretStore store(db.db, db.mutex);
        auto e = store.get(key);
        return e ? e->value : std::vector<uint8_t>{};
    }

    static bool contains(const std::string& haystack, const std::string& needle) {
        return !needle.empty() && haystack.find(needle) != std::string::npos;
    }

    TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
    std::string key_hex_, client_secret_, output_;
};

}  // namespace

TEST_F(SecurityTest, NoSecretInLogsOrStoreAndNothingLeftOfDeletedAccounts) {
    ASSERT_NO_FATAL_FAILURE(connect("ann", "adele@contoso.example"));
    ASSERT_NO_FATAL_FAILURE(connect("bob", "megan.personal@outlook.com"));
    sandbox_.advance_clock(std::chrono::seconds(3600));  // the stand-in refuses the old access tokens...
    for (const char* account : {"ann", "bob"}) {
        auto r = host({"send", "--provider", "outlook", "--account", account, "--to", "casey@example.org", "--subject",
                       "s", "--text", "t"});
        EXPECT_EQ(r.exit_code, 0) << r.err;  // ...so a 401 makes the plugin refresh once and retry
    }
    std::vector<uint8_t> ann_blob = blob("outlook/account/ann/grant");
    std::vector<uint8_t> bob_blob = blob("outlook/account/bob/grant");
    ASSERT_FALSE(ann_blob.empty());
    ASSERT_FALSE(bob_blob.empty());
    auto disconnected = host({"disconnect", "--provider", "outlook", "--account", "ann"});
    ASSERT_EQ(disconnected.exit_code, 0) << disconnected.err;
    auto deleted = host({"delete-user", "--user", "bob"});
    ASSERT_EQ(deleted.exit_code, 0) << deleted.err;

    std::string db = test_support::read_file(dir_ / "host.db");
    std::string wal = test_support::read_file(dir_ / "host.db-wal");
    ASSERT_FALSE(db.empty());
    auto issued = sandbox_.issued();
    EXPECT_GE(issued.refresh_tokens.size(), 4u) << "two connects and two refreshes happened";
    std::vector<std::string> secrets = issued.all();
    secrets.push_back(client_secret_);
    secrets.push_back(key_hex_);
    std::string key_bytes;
    for (std::size_t i = 0; i < key_hex_.size(); i += 2)
        key_bytes.push_back(static_cast<char>(std::stoi(key_hex_.substr(i, 2), nullptr, 16)));
    secrets.push_back(key_bytes);
    int checked = 0;
    for (const auto& s : secrets) {
        ++checked;
        EXPECT_FALSE(contains(output_, s)) << "secret #" << checked << " is in the host's output or log";
        EXPECT_FALSE(contains(db, s)) << "secret #" << checked << " is in host.db";
        EXPECT_FALSE(contains(wal, s)) << "secret #" << checked << " is in host.db-wal";
    }
    // Deleted means gone from both files, not merely unreachable.
    std::string ann(ann_blob.begin(), ann_blob.end()), bob(bob_blob.begin(), bob_blob.end());
    EXPECT_FALSE(contains(db, ann));
    EXPECT_FALSE(contains(wal, ann));
    EXPECT_FALSE(contains(db, bob));
    EXPECT_FALSE(contains(wal, bob));
    EXPECT_TRUE(blob("outlook/account/ann/grant").empty());
    EXPECT_TRUE(blob("outlook/account/bob/grant").empty());
    EXPECT_GT(output_.size(), 1000u) << "the log at trace level was actually produced";
    std::cout << "security: " << checked << " secrets (" << issued.codes.size() << " codes, "
              << issued.access_tokens.size() << " access tokens, " << issued.refresh_tokens.size()
              << " refresh tokens, the client secret, the key) "
              << "searched in " << output_.size() << " bytes of host output and " << db.size() + wal.size()
              << " bytes of SQLite files: none found\n";
}
