// Micro-benchmarks of the Personal Outlook plugin's hot pure functions (bench/README.md):
// the sendMail body (parse + Graph validation + JSON), the token vault, the authorization URL
// and callback parsing. Run: build/<preset>/bin/ep_microbench [--benchmark_filter=...]
#include "config.hpp"
#include "ep_kit/vault.hpp"
#include "graph_mail.hpp"
#include "oauth.hpp"

#include <email_provider/message.hpp>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include <string>

namespace {

namespace json = boost::json;

// A typical nudge: one recipient, a subject, a short text + HTML body, one custom header.
std::string small_message() {
    return json::serialize(json::object{
        {"to", json::array{json::object{{"address", "casey.candidate@example.org"}, {"name", "Casey Candidate"}}}},
        {"subject", "Following up on the Senior Engineer role"},
        {"text",
         "Hi Casey,\n\nJust following up on my last note about the role. Would Thursday work for a call?\n\nRita"},
        {"html",
         "<p>Hi Casey,</p><p>Just following up on my last note about the role. Would <b>Thursday</b> work for a "
         "call?</p><p>Rita</p>"},
        {"headers", json::array{json::object{{"name", "x-nudge-id"}, {"value", "n-42"}}}},
        {"client_request_id", "8d2c1f0e-2f7a-4c55-9d0b-0d5c3b7e1a11"}});
}

// Attachment-heavy: 5 recipients, 4 attachments of 512 KiB each (base64 ~ 2.7 MB in total,
// under Graph's 4 MB request limit), one of them inline.
std::string heavy_message() {
    static const std::string b64 = [] {
        std::string raw(512 * 1024, '\0');
        for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>((i * 131 + 7) & 0xff);
        static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string out;
        for (std::size_t i = 0; i + 2 < raw.size(); i += 3) {
            unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8) |
                         static_cast<unsigned char>(raw[i + 2]);
            out += alphabet[(v >> 18) & 63];
            out += alphabet[(v >> 12) & 63];
            out += alphabet[(v >> 6) & 63];
            out += alphabet[v & 63];
        }
        std::size_t rest = raw.size() % 3;  // 524288 % 3 == 2
        if (rest == 2) {
            unsigned v = (static_cast<unsigned char>(raw[raw.size() - 2]) << 16) |
                         (static_cast<unsigned char>(raw[raw.size() - 1]) << 8);
            out += alphabet[(v >> 18) & 63];
            out += alphabet[(v >> 12) & 63];
            out += alphabet[(v >> 6) & 63];
            out += '=';
        }
        return out;
    }();
    json::array to;
    for (int i = 0; i < 5; ++i) to.push_back(json::object{{"address", "r" + std::to_string(i) + "@example.org"}});
    json::array attachments;
    for (int i = 0; i < 4; ++i) {
        json::object a{
            {"name", "doc" + std::to_string(i) + ".pdf"}, {"content_type", "application/pdf"}, {"content_base64", b64}};
        if (i == 3) {
            a["name"] = "logo.png";
            a["content_type"] = "image/png";
            a["inline"] = true;
            a["content_id"] = "logo";
        }
        attachments.push_back(std::move(a));
    }
    return json::serialize(json::object{{"to", std::move(to)},
                                        {"subject", "Offer documents"},
                                        {"html", "<p>Please find the documents attached.</p><img src=\"cid:logo\">"},
                                        {"attachments", std::move(attachments)}});
}

void send_mail_body(benchmark::State& state, const std::string& message_json) {
    std::size_t bytes = 0;
    for (auto _ : state) {
        ep::message::Message m = ep::message::parse_message(message_json);
        std::string body = outlook::build_validated_send_mail_body(m);
        bytes = body.size();
        benchmark::DoNotOptimize(body.data());
    }
    state.counters["body_bytes"] = static_cast<double>(bytes);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * message_json.size()));
}

void BM_SendMailBody_Small(benchmark::State& state) { send_mail_body(state, small_message()); }
void BM_SendMailBody_AttachmentHeavy(benchmark::State& state) { send_mail_body(state, heavy_message()); }
BENCHMARK(BM_SendMailBody_Small);
BENCHMARK(BM_SendMailBody_AttachmentHeavy)->Unit(benchmark::kMillisecond);

// Only the JSON build, for a message already parsed (what remains once parse is paid).
void BM_SendMailBody_BuildOnly_Small(benchmark::State& state) {
    ep::message::Message m = ep::message::parse_message(small_message());
    for (auto _ : state) {
        std::string body = outlook::build_validated_send_mail_body(m);
        benchmark::DoNotOptimize(body.data());
    }
}
BENCHMARK(BM_SendMailBody_BuildOnly_Small);

// The same messages in sendMail's MIME form (GMime, then base64), the form a follow-up takes: what
// choosing MIME for every message would cost over JSON (outlook_plugin/docs/microsoft-behaviour.md §6d).
void mime_send_mail_body(benchmark::State& state, const std::string& message_json) {
    const outlook::Sender from{"rita.recruiter@contoso.example", "Rita Recruiter"};
    std::size_t bytes = 0;
    for (auto _ : state) {
        ep::message::Message m = ep::message::parse_message(message_json);
        m.in_reply_to = "<nudge.1@contoso.example>";
        outlook::MimeSendMail body = outlook::build_validated_mime_send_mail(m, from, 1796000000);
        bytes = body.body.size();
        benchmark::DoNotOptimize(body.body.data());
    }
    state.counters["body_bytes"] = static_cast<double>(bytes);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * message_json.size()));
}

