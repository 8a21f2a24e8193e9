// Personal Outlook, part 1: connect outcomes, admin consent, token lifecycle, vault, disconnect,
// against the local Microsoft stand-in over HTTPS.
#include "outlook_fixture.hpp"

#include <config.hpp>
#include <ep_kit/account_store.hpp>
#include <ep_kit/token_manager.hpp>
#include <ep_kit/vault.hpp>
#include <token_client.hpp>

#include <boost/url/parse.hpp>

#include <cstring>
#include <set>
#include <thread>

using namespace outlook_test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::map<std::string, std::string> query_params(const std::string& url) {
    std::map<std::string, std::string> out;
    auto u = boost::urls::parse_uri(url);
    for (auto p : u->params()) out[p.key] = p.value;
    return out;
}

class OutlookConnect : public OutlookFixture {};

}  // namespace

TEST_F(OutlookConnect, AuthorizationUrlIsLeastPrivilegeWithPkceAndSingleUseState) {
    std::string url = begin("alice", "first+tag@contoso.example");
    EXPECT_THAT(url, ::testing::StartsWith(sandbox_.base_url() + "/common/oauth2/v2.0/authorize?"));
    auto q = query_params(url);
    EXPECT_EQ(q["client_id"], kPublicClientId);
    EXPECT_EQ(q["response_type"], "code");
    EXPECT_EQ(q["redirect_uri"], kRedirectUri);
    EXPECT_EQ(q["scope"], "offline_access User.Read Mail.Send");
    EXPECT_EQ(q["code_challenge_method"], "S256");
    EXPECT_EQ(q["code_challenge"].size(), 43u);
    EXPECT_GE(q["state"].size(), 43u);
    EXPECT_THAT(url, HasSubstr("login_hint=first%2Btag%40contoso.example")) << "'+' must survive as %2B";
    EXPECT_NE(q["state"], query_params(begin("alice"))["state"]);
    // Pending state is in the store, encrypted: neither the state nor anything readable.
    for (const auto& [key, blob] : host_.secrets()) {
        std::string bytes(blob.begin(), blob.end());
        EXPECT_EQ(bytes.find(q["state"]), std::string::npos);
        EXPECT_EQ(bytes.find("contoso"), std::string::npos) << key;
    }
}

TEST_F(OutlookConnect, ConnectsAWorkAccount) {
    auto r = connect("alice", kWorkUser);
    ASSERT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "connected");
    EXPECT_EQ(str(s, "email"), kWorkUser);
    EXPECT_EQ(str(s, "display_name"), "Adele Vance");
    EXPECT_EQ(str(s, "tenant"), kContosoTenantId);
    EXPECT_EQ(str(s, "cloud"), "global");
    EXPECT_EQ(str(s, "application_id"), kPublicClientId);
    EXPECT_EQ(json::serialize(s["scopes"]), R"(["Mail.Send","User.Read","offline_access"])");
    EXPECT_FALSE(s.contains("extra_permissions"));
    EXPECT_FALSE(str(s, "connected_at").empty());
}

TEST_F(OutlookConnect, ConnectsAPersonalAccountUsingItsPrincipalNameAsAddress) {
    auto r = connect("megan", kPersonalUser);
    ASSERT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
    auto s = status("megan");
    EXPECT_EQ(str(s, "email"), kPersonalUser);  // mail is null for personal accounts
    EXPECT_EQ(str(s, "tenant"), kPersonalTenantId);
}

TEST_F(OutlookConnect, UserCancelOrDeclineStoresNothing) {
    auto r = connect("alice", kWorkUser, ms_sandbox::Answer::cancel);
    EXPECT_EQ(str(r, "outcome"), "cancelled");
    r = connect("alice", kWorkUser, ms_sandbox::Answer::decline);
    EXPECT_EQ(str(r, "outcome"), "declined");
    EXPECT_EQ(str(r, "code"), "AADSTS65004");
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
}

