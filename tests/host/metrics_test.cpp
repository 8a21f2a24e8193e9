// Issue 26's metrics and /readyz: the "metrics" config block, the counters as a scrape shows
// them, the outbox depth read from the store, /readyz answered in process, and a real
// `host_stub serve` scraped over HTTP after a nudge through the mock provider.
#include "process.hpp"

#include "core/host_config.hpp"
#include "core/host_runtime.hpp"
#include "metrics/host_metrics.hpp"
#include "web/web_app.hpp"

#include <boost/json.hpp>

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <sstream>

namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

host::HostConfig parse(const std::string& text) { return host::parse_host_config(text, "/etc/ep/host.json"); }

std::string config_error(const std::string& text) {
    try {
        parse(text);
    } catch (const host::ConfigError& e) {
        return e.what();
    }
    return "(accepted)";
}

// One sample of a text exposition ("name{labels} value"), or -1 when the series is absent.
double sample(const std::string& exposition, const std::string& series) {
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
    return -1;
}

// GET `url`: the status (0 when nothing answered) and the body.
std::pair<long, std::string> http_get(const std::string& url) {
    std::string body;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t, size_t n, void* out) {
            static_cast<std::string*>(out)->append(p, n);
            return n;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return {status, body};
}

const std::string kMockProvider =
    R"({"manifest":")" EP_BUILD_DIR R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/outbox"}})";

}  // namespace

// ---- The config -------------------------------------------------------------------------------

TEST(MetricsConfig, NoBlockNoEndpointAndTheListenAddressAsGiven) {
    EXPECT_EQ(parse(R"({"providers":[]})").metrics.listen, "") << "absent: no endpoint";
    EXPECT_EQ(parse(R"({"providers":[],"metrics":{}})").metrics.listen, "127.0.0.1:9464");
    EXPECT_EQ(parse(R"({"providers":[],"metrics":{"listen":"127.0.0.1:0"}})").metrics.listen, "127.0.0.1:0");
    EXPECT_EQ(parse(R"({"providers":[],"metrics":{"listen":"0.0.0.0:9100"}})").metrics.listen, "0.0.0.0:9100");
}

TEST(MetricsConfig, ABadListenAddressIsRefusedNamingTheField) {
    for (std::string bad : {"localhost:9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:123456",
                            "user@127.0.0.1:9464", "127.0.0.1:94x4", ":9464", "http://127.0.0.1:9464", "[::1]:9464"})
        EXPECT_THAT(config_error(R"({"providers":[],"metrics":{"listen":")" + bad + R"("}})"),
                    HasSubstr("field 'metrics.listen'"))
            << bad;
    EXPECT_THAT(config_error(R"({"providers":[],"metrics":{"listen":9464}})"),
                HasSubstr("field 'metrics.listen' must be a string"));
    EXPECT_THAT(config_error(R"({"providers":[],"metrics":{"port":9464}})"), HasSubstr("metrics.port"));
    EXPECT_THAT(config_error(R"({"providers":[],"web":{"callback_path":"/readyz"}})"),
                HasSubstr("field 'web.callback_path'"))
        << "/readyz is the page's own route";
}

// ---- The counters, as a scrape shows them -------------------------------------------------------

TEST(HostMetrics, TokenRefreshesCountByProviderAndResultAndAnyOtherResultIsOther) {
    host::HostMetrics m;
    m.token_refresh("mock", "ok");
    m.token_refresh("mock", "ok");
    m.token_refresh("mock", "invalid_grant");
    m.token_refresh("other", "transient");
    m.token_refresh("mock", "rita@example.com");  // not a result: never a label value
    const std::string t = m.text();
    EXPECT_EQ(sample(t, R"(ep_host_token_refreshes_total{provider="mock",result="ok"})"), 2);
    EXPECT_EQ(sample(t, R"(ep_host_token_refreshes_total{provider="mock",result="invalid_grant"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_token_refreshes_total{provider="other",result="transient"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_token_refreshes_total{provider="mock",result="other"})"), 1);
    EXPECT_THAT(t, Not(HasSubstr("rita@example.com")));
    EXPECT_THAT(t, HasSubstr("# TYPE ep_host_token_refreshes_total counter"));
}

