// The Google fault matrix: each fault the Google stand-in can produce (sandboxes/google/README.md
// "Faults"), at each Google endpoint the plugin calls, and what the user and the host see: the
// connect outcome, the ep.send_result outcome, the check's or the disconnect's answer, and the
// connection's status afterwards. Every row also holds the invariants: nothing is sent twice and
// an indeterminate send is never resent (the stand-in's recorded messages), the stored connection
// survives every transient fault (a later send without the fault goes out), and no token, code or
// client secret reaches the log (GmailFixture::TearDown). The matrix is printed at the end.
//
// Sources of the expected mappings, cited per row as [key]:
// [GE]  https://developers.google.com/workspace/gmail/api/guides/handle-errors (400: do not retry;
//       401: refresh the access token, and if that fails sign in again; 403/429 rate limits:
//       exponential backoff; 500/503: backoff, but users.messages.send is not idempotent and
//       gmail.send cannot read Sent, so gmail_plugin/src/gmail_mail.cpp reports "indeterminate").
// [PY]  googleapis/google-auth-library-python google/oauth2/_client.py `_can_retry`: 5xx, 408, 429
//       and internal_failure / server_error / temporarily_unavailable are worth a retry.
// [W]   https://developers.google.com/identity/protocols/oauth2/web-server: invalid_request (a
//       malformed token request) is the app's fault; "Revoking a token": "If the revocation is
//       successfully processed, then the HTTP status code of the response is 200. For error
//       conditions, an HTTP status code 400 is returned along with an error code."
// [RUBY] googleapis/google-api-ruby-client#796: revoking a token already dead answers 400 invalid_token.
// [OIDC] https://developers.google.com/identity/openid-connect/openid-connect ("Validating an ID
//       token": the signature is checked with Google's keys from jwks_uri); without the keys no
//       sign-in can be checked, which is Google's outage, not the user's mistake.
// [BEARER] RFC 6750 §3.1: a refused access token is 401 invalid_token (userinfo).
// [HTTP] RFC 9110 §9.2.2: POST is not idempotent; once the request went out without an answer,
//       the client cannot tell whether it took effect.
#include "gmail_fixture.hpp"

#include <iomanip>
#include <iostream>
#include <mutex>