TEST_F(OutlookConnect, ApprovalRequiredShowsTheApplicationIdAndTheTenantsAdminConsentUrl) {
    for (const char* upn : {kApprovalWorkflowUser, kApprovalNoWorkflowUser}) {
        std::string account = std::string("acct-") + upn;
        std::string url = begin(account, upn);
        ms_sandbox::AutopilotRequest req;
        req.authorize_url = url;
        req.user = upn;
        req.answer = ms_sandbox::Answer::request_approval;
        req.justification = "Required for recruiting communications";
        if (upn == std::string(kApprovalNoWorkflowUser)) req.password = "Passw0rd!";
        auto pilot = sandbox_.autopilot(req);
        ASSERT_TRUE(pilot.callback_url) << json::serialize(pilot.raw);
        auto r = complete(account, *pilot.callback_url);
        EXPECT_EQ(str(r, "outcome"), "admin_approval_required") << upn;
        EXPECT_EQ(str(r, "application_id"), kPublicClientId);
        auto s = status(account);
        EXPECT_EQ(str(s, "state"), "admin_approval_required");
        EXPECT_EQ(str(s, "application_id"), kPublicClientId);
        std::string domain = std::string(upn).substr(std::string(upn).find('@') + 1);
        EXPECT_THAT(str(s, "admin_consent_url"),
                    HasSubstr(sandbox_.base_url() + "/" + domain + "/v2.0/adminconsent?client_id=" + kPublicClientId));
        EXPECT_THAT(str(s, "message"), HasSubstr(kPublicClientId));
        // The card's words: whether a request could be filed at Microsoft, what the user does,
        // what IT does; all from the provider, not the host.
        bool workflow = upn == std::string(kApprovalWorkflowUser);
        EXPECT_EQ(str(s, "admin_request"), workflow ? "possible" : "unavailable") << upn;
        EXPECT_THAT(str(s, "user_action"), HasSubstr(workflow ? "Request approval" : "does not let people request"))
            << upn;
        EXPECT_THAT(str(s, "admin_instructions"), HasSubstr("application ID matches")) << upn;
        EXPECT_EQ(str(s, "service_name"), "Microsoft Outlook");
    }
    EXPECT_EQ(
        str(complete("x", "http://127.0.0.1/callback?error=access_denied&error_description=AADSTS90095%3A+x&state=zz"),
            "outcome"),
        "forgery_suspected")
        << "an error answer without a known state is still refused";
}

TEST_F(OutlookConnect, AfterAnAdministratorApprovesTheSameUserConnects) {
    sandbox_.set_admin_consent("fabrikam.example", true);
    auto r = connect("ben", kApprovalWorkflowUser);
    EXPECT_EQ(str(r, "outcome"), "connected") << json::serialize(r);
}

TEST_F(OutlookConnect, TheAdminConsentAnswerIsReportedWithoutConnectingAnyone) {
    auto r =
        complete("itadmin", "http://127.0.0.1/callback?admin_consent=True&tenant=" + std::string(kContosoTenantId));
    EXPECT_EQ(str(r, "outcome"), "admin_consent_granted");
    EXPECT_EQ(str(status("itadmin"), "state"), "not_connected");
}

TEST_F(OutlookConnect, UnknownReusedMissingAndForeignStatesAreRefusedAsForgery) {
    std::string url = begin("alice", kWorkUser);
    std::string callback = sandbox_.autopilot(url, kWorkUser);
    // The same answer presented for another account.
    auto r = complete("mallory", callback);
    EXPECT_EQ(str(r, "outcome"), "forgery_suspected");
    EXPECT_EQ(str(r, "code"), "state_unknown");
    EXPECT_EQ(str(status("mallory"), "state"), "not_connected");
    // A state nobody issued.
    r = complete("alice", "http://127.0.0.1/callback?code=abc&state=forged-state-value");
    EXPECT_EQ(str(r, "code"), "state_unknown");
    r = complete("alice", "http://127.0.0.1/callback?code=abc");
    EXPECT_EQ(str(r, "code"), "state_missing");
    // The genuine answer works once, then never again.
    EXPECT_EQ(str(complete("alice", callback), "outcome"), "connected");
    r = complete("alice", callback);
    EXPECT_EQ(str(r, "outcome"), "forgery_suspected");
    EXPECT_EQ(str(r, "code"), "state_reused");
    EXPECT_EQ(sandbox_.token_requests("authorization_code"), 1) << "a refused answer never reaches the token endpoint";
}