TEST(HostMetrics, SendsRunnerEventsChecksAndRequestsAreCountedWithBoundedLabels) {
    host::HostMetrics m;
    m.send_recorded("mock", host::SendOutcome::sent);
    m.send_recorded("mock", host::SendOutcome::indeterminate);
    m.queued_to_sent("mock", 0.2);
    for (auto e : {ep::loader::RunnerEvent::crashed, ep::loader::RunnerEvent::crashed,
                   ep::loader::RunnerEvent::restarted, ep::loader::RunnerEvent::quarantined})
        m.runner_event("fault", e);
    m.connection_check("mock", "connected");
    m.http_request("/readyz", 503, 0.002);
    m.http_request("/signin", 200, 0.01);
    const std::string t = m.text();
    EXPECT_EQ(sample(t, R"(ep_host_sends_total{outcome="sent",provider="mock"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_sends_total{outcome="indeterminate",provider="mock"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_send_queue_to_sent_seconds_count{provider="mock"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_send_queue_to_sent_seconds_bucket{provider="mock",le="0.1"})"), 0);
    EXPECT_EQ(sample(t, R"(ep_host_send_queue_to_sent_seconds_bucket{provider="mock",le="0.25"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_send_queue_to_sent_seconds_bucket{provider="mock",le="3600"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_provider_runner_crashes_total{provider="fault"})"), 2);
    EXPECT_EQ(sample(t, R"(ep_host_provider_runner_restarts_total{provider="fault"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_provider_runner_quarantines_total{provider="fault"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_connection_checks_total{provider="mock",result="connected"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_http_request_duration_seconds_count{route="/readyz",status_class="5xx"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_http_request_duration_seconds_count{route="/signin",status_class="2xx"})"), 1);
}

TEST(HostMetrics, ACheckResultIsTheStateFoundOrFailedOrUnchecked) {
    EXPECT_EQ(
        host::connection_check_result(json::object{{"state", "connected"}, {"checked_at", "2026-01-01T00:00:00Z"}}),
        "connected");
    EXPECT_EQ(host::connection_check_result(json::object{{"state", "expired"}, {"checked_at", "2026-01-01T00:00:00Z"}}),
              "expired");
    EXPECT_EQ(host::connection_check_result(json::object{{"state", "a new state"}, {"checked_at", "x"}}), "unknown");
    EXPECT_EQ(host::connection_check_result(
                  json::object{{"check_failed", json::object{{"code", "deadline_exceeded"}}}, {"checked_at", "x"}}),
              "failed");
    EXPECT_EQ(host::connection_check_result(json::object{{"state", "connected"}}), "unchecked");
}

// ---- The host: the outbox depth and /readyz, in process -------------------------------------

class MetricsHostTest : public ::testing::Test {
protected:
    void start(const std::string& providers) {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"error",
            "users":[{"id":"rita","display_name":"Rita"}],"providers":[)" +
                                    providers + "]}");
        rt_ = std::make_unique<host::HostRuntime>(dir_ / "host.json");
        app_ = std::make_unique<host::WebApp>(*rt_, "http://127.0.0.1:8080", 8080);
    }
    host::WebResponse get(const std::string& target) {
        host::WebRequest r;
        r.method = "GET";
        r.target = target;
        r.headers["host"] = "probe.internal";  // probes name the server as they like
        return app_->handle(r);
    }
    void enqueue() {
        rt_->store->enqueue("rita", "mock", "", R"({"to":[{"address":"casey@example.org"}],"subject":"s","text":"t"})",
                            "crid-" + std::to_string(++enqueued_), rt_->clock.now_ms());
    }

    TempDir dir_;
    std::unique_ptr<host::HostRuntime> rt_;
    std::unique_ptr<host::WebApp> app_;
    int enqueued_ = 0;
};

