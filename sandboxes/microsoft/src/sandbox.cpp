// The public C++ API: owns the Service and the HttpServer; every control method goes through
// Service::control, the same code as the /_sandbox HTTP endpoints.
#include "ms_sandbox/sandbox.hpp"

#include "common.hpp"
#include "scenario.hpp"
#include "service.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#ifndef MS_SANDBOX_TLS_DIR
#error "MS_SANDBOX_TLS_DIR must be defined by the build"
#endif
#ifndef MS_SANDBOX_SCENARIO_DIR
#error "MS_SANDBOX_SCENARIO_DIR must be defined by the build"
#endif

namespace ms_sandbox {

namespace json = boost::json;
using detail::Service;

std::filesystem::path default_tls_dir() { return MS_SANDBOX_TLS_DIR; }
std::filesystem::path default_scenario_file() {
    return std::filesystem::path(MS_SANDBOX_SCENARIO_DIR) / "default.json";
}

namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const char* answer_name(Answer a) {
    switch (a) {
        case Answer::accept:
            return "accept";
        case Answer::cancel:
            return "cancel";
        case Answer::decline:
            return "decline";
        case Answer::back:
            return "back";
        case Answer::request_approval:
            return "request_approval";
        case Answer::return_from_approval:
            return "return_from_approval";
    }
    return "accept";
}

std::string str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }
std::optional<std::string> opt_str(const json::value* v) {
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
}

std::vector<Recipient> recipients(const json::value& v) {
    std::vector<Recipient> out;
    if (!v.is_array()) return out;
    for (const auto& r : v.as_array()) out.push_back({str(r.at("address")), str(r.at("name"))});
    return out;
}

}  // namespace

json::value FaultRule::to_json() const {
    json::object o;
    o["endpoint"] = endpoint;
    if (user) o["user"] = *user;
    if (grant_type) o["grant_type"] = *grant_type;
    o["after"] = after;
    o["times"] = times;
    o["action"] = action;
    if (status) o["status"] = status;
    if (retry_after) o["retry_after"] = *retry_after;
    if (delay_ms) o["delay_ms"] = delay_ms;
    if (process_first) o["process_first"] = *process_first;
    if (!error_code.empty()) o["error_code"] = error_code;
    if (!message.empty()) o["message"] = message;
    return o;
}

std::vector<std::string> IssuedSecrets::all() const {
    std::vector<std::string> out;
    for (const auto* v : {&codes, &access_tokens, &refresh_tokens, &id_tokens})
        out.insert(out.end(), v->begin(), v->end());
    return out;
}

struct Sandbox::Impl {
    Options options;
    std::unique_ptr<Service> service;  // declared first: outlives the server's sessions
    std::unique_ptr<detail::HttpServer> server;
};

Sandbox::Sandbox(Options options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    const auto& opt = impl_->options;
    std::string text = opt.scenario_json;
    if (text.empty()) text = read_file(opt.scenario_file.empty() ? default_scenario_file() : opt.scenario_file);
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec) throw std::runtime_error("scenario: not valid JSON: " + ec.message());
    detail::Scenario scenario = detail::parse_scenario(doc, opt.tls_dir);

    Service::LogSink sink;
    if (opt.log_requests) sink = [](std::string_view line) { std::clog << "[ms-sandbox] " << line << std::endl; };
    impl_->service = std::make_unique<Service>(std::move(scenario), std::move(sink));

    detail::ServerConfig cfg;
    cfg.tls = opt.tls;
    cfg.port = opt.port;
    cfg.threads = opt.threads;
    if (opt.server_cert == "good")
        cfg.cert_file = (opt.tls_dir / "server.pem").string();
    else if (opt.server_cert == "wrong-host")
        cfg.cert_file = (opt.tls_dir / "wrong-host.pem").string();
    else if (opt.server_cert == "expired")
        cfg.cert_file = (opt.tls_dir / "expired.pem").string();
    else
        throw std::runtime_error("server_cert must be good, wrong-host or expired");
    cfg.key_file = (opt.tls_dir / "server-key.pem").string();
    impl_->server = std::make_unique<detail::HttpServer>(cfg, *impl_->service);
    impl_->service->set_base_url(base_url());
    impl_->server->start();
}