TEST_F(OutlookConnect, AFlowThatNeverComesBackExpires) {
    std::string url = begin("alice", kWorkUser);
    std::string callback = sandbox_.autopilot(url, kWorkUser);
    host_.advance_seconds(11 * 60);
    auto r = complete("alice", callback);
    EXPECT_EQ(str(r, "outcome"), "flow_expired");
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
}

TEST_F(OutlookConnect, MfaConditionalAccessAndOperatorErrorsAtTheRedirectHaveTheirOwnOutcomes) {
    const std::tuple<const char*, const char*, const char*> cases[] = {
        {"interaction_required", "50076", "interaction_required"},
        {"access_denied", "53003", "blocked_by_policy"},
        {"access_denied", "50020", "wrong_account"},
        {"invalid_request", "50011", "configuration_error"},
        {"server_error", "90033", "temporarily_unavailable"},
    };
    for (const auto& [error, code, outcome] : cases) {
        std::string url = begin("alice", kWorkUser);
        sandbox_.control("POST", "/_sandbox/faults",
                         json::object{{"endpoint", "authorize"},
                                      {"action", "redirect_error"},
                                      {"redirect_error", error},
                                      {"error_code", code}});
        std::string callback = authorize_redirect(url);
        ASSERT_THAT(callback, ::testing::StartsWith(kRedirectUri)) << code;
        auto r = complete("alice", callback);
        EXPECT_EQ(str(r, "outcome"), outcome) << code << " " << json::serialize(r);
        EXPECT_EQ(str(r, "code"), std::string("AADSTS") + code);
        if (std::string(outcome) == "configuration_error") {
            EXPECT_THAT(str(r, "operator_message"), HasSubstr(code));
        }
    }
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
}

TEST_F(OutlookConnect, ACodeAlreadyRedeemedIsItsOwnOutcome) {
    std::string first = begin("alice", kWorkUser);
    std::string second = begin("alice", kWorkUser);
    std::string callback = sandbox_.autopilot(first, kWorkUser);
    ASSERT_EQ(str(complete("alice", callback), "outcome"), "connected");
    // The second flow's state with the first flow's (spent) code.
    std::string state2 = query_params(second)["state"];
    std::string code1 = query_params(callback)["code"];
    auto r = complete("alice", std::string(kRedirectUri) + "?code=" + code1 + "&state=" + state2);
    EXPECT_THAT(str(r, "outcome"), ::testing::AnyOf("code_redeemed", "failed")) << json::serialize(r);
    EXPECT_EQ(str(status("alice"), "state"), "connected") << "a failed reconnect leaves the connection alone";
}

TEST_F(OutlookConnect, OperatorErrorsAreAddressedToTheOperator) {
    // An expired client secret (AADSTS7000222) on a confidential app.
    std::string secret = client_secret();
    extra_secrets_.push_back(secret);
    dir_.write("secret.txt", secret + "\n");
    auto config = base_config();
    config["client_id"] = kSecretClientId;
    config["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "secret.txt").string()}};
    outlook_ = create(config);
    sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::expired);
    std::string url = begin("alice", kWorkUser);
    auto r = complete("alice", sandbox_.autopilot(url, kWorkUser));
    EXPECT_EQ(str(r, "outcome"), "configuration_error") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "AADSTS7000222");
    EXPECT_THAT(str(r, "operator_message"), HasSubstr("expired"));
    EXPECT_THAT(str(r, "message"), Not(HasSubstr("secret")));  // the user is not told about secrets
    // A bad client assertion: a certificate the app registration does not know.
    config["client_id"] = kCertClientId;
    config["client_credential"] =
        json::object{{"type", "certificate"},
                     {"certificate_file", (sandbox_.tls_dir() / "other-client-cert.pem").string()},
                     {"private_key_file", (sandbox_.tls_dir() / "other-client-key.pem").string()}};
    outlook_ = create(config);
    url = begin("alice", kWorkUser);
    r = complete("alice", sandbox_.autopilot(url, kWorkUser));
    EXPECT_EQ(str(r, "outcome"), "configuration_error") << json::serialize(r);
}