TEST_F(MetricsHostTest, TheOutboxDepthIsReadFromTheStoreWhenScrapedAtMostOncePerCachePeriod) {
    start(kMockProvider);
    enqueue();
    enqueue();
    const std::string queued = R"(ep_host_outbox_nudges{state="queued"})";
    EXPECT_EQ(sample(rt_->metrics->text(), queued), 2);
    EXPECT_EQ(sample(rt_->metrics->text(), R"(ep_host_outbox_nudges{state="held"})"), 0) << "every waiting state";
    EXPECT_EQ(sample(rt_->metrics->text(), R"(ep_host_outbox_nudges{state="sent"})"), -1) << "history: not depth";
    enqueue();
    EXPECT_EQ(sample(rt_->metrics->text(), queued), 2) << "within the cache period: not read again";
    rt_->metrics->watch_outbox(*rt_->store, 0ms);
    EXPECT_EQ(sample(rt_->metrics->text(), queued), 3);
}

TEST_F(MetricsHostTest, AConnectionCheckIsCountedByTheResultItsAnswerGives) {
    start(kMockProvider);
    json::object answer = rt_->checks->check_now("rita", "mock");
    const std::string series =
        R"(ep_host_connection_checks_total{provider="mock",result=")" + host::connection_check_result(answer) + R"("})";
    EXPECT_EQ(sample(rt_->metrics->text(), series), 1) << json::serialize(answer);
}

TEST_F(MetricsHostTest, ReadyzIs200WhenTheDatabaseAnswersAndEveryEnabledProviderIsAvailable) {
    start(kMockProvider + R"(,{"manifest":"missing.json","enabled":false})");
    auto r = get("/readyz");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body), json::parse(R"({"ready":true,"not_ready":[]})"));
    EXPECT_EQ(get("/healthz").status, 200);
    EXPECT_EQ(sample(rt_->metrics->text(),
                     R"(ep_host_http_request_duration_seconds_count{route="/readyz",status_class="2xx"})"),
              1);
}

TEST_F(MetricsHostTest, ReadyzIs503NamingAnEnabledProviderThatFailedToLoad) {
    start(kMockProvider + R"(,{"manifest":"missing.json"})");
    auto r = get("/readyz");
    EXPECT_EQ(r.status, 503) << r.body;
    json::object body = json::parse(r.body).as_object();
    EXPECT_EQ(body["ready"], false);
    EXPECT_EQ(body["not_ready"], json::parse(R"(["provider missing.json: not loaded"])"));
    get("/no/such/page/12345");
    const std::string t = rt_->metrics->text();
    EXPECT_EQ(sample(t, R"(ep_host_http_request_duration_seconds_count{route="/readyz",status_class="5xx"})"), 1);
    EXPECT_EQ(sample(t, R"(ep_host_http_request_duration_seconds_count{route="other",status_class="4xx"})"), 1);
    EXPECT_THAT(t, Not(HasSubstr("12345"))) << "a raw path never becomes a label value";
}

// ---- A real serve, scraped over HTTP ----------------------------------------------------------

namespace {

class Serve {
public:
    Serve(const TempDir& dir) : dir_(dir) {
        pid_ = test_support::spawn_process(
            {HOST_STUB_PATH, "--config", (dir / "host.json").string(), "--json", "serve", "--port", "0"},
            dir / "serve.out", dir / "serve.err");
    }
    ~Serve() { stop(); }
    // serve's first line: {"url", "port", "metrics_port"}; null when it ended first.
    json::object started() {
        json::object out;
        test_support::wait_until(
            [&] {
                std::string text = test_support::read_file(dir_ / "serve.out");
                if (text.find('\n') != std::string::npos)
                    out = json::parse(text.substr(0, text.find('\n'))).as_object();
                return !out.empty() || exited();
            },
            20s);
        return out;
    }
    bool exited() {
        if (exit_code_) return true;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return true;
    }
    int stop() {
        if (!exit_code_) exit_code_ = test_support::stop_process(pid_, SIGTERM);
        return *exit_code_;
    }
    std::string log() const { return test_support::read_file(dir_ / "serve.err"); }

private:
    const TempDir& dir_;
    int pid_ = -1;
    std::optional<int> exit_code_;
};

}  // namespace

