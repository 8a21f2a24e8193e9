#include "sandbox_process.hpp"

#include <curl/curl.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace bench {

SandboxProcess::SandboxProcess(const SandboxOptions& o) : tls_dir_(o.tls_dir) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> argv = {o.binary.string(),
                                     "--port",
                                     "0",
                                     "--scenario",
                                     o.scenario_file.string(),
                                     "--tls-dir",
                                     o.tls_dir.string(),
                                     "--threads",
                                     std::to_string(o.threads),
                                     "--quiet"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        throw std::runtime_error("cannot start " + o.binary.string() + ": " + std::strerror(rc));
    }
    stdout_fd_ = fds[0];
    std::string text;
    char c;
    while (text.find('\n') == std::string::npos && read(stdout_fd_, &c, 1) == 1) text.push_back(c);
    const std::string marker = "listening on ";
    auto at = text.find(marker);
    if (at == std::string::npos) {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
        throw std::runtime_error(o.binary.filename().string() + " did not start (printed: " + text + ")");
    }
    base_url_ = text.substr(at + marker.size());
    while (!base_url_.empty() && (base_url_.back() == '\n' || base_url_.back() == '\r')) base_url_.pop_back();
}

SandboxProcess::~SandboxProcess() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
}

json::value SandboxProcess::control(const std::string& method, const std::string& path, const json::value& body) const {
    CURL* h = curl_easy_init();
    if (!h) throw std::runtime_error("curl_easy_init failed");
    std::string url = base_url_ + path, answer, payload;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file().c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 600'000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (!body.is_null()) {
        payload = json::serialize(body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    } else if (method == "POST") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(
        h, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
            static_cast<std::string*>(u)->append(d, s * n);
            return s * n;
        });
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    CURLcode code = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (code != CURLE_OK) throw std::runtime_error("sandbox " + path + ": " + curl_easy_strerror(code));
    if (status >= 300) throw std::runtime_error("sandbox " + path + ": HTTP " + std::to_string(status) + " " + answer);
    return answer.empty() ? json::value(json::object{}) : json::parse(answer);
}

std::vector<Grant> SandboxProcess::bulk_grants(const std::string& client_id, int64_t first, int64_t count,
                                               int64_t stateless_expires_in) const {
    std::vector<Grant> out;
    out.reserve(static_cast<std::size_t>(count));
    const int64_t chunk = stateless_expires_in ? 20000 : 5000;
    for (int64_t done = 0; done < count; done += chunk) {
        json::object body{{"client_id", client_id},
                          {"users", std::min(chunk, count - done)},
                          {"first", first + done},
                          {"prefix", "bulk"},
                          {"tenant", "contoso.example"}};
        if (stateless_expires_in) {
            body["stateless"] = true;
            body["expires_in"] = stateless_expires_in;
        }
        json::value v = control("POST", "/_sandbox/bulk-grants", body);
        for (const auto& g : v.at("grants").as_array()) {
            Grant x;
            x.upn = json::value_to<std::string>(g.at("upn"));
            x.user_id = json::value_to<std::string>(g.at("user_id"));
            x.tenant_id = json::value_to<std::string>(g.at("tenant_id"));
            x.access_token = json::value_to<std::string>(g.at("access_token"));
            x.refresh_token = json::value_to<std::string>(g.at("refresh_token"));
            x.scope = json::value_to<std::string>(g.at("scope"));
            x.expires_in = g.at("expires_in").to_number<int64_t>();
            out.push_back(std::move(x));
        }
    }
    return out;
}

void SandboxProcess::advance_clock(int64_t seconds) const {
    control("POST", "/_sandbox/clock", json::object{{"advance_seconds", seconds}});
}
void SandboxProcess::reset_counters() const { control("POST", "/_sandbox/reset-counters"); }
void SandboxProcess::clear_messages() const { control("DELETE", "/_sandbox/messages"); }

std::map<std::string, int> SandboxProcess::refreshes_by_user() const {
    std::map<std::string, int> out;
    json::value v = control("GET", "/_sandbox/counters");
    for (const auto& u : v.at("token_requests").at("by_user").as_object()) {
        const auto& g = u.value().as_object();
        if (auto it = g.find("refresh_token"); it != g.end()) out[std::string(u.key())] = it->value().to_number<int>();
    }
    return out;
}

std::string relaxed_scenario(const std::filesystem::path& default_scenario_file) {
    json::value v = json::parse(read_file(default_scenario_file));
    auto& settings = v.as_object()["settings"];
    if (!settings.is_object()) settings = json::object{};
    settings.as_object()["mailbox_limits"] =
        json::object{{"concurrent_requests", 0}, {"messages_per_minute", 0}, {"recipients_per_day", 0}};
    return json::serialize(v);
}

std::string unthrottled_google_scenario(const std::filesystem::path& default_scenario_file,
                                        const std::vector<std::string>& emails) {
    json::value v = json::parse(read_file(default_scenario_file));
    auto& settings = v.as_object()["settings"];
    if (!settings.is_object()) settings = json::object{};
    settings.as_object()["send_units_per_minute"] = kUnthrottledGoogleUnitsPerMinute;
    settings.as_object()["daily_send_limit"] = kUnthrottledGoogleDailyLimit;
    auto& accounts = v.as_object()["accounts"].as_array();
    for (std::size_t i = 0; i < emails.size(); ++i)
        accounts.push_back(json::object{{"email", emails[i]}, {"name", fmt("Bench %06zu", i)}});
    return json::serialize(v);
}

}  // namespace bench