TEST_F(OutlookConnect, ConfidentialClientsConnectWithASecretOrACertificate) {
    std::string secret = client_secret();
    extra_secrets_.push_back(secret);
    ::setenv("OUTLOOK_TEST_CLIENT_SECRET", secret.c_str(), 1);
    auto config = base_config();
    config["client_id"] = kSecretClientId;
    config["client_credential"] = json::object{{"type", "secret"}, {"env", "OUTLOOK_TEST_CLIENT_SECRET"}};
    outlook_ = create(config);
    EXPECT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    for (const char* alg : {"PS256", "RS256"}) {
        config["client_id"] = kCertClientId;
        config["client_credential"] =
            json::object{{"type", "certificate"},
                         {"certificate_file", (sandbox_.tls_dir() / "client-cert.pem").string()},
                         {"private_key_file", (sandbox_.tls_dir() / "client-key.pem").string()},
                         {"algorithm", alg}};
        outlook_ = create(config);
        EXPECT_EQ(str(connect(std::string("cert-") + alg, kWorkUser), "outcome"), "connected") << alg;
    }
}

TEST_F(OutlookConnect, NetworkFailureDuringRedemptionStoresNothing) {
    std::string url = begin("alice", kWorkUser);
    std::string callback = sandbox_.autopilot(url, kWorkUser);
    ms_sandbox::FaultRule rule;
    rule.endpoint = "token";
    rule.action = "drop_before_response";
    sandbox_.add_fault(rule);
    auto r = complete("alice", callback);
    EXPECT_EQ(str(r, "outcome"), "temporarily_unavailable") << json::serialize(r);
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
}

TEST_F(OutlookConnect, RefreshesAheadOfExpiryByTheSkew) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(refreshes(), 0);
    advance(std::chrono::seconds(3599 - 300 - 60));  // still outside the 5-minute skew
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(refreshes(), 0);
    advance(std::chrono::seconds(120));  // now inside it: refreshed before Graph could refuse
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(refreshes(), 1);
    EXPECT_EQ(sandbox_.counters().requests["sendMail"], 3) << "no 401 round trip was needed";
}

TEST_F(OutlookConnect, ManyConcurrentSendsOnAnExpiredTokenCauseOneRefresh) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    advance(std::chrono::seconds(3600));
    Completions done;
    constexpr int kSends = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kSends / 8; ++i) EXPECT_FALSE(outlook_->send("alice", message(), done.callback()));
        });
    for (auto& t : threads) t.join();
    auto results = done.wait(kSends);
    ASSERT_EQ(results.size(), static_cast<std::size_t>(kSends));
    for (auto& r : results) EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(refreshes(), 1);
}

TEST_F(OutlookConnect, AThousandConcurrentTokenRequestsOnAnExpiredAccountMakeOneTokenRequest) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    advance(std::chrono::seconds(3600));
    // The token manager itself, over the same store, so that nothing (such as the per-mailbox
    // send limit) serialises the callers before they reach it.
    outlook::OutlookConfig config = outlook::parse_config(json::serialize(base_config()));
    ep::sdk::Host host(host_.api());
    ep::kit::AccountStore store(host, config.vault, std::string(outlook::kProviderName));
    ep::kit::HttpEngine http(config.tls);
    ep::kit::WorkQueue work(2);
    outlook::TokenClient client(config, [this] { return host_.now_ms(); });
    ep::kit::TokenManager tokens(config.token_settings(), store, http, work, client, host,
                                 [](ep_log_level, const std::string&) {});
    constexpr int kCallers = 1000;
    std::mutex mutex;
    std::condition_variable cv;
    int answered = 0, with_token = 0;
    std::set<std::string> distinct;
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kCallers / 10; ++i)
                tokens.acquire("alice", nullptr, [&](ep::kit::TokenOutcome o) {
                    std::lock_guard lock(mutex);
                    ++answered;
                    if (o.kind == ep::kit::TokenOutcome::Kind::ok) {
                        ++with_token;
                        distinct.insert(std::string(o.token->view()));
                    }
                    cv.notify_all();
                });
        });
    for (auto& t : threads) t.join();
    std::unique_lock lock(mutex);
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered == kCallers; });
    EXPECT_EQ(answered, kCallers);
    EXPECT_EQ(with_token, kCallers);
    EXPECT_EQ(distinct.size(), 1u) << "everyone got the one refreshed token";
    EXPECT_EQ(refreshes(), 1);
    EXPECT_EQ(tokens.refresh_requests(), 1);
}

