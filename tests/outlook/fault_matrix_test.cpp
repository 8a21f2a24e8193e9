// The fault matrix: for connect (code redemption), refresh and send, each fault the stand-in
// (or the network) can produce, checking the outcome class, the connection status afterwards,
// that stored tokens survive every transient fault, that the stand-in never records more than
// one message per send, and that nothing crashes. The matrix is printed at the end.
#include "canned_server.hpp"
#include "outlook_fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <iomanip>
#include <iostream>
#include <mutex>

using namespace outlook_test;

namespace {

enum class Phase { connect, refresh, send };
const char* phase_name(Phase p) { return p == Phase::connect ? "connect" : p == Phase::refresh ? "refresh" : "send"; }

// How the fault is produced.
struct Fault {
    std::string name;
    json::object rule;                 // a stand-in fault rule (endpoint filled per phase), or empty
    std::string server_cert = "good";  // a stand-in presenting this certificate instead
    bool wrong_ca = false;             // the plugin trusts an unrelated CA
    bool refused = false;              // nothing listens on the port
    bool silent = false;               // a listener that never answers (timeout before sending)
    std::string revoke;                // a dead-grant reason (refresh only)
    bool invalid_client = false;       // the app's secret is invalidated (connect and refresh)
    bool no_mailbox = false;           // the mailbox is disabled (send only)
    long request_timeout_ms = 3000;
    // Shapes of real Microsoft traffic the stand-in cannot send (issue 12; sources in
    // conformance_test.cpp), from a canned server in its place for the phase's endpoint.
    ms_sandbox::Answer answer = ms_sandbox::Answer::accept;  // the user's answer at Microsoft (connect)
    std::string callback_suffix;                             // appended to the redirect back (connect), e.g. "#"
    std::optional<CannedResponse> canned_send;               // sendMail's answer (send)
    std::optional<std::string> canned_scope;  // /token answers the stand-in's real tokens with this `scope`
};

// What must come out of a cell.
struct Expect {
    std::string outcome;  // connect outcome / send outcome ("-" = not applicable)
    std::string state;    // status afterwards
};

struct Case {
    Phase phase;
    Fault fault;
    Expect expect;
};

struct Row {
    std::string fault;
    std::map<std::string, std::string> cells;  // phase -> "outcome/state" or failure text
};

std::mutex g_table_mutex;
std::vector<Row> g_table;

void record(const std::string& fault, Phase phase, const std::string& cell) {
    std::lock_guard lock(g_table_mutex);
    for (auto& r : g_table)
        if (r.fault == fault) {
            r.cells[phase_name(phase)] = cell;
            return;
        }
    g_table.push_back(Row{fault, {{phase_name(phase), cell}}});
}

json::object status_rule(int status, std::optional<std::string> retry_after = {}) {
    json::object o{{"action", "status"}, {"status", status}};
    if (retry_after) o["retry_after"] = *retry_after;
    return o;
}

Fault fault(std::string name, std::function<void(Fault&)> set = {}) {
    Fault f;
    f.name = std::move(name);
    if (set) set(f);
    return f;
}

Fault rule_fault(std::string name, json::object rule, long request_timeout_ms = 3000) {
    return fault(std::move(name), [&](Fault& f) {
        f.rule = std::move(rule);
        f.request_timeout_ms = request_timeout_ms;
    });
}

std::vector<Case> cases() {
    std::vector<Case> out;
    auto add = [&](Fault f, Expect connect, Expect refresh, Expect send) {
        if (connect.outcome != "-") out.push_back({Phase::connect, f, connect});
        if (refresh.outcome != "-") out.push_back({Phase::refresh, f, refresh});
        if (send.outcome != "-") out.push_back({Phase::send, f, send});
    };
    const Expect na{"-", "-"};
    // Transient for connect = temporarily_unavailable and not_connected; for refresh, the send
    // it served is transient and the connection stays; for send, see the send outcomes.
    const Expect c_tmp{"temporarily_unavailable", "not_connected"}, r_tmp{"transient", "connected"};
    add(fault("connection refused", [](Fault& f) { f.refused = true; }), c_tmp, r_tmp, {"transient", "connected"});
    add(fault("timeout before sending",
              [](Fault& f) {
                  f.silent = true;
                  f.request_timeout_ms = 1000;
              }),
        c_tmp, r_tmp, {"transient", "connected"});
    // Whether the body left before the reset is a race: if it did, the send is indeterminate; if
    // not, it certainly did not take effect and is retried automatically, and sent once.
    add(rule_fault("reset before request body", json::object{{"action", "reset_before_body"}}), c_tmp, r_tmp,
        {"indeterminate|sent", "connected"});
    add(rule_fault("reset after request body", json::object{{"action", "drop_before_response"}}), c_tmp, r_tmp,
        {"indeterminate", "connected"});
    add(rule_fault("timeout after sending", json::object{{"action", "delay"}, {"delay_ms", 2500}}, 1000), c_tmp, r_tmp,
        {"indeterminate", "connected"});
    add(rule_fault("429 with Retry-After", status_rule(429, "120")), c_tmp, r_tmp, {"throttled", "connected"});
    add(rule_fault("429 without Retry-After", status_rule(429)), c_tmp, r_tmp, {"sent", "connected"});
    // Issue 25: Exchange's daily sending limit holds the mailbox (sending_limit "daily"), it is no
    // refusal of the message.
    json::object daily_limit = status_rule(403);
    daily_limit["error_code"] = "ErrorExceededMessageLimit";
    add(rule_fault("daily sending limit", std::move(daily_limit)), na, na, {"throttled", "connected"});
    for (int s : {500, 502, 503, 504})
        add(rule_fault(std::to_string(s), status_rule(s)), c_tmp, r_tmp, {"indeterminate", "connected"});
    add(rule_fault("504 after recording", json::object{{"action", "status_after_record"}, {"status", 504}}), na, na,
        {"indeterminate", "connected"});
    add(rule_fault("malformed JSON", json::object{{"action", "malformed_json"}}), c_tmp, r_tmp, {"sent", "connected"});
    add(rule_fault("truncated body", json::object{{"action", "truncated_body"}}), c_tmp, r_tmp, {"sent", "connected"});
    add(rule_fault("oversized body", json::object{{"action", "huge_body"}}), c_tmp, r_tmp, {"sent", "connected"});
    add(fault("wrong TLS CA", [](Fault& f) { f.wrong_ca = true; }), c_tmp, r_tmp, {"transient", "connected"});
    add(fault("wrong hostname", [](Fault& f) { f.server_cert = "wrong-host"; }), c_tmp, r_tmp,
        {"transient", "connected"});
    add(fault("expired certificate", [](Fault& f) { f.server_cert = "expired"; }), c_tmp, r_tmp,
        {"transient", "connected"});
    for (std::string reason : {"inactivity", "password_change", "consent_revoked", "mfa_required", "signin_frequency"})
        add(fault("dead grant: " + reason, [&](Fault& f) { f.revoke = reason; }), na, {"auth_expired", "expired"}, na);
    add(fault("invalid client", [](Fault& f) { f.invalid_client = true; }), {"configuration_error", "not_connected"},
        {"transient", "configuration_error"}, na);
    add(fault("mailbox not enabled", [](Fault& f) { f.no_mailbox = true; }), na, na, {"rejected", "connected"});
    // Issue 12: what real Microsoft sends. A CAE claims challenge ends the connection at once
    // (a refresh does not cure it); a permission removed by an administrator is "Permission
    // denied", not a rejected message; extra consented scopes are no reason to refuse; a
    // redirect ending in '#' keeps its meaning.
    add(fault(
            "CAE claims challenge",
            [](Fault& f) {
                f.canned_send = CannedResponse{
                    401,
                    {{"Content-Type", "application/json"},
                     {"WWW-Authenticate",
                      R"(Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", )"
                      R"(error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTcyNjI1ODEyMiJ9fX0=")"}},
                    R"({"error":{"code":"InvalidAuthenticationToken","message":"Continuous access evaluation resulted in )"
                    R"(challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp"}})"};
            }),
        na, na, {"auth_expired", "expired"});
    add(rule_fault("permission removed", json::object{{"action", "access_denied"}}), na,
        {"auth_expired", "permission_denied"}, {"auth_expired", "permission_denied"});
    add(fault("extra consented scopes",
              [](Fault& f) { f.canned_scope = "Calendars.Read Mail.Read Mail.Send User.Read email openid profile"; }),
        {"connected", "connected"}, {"sent", "connected"}, na);
    add(fault("'#' after a code", [](Fault& f) { f.callback_suffix = "#"; }), {"connected", "connected"}, na, na);
    add(fault("'#' after a cancel",
              [](Fault& f) {
                  f.answer = ms_sandbox::Answer::cancel;
                  f.callback_suffix = "#";
              }),
        {"cancelled", "not_connected"}, na, na);
    add(fault("'#' after a decline",
              [](Fault& f) {
                  f.answer = ms_sandbox::Answer::decline;
                  f.callback_suffix = "#";
              }),
        {"declined", "not_connected"}, na, na);
    return out;
}

