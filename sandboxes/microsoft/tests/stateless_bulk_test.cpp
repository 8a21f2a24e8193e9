// Bulk mode: stateless bulk grants (README "Bulk mode"). Their tokens are verified by an HMAC,
// not looked up: Graph and the token endpoint accept them without a stored user or token,
// refuse a changed or cut one like an unknown one, and the message tally counts what was sent.
#include "support.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>

namespace mst {
namespace {

class StatelessBulkTest : public SandboxTest {
protected:
    std::vector<ms_sandbox::BulkGrant> grants(int count, int first = 0, std::optional<std::int64_t> expires_in = {}) {
        ms_sandbox::BulkGrantsRequest req;
        req.client_id = kPublicApp;
        req.count = count;
        req.first = first;
        req.stateless = true;
        req.expires_in = expires_in;
        return sandbox->bulk_grants(req);
    }
    std::size_t scenario_users() { return sandbox->control("GET", "/_sandbox/scenario").at("users").as_array().size(); }
};

// One character replaced by another of the same alphabet.
std::string flip(std::string token, std::size_t at) {
    token[at] = token[at] == 'A' ? 'B' : 'A';
    return token;
}

TEST_F(StatelessBulkTest, GrantAuthorisesGraphAndSendMailIsTallied) {
    const std::size_t users_before = scenario_users();
    auto g = grants(3, 5);
    ASSERT_EQ(g.size(), 3u);
    std::set<std::string> tokens;
    for (int i = 0; i < 3; ++i) {
        const auto& one = g[static_cast<std::size_t>(i)];
        EXPECT_EQ(one.upn, "bulk" + std::to_string(5 + i) + "@contoso.example");
        EXPECT_EQ(one.tenant_id, kContosoId);
        EXPECT_EQ(one.user_id.size(), 36u);
        EXPECT_EQ(one.access_token.size(), 1900u);  // the scenario's token_sizes, as stateful tokens
        EXPECT_EQ(one.refresh_token.size(), 1100u);
        EXPECT_EQ(one.expires_in, 3599);
        EXPECT_EQ(one.scope, "Mail.Send User.Read") << one.scope;
        tokens.insert(one.access_token);
        tokens.insert(one.refresh_token);
    }
    EXPECT_EQ(tokens.size(), 6u);
    EXPECT_EQ(scenario_users(), users_before);  // no user created
    EXPECT_TRUE(sandbox->issued().access_tokens.empty());

    auto me = get("/v1.0/me", {"Authorization: Bearer " + g[1].access_token});
    ASSERT_EQ(me.status, 200) << me.body;
    EXPECT_EQ(me.json().at("userPrincipalName"), "bulk6@contoso.example");
    EXPECT_EQ(me.json().at("id"), g[1].user_id);
    EXPECT_EQ(me.json().at("mail"), "bulk6@contoso.example");

    auto sent = send_mail(g[0].access_token, simple_message("x@example.org", "Stateless hello"));
    EXPECT_EQ(sent.status, 202) << sent.body;
    EXPECT_TRUE(sandbox->messages("bulk5@contoso.example").empty());  // tallied, not kept in full
    auto tally = sandbox->message_tally();
    EXPECT_EQ(tally.total, 1u);
    EXPECT_EQ(tally.distinct, 1u);
    EXPECT_EQ(tally.duplicate_keys, 0u);
    EXPECT_EQ(sandbox->counters().max_concurrent_send["bulk5@contoso.example"], 1);
    EXPECT_EQ(sandbox->token_requests("refresh_token"), 0);  // seeding is no token request
}

TEST_F(StatelessBulkTest, RefreshGivesANewPairCountedForItsUser) {
    auto g = grants(1, 42);
    const std::string upn = "bulk42@contoso.example";
    auto r = refresh(g[0].refresh_token, kPublicApp, {{"scope", kScopes}, {"client_info", "1"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json::value rv = r.json();
    const auto& o = rv.as_object();
    EXPECT_EQ(o.at("token_type"), "Bearer");
    EXPECT_EQ(o.at("scope"), "Mail.Send User.Read");
    EXPECT_EQ(o.at("expires_in").as_int64(), 3599);
    EXPECT_EQ(o.at("ext_expires_in").as_int64(), 3599);
    EXPECT_FALSE(o.contains("id_token"));
    const std::string at = std::string(o.at("access_token").as_string());
    const std::string rt = std::string(o.at("refresh_token").as_string());
    EXPECT_EQ(at.size(), 1900u);
    EXPECT_EQ(rt.size(), 1100u);
    EXPECT_NE(at, g[0].access_token);
    EXPECT_NE(rt, g[0].refresh_token);
    auto ci = json::parse(b64url_decode(std::string(o.at("client_info").as_string())));
    EXPECT_EQ(ci.at("uid"), g[0].user_id);
    EXPECT_EQ(ci.at("utid"), kContosoId);
    EXPECT_EQ(send_mail(at, simple_message()).status, 202);
    EXPECT_EQ(sandbox->token_requests("refresh_token", upn), 1);
    EXPECT_EQ(sandbox->token_requests("refresh_token"), 1);

    // Microsoft's default: the old refresh token stays valid.
    EXPECT_EQ(refresh(g[0].refresh_token).status, 200);

    // Invalidate on use: the first redemption works, a second one is refused as the stateful path refuses it.
    sandbox->control("POST", "/_sandbox/settings", json::object{{"old_refresh_token_stays_valid", false}});
    auto once = refresh(rt);
    ASSERT_EQ(once.status, 200) << once.body;
    auto twice = refresh(rt);
    EXPECT_EQ(twice.status, 400) << twice.body;
    EXPECT_EQ(twice.json().at("error"), "invalid_grant");
    EXPECT_EQ(twice.json().at("error_codes").at(0), 70008);
    EXPECT_EQ(twice.json().at("suberror"), "bad_token");
    // The pair the first redemption handed out works.
    EXPECT_EQ(refresh(std::string(once.json().at("refresh_token").as_string())).status, 200);
    EXPECT_EQ(sandbox->token_requests("refresh_token", upn), 5);

    // Another client's refresh token: 70000, as for a stored one.
    auto other = refresh(g[0].refresh_token, kSecretApp, {{"client_secret", kSecret}});
    EXPECT_EQ(other.status, 400);
    EXPECT_EQ(other.json().at("error_codes").at(0), 70000);
}

TEST_F(StatelessBulkTest, ChangedOrCutTokensAreRefusedLikeUnknownOnes) {
    auto g = grants(1);
    const std::string& at = g[0].access_token;
    const std::string& rt = g[0].refresh_token;
    ASSERT_EQ(send_mail(at, simple_message()).status, 202);
    const std::string unknown_at = "CompactToken parsing failed with error code: 80049217";

    // Payload, MAC, padding, last character; then cut short.
    std::vector<std::string> bad_ats;
    for (std::size_t i : {std::size_t{6}, at.find('.', 4) + 5, std::size_t{1000}, at.size() - 1})
        bad_ats.push_back(flip(at, i));
    bad_ats.push_back(at.substr(0, at.size() - 1));
    for (const auto& bad : bad_ats) {
        auto res = send_mail(bad, simple_message());
        EXPECT_EQ(res.status, 401) << res.body;
        EXPECT_EQ(res.json().at("error").at("message"), unknown_at);
        auto me = get("/v1.0/me", {"Authorization: Bearer " + bad});
        EXPECT_EQ(me.status, 401);
    }
    // A refresh token is no access token, and the other way round.
    EXPECT_EQ(send_mail(rt, simple_message()).status, 401);
    EXPECT_EQ(refresh(at).json().at("error_codes").at(0), 9002313);

    auto unknown = refresh("1.A" + std::string(1097, 'x'));
    ASSERT_EQ(unknown.status, 400);
    for (const auto& bad : {flip(rt, 7), flip(rt, rt.size() - 1), rt.substr(0, 600)}) {
        auto res = refresh(bad);
        EXPECT_EQ(res.status, 400) << res.body;
        EXPECT_EQ(res.json().at("error"), unknown.json().at("error"));
        EXPECT_EQ(res.json().at("error_codes").at(0), 9002313);
        EXPECT_EQ(std::string(res.json().at("error_description").as_string()).substr(0, 30),
                  std::string(unknown.json().at("error_description").as_string()).substr(0, 30));
    }
    EXPECT_EQ(sandbox->message_tally().total, 1u);
}

TEST_F(StatelessBulkTest, AccessTokensExpireOnTheSandboxClock) {
    auto g = grants(1);
    auto long_lived = grants(1, 1, 86400);
    EXPECT_EQ(long_lived[0].expires_in, 86400);
    sandbox->advance_clock(std::chrono::seconds(3600));
    auto late = send_mail(g[0].access_token, simple_message());
    EXPECT_EQ(late.status, 401) << late.body;
    EXPECT_EQ(late.json().at("error").at("message"), "Access token has expired or is not yet valid.");
    EXPECT_EQ(get("/v1.0/me", {"Authorization: Bearer " + g[0].access_token}).status, 401);
    EXPECT_EQ(send_mail(long_lived[0].access_token, simple_message()).status, 202);
    sandbox->advance_clock(std::chrono::seconds(86400));
    EXPECT_EQ(send_mail(long_lived[0].access_token, simple_message()).status, 401);
    // The refresh token still gets a fresh access token.
    auto r = refresh(g[0].refresh_token);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(send_mail(std::string(r.json().at("access_token").as_string()), simple_message()).status, 202);
}

TEST_F(StatelessBulkTest, TallyCountsDuplicates) {
    auto g = grants(2);
    const std::string crid = "0f7c8e2a-1b3d-4c5e-9f60-718293a4b5c6";
    EXPECT_EQ(send_mail(g[0].access_token, simple_message(), {"client-request-id: " + crid}).status, 202);
    EXPECT_EQ(send_mail(g[0].access_token, simple_message(), {"client-request-id: " + crid}).status, 202);
    EXPECT_EQ(send_mail(g[1].access_token, simple_message(), {"client-request-id: other-id"}).status, 202);
    EXPECT_EQ(send_mail(g[1].access_token, simple_message("y@example.org", "No id")).status, 202);
    auto tally = sandbox->message_tally();
    EXPECT_EQ(tally.total, 4u);
    EXPECT_EQ(tally.distinct, 3u);
    EXPECT_EQ(tally.duplicate_keys, 1u);
    ASSERT_EQ(tally.duplicates.size(), 1u);
    EXPECT_EQ(tally.duplicates[0].first, crid);
    EXPECT_EQ(tally.duplicates[0].second, 2u);

    // Without a client-request-id the subject is the key; stored users' mail is tallied too.
    auto adele = sign_in(kAdele);
    EXPECT_EQ(send_mail(adele.access_token, simple_message("y@example.org", "No id")).status, 202);
    tally = sandbox->message_tally();
    EXPECT_EQ(tally.total, 5u);
    EXPECT_EQ(tally.duplicate_keys, 2u);
    EXPECT_EQ(sandbox->messages(kAdele).size(), 1u);

    sandbox->clear_message_tally();
    EXPECT_EQ(sandbox->message_tally().total, 0u);
}

TEST_F(StatelessBulkTest, RefusesWhatItCannotModel) {
    auto post = [&](json::object body) { return post_json("/_sandbox/bulk-grants", json::serialize(body)); };
    const json::object base{{"client_id", kPublicApp}, {"users", 1}, {"stateless", true}};
    auto with = [&](const char* k, json::value v) {
        json::object b = base;
        b[k] = std::move(v);
        return b;
    };
    auto upns = post(with("users", json::array{"a@contoso.example"}));
    EXPECT_EQ(upns.status, 400);
    EXPECT_NE(upns.body.find("count"), std::string::npos) << upns.body;
    EXPECT_EQ(post(with("expires_in", 0)).status, 400);
    EXPECT_EQ(post(with("scopes", json::array{"openid", "Mail.Send"})).status, 400);
    EXPECT_EQ(post(with("users", 1'000'001)).status, 400);
    EXPECT_EQ(post({{"client_id", kPublicApp}, {"users", 1}, {"expires_in", 60}}).status, 400);  // stateful
    EXPECT_EQ(post(base).status, 200);
}

std::int64_t peak_rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
    return 0;
}

// Speed is printed, not asserted: a load test asks for 1,000,000 in chunks.
TEST_F(StatelessBulkTest, HundredThousandGrantsInOneCall) {
    const auto rss_before = peak_rss_kib();
    const auto t0 = std::chrono::steady_clock::now();
    auto g = grants(100'000, 1'000'000);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ stateless ] 100000 grants in " << ms << " ms (peak RSS " << rss_before / 1024 << " -> "
              << peak_rss_kib() / 1024 << " MiB, answer included)" << std::endl;
    ASSERT_EQ(g.size(), 100'000u);
    EXPECT_EQ(g.back().upn, "bulk1099999@contoso.example");
    EXPECT_EQ(g.back().access_token.size(), 1900u);
    EXPECT_EQ(send_mail(g[77'777].access_token, simple_message()).status, 202);
}

}  // namespace
}  // namespace mst