TEST_F(OutlookConnect, TwoInstancesSharingOneStoreRefreshOnceAndBothUseTheNewestTokens) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    auto second = create(base_config());
    EXPECT_EQ(str(send("alice", message(), second.get()), "outcome"), "sent");
    advance(std::chrono::seconds(3600));
    Completions done;
    for (int i = 0; i < 20; ++i) {
        EXPECT_FALSE(outlook_->send("alice", message(), done.callback()));
        EXPECT_FALSE(second->send("alice", message(), done.callback()));
    }
    auto results = done.wait(40);
    for (auto& r : results) EXPECT_EQ(str(r, "outcome"), "sent") << json::serialize(r);
    EXPECT_EQ(refreshes(), 1) << "the instance that lost the race used the winner's tokens";
    second.reset();
}

class OutlookRotation : public OutlookFixture, public ::testing::WithParamInterface<bool> {
protected:
    OutlookRotation() : OutlookFixture(SandboxSettings{GetParam()}) {}
};

TEST_P(OutlookRotation, EveryRefreshStoresTheRotatedRefreshToken) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    std::vector<uint8_t> blob_before = host_.secrets()["account/alice/grant"];
    for (int round = 0; round < 3; ++round) {
        advance(std::chrono::seconds(3600));
        ASSERT_EQ(str(send("alice"), "outcome"), "sent") << "round " << round;
    }
    EXPECT_EQ(refreshes(), 3);
    EXPECT_NE(host_.secrets()["account/alice/grant"], blob_before);
    EXPECT_EQ(str(status("alice"), "state"), "connected");
}

INSTANTIATE_TEST_SUITE_P(BothStandInModes, OutlookRotation, ::testing::Values(true, false), [](const auto& param_info) {
    return param_info.param ? "OldTokenStaysValid" : "OldTokenInvalidated";
});

// ABI 1.3: the kit's token manager counts each call to the token endpoint once, with how it
// ended, through the host's count_event (a host's metrics: "token refreshes and their results").
TEST_F(OutlookConnect, EachRefreshIsCountedOnceWithItsOutcome) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    EXPECT_TRUE(host_.events().empty()) << "a connect redeems a code; it refreshes nothing";
    advance(std::chrono::seconds(3600));
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");  // the refreshed token, cached
    EXPECT_EQ(host_.events(), std::vector<std::string>{"token_refresh/ok"});

    sandbox_.revoke_grant(kWorkUser, ms_sandbox::RevokeReason::password_change);
    advance(std::chrono::seconds(3600));
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    ASSERT_EQ(str(connect("bob", kWorkUser), "outcome"), "connected");
    sandbox_.revoke_grant(kWorkUser, ms_sandbox::RevokeReason::mfa_required);
    advance(std::chrono::seconds(3600));
    EXPECT_EQ(str(send("bob"), "outcome"), "auth_expired");
    EXPECT_EQ(host_.events(), (std::vector<std::string>{"token_refresh/ok", "token_refresh/invalid_grant",
                                                        "token_refresh/interaction_required"}));
    EXPECT_EQ(refreshes(), 3);
}