namespace gmail_test {
namespace {

// The user's action and the Google endpoint that answers with the fault.
enum class Step {
    connect_token,   // complete_connect: the code exchange at /token
    connect_certs,   // complete_connect: the ID token's keys at /oauth2/v3/certs
    send_refresh,    // send an hour after connecting: the refresh at /token
    send,            // send: users.messages.send
    check_userinfo,  // check_connection: /v1/userinfo after the forced refresh
    disconnect,      // disconnect: /revoke
};
constexpr Step kSteps[] = {Step::connect_token, Step::connect_certs,  Step::send_refresh,
                           Step::send,          Step::check_userinfo, Step::disconnect};

const char* step_name(Step s) {
    switch (s) {
        case Step::connect_token:
            return "connect_token";
        case Step::connect_certs:
            return "connect_certs";
        case Step::send_refresh:
            return "send_refresh";
        case Step::send:
            return "send";
        case Step::check_userinfo:
            return "check_userinfo";
        case Step::disconnect:
            return "disconnect_revoke";
    }
    return "?";
}

const char* endpoint_of(Step s) {
    switch (s) {
        case Step::connect_token:
        case Step::send_refresh:
            return "token";
        case Step::connect_certs:
            return "certs";
        case Step::send:
            return "send";
        case Step::check_userinfo:
            return "userinfo";
        case Step::disconnect:
            return "revoke";
    }
    return "any";
}

// What must come out of a cell. `outcome` may list alternatives ("indeterminate|sent"); "-" = no row.
//   connect:    the ep.connect_result/1 outcome
//   send:       the ep.send_result/1 outcome
//   check:      "checked", or the check_failed code
//   disconnect: "revoked" or "not_revoked" (revoked_at_provider)
struct Expect {
    std::string outcome;
    std::string state;   // ep.status/1 state afterwards
    std::string source;  // [key] of the header
};

struct Row {
    Step step;
    std::string fault;
    google_sandbox::FaultRule rule;
    Expect expect;
};

// gtest prints a failing row's parameter with this, instead of its bytes.
void PrintTo(const Row& row, std::ostream* out) {
    *out << row.fault << " at " << step_name(row.step) << " (expected " << row.expect.outcome << " / "
         << row.expect.state << ")";
}

google_sandbox::FaultRule status_rule(int status, int times = 1) {
    google_sandbox::FaultRule r;
    r.status = status;
    r.times = times;
    return r;
}

google_sandbox::FaultRule action_rule(std::string action, int delay_ms = 0) {
    google_sandbox::FaultRule r;
    r.action = std::move(action);
    r.delay_ms = delay_ms;
    return r;
}

google_sandbox::FaultRule recorded_then_status(int status) {
    google_sandbox::FaultRule r = status_rule(status);
    r.process_first = true;
    return r;
}

// The plugin's timeouts in this suite, and a delay beyond them.
constexpr long kRequestTimeoutMs = 1500;
constexpr int kBeyondTimeoutMs = 2500;

// Does the stand-in carry the request out before failing it? (sandboxes/google/README.md "Faults": by default for
// drop_before_response, delay and malformed_json.)
bool google_acts_first(const google_sandbox::FaultRule& r) {
    return r.process_first.value_or(r.action == "drop_before_response" || r.action == "delay" ||
                                    r.action == "malformed_json");
}

const Expect kNoRow{"-", "-", ""};

std::vector<Row> rows() {
    std::vector<Row> out;
    // One fault, its expectation at each step in kSteps order.
    auto add = [&](std::string fault, google_sandbox::FaultRule rule, std::vector<Expect> per_step) {
        for (std::size_t i = 0; i < per_step.size(); ++i)
            if (per_step[i].outcome != "-") out.push_back(Row{kSteps[i], fault, rule, per_step[i]});
    };
    // Google's outage as each step reports it.
    const Expect connect_later{"temporarily_unavailable", "not_connected", "[PY]"};
    const Expect keys_later{"temporarily_unavailable", "not_connected", "[OIDC]"};
    const Expect refresh_later{"transient", "connected", "[PY]"};
    const Expect check_unavailable{"userinfo_unavailable", "connected", "[GE]"};
    const Expect check_unreached{"network", "connected", "[HTTP]"};
    // Unsure whether Google revoked: say so and point to myaccount.google.com/connections.
    const Expect not_revoked{"not_revoked", "not_connected", "[W]"};
    // OAuth's error for a 4xx here is invalid_request: a malformed request, the operator's to fix.
    const Expect connect_misconfigured{"configuration_error", "not_connected", "[W]"};
    const Expect refresh_misconfigured{"transient", "configuration_error", "[W]"};

    for (int s : {500, 503})
        add(std::to_string(s), status_rule(s),
            {connect_later,
             keys_later,
             refresh_later,
             {"indeterminate", "connected", "[GE]"},
             check_unavailable,
             not_revoked});
    // 429 "Too many concurrent requests for user": backoff, then the same message goes once.
    add("429", status_rule(429),
        {connect_later, keys_later, refresh_later, {"sent", "connected", "[GE]"}, check_unavailable, not_revoked});
    // 401 at send: refresh once and resend [GE]; at userinfo right after a refresh: the session ended [BEARER].
    add("401", status_rule(401),
        {connect_misconfigured,
         keys_later,
         refresh_misconfigured,
         {"sent", "connected", "[GE]"},
         {"checked", "expired", "[BEARER]"},
         not_revoked});
    // 403 rateLimitExceeded at send: backoff [GE].
    add("403", status_rule(403),
        {connect_misconfigured,
         keys_later,
         refresh_misconfigured,
         {"sent", "connected", "[GE]"},
         check_unavailable,
         not_revoked});
    // The stand-in's 400 at /revoke is invalid_request: an error condition [W], not the already-dead
    // token of [RUBY] (invalid_token), so the grant may still be alive at Google.
    add("400", status_rule(400),
        {connect_misconfigured,
         keys_later,
         refresh_misconfigured,
         {"rejected", "connected", "[GE]"},
         check_unavailable,
         {"not_revoked", "not_connected", "[W]"}});
    // Google acted (code redeemed, token refreshed, message recorded, grant revoked), the answer is lost.
    add("drop before response", action_rule("drop_before_response"),
        {connect_later,
         keys_later,
         refresh_later,
         {"indeterminate", "connected", "[HTTP]"},
         check_unreached,
         not_revoked});
    // Reset after the headers: whether the body had left is a race; if not, the send is retried and goes once.
    add("reset before body", action_rule("reset_before_body"),
        {connect_later,
         keys_later,
         refresh_later,
         {"indeterminate|sent", "connected", "[HTTP]"},
         check_unreached,
         not_revoked});
    add("delay beyond timeout", action_rule("delay", kBeyondTimeoutMs),
        {connect_later,
         keys_later,
         refresh_later,
         {"indeterminate", "connected", "[HTTP]"},
         check_unreached,
         not_revoked});
    // HTTP 200 with a cut JSON body. A 200 from send is Gmail's acceptance [GE], from revoke a
    // revocation [W], from userinfo an accepted token; a token or key set that cannot be read is
    // no answer, and an unreadable key set is not kept for the next sign-in.
    add("malformed JSON", action_rule("malformed_json"),
        {connect_later,
         {"temporarily_unavailable", "not_connected", "[OIDC]"},
         refresh_later,
         {"sent", "connected", "[GE]"},
         {"checked", "connected", "[BEARER]"},
         {"revoked", "not_connected", "[W]"}});
    // The indeterminate case proper: Gmail recorded the message, the client sees a 5xx. Never resent.
    for (int s : {500, 503})
        add("recorded then " + std::to_string(s), recorded_then_status(s),
            {kNoRow, kNoRow, kNoRow, {"indeterminate", "connected", "[GE]"}, kNoRow, kNoRow});
    // A fresh token refused as well: only signing in again helps [GE].
    add("401 every time", status_rule(401, -1),
        {kNoRow, kNoRow, kNoRow, {"auth_expired", "expired", "[GE]"}, kNoRow, kNoRow});
    // Backoff runs out (send.max_attempts = 2): the host holds the message.
    add("429 every time", status_rule(429, -1),
        {kNoRow, kNoRow, kNoRow, {"throttled", "connected", "[GE]"}, kNoRow, kNoRow});
    return out;
}

bool matches(const std::string& expected, const std::string& actual) {
    std::size_t start = 0;
    while (true) {
        const std::size_t bar = expected.find('|', start);
        if (expected.substr(start, bar - start) == actual) return true;
        if (bar == std::string::npos) return false;
        start = bar + 1;
    }
}

std::mutex g_table_mutex;
std::map<std::string, std::map<std::string, std::string>> g_table;  // fault -> step -> cell

void record(const Row& row, const std::string& cell) {
    std::lock_guard lock(g_table_mutex);
    g_table[row.fault][step_name(row.step)] = cell;
}

class GmailFaultMatrix : public GmailFixture, public ::testing::WithParamInterface<Row> {
protected:
    void SetUp() override {
        json::object c = base_config();
        c["timeouts"] = json::object{{"connect_ms", 1000}, {"request_ms", kRequestTimeoutMs}};
        c["send"] = json::object{{"max_throttle_wait_seconds", 5}, {"max_attempts", 2}};
        gmail_ = create(c);
    }