Sandbox::~Sandbox() {
    if (impl_ && impl_->server) impl_->server->stop();
}

std::uint16_t Sandbox::port() const { return impl_->server->port(); }
std::string Sandbox::base_url() const {
    return std::string(impl_->options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}
std::filesystem::path Sandbox::ca_file() const { return impl_->options.tls_dir / "ca.pem"; }
std::filesystem::path Sandbox::tls_dir() const { return impl_->options.tls_dir; }

json::value Sandbox::control(std::string_view method, std::string_view path, json::value body) {
    auto result = impl_->service->control(method, path, body);
    if (result.status >= 400) {
        std::string msg = result.body.is_object() && result.body.as_object().contains("error")
                              ? str(result.body.at("error"))
                              : json::serialize(result.body);
        throw std::runtime_error("ms_sandbox control " + std::string(method) + " " + std::string(path) + ": " + msg);
    }
    return result.body;
}

std::chrono::system_clock::time_point Sandbox::now() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(impl_->service->now_ms()));
}

void Sandbox::advance_clock(std::chrono::seconds by) {
    control("POST", "/_sandbox/clock", json::object{{"advance_seconds", by.count()}});
}

void Sandbox::set_clock(std::chrono::system_clock::time_point t) {
    control("POST", "/_sandbox/clock",
            json::object{{"set_unix", std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()}});
}

int Sandbox::add_fault(const FaultRule& rule) {
    return static_cast<int>(control("POST", "/_sandbox/faults", rule.to_json()).at("id").to_number<std::int64_t>());
}
void Sandbox::clear_faults() { control("DELETE", "/_sandbox/faults"); }
json::value Sandbox::faults() { return control("GET", "/_sandbox/faults"); }

void Sandbox::revoke_grant(const std::string& upn, RevokeReason reason) {
    static const char* names[] = {"inactivity", "password_change", "consent_revoked", "mfa_required",
                                  "signin_frequency"};
    control("POST", "/_sandbox/users/" + detail::url_encode(upn) + "/revoke",
            json::object{{"reason", names[static_cast<int>(reason)]}});
}

void Sandbox::set_mailbox_enabled(const std::string& upn, bool enabled) {
    control("POST", "/_sandbox/users/" + detail::url_encode(upn) + "/mailbox", json::object{{"enabled", enabled}});
}

void Sandbox::set_secret_state(const std::string& client_id, SecretState state) {
    static const char* names[] = {"valid", "expired", "invalid"};
    control("POST", "/_sandbox/apps/" + detail::url_encode(client_id) + "/secret",
            json::object{{"state", names[static_cast<int>(state)]}});
}

void Sandbox::set_admin_consent(const std::string& tenant, bool granted, std::optional<std::string> client_id) {
    json::object body{{"granted", granted}};
    if (client_id) body["client_id"] = *client_id;
    control("POST", "/_sandbox/tenants/" + detail::url_encode(tenant) + "/admin-consent", std::move(body));
}

json::value Sandbox::approval_requests() { return control("GET", "/_sandbox/approval-requests").at("requests"); }
void Sandbox::approve_request(const std::string& id) {
    control("POST", "/_sandbox/approval-requests/" + detail::url_encode(id) + "/approve");
}