TEST_F(OutlookConnect, EachDeadGrantReasonExpiresTheConnectionAndDeletesItsTokens) {
    const std::tuple<ms_sandbox::RevokeReason, const char*, const char*> cases[] = {
        {ms_sandbox::RevokeReason::inactivity, "inactivity", "90 days"},
        {ms_sandbox::RevokeReason::password_change, "password_changed", "password was changed"},
        {ms_sandbox::RevokeReason::consent_revoked, "consent_revoked", "permission"},
        {ms_sandbox::RevokeReason::mfa_required, "mfa_required", "multi-factor"},
        {ms_sandbox::RevokeReason::signin_frequency, "signin_frequency", "sign in again"},
    };
    int n = 0;
    for (const auto& [reason, code, words] : cases) {
        std::string account = "user" + std::to_string(n++);
        ASSERT_EQ(str(connect(account, kWorkUser), "outcome"), "connected");
        sandbox_.revoke_grant(kWorkUser, reason);
        advance(std::chrono::seconds(3600));
        auto r = send(account);
        EXPECT_EQ(str(r, "outcome"), "auth_expired") << code;
        auto s = status(account);
        EXPECT_EQ(str(s, "state"), "expired") << code;
        EXPECT_EQ(str(s, "reason"), code);
        EXPECT_THAT(str(s, "message"), HasSubstr(words));
        EXPECT_EQ(str(s, "email"), kWorkUser) << "the UI still knows whose connection ended";
    }
    // No token survives in any expired record (decrypted with the same key ring).
    ep::kit::KeyRing ring;
    std::array<uint8_t, 32> key;
    key.fill(0x11);
    ring.add("k1", key);
    ring.set_active("k1");
    auto vault = std::make_shared<const ep::kit::Vault>(std::move(ring));
    for (const auto& [k, blob] : host_.secrets()) {
        if (!k.ends_with("/grant")) continue;
        std::string account = k.substr(std::string("account/").size(), k.size() - std::string("account//grant").size());
        auto plain = vault->open(blob, ep::kit::VaultContext{"outlook", account, "grant"});
        EXPECT_THAT(std::string(plain.view()), Not(HasSubstr("refresh_token"))) << k;
        EXPECT_THAT(std::string(plain.view()), Not(HasSubstr("access_token"))) << k;
    }
}

TEST_F(OutlookConnect, TransientRefreshFailuresKeepTheConnection) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    advance(std::chrono::seconds(3600));
    for (int status_code : {503, 429, 500}) {
        ms_sandbox::FaultRule rule;
        rule.endpoint = "token";
        rule.status = status_code;
        rule.retry_after = "1";
        sandbox_.add_fault(rule);
        auto r = send("alice");
        EXPECT_EQ(str(r, "outcome"), "transient") << status_code << json::serialize(r);
        EXPECT_EQ(str(status("alice"), "state"), "connected");
        host_.advance_seconds(2);  // past the Retry-After
    }
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
}

TEST_F(OutlookConnect, InvalidClientAtRefreshIsAnOperatorErrorThatKeepsTheTokens) {
    std::string secret = client_secret();
    extra_secrets_.push_back(secret);
    dir_.write("secret.txt", secret);
    auto config = base_config();
    config["client_id"] = kSecretClientId;
    config["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "secret.txt").string()}};
    outlook_ = create(config);
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::invalid);
    advance(std::chrono::seconds(3600));
    auto r = send("alice");
    EXPECT_EQ(str(r, "outcome"), "transient");
    EXPECT_EQ(str(r, "code"), "configuration_error");
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "configuration_error");
    EXPECT_THAT(str(s, "message"), HasSubstr("7000215"));
    // Fixed by the operator: the same connection works again.
    sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::valid);
    host_.advance_seconds(120);
    EXPECT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(str(status("alice"), "state"), "connected");
}

TEST_F(OutlookConnect, KeyRotationReadsOldBlobsAndRewritesThemUnderTheActiveKey) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    EXPECT_EQ(ep::kit::Vault::key_id_of(host_.secrets()["account/alice/grant"]), "k1");
    auto config = base_config();
    config["token_encryption"] =
        json::object{{"active_key", "k2"},
                     {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}},
                                          json::object{{"id", "k2"}, {"file", (dir_ / "k2.key").string()}}}}};
    outlook_ = create(config);
    EXPECT_EQ(str(status("alice"), "state"), "connected") << "old-key blobs still open";
    advance(std::chrono::seconds(3600));
    ASSERT_EQ(str(send("alice"), "outcome"), "sent");
    EXPECT_EQ(ep::kit::Vault::key_id_of(host_.secrets()["account/alice/grant"]), "k2") << "rewritten on write";
    // k1 retired: still readable; a ring without the key in use is a storage problem, not a crash.
    config["token_encryption"] = json::object{
        {"active_key", "k2"}, {"keys", json::array{json::object{{"id", "k2"}, {"file", (dir_ / "k2.key").string()}}}}};
    outlook_ = create(config);
    EXPECT_EQ(str(status("alice"), "state"), "connected");
    config["token_encryption"] = json::object{
        {"active_key", "k1"}, {"keys", json::array{json::object{{"id", "k1"}, {"file", (dir_ / "k1.key").string()}}}}};
    outlook_ = create(config);
    auto s = status("alice");
    EXPECT_EQ(str(s, "state"), "expired");
    EXPECT_EQ(str(s, "reason"), "storage");
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired");
    EXPECT_TRUE(host_.has_key("account/alice/grant")) << "an unreadable blob is kept for a fixed key ring";
}