    // At send the fault hits once, to see what a retry does. Elsewhere it hits every request of
    // the step: libcurl re-sends a GET (and a POST whose body had not left) once on a fresh
    // connection when a reused one dies before any answer, which is right and would hide a
    // one-off fault behind the connection pool's state.
    void add_fault() {
        google_sandbox::FaultRule rule = GetParam().rule;
        rule.endpoint = endpoint_of(GetParam().step);
        if (GetParam().step != Step::send) rule.times = -1;
        sandbox_.add_fault(rule);
    }

    bool grant_stored() {
        for (const auto& [key, value] : host_.secrets())
            if (key.ends_with("/grant")) return true;
        return false;
    }

    // Once the fault is gone (and past any backoff), the same stored connection sends, and the
    // stand-in holds exactly one message more: nothing earlier was resent behind the host's back.
    void expect_connection_still_sends() {
        sandbox_.clear_faults();
        advance(std::chrono::seconds(600));
        const std::size_t before = sandbox_.messages(kConsumerUser).size();
        json::object r = send("rita");
        EXPECT_EQ(str(r, "outcome"), "sent") << "the stored connection must survive: " << json::serialize(r);
        EXPECT_EQ(sandbox_.messages(kConsumerUser).size(), before + 1) << "one send, one message";
    }