Counters Sandbox::counters() {
    json::value v = control("GET", "/_sandbox/counters");
    Counters c;
    for (auto& kv : v.at("requests").as_object()) c.requests[kv.key()] = static_cast<int>(kv.value().as_int64());
    for (auto& kv : v.at("token_requests").at("by_grant_type").as_object())
        c.token_by_grant[kv.key()] = static_cast<int>(kv.value().as_int64());
    for (auto& u : v.at("token_requests").at("by_user").as_object())
        for (auto& kv : u.value().as_object())
            c.token_by_user[u.key()][kv.key()] = static_cast<int>(kv.value().as_int64());
    for (auto& kv : v.at("send_mail").at("max_concurrent").as_object())
        c.max_concurrent_send[kv.key()] = static_cast<int>(kv.value().as_int64());
    return c;
}

std::vector<BulkGrant> Sandbox::bulk_grants(const BulkGrantsRequest& request) {
    json::object body{{"client_id", request.client_id}, {"tenant", request.tenant}};
    if (request.users.empty()) {
        body["users"] = request.count;
        body["first"] = request.first;
        body["prefix"] = request.prefix;
    } else {
        json::array users;
        for (const auto& u : request.users) users.emplace_back(u);
        body["users"] = std::move(users);
    }
    json::array scopes;
    for (const auto& s : request.scopes) scopes.emplace_back(s);
    body["scopes"] = std::move(scopes);
    if (request.stateless) body["stateless"] = true;
    if (request.expires_in) body["expires_in"] = *request.expires_in;
    json::value v = control("POST", "/_sandbox/bulk-grants", std::move(body));
    std::vector<BulkGrant> out;
    for (const auto& g : v.at("grants").as_array()) {
        BulkGrant b;
        b.upn = str(g.at("upn"));
        b.user_id = str(g.at("user_id"));
        b.tenant_id = str(g.at("tenant_id"));
        b.access_token = str(g.at("access_token"));
        if (const auto* rt = g.as_object().if_contains("refresh_token")) b.refresh_token = str(*rt);
        b.scope = str(g.at("scope"));
        b.expires_in = g.at("expires_in").to_number<std::int64_t>();
        out.push_back(std::move(b));
    }
    return out;
}

MessageTally Sandbox::message_tally() {
    json::value v = control("GET", "/_sandbox/message-tally");
    MessageTally t;
    t.total = v.at("total").to_number<std::uint64_t>();
    t.distinct = v.at("distinct").to_number<std::uint64_t>();
    t.duplicate_keys = v.at("duplicate_keys").to_number<std::uint64_t>();
    for (const auto& d : v.at("duplicates").as_array())
        t.duplicates.emplace_back(str(d.at("key")), d.at("count").to_number<std::uint64_t>());
    return t;
}

void Sandbox::clear_message_tally() { control("DELETE", "/_sandbox/message-tally"); }

int Sandbox::token_requests(std::string_view grant_type, std::string_view user) {
    Counters c = counters();
    if (user.empty()) {
        auto it = c.token_by_grant.find(std::string(grant_type));
        return it == c.token_by_grant.end() ? 0 : it->second;
    }
    auto u = c.token_by_user.find(detail::lower(user));
    if (u == c.token_by_user.end()) return 0;
    auto it = u->second.find(std::string(grant_type));
    return it == u->second.end() ? 0 : it->second;
}

void Sandbox::reset_counters() { control("POST", "/_sandbox/reset-counters"); }