TEST_F(OutlookConnect, TamperedOrSwappedBlobsAreRefused) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    ASSERT_EQ(str(connect("bob", kPersonalUser), "outcome"), "connected");
    auto secrets = host_.secrets();
    host_.overwrite("account/bob/grant", secrets["account/alice/grant"]);
    EXPECT_EQ(str(status("bob"), "reason"), "storage") << "alice's blob copied to bob must not open";
    auto tampered = secrets["account/alice/grant"];
    tampered[tampered.size() / 2] ^= 0x01;
    host_.overwrite("account/alice/grant", tampered);
    EXPECT_EQ(str(status("alice"), "reason"), "storage");
    // An instance that has no token cached (another process, or after a restart) cannot send.
    auto fresh = create(base_config());
    auto r = send("alice", message(), fresh.get());
    EXPECT_EQ(str(r, "outcome"), "auth_expired");
    EXPECT_EQ(str(r, "code"), "storage");
}

TEST_F(OutlookConnect, DisconnectDeletesEveryTokenAndPendingFlow) {
    ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
    begin("alice");  // a flow in progress too
    ASSERT_EQ(host_.count_prefix("account/alice/"), 2u);
    auto r = outlook_->disconnect("alice");
    ASSERT_TRUE(r.ok());
    auto doc = parse(r.document);
    EXPECT_EQ(str(doc, "revoke_url"), "https://myapps.microsoft.com");
    EXPECT_THAT(str(doc, "message"), HasSubstr("deleted"));
    EXPECT_EQ(host_.count_prefix("account/alice/"), 0u);
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
    EXPECT_EQ(str(send("alice"), "outcome"), "auth_expired") << "no cached token survives a disconnect";
    // Personal accounts are pointed at the page the product documentation names.
    ASSERT_EQ(str(connect("megan", kPersonalUser), "outcome"), "connected");
    EXPECT_EQ(str(status("megan"), "revoke_url"), "https://account.microsoft.com/privacy/app-access");
    EXPECT_EQ(str(parse(outlook_->forget_account("megan").document), "revoke_url"),
              "https://account.microsoft.com/privacy/app-access");
    EXPECT_EQ(host_.count_prefix("account/megan/"), 0u);
}

TEST_F(OutlookConnect, AccountIdsCannotReachEachOthersKeys) {
    ASSERT_EQ(str(connect("team/alice", kWorkUser), "outcome"), "connected");
    ASSERT_EQ(str(connect("team", kPersonalUser), "outcome"), "connected");
    outlook_->disconnect("team");
    EXPECT_EQ(str(status("team/alice"), "state"), "connected");
}