void BM_SendMailMime_Small(benchmark::State& state) { mime_send_mail_body(state, small_message()); }
void BM_SendMailMime_AttachmentHeavy(benchmark::State& state) { mime_send_mail_body(state, heavy_message()); }
BENCHMARK(BM_SendMailMime_Small);
BENCHMARK(BM_SendMailMime_AttachmentHeavy)->Unit(benchmark::kMillisecond);

ep::kit::Vault make_vault() {
    ep::kit::KeyRing ring;
    ep::kit::KeyRing::Key k1{}, k2{};
    k1.fill(0x11);
    k2.fill(0x22);
    ring.add("k1", k1);
    ring.add("k2", k2);
    ring.set_active("k2");
    return ep::kit::Vault(std::move(ring));
}

// A grant record's size: two tokens (160 + 200 characters) plus profile fields, as JSON.
std::string grant_plaintext() {
    return json::serialize(json::object{{"format", 1},
                                        {"state", "connected"},
                                        {"refresh_token", std::string(200, 'R')},
                                        {"access_token", std::string(160, 'A')},
                                        {"access_expires_at_ms", 1790000000000},
                                        {"scopes", "Mail.Send User.Read"},
                                        {"connected_at_ms", 1789990000000},
                                        {"last_refresh_ms", 1789990000000},
                                        {"email", "rita.recruiter@contoso.example"},
                                        {"display_name", "Rita Recruiter"},
                                        {"user_id", "5b3c0f0e-1f7a-4c55-9d0b-0d5c3b7e1a11"},
                                        {"tenant_id", "6f1c7c1e-3d2a-4c5b-9a8e-2b1d0c9e8f71"},
                                        {"cloud", "global"}});
}

void BM_VaultSeal(benchmark::State& state) {
    ep::kit::Vault vault = make_vault();
    std::string plain = grant_plaintext();
    ep::kit::VaultContext ctx{"outlook", "account-42", "grant"};
    for (auto _ : state) {
        auto sealed = vault.seal(plain, ctx);
        benchmark::DoNotOptimize(sealed.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(BM_VaultSeal);

void BM_VaultOpen(benchmark::State& state) {
    ep::kit::Vault vault = make_vault();
    std::string plain = grant_plaintext();
    ep::kit::VaultContext ctx{"outlook", "account-42", "grant"};
    auto sealed = vault.seal(plain, ctx);
    for (auto _ : state) {
        ep::kit::SecretString opened = vault.open(sealed, ctx);
        benchmark::DoNotOptimize(opened.view().data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(BM_VaultOpen);

outlook::OutlookConfig url_config() {
    outlook::OutlookConfig c;
    c.client_id = "d70347e7-f4d1-4323-93a4-760a6a6c1d91";
    c.authority = "common";
    c.login_base = "https://login.microsoftonline.com";
    c.graph_base = "https://graph.microsoft.com/v1.0";
    c.redirect_uri = "http://127.0.0.1:8080/oauth/callback";
    return c;
}

void BM_AuthorizationUrl(benchmark::State& state) {
    outlook::OutlookConfig c = url_config();
    std::string state_value(43, 's');
    std::string challenge(43, 'c');
    for (auto _ : state) {
        std::string url =
            outlook::authorization_url(c, state_value, challenge, "rita.recruiter@contoso.example", "select_account");
        benchmark::DoNotOptimize(url.data());
    }
}
BENCHMARK(BM_AuthorizationUrl);

void BM_ParseCallback_Url(benchmark::State& state) {
    std::string code(128, 'q');
    std::string doc = json::serialize(json::object{
        {"callback_url", "http://127.0.0.1:8080/oauth/callback?code=" + code + "&state=" + std::string(43, 's') +
                             "&session_state=8d2c1f0e-2f7a-4c55-9d0b-0d5c3b7e1a11"}});
    for (auto _ : state) {
        auto params = outlook::parse_callback(doc);
        benchmark::DoNotOptimize(params.size());
    }
}
BENCHMARK(BM_ParseCallback_Url);

void BM_ParseCallback_Error(benchmark::State& state) {
    std::string doc = json::serialize(json::object{
        {"query",
         "error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent+to+access+the+app.%0d%0a"
         "Trace+ID%3a+0a1b2c3d-0000-4000-8000-000000000000%0d%0aCorrelation+ID%3a+"
         "8d2c1f0e-2f7a-4c55-9d0b-0d5c3b7e1a11&error_subcode=cancel&state=" +
             std::string(43, 's')}});
    for (auto _ : state) {
        auto params = outlook::parse_callback(doc);
        benchmark::DoNotOptimize(params.size());
    }
}
BENCHMARK(BM_ParseCallback_Error);

}  // namespace

BENCHMARK_MAIN();