// A TCP listener that accepts connections (in the kernel backlog) but never says a word.
class SilentListener {
public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 16);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

class FaultMatrix : public OutlookFixture, public ::testing::WithParamInterface<Case> {
protected:
    FaultMatrix() : OutlookFixture(SandboxSettings{}) {}

    void SetUp() override {
        // Confidential app with a secret, so that "invalid client" has something to invalidate.
        dir_.write("secret.txt", client_secret());
        extra_secrets_.push_back(client_secret());
        outlook_ = create(config_for(sandbox_.base_url(), sandbox_.ca_file().string(), 10000));
    }

    json::object config_for(const std::string& base, const std::string& ca, long request_timeout_ms) {
        auto c = base_config();
        c["client_id"] = kSecretClientId;
        c["client_credential"] = json::object{{"type", "secret"}, {"file", (dir_ / "secret.txt").string()}};
        c["endpoints"] = json::object{{"login", base}, {"graph", base + "/v1.0"}};
        c["tls"] = json::object{{"ca_file", ca}};
        c["timeouts"] = json::object{{"connect_ms", 1000}, {"request_ms", request_timeout_ms}};
        c["send"] = json::object{{"max_throttle_wait_seconds", 5}, {"max_attempts", 2}};
        return c;
    }

    // Recreates the plugin so that the phase's endpoint is reached through the fault.
    void route_through_fault(const Fault& f, Phase phase) {
        std::string base = sandbox_.base_url();
        std::string ca = sandbox_.ca_file().string();
        if (f.refused) base = "https://127.0.0.1:9";
        if (f.silent) base = "https://127.0.0.1:" + std::to_string(silent_.port());
        if (f.server_cert != "good") {
            ms_sandbox::Options o = make_options({});
            o.server_cert = f.server_cert;
            other_ = std::make_unique<ms_sandbox::Sandbox>(o);
            base = other_->base_url();
        }
        if (f.wrong_ca) ca = (sandbox_.tls_dir() / "other-ca.pem").string();
        if (f.canned_send) {
            canned_.script("/v1.0/me/sendMail", {*f.canned_send});
            base = canned_.base_url();
        }
        if (f.canned_scope) {
            // Real tokens, so that Graph (the stand-in) accepts them; only `scope` is Microsoft's additive list.
            ms_sandbox::BulkGrant g = sandbox_.bulk_grants({.client_id = kSecretClientId, .users = {kWorkUser}}).at(0);
            canned_.script("/common/oauth2/v2.0/token",
                           {CannedResponse{200,
                                           {{"Content-Type", "application/json; charset=utf-8"}},
                                           json::serialize(json::object{{"token_type", "Bearer"},
                                                                        {"scope", *f.canned_scope},
                                                                        {"expires_in", 3599},
                                                                        {"ext_expires_in", 3599},
                                                                        {"access_token", g.access_token},
                                                                        {"refresh_token", g.refresh_token}})}});
            base = canned_.base_url();
        }
        auto c = config_for(sandbox_.base_url(), sandbox_.ca_file().string(), f.request_timeout_ms);
        if (f.canned_send || f.canned_scope) c["allow_insecure_loopback_http"] = true;
        // Only the endpoint under test goes through the fault; the other stays healthy.
        if (phase == Phase::send)
            c["endpoints"].as_object()["graph"] = base + "/v1.0";
        else
            c["endpoints"].as_object()["login"] = base;
        // A trust problem concerns every endpoint the instance talks to.
        if (f.wrong_ca) c["tls"] = json::object{{"ca_file", ca}};
        outlook_ = create(c);
        if (!f.rule.empty()) {
            json::object rule = f.rule;
            rule["endpoint"] = phase == Phase::send ? "sendMail" : "token";
            if (phase != Phase::connect && !rule.contains("times")) rule["times"] = phase == Phase::send ? 1 : -1;
            if (phase == Phase::connect) rule["times"] = 1;
            sandbox_.control("POST", "/_sandbox/faults", rule);
        }
        if (f.invalid_client) sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::invalid);
        if (f.no_mailbox) sandbox_.set_mailbox_enabled(kWorkUser, false);
        if (!f.revoke.empty()) {
            ms_sandbox::RevokeReason r = f.revoke == "inactivity"        ? ms_sandbox::RevokeReason::inactivity
                                         : f.revoke == "password_change" ? ms_sandbox::RevokeReason::password_change
                                         : f.revoke == "consent_revoked" ? ms_sandbox::RevokeReason::consent_revoked
                                         : f.revoke == "mfa_required"    ? ms_sandbox::RevokeReason::mfa_required
                                                                         : ms_sandbox::RevokeReason::signin_frequency;
            sandbox_.revoke_grant(kWorkUser, r);
        }
    }

    SilentListener silent_;
    std::unique_ptr<ms_sandbox::Sandbox> other_;
    CannedServer canned_;
};

