// Scripted faults per endpoint. The answers' shapes: Google's OAuth errors
// ({"error","error_description"}, retryable names from google-auth-library-python
// google/oauth2/_client.py _can_retry) and the Gmail API error body of
// https://developers.google.com/workspace/gmail/api/guides/handle-errors (500 backendError).
#include "support.hpp"

#include <stdexcept>

namespace gst {
namespace {

class FaultsTest : public GoogleSandboxTest {
protected:
    int add(const std::string& endpoint, const std::string& action, int status = 0, int times = 1) {
        google_sandbox::FaultRule f;
        f.endpoint = endpoint;
        f.action = action;
        f.status = status;
        f.times = times;
        return sandbox->add_fault(f);
    }
};

TEST_F(FaultsTest, TokenStatusUsesTheOAuthShapeOnceThenRecovers) {
    auto cb = callback_for(kGrace);
    add("token", "status", 503);
    auto r = redeem(cb.at("code"));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.json().at("error").as_string(), "internal_failure");
    EXPECT_EQ(redeem(cb.at("code")).status, 200);  // not processed: the code is still good
    EXPECT_EQ(sandbox->faults().at(0).at("fired").as_int64(), 1);
}

TEST_F(FaultsTest, SendStatusAfterTheMessageWentOut) {
    const std::string at(sign_in(kAlan).at("access_token").as_string());
    google_sandbox::FaultRule f;
    f.endpoint = "send";
    f.status = 500;
    f.process_first = true;  // the indeterminate case: sent, but the answer is an error
    sandbox->add_fault(f);
    auto r = send_raw(at, message());
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.json().at("error").at("errors").at(0).at("reason").as_string(), "backendError");
    EXPECT_EQ(sandbox->messages().size(), 1u);
}

TEST_F(FaultsTest, UserFilterAndAfter) {
    const std::string grace(sign_in(kGrace).at("access_token").as_string());
    const std::string alan(sign_in(kAlan).at("access_token").as_string());
    google_sandbox::FaultRule f;
    f.endpoint = "send";
    f.user = kAlan;
    f.after = 1;
    f.status = 429;
    sandbox->add_fault(f);
    EXPECT_EQ(send_raw(grace, message()).status, 200);
    EXPECT_EQ(send_raw(alan, message()).status, 200);  // the first is let through
    EXPECT_EQ(send_raw(alan, message()).status, 429);
    EXPECT_EQ(send_raw(alan, message()).status, 200);  // times = 1
}

TEST_F(FaultsTest, TransportFaults) {
    add("userinfo", "drop_before_response");
    EXPECT_THROW(get("/v1/userinfo"), std::runtime_error);
    add("certs", "reset_before_body");
    EXPECT_THROW(get("/oauth2/v3/certs"), std::runtime_error);
    add("certs", "malformed_json");
    auto r = get("/oauth2/v3/certs");
    EXPECT_EQ(r.status, 200);
    EXPECT_THROW(r.json(), std::exception);
    EXPECT_EQ(get("/oauth2/v3/certs").status, 200);
}

TEST_F(FaultsTest, DelayAndAuthorizePage) {
    google_sandbox::FaultRule f;
    f.endpoint = "certs";
    f.action = "delay";
    f.delay_ms = 300;
    sandbox->add_fault(f);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(get("/oauth2/v3/certs").status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
    add("authorize", "status", 500);
    auto page = get(authorize_path());
    EXPECT_EQ(page.status, 500);
    EXPECT_NE(page.body.find("server_error"), std::string::npos);
}

TEST_F(FaultsTest, BadRulesAreRefusedByName) {
    try {
        sandbox->control("POST", "/_sandbox/faults", json::object{{"endpoint", "sendMail"}, {"status", 500}});
        FAIL() << "accepted an unknown endpoint";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("fault.endpoint"), std::string::npos) << e.what();
    }
    EXPECT_THROW(add("token", "status", 0), std::runtime_error);  // a status action needs a status
    sandbox->clear_faults();
    EXPECT_TRUE(sandbox->faults().as_array().empty());
}

}  // namespace
}  // namespace gst