TEST_F(OutlookConnect, TheAdminConsentLinkIsAvailableOnItsOwn) {
    auto r = outlook_->begin_connect("it-admin", R"({"admin_consent":true,"tenant":"fabrikam.example"})");
    ASSERT_TRUE(r.ok()) << r.document;
    auto doc = parse(r.document);
    EXPECT_EQ(str(doc, "purpose"), "admin_consent");
    EXPECT_EQ(str(doc, "application_id"), kPublicClientId);
    EXPECT_THAT(str(doc, "authorization_url"),
                ::testing::StartsWith(sandbox_.base_url() +
                                      "/fabrikam.example/v2.0/adminconsent?client_id=" + kPublicClientId));
    EXPECT_EQ(host_.count_prefix("account/it-admin/"), 0u) << "nothing is stored for an admin link";
    // An administrator who follows it approves the app for the tenant; then its users connect.
    ms_sandbox::AutopilotRequest pilot;
    pilot.authorize_url = str(doc, "authorization_url");
    pilot.user = "admin@fabrikam.example";
    auto admin = sandbox_.autopilot(pilot);
    ASSERT_TRUE(admin.callback_url) << json::serialize(admin.raw);
    EXPECT_EQ(str(complete("it-admin", *admin.callback_url), "outcome"), "admin_consent_granted");
    EXPECT_EQ(str(connect("ben", kApprovalWorkflowUser), "outcome"), "connected");
    // Never for "common", and the option is refused outside an admin-consent request.
    EXPECT_EQ(outlook_->begin_connect("x", R"({"admin_consent":true,"tenant":"common"})").status,
              EP_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(outlook_->begin_connect("x", R"({"tenant":"fabrikam.example"})").status, EP_ERR_INVALID_ARGUMENT);
}

TEST_F(OutlookConnect, TokensWithoutMailSendAreRefusedAtConnect) {
    std::string url = begin("alice", kWorkUser);
    std::string callback = sandbox_.autopilot(url, kWorkUser);
    sandbox_.control("POST", "/_sandbox/faults", json::object{{"endpoint", "token"}, {"action", "access_denied"}});
    auto r = complete("alice", callback);
    EXPECT_EQ(str(r, "outcome"), "failed") << json::serialize(r);
    EXPECT_EQ(str(r, "code"), "unexpected_scopes");
    EXPECT_THAT(str(r, "message"), HasSubstr("Mail.Send"));
    EXPECT_EQ(str(status("alice"), "state"), "not_connected");
}

TEST_F(OutlookConnect, BadArgumentsAtTheCBoundaryAreRefusedNotCrashed) {
    const ep_provider_api& api = loaded_->api;
    ep_owned_str out{};
    auto expect_refused = [&](ep_status status, const char* what) {
        EXPECT_EQ(status, EP_ERR_INVALID_ARGUMENT) << what;
        EXPECT_NE(out.data, nullptr) << what << ": an error document names the problem";
        api.free_str(&out);
    };
    expect_refused(api.get_status(nullptr, ep_str{"a", 1}, &out), "NULL instance");
    ep_instance* bogus = reinterpret_cast<ep_instance*>(&out);
    expect_refused(api.get_status(bogus, ep_str{"a", 1}, &out), "not an instance");
    // Through a real instance: a NULL pointer with a length, an empty account, bad UTF-8,
    // a NULL callback, a NULL document.
    ep_host_api const* host = host_.api();
    ep_instance* instance = nullptr;
    std::string config = json::serialize(base_config());
    ASSERT_EQ(api.create(host, ep_str{config.data(), config.size()}, &instance, &out), EP_OK);
    api.free_str(&out);
    expect_refused(api.get_status(instance, ep_str{nullptr, 3}, &out), "NULL account with a length");
    expect_refused(api.get_status(instance, ep_str{"", 0}, &out), "empty account");
    expect_refused(api.get_status(instance, ep_str{"\xff\xfe", 2}, &out), "account not UTF-8");
    expect_refused(api.begin_connect(instance, ep_str{"a", 1}, ep_str{nullptr, 4}, &out), "NULL request with a length");
    expect_refused(api.complete_connect(instance, ep_str{"a", 1}, ep_str{"{}", 2}, &out), "callback without URL");
    const char* msg = R"({"to":[{"address":"x@example.org"}],"text":"t"})";
    expect_refused(api.send(instance, ep_str{"a", 1}, ep_str{msg, std::strlen(msg)}, nullptr, nullptr, &out),
                   "NULL callback");
    ep_instance* refused = nullptr;
    EXPECT_EQ(api.create(host, ep_str{"{", 1}, &refused, &out), EP_ERR_CONFIG);
    EXPECT_NE(out.data, nullptr);
    api.free_str(&out);
    EXPECT_EQ(api.create(nullptr, ep_str{config.data(), config.size()}, &refused, &out), EP_ERR_INVALID_ARGUMENT);
    api.free_str(&out);
    EXPECT_EQ(refused, nullptr);
    api.destroy(instance);
    api.destroy(nullptr);  // accepted and ignored
}