bool matches(const std::string& expected, const std::string& actual) {
    std::size_t start = 0;
    while (true) {
        auto bar = expected.find('|', start);
        if (expected.substr(start, bar - start) == actual) return true;
        if (bar == std::string::npos) return false;
        start = bar + 1;
    }
}

}  // namespace

TEST_P(FaultMatrix, OutcomeStatusTokensAndRecordedMessages) {
    const Case& c = GetParam();
    std::string outcome;
    if (c.phase == Phase::connect) {
        ms_sandbox::AutopilotRequest pilot;
        pilot.authorize_url = begin("alice", kWorkUser);
        pilot.user = kWorkUser;
        pilot.answer = c.fault.answer;
        std::string callback = sandbox_.autopilot(pilot).callback_url.value_or("") + c.fault.callback_suffix;
        route_through_fault(c.fault, c.phase);
        outcome = str(complete("alice", callback), "outcome");
    } else {
        ASSERT_EQ(str(connect("alice", kWorkUser), "outcome"), "connected");
        if (c.phase == Phase::refresh) advance(std::chrono::seconds(3600));
        route_through_fault(c.fault, c.phase);
        json::object r = send("alice");
        outcome = str(r, "outcome");
        std::size_t recorded = sandbox_.messages(kWorkUser).size() + (other_ ? other_->messages(kWorkUser).size() : 0);
        EXPECT_LE(recorded, 1u) << "never more than one message for one send";
        if (outcome == "sent") {
            EXPECT_EQ(recorded, 1u) << "sent means Graph recorded it";
        }
        if (c.expect.state == "connected" || c.expect.state == "configuration_error") {
            EXPECT_TRUE(host_.has_key("account/alice/grant")) << "stored tokens survive a transient fault";
        }
    }
    std::string state = str(status("alice"), "state");
    record(c.fault.name, c.phase, outcome + " / " + state);
    EXPECT_TRUE(matches(c.expect.outcome, outcome))
        << c.fault.name << " (" << phase_name(c.phase) << "): got " << outcome;
    EXPECT_EQ(state, c.expect.state) << c.fault.name << " (" << phase_name(c.phase) << ")";
    if (c.phase == Phase::refresh && c.expect.state == "connected") {
        // Once the fault is gone, the same stored connection works.
        sandbox_.clear_faults();
        sandbox_.set_secret_state(kSecretClientId, ms_sandbox::SecretState::valid);
        outlook_ = create(config_for(sandbox_.base_url(), sandbox_.ca_file().string(), 10000));
        host_.advance_seconds(600);  // past any backoff
        EXPECT_EQ(str(send("alice"), "outcome"), "sent") << c.fault.name << ": the connection must still work";
    }
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultMatrix, ::testing::ValuesIn(cases()), [](const auto& param_info) {
    std::string name = std::string(phase_name(param_info.param.phase)) + "_" + param_info.param.fault.name;
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
});

// Prints the matrix after the suite, so a reader of the test log sees every cell at once.
class MatrixPrinter : public ::testing::Environment {
public:
    void TearDown() override {
        std::lock_guard lock(g_table_mutex);
        if (g_table.empty()) return;
        std::cout << "\nFault matrix (outcome / status afterwards):\n";
        std::cout << std::left << std::setw(30) << "fault" << std::setw(44) << "connect" << std::setw(36) << "refresh"
                  << "send\n";
        for (const auto& r : g_table) {
            auto cell = [&](const char* p) { return r.cells.count(p) ? r.cells.at(p) : std::string("-"); };
            std::cout << std::setw(30) << r.fault << std::setw(44) << cell("connect") << std::setw(36)
                      << cell("refresh") << cell("send") << "\n";
        }
        std::cout << g_table.size() << " faults\n";
    }
};
const auto* const kPrinter = ::testing::AddGlobalTestEnvironment(new MatrixPrinter);