std::vector<RecordedMessage> Sandbox::messages(std::optional<std::string> user) {
    std::string path = "/_sandbox/messages";
    if (user) path += "?user=" + detail::url_encode(*user);
    json::value v = control("GET", path);
    std::vector<RecordedMessage> out;
    for (const auto& m : v.at("messages").as_array()) {
        const auto& o = m.as_object();
        RecordedMessage r;
        r.sender = str(o.at("sender"));
        r.from = str(o.at("from"));
        r.subject = str(o.at("subject"));
        r.body_type = str(o.at("body").at("content_type"));
        r.body_content = str(o.at("body").at("content"));
        r.to = recipients(o.at("to"));
        r.cc = recipients(o.at("cc"));
        r.bcc = recipients(o.at("bcc"));
        r.reply_to = recipients(o.at("reply_to"));
        for (const auto& a : o.at("attachments").as_array()) {
            RecordedAttachment att;
            att.name = str(a.at("name"));
            att.content_type = opt_str(a.as_object().if_contains("content_type"));
            att.size = static_cast<std::size_t>(a.at("size").to_number<std::uint64_t>());
            att.is_inline = a.at("is_inline").as_bool();
            att.content_id = opt_str(a.as_object().if_contains("content_id"));
            r.attachments.push_back(std::move(att));
        }
        for (const auto& h : o.at("internet_message_headers").as_array())
            r.headers.emplace_back(str(h.at("name")), str(h.at("value")));
        r.save_to_sent_items = o.at("save_to_sent_items").as_bool();
        r.message_id = str(o.at("message_id"));
        r.submitted_message_id = str(o.at("submitted_message_id"));
        r.in_reply_to = str(o.at("in_reply_to"));
        for (const auto& id : o.at("references").as_array()) r.references.push_back(str(id));
        r.client_request_id = opt_str(o.if_contains("client_request_id"));
        r.request_id = str(o.at("request_id"));
        r.sent_at_unix = o.at("sent_at_unix").to_number<std::int64_t>();
        r.raw = m;
        out.push_back(std::move(r));
    }
    return out;
}

void Sandbox::clear_messages() { control("DELETE", "/_sandbox/messages"); }

IssuedSecrets Sandbox::issued() {
    json::value v = control("GET", "/_sandbox/issued");
    IssuedSecrets s;
    auto fill = [&](const char* key, std::vector<std::string>& out) {
        for (const auto& x : v.at(key).as_array()) out.push_back(str(x));
    };
    fill("codes", s.codes);
    fill("access_tokens", s.access_tokens);
    fill("refresh_tokens", s.refresh_tokens);
    fill("id_tokens", s.id_tokens);
    return s;
}

AutopilotResult Sandbox::autopilot(const AutopilotRequest& request) {
    json::object body{{"authorize_url", request.authorize_url},
                      {"user", request.user},
                      {"answer", answer_name(request.answer)},
                      {"justification", request.justification},
                      {"sso", request.sso},
                      {"on_behalf_of_organization", request.on_behalf_of_organization}};
    if (request.password) body["password"] = *request.password;
    if (request.address_bar) body["address_bar"] = *request.address_bar;
    json::value v = control("POST", "/_sandbox/autopilot", std::move(body));
    const auto& o = v.as_object();
    AutopilotResult r;
    r.callback_url = opt_str(o.if_contains("callback_url"));
    if (auto* e = o.if_contains("error_page"); e && e->is_object()) {
        r.error_page_code = static_cast<int>(e->at("code").as_int64());
        r.error_page_message = str(e->at("message"));
    }
    if (auto* i = o.if_contains("interrupt"); i && i->is_object())
        r.interrupt_code = static_cast<int>(i->at("code").as_int64());
    r.page = str(o.at("page"));
    r.consent_page_shown = o.at("consent_page_shown").as_bool();
    r.approval_request_id = opt_str(o.if_contains("approval_request_id"));
    r.raw = v;
    return r;
}

std::string Sandbox::autopilot(const std::string& authorize_url, const std::string& upn, Answer answer) {
    AutopilotRequest req;
    req.authorize_url = authorize_url;
    req.user = upn;
    req.answer = answer;
    AutopilotResult r = autopilot(req);
    if (!r.callback_url) {
        if (r.error_page_code)
            throw std::runtime_error("Microsoft error page AADSTS" + std::to_string(*r.error_page_code) + ": " +
                                     r.error_page_message);
        throw std::runtime_error("autopilot stopped on page '" + r.page + "'" +
                                 (r.interrupt_code ? " (AADSTS" + std::to_string(*r.interrupt_code) + ")" : ""));
    }
    return *r.callback_url;
}

}  // namespace ms_sandbox
