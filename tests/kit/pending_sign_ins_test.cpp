// Sign-ins in progress, as every provider keeps them: single use, "reused" told from "unknown",
// expiry, a bounded number per account, sealed at rest, and the OpenID nonce carried through.
#include <ep_kit/account_store.hpp>
#include <ep_kit/pending_sign_ins.hpp>
#include <ep_kit/vault.hpp>

#include <email_provider/ep_sdk.hpp>
#include <fake_host.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

using ep::kit::PendingSignIns;
using Match = PendingSignIns::Match;

constexpr int64_t kTenMinutes = 600'000;

std::shared_ptr<const ep::kit::Vault> test_vault() {
    ep::kit::KeyRing ring;
    ep::kit::KeyRing::Key key{};
    key.fill(7);
    ring.add("k1", key);
    ring.set_active("k1");
    return std::make_shared<const ep::kit::Vault>(std::move(ring));
}

class PendingSignInsTest : public ::testing::Test {
protected:
    void start(const std::string& account, const std::string& state, const std::string& nonce = {}) {
        pending_.start(account, {state, verifier_, login_hint_, nonce}, host_.now_ms());
    }

    test_support::FakeHost host_;
    ep::kit::AccountStore store_{ep::sdk::Host(host_.api()), test_vault(), "test-provider"};
    PendingSignIns pending_{store_, kTenMinutes};
    ep::kit::SecretString verifier_{std::string("verifier-of-eighty-six-characters")};
    std::string login_hint_ = "rita@example.com";
};

TEST_F(PendingSignInsTest, AStateWorksOnceAndCarriesItsFlow) {
    start("alice", "state-1", "nonce-1");
    PendingSignIns::Answer first = pending_.consume("alice", "state-1", host_.now_ms());
    ASSERT_EQ(first.match, Match::found);
    ASSERT_TRUE(first.flow);
    EXPECT_EQ(first.flow->verifier.view(), "verifier-of-eighty-six-characters");
    EXPECT_EQ(first.flow->login_hint, "rita@example.com");
    EXPECT_EQ(first.flow->nonce, "nonce-1");
    EXPECT_EQ(pending_.consume("alice", "state-1", host_.now_ms()).match, Match::reused);
}

TEST_F(PendingSignInsTest, AnotherAccountsOrAnUnknownStateIsUnknown) {
    start("alice", "state-1");
    EXPECT_EQ(pending_.consume("bob", "state-1", host_.now_ms()).match, Match::unknown);
    EXPECT_EQ(pending_.consume("alice", "state-2", host_.now_ms()).match, Match::unknown);
    EXPECT_EQ(pending_.consume("alice", "state-1", host_.now_ms()).match, Match::found) << "left unharmed";
}

TEST_F(PendingSignInsTest, ALateAnswerIsExpiredAndStillConsumed) {
    start("alice", "state-1");
    host_.advance_seconds(kTenMinutes / 1000 + 1);
    PendingSignIns::Answer late = pending_.consume("alice", "state-1", host_.now_ms());
    EXPECT_EQ(late.match, Match::expired);
    EXPECT_TRUE(late.flow);
    EXPECT_EQ(pending_.consume("alice", "state-1", host_.now_ms()).match, Match::reused);
}

TEST_F(PendingSignInsTest, OnlyTheFiveNewestSignInsOfAnAccountAreKept) {
    for (int i = 1; i <= 6; ++i) start("alice", "state-" + std::to_string(i));
    EXPECT_EQ(pending_.consume("alice", "state-1", host_.now_ms()).match, Match::unknown);
    for (int i = 2; i <= 6; ++i)
        EXPECT_EQ(pending_.consume("alice", "state-" + std::to_string(i), host_.now_ms()).match, Match::found) << i;
}

TEST_F(PendingSignInsTest, NeitherStateNorVerifierNorNonceIsStoredInTheClear) {
    start("alice", "state-in-the-clear", "nonce-in-the-clear");
    const auto secrets = host_.secrets();
    ASSERT_FALSE(secrets.empty());
    for (const auto& [key, value] : secrets) {
        const std::string blob(value.begin(), value.end());
        for (const char* plain : {"state-in-the-clear", "nonce-in-the-clear", "verifier-of-eighty", "rita@example"})
            EXPECT_EQ(blob.find(plain), std::string::npos) << key << " holds " << plain;
    }
}

TEST_F(PendingSignInsTest, AFailingStoreIsAStorageError) {
    host_.fail_store(true);
    try {
        start("alice", "state-1");
        FAIL() << "a sign-in was recorded in a failing store";
    } catch (const ep::sdk::Error& e) {
        EXPECT_EQ(e.status(), EP_ERR_STORAGE);
    }
}

}  // namespace