TEST(MetricsServe, ANudgeThroughTheMockMovesTheSendCounterAndTheLatencyHistogram) {
    TempDir dir;
    dir.write("host.json", R"({"store":{"path":"host.db"},"log_level":"info",
        "users":[{"id":"rita","display_name":"Rita"}],"metrics":{"listen":"127.0.0.1:0"},"providers":[)" +
                               kMockProvider + "]}");
    auto host = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {HOST_STUB_PATH, "--config", (dir / "host.json").string()});
        return test_support::run_process(args);
    };
    ASSERT_EQ(host({"settings", "--user", "rita", "--channel", "email", "--email-provider", "mock"}).exit_code, 0);
    ASSERT_EQ(host({"connect", "--provider", "mock", "--account", "rita"}).exit_code, 0);
    ASSERT_EQ(host({"nudge", "--user", "rita", "--to", "casey@example.org", "--subject", "s", "--text", "t"}).exit_code,
              0);

    Serve serve(dir);
    json::object started = serve.started();
    ASSERT_TRUE(started.contains("metrics_port")) << serve.log();
    const std::string page = "http://127.0.0.1:" + std::to_string(started["port"].as_int64());
    const std::string metrics = "http://127.0.0.1:" + std::to_string(started["metrics_port"].as_int64()) + "/metrics";
    EXPECT_NE(started["metrics_port"], started["port"]) << "a listen address of its own";
    EXPECT_THAT(
        serve.log(),
        HasSubstr("serving http://127.0.0.1:" + std::to_string(started["metrics_port"].as_int64()) + "/metrics"));

    const std::string sent = R"(ep_host_sends_total{outcome="sent",provider="mock"})";
    std::string scraped;
    EXPECT_TRUE(test_support::wait_until(
        [&] {
            scraped = http_get(metrics).second;
            return sample(scraped, sent) == 1;
        },
        20s, 100ms))
        << scraped;
    EXPECT_EQ(sample(scraped, R"(ep_host_send_queue_to_sent_seconds_count{provider="mock"})"), 1);
    EXPECT_GT(sample(scraped, R"(ep_host_send_queue_to_sent_seconds_sum{provider="mock"})"), 0);
    EXPECT_GE(sample(scraped, R"(ep_host_outbox_nudges{state="queued"})"), 0);

    auto ready = http_get(page + "/readyz");
    EXPECT_EQ(ready.first, 200) << ready.second;
    EXPECT_THAT(http_get(metrics).second,
                HasSubstr(R"(ep_host_http_request_duration_seconds_count{route="/readyz",status_class="2xx"} 1)"));
    EXPECT_EQ(http_get(page + "/metrics").first, 303) << "not on the page's address (it redirects to sign-in)";
    EXPECT_EQ(serve.stop(), 0) << serve.log();
}

TEST(MetricsServe, AnAddressInUseStopsServeAtOnceNamingIt) {
    int busy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(busy, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

    TempDir dir;
    dir.write("host.json", R"({"store":{"path":"host.db"},"metrics":{"listen":")" + listen + R"("},"providers":[]})");
    Serve serve(dir);
    EXPECT_TRUE(test_support::wait_until([&] { return serve.exited(); }, 20s)) << "serve kept running";
    EXPECT_NE(serve.stop(), 0);
    EXPECT_THAT(serve.log(), HasSubstr("metrics.listen: cannot listen on " + listen));
    ::close(busy);
}
