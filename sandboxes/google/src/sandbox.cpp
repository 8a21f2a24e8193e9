// The public C++ API: owns the Service and the HttpServer; every method goes through
// Service::control or the same functions as the HTTP endpoints.
#include "google_sandbox/sandbox.hpp"

#include "scenario.hpp"
#include "service.hpp"

#include <sandbox/http_server.hpp>

#include <ep_json/reader.hpp>

#include <boost/json.hpp>

#include <stdexcept>

#ifndef GOOGLE_SANDBOX_TLS_DIR
#error "GOOGLE_SANDBOX_TLS_DIR must be defined by the build"
#endif
#ifndef GOOGLE_SANDBOX_SCENARIO_DIR
#error "GOOGLE_SANDBOX_SCENARIO_DIR must be defined by the build"
#endif

namespace google_sandbox {

namespace json = boost::json;
using detail::Service;

std::filesystem::path default_tls_dir() { return GOOGLE_SANDBOX_TLS_DIR; }
std::filesystem::path default_scenario_file() {
    return std::filesystem::path(GOOGLE_SANDBOX_SCENARIO_DIR) / "default.json";
}

namespace {

std::string scenario_text(const Options& o) {
    if (!o.scenario_json.empty()) return o.scenario_json;
    const auto file = o.scenario_file.empty() ? default_scenario_file() : o.scenario_file;
    try {
        return ep::json_reader::read_regular_file(file);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot read the scenario " + file.string() + ": " + e.what());
    }
}

sandbox::ServerConfig server_config(const Options& o) {
    if (o.server_cert != "good" && o.server_cert != "wrong-host" && o.server_cert != "expired")
        throw std::runtime_error("server_cert must be good, wrong-host or expired, not '" + o.server_cert + "'");
    sandbox::ServerConfig c;
    c.tls = o.tls;
    c.cert_file = (o.tls_dir / (o.server_cert == "good" ? "server.pem" : o.server_cert + ".pem")).string();
    c.key_file = (o.tls_dir / "server-key.pem").string();
    c.port = o.port;
    c.threads = o.threads;
    c.body_limit = 40 * 1024 * 1024;  // above Gmail's 35 MB upload limit, so that the answer is Google's
    return c;
}

}  // namespace

struct Sandbox::Impl {
    explicit Impl(const Options& o)
        : options(o),
          service(detail::parse_scenario(scenario_text(o), o.tls_dir), o.log_requests),
          server(server_config(o), service) {
        service.set_base_url(std::string(o.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(server.port()));
        server.start();
    }
    Options options;
    Service service;
    sandbox::HttpServer server;
};

Sandbox::Sandbox(Options options) : impl_(std::make_unique<Impl>(options)) {}
Sandbox::~Sandbox() = default;

std::uint16_t Sandbox::port() const { return impl_->server.port(); }
std::string Sandbox::base_url() const { return impl_->service.base_url(); }
std::filesystem::path Sandbox::ca_file() const { return impl_->options.tls_dir / "ca.pem"; }
std::filesystem::path Sandbox::tls_dir() const { return impl_->options.tls_dir; }

std::string Sandbox::client_secret(const std::string& client_id) const {
    std::lock_guard lock(impl_->service.mutex);
    const auto* client = impl_->service.state.scenario.client(client_id);
    if (!client) throw std::runtime_error("no client " + client_id + " in the scenario");
    return client->secret;
}

json::value Sandbox::control(std::string_view method, std::string_view path, json::value body) {
    auto [status, answer] = impl_->service.control(method, path, body);
    if (status >= 400) {
        const auto* error = answer.is_object() ? answer.as_object().if_contains("error") : nullptr;
        throw std::runtime_error(std::string(path) + ": " +
                                 (error && error->is_string() ? std::string(error->as_string()) : "failed"));
    }
    return answer;
}

std::chrono::system_clock::time_point Sandbox::now() const {
    return std::chrono::system_clock::time_point(std::chrono::seconds(impl_->service.now()));
}

void Sandbox::advance_clock(std::chrono::seconds by) {
    control("POST", "/_sandbox/clock", json::object{{"advance_seconds", by.count()}});
}

void Sandbox::kill_refresh_tokens(const std::string& user, DeadCause cause, std::optional<std::string> client_id) {
    json::object body{{"user", user}, {"cause", detail::dead_cause_name(cause)}};
    if (client_id) body["client_id"] = *client_id;
    control("POST", "/_sandbox/refresh-tokens/kill", body);
}

std::optional<DeadCause> Sandbox::dead_cause(const std::string& refresh_token) {
    std::lock_guard lock(impl_->service.mutex);
    auto& tokens = impl_->service.state.refresh_tokens;
    auto it = tokens.find(refresh_token);
    if (it == tokens.end()) throw std::runtime_error("unknown refresh token");
    return it->second.dead;
}

json::value FaultRule::to_json() const {
    json::object o{{"endpoint", endpoint}, {"after", after}, {"times", times}, {"action", action}};
    if (user) o["user"] = *user;
    if (status) o["status"] = status;
    if (delay_ms) o["delay_ms"] = delay_ms;
    if (process_first) o["process_first"] = *process_first;
    return o;
}

int Sandbox::add_fault(const FaultRule& rule) {
    return static_cast<int>(control("POST", "/_sandbox/faults", rule.to_json()).at("id").as_int64());
}
void Sandbox::clear_faults() { control("DELETE", "/_sandbox/faults"); }
json::value Sandbox::faults() { return control("GET", "/_sandbox/faults").at("faults"); }

std::vector<SentMessage> Sandbox::messages(std::optional<std::string> user) {
    std::lock_guard lock(impl_->service.mutex);
    std::vector<SentMessage> out;
    for (const auto& m : impl_->service.state.messages)
        if (!user || m.user == *user) out.push_back(m);
    return out;
}

void Sandbox::clear_messages() { control("DELETE", "/_sandbox/messages"); }

AutopilotResult Sandbox::autopilot(const AutopilotRequest& request) {
    std::lock_guard lock(impl_->service.mutex);
    return detail::run_autopilot(impl_->service, request);
}

std::string Sandbox::autopilot(const std::string& authorize_url, const std::string& user, Answer answer) {
    AutopilotRequest request;
    request.authorize_url = authorize_url;
    request.user = user;
    request.answer = answer;
    const AutopilotResult r = autopilot(request);
    if (!r.callback_url)
        throw std::runtime_error("Google shows its error page: Error " + std::to_string(r.error_status) + ": " +
                                 r.error_code + " (" + r.error_message + ")");
    return *r.callback_url;
}

}  // namespace google_sandbox