    // What the user sees: the action's outcome and the connection's state right after it.
    struct Seen {
        std::string outcome;
        std::string state;
        std::string code;  // the answer's code, for the failure message
    };
    Seen connect_through_fault();
    Seen send_through_fault();
    Seen check_through_fault();
    Seen disconnect_through_fault();
};

GmailFaultMatrix::Seen GmailFaultMatrix::connect_through_fault() {
    const std::string url = begin("rita", json::object{{"login_hint", kConsumerUser}});
    const std::string callback = sandbox_.autopilot(url, kConsumerUser);
    add_fault();
    json::object r = complete("rita", callback);
    Seen seen{str(r, "outcome"), str(r.at("status").as_object(), "state"), str(r, "code")};
    if (seen.outcome != "connected") {
        EXPECT_FALSE(grant_stored()) << "a connect that failed stores nothing";
        // Nothing of the failure sticks: connecting again, without the fault, works.
        sandbox_.clear_faults();
        json::object again = connect("rita", kConsumerUser);
        EXPECT_EQ(str(again, "outcome"), "connected") << "connecting again must work: " << str(again, "code");
    }
    return seen;
}

GmailFaultMatrix::Seen GmailFaultMatrix::send_through_fault() {
    const Row& row = GetParam();
    EXPECT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    if (row.step == Step::send_refresh) advance(std::chrono::seconds(3700));  // the access token has expired
    add_fault();
    json::object r = send("rita");
    const std::string outcome = str(r, "outcome");
    const std::size_t recorded = sandbox_.messages(kConsumerUser).size();
    // Exactly once when sent, or when Gmail took it before failing; never twice, and an
    // indeterminate send is not retried.
    const bool gmail_took_it = outcome == "sent" || (row.step == Step::send && google_acts_first(row.rule));
    EXPECT_EQ(recorded, gmail_took_it ? 1u : 0u) << "messages Gmail recorded for one send (" << outcome << ")";
    if (outcome == "indeterminate") {
        EXPECT_EQ(r.at("attempts").to_number<int>(), 1) << "an indeterminate send is never resent";
    }
    return {outcome, str(status("rita"), "state"), str(r, "code")};
}

GmailFaultMatrix::Seen GmailFaultMatrix::check_through_fault() {
    EXPECT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    add_fault();
    json::object checked = parse(gmail_->check_blocking("rita").document);
    const json::value* failed = checked.if_contains("check_failed");
    if (failed != nullptr) return {str(failed->as_object(), "code"), str(checked, "state"), ""};
    return {str(checked, "checked_at").empty() ? "no checked_at" : "checked", str(checked, "state"), ""};
}

GmailFaultMatrix::Seen GmailFaultMatrix::disconnect_through_fault() {
    EXPECT_EQ(str(connect("rita", kConsumerUser), "outcome"), "connected");
    add_fault();
    json::object r = parse(gmail_->disconnect("rita").document);
    // Whatever Google answered, the user asked to disconnect: nothing of the account is kept.
    EXPECT_TRUE(host_.secrets().empty()) << "disconnect deletes everything stored";
    const bool revoked = r.at("revoked_at_provider").as_bool();
    if (!revoked) {
        EXPECT_NE(str(r, "message").find("https://myaccount.google.com/connections"), std::string::npos)
            << "an unconfirmed revocation says where to remove the app: " << str(r, "message");
    }
    return {revoked ? "revoked" : "not_revoked", str(r.at("status").as_object(), "state"), ""};
}

}  // namespace

TEST_P(GmailFaultMatrix, OutcomeStatusAndInvariants) {
    const Row& row = GetParam();
    Seen seen;
    switch (row.step) {
        case Step::connect_token:
        case Step::connect_certs:
            seen = connect_through_fault();
            break;
        case Step::send_refresh:
        case Step::send:
            seen = send_through_fault();
            break;
        case Step::check_userinfo:
            seen = check_through_fault();
            break;
        case Step::disconnect:
            seen = disconnect_through_fault();
            break;
    }
    record(row, seen.outcome + " / " + seen.state);
    EXPECT_TRUE(matches(row.expect.outcome, seen.outcome))
        << row.fault << " at " << step_name(row.step) << ": got " << seen.outcome << ", " << row.expect.source
        << " says " << row.expect.outcome << " (code " << seen.code << ")";
    EXPECT_EQ(seen.state, row.expect.state) << row.fault << " at " << step_name(row.step);
    const bool kept_connection =
        row.step == Step::send_refresh || row.step == Step::send || row.step == Step::check_userinfo;
    if (kept_connection && (seen.state == "connected" || seen.state == "configuration_error")) {
        EXPECT_TRUE(grant_stored()) << "stored tokens survive a transient fault";
        expect_connection_still_sends();
    }
}

std::string row_name(const ::testing::TestParamInfo<Row>& param_info) {
    std::string name = std::string(step_name(param_info.param.step)) + "_" + param_info.param.fault;
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Google, GmailFaultMatrix, ::testing::ValuesIn(rows()), row_name);

// Prints the matrix after the suite, so a reader of the test log sees every cell at once.
class MatrixPrinter : public ::testing::Environment {
public:
    void TearDown() override {
        std::lock_guard lock(g_table_mutex);
        if (g_table.empty()) return;
        std::cout << "\nGoogle fault matrix (outcome / status afterwards):\n" << std::left << std::setw(24) << "fault";
        for (Step s : kSteps) std::cout << std::setw(40) << step_name(s);
        std::cout << "\n";
        for (const auto& [fault, cells] : g_table) {
            std::cout << std::setw(24) << fault;
            for (Step s : kSteps) {
                auto it = cells.find(step_name(s));
                std::cout << std::setw(40) << (it == cells.end() ? std::string("-") : it->second);
            }
            std::cout << "\n";
        }
    }
};
const auto* const kPrinter = ::testing::AddGlobalTestEnvironment(new MatrixPrinter);

}  // namespace gmail_test
