// The test-only bulk-grants control endpoint: tokens it hands out behave exactly like tokens
// from a real sign-in (Graph accepts them, refresh works with the same scopes, expiry and
// revocation apply), users are created once, and nothing counts as a token request.
#include "support.hpp"

#include <set>

namespace mst {
namespace {

class BulkGrantsTest : public SandboxTest {};

TEST_F(BulkGrantsTest, GeneratedUsersGetWorkingTokens) {
    ms_sandbox::BulkGrantsRequest req;
    req.client_id = kPublicApp;
    req.count = 3;
    req.first = 7;
    auto grants = sandbox->bulk_grants(req);
    ASSERT_EQ(grants.size(), 3u);
    std::set<std::string> ats;
    for (int i = 0; i < 3; ++i) {
        const auto& g = grants[static_cast<std::size_t>(i)];
        EXPECT_EQ(g.upn, "bulk" + std::to_string(7 + i) + "@contoso.example");
        EXPECT_EQ(g.tenant_id, kContosoId);
        EXPECT_EQ(g.user_id.size(), 36u);
        EXPECT_EQ(g.access_token.substr(0, 3), "eyJ");  // a work account's JWT, as from /token
        EXPECT_EQ(g.refresh_token.size(), 1100u);
        EXPECT_EQ(g.expires_in, 3599);
        EXPECT_EQ(g.scope, "Mail.Send User.Read") << g.scope;
        ats.insert(g.access_token);
    }
    EXPECT_EQ(ats.size(), 3u);

    // Graph knows the user behind the token, and sends as that user.
    auto me = get("/v1.0/me", {"Authorization: Bearer " + grants[1].access_token});
    ASSERT_EQ(me.status, 200) << me.body;
    EXPECT_EQ(me.json().at("userPrincipalName"), "bulk8@contoso.example");
    EXPECT_EQ(me.json().at("id"), grants[1].user_id);
    auto sent = send_mail(grants[0].access_token, simple_message());
    EXPECT_EQ(sent.status, 202) << sent.body;
    auto msgs = sandbox->messages("bulk7@contoso.example");
    ASSERT_EQ(msgs.size(), 1u);

    // Refresh with the scopes the plugin names: the consent was recorded as at sign-in.
    auto r = refresh(grants[2].refresh_token, kPublicApp, {{"scope", kScopes}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().at("refresh_token").as_string().size(), 1100u);

    // Seeding is not a token request; the refresh above is, attributed to its user.
    auto c = sandbox->counters();
    EXPECT_EQ(c.token_by_grant["refresh_token"], 1);
    EXPECT_EQ(c.token_by_user["bulk9@contoso.example"]["refresh_token"], 1);
    EXPECT_EQ(c.token_by_user.count("bulk7@contoso.example"), 0u);
}

TEST_F(BulkGrantsTest, ExistingAndNamedUsersAreReusedAndTokensExpire) {
    ms_sandbox::BulkGrantsRequest req;
    req.client_id = kPublicApp;
    req.users = {kAdele, "Newcomer@Contoso.example"};
    auto first = sandbox->bulk_grants(req);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].upn, kAdele);
    auto again = post_json(
        "/_sandbox/bulk-grants",
        json::serialize(json::object{{"client_id", kPublicApp}, {"users", json::array{"newcomer@contoso.example"}}}));
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.json().at("created_users"), 0);
    EXPECT_EQ(again.json().at("grants").at(0).at("upn"), "Newcomer@Contoso.example");

    // Access tokens expire on the sandbox clock like any other.
    sandbox->advance_clock(std::chrono::seconds(3600));
    auto late = send_mail(first[0].access_token, simple_message());
    EXPECT_EQ(late.status, 401) << late.body;

    // A revoked grant's refresh token dies like one from a sign-in.
    sandbox->revoke_grant(kAdele, ms_sandbox::RevokeReason::password_change);
    auto dead = refresh(first[0].refresh_token);
    EXPECT_EQ(dead.status, 400) << dead.body;
}

TEST_F(BulkGrantsTest, RefusesBadRequests) {
    auto post = [&](json::object body) { return post_json("/_sandbox/bulk-grants", json::serialize(body)); };
    EXPECT_EQ(post({{"client_id", "00000000-0000-4000-8000-000000000000"}, {"users", 1}}).status, 404);
    EXPECT_EQ(post({{"users", 1}}).status, 400);
    EXPECT_EQ(post({{"client_id", kPublicApp}}).status, 400);
    EXPECT_EQ(post({{"client_id", kPublicApp}, {"users", 1}, {"scopes", json::array{"Nope.Nothing"}}}).status, 400);
    EXPECT_EQ(post({{"client_id", kPublicApp}, {"users", 1}, {"tenant", "consumers"}}).status, 404);
    EXPECT_EQ(post({{"client_id", kPublicApp}, {"users", json::array{"no-at-sign"}}}).status, 400);
}

}  // namespace
}  // namespace mst
