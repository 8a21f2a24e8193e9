// `host_stub serve` as an outside attacker finds it (issue 16), on loopback only and bounded in
// time: more idle connections than the process has file descriptors, and Microsoft callbacks
// whose token exchange is slow. After either, the page must still answer.
#include "process.hpp"

#include <ms_sandbox/sandbox.hpp>

#include <boost/json.hpp>

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::TempDir;

namespace {

// A TCP connection to 127.0.0.1:port, or -1.
int connect_to(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// GET /healthz on a fresh connection, waiting at most `timeout`: true on "200".
bool healthz(uint16_t port, std::chrono::milliseconds timeout = 2000ms) {
    int fd = connect_to(port);
    if (fd < 0) return false;
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
    bool ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
    char buf[64] = {};
    ok = ok && ::recv(fd, buf, sizeof buf - 1, 0) > 12 && std::string(buf).starts_with("HTTP/1.1 200");
    ::close(fd);
    return ok;
}

std::size_t open_descriptors(int pid) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return n;
}

// A free loopback port (for configs that must name the port before the server starts).
uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// `host_stub serve` in the background, optionally under a file descriptor limit (prlimit).
class Server {
public:
    Server(const TempDir& dir, std::optional<int> nofile_limit, uint16_t port = 0) : dir_(dir) {
        std::vector<std::string> argv;
        if (nofile_limit)
            argv = {"/usr/bin/prlimit",
                    "--nofile=" + std::to_string(*nofile_limit) + ":" + std::to_string(*nofile_limit)};
        for (std::string a : {std::string(HOST_STUB_PATH), std::string("--config"), (dir / "host.json").string(),
                              std::string("--json"), std::string("serve"), std::string("--port"), std::to_string(port)})
            argv.push_back(a);
        pid_ = test_support::spawn_process(argv, dir / "serve.out", dir / "serve.err");
        test_support::wait_until(
            [&] {
                std::string out = test_support::read_file(dir / "serve.out");
                if (out.find('\n') == std::string::npos) return false;
                port_ =
                    static_cast<uint16_t>(json::parse(out.substr(0, out.find('\n'))).as_object().at("port").as_int64());
                return true;
            },
            20s);
    }
    ~Server() { stop(); }
    // SIGTERM; the exit status (0: a clean stop; a sanitizer report makes it non-zero).
    int stop() {
        if (!exit_code_) exit_code_ = test_support::stop_process(pid_, SIGTERM);
        return *exit_code_;
    }
    uint16_t port() const { return port_; }
    int pid() const { return pid_; }
    bool running() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }
    std::string log() const { return test_support::read_file(dir_ / "serve.err"); }

private:
    const TempDir& dir_;
    int pid_ = -1;
    uint16_t port_ = 0;
    std::optional<int> exit_code_;
};

// The test process itself needs more descriptors than the server it floods.
void raise_own_descriptor_limit(rlim_t wanted) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < wanted) {
        limit.rlim_cur = std::min(wanted, limit.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

struct Flood {
    std::vector<int> fds;
    explicit Flood(uint16_t port, int count) {
        for (int i = 0; i < count; ++i)
            if (int fd = connect_to(port); fd >= 0) fds.push_back(fd);
    }
    ~Flood() { close(); }
    void close() {
        for (int fd : fds) ::close(fd);
        fds.clear();
    }
};

class ServeFloodTest : public ::testing::Test {
protected:
    void write_config(const std::string& web) {
        dir_.write("host.json", R"({"store":{"path":"host.db"},"log_level":"warn","web":)" + web +
                                    R"(,
            "users":[{"id":"rita","display_name":"Rita"}],
            "providers":[{"manifest":")" EP_BUILD_DIR
                                    R"(/manifests/mock.json","config":{"outbox_dir":"${config_dir}/eml"}}]})");
    }
    TempDir dir_;
};

}  // namespace

// Was: ~1100 idle connections under a 1024 limit made accept fail with EMFILE, the accept loop
// returned, and the page never answered again. Now connections past web.max_connections (512)
// are closed on arrival, the process stays far from its limit, and the page answers again.
TEST_F(ServeFloodTest, MoreIdleConnectionsThanDescriptorsAndThePageAnswersAgain) {
    raise_own_descriptor_limit(4096);
    write_config(R"({"listen_address":"127.0.0.1"})");
    Server server(dir_, 1024);
    ASSERT_NE(server.port(), 0) << server.log();
    ASSERT_TRUE(healthz(server.port()));
    auto started = std::chrono::steady_clock::now();
    {
        Flood flood(server.port(), 1100);
        EXPECT_GE(flood.fds.size(), 1000u) << "the flood itself could not connect";
        std::this_thread::sleep_for(1s);  // let the server take what it will
        EXPECT_TRUE(server.running());
        std::size_t fds = open_descriptors(server.pid());
        EXPECT_LT(fds, 1024u - 64) << "the server let connections take (nearly) every descriptor";
        std::cout << "flood: " << flood.fds.size() << " idle connections, server holds " << fds << " descriptors\n";
    }
    bool back = test_support::wait_until([&] { return healthz(server.port(), 500ms); }, 15s, 100ms);
    EXPECT_TRUE(back) << "the page did not answer again after the connections closed\n" << server.log();
    std::cout
        << "flood: the page answered again "
        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
        << " ms after the flood began\n";
    EXPECT_NE(server.log().find("connections are open (web.max_connections)"), std::string::npos) << server.log();
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// The same when the descriptor limit is reached before the connection cap (an operator set
// max_connections too high): accept fails with EMFILE, is retried with a back-off, and logged.
TEST_F(ServeFloodTest, AcceptFailingWithTooManyOpenFilesIsRetried) {
    raise_own_descriptor_limit(4096);
    write_config(R"({"listen_address":"127.0.0.1","max_connections":4096})");
    Server server(dir_, 256);
    ASSERT_NE(server.port(), 0) << server.log();
    {
        Flood flood(server.port(), 400);
        test_support::wait_until([&] { return server.log().find("Too many open files") != std::string::npos; }, 5s);
        EXPECT_TRUE(server.running());
    }
    bool back = test_support::wait_until([&] { return healthz(server.port(), 500ms); }, 15s, 100ms);
    EXPECT_TRUE(back) << "the page did not answer again after the connections closed\n" << server.log();
    std::string log = server.log();
    EXPECT_NE(log.find("cannot accept a connection (Too many open files); retrying in"), std::string::npos) << log;
    EXPECT_NE(log.find("web.max_connections (4096) leaves less than 64"), std::string::npos) << log;
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// ---- Slow Microsoft callbacks ---------------------------------------------------------------

namespace {

// A browser: its own cookies, redirects not followed.
class Browser {
public:
    explicit Browser(std::string base) : base_(std::move(base)), curl_(curl_easy_init()) {
        curl_easy_setopt(curl_, CURLOPT_COOKIEFILE, "");
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(
            curl_, CURLOPT_WRITEFUNCTION, +[](char* p, size_t, size_t n, void* body) {
                static_cast<std::string*>(body)->append(p, n);
                return n;
            });
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
    }
    ~Browser() { curl_easy_cleanup(curl_); }
    Browser(const Browser&) = delete;
    Browser& operator=(const Browser&) = delete;

    // Returns the status; body() and location() describe the answer.
    long request(const std::string& url_or_path, const std::string& form = {}, bool post = false) {
        body_.clear();
        std::string url = url_or_path.starts_with("http") ? url_or_path : base_ + url_or_path;
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        if (post) {
            curl_easy_setopt(curl_, CURLOPT_COPYPOSTFIELDS, form.c_str());
        } else {
            curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
        }
        if (curl_easy_perform(curl_) != CURLE_OK) return 0;
        long status = 0;
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
        char* location = nullptr;
        curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &location);
        location_ = location ? location : "";
        return status;
    }
    std::string csrf() const {
        const std::string marker = "name=\"csrf\" value=\"";
        auto at = body_.find(marker);
        if (at == std::string::npos) return {};
        at += marker.size();
        return body_.substr(at, body_.find('"', at) - at);
    }
    const std::string& body() const { return body_; }
    const std::string& location() const { return location_; }

private:
    std::string base_;
    CURL* curl_;
    std::string body_, location_;
};

}  // namespace

class ServeSlowCallbackTest : public ::testing::Test {
protected:
    ServeSlowCallbackTest() : sandbox_(options()) {}
    static ms_sandbox::Options options() {
        ms_sandbox::Options o;
        o.log_requests = false;
        return o;
    }
    TempDir dir_;
    ms_sandbox::Sandbox sandbox_;
};

// Was: the callback exchanged the code at the token endpoint on one of the server's two I/O
// threads; two slow exchanges froze the whole page (/healthz took 7 s).
TEST_F(ServeSlowCallbackTest, TwoSlowCallbacksDoNotDelayOtherRequests) {
    constexpr auto kTokenDelay = 4000ms;
    const uint16_t port = free_port();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    dir_.write("token.key", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n");
    json::object outlook{
        {"client_id", "22222222-3333-4444-8555-666666666666"},
        {"client_credential",
         json::object{{"type", "secret"}, {"file", (sandbox_.tls_dir() / "client-secret.txt").string()}}},
        {"endpoints", json::object{{"login", sandbox_.base_url()}, {"graph", sandbox_.base_url() + "/v1.0"}}},
        {"tls", json::object{{"ca_file", sandbox_.ca_file().string()}}},
        {"redirect_uri", base + "/callback"},
        {"token_encryption",
         json::object{{"active_key", "k"},
                      {"keys", json::array{json::object{{"id", "k"}, {"file", "${config_dir}/token.key"}}}}}}};
    json::object config{{"store", json::object{{"path", "host.db"}}},
                        {"log_level", "warn"},
                        {"web", json::object{{"listen_address", "127.0.0.1"}, {"public_url", base}}},
                        {"users", json::array{json::object{{"id", "ann"}, {"display_name", "Ann"}},
                                              json::object{{"id", "bob"}, {"display_name", "Bob"}}}},
                        {"providers", json::array{json::object{{"manifest", EP_BUILD_DIR "/manifests/outlook.json"},
                                                               {"config", outlook}}}}};
    dir_.write("host.json", json::serialize(config));
    Server server(dir_, std::nullopt, port);
    ASSERT_EQ(server.port(), port) << server.log();

    // Two people sign in and start connecting; the stand-in sends each back with a code.
    struct Person {
        Person(std::string u, std::string m, const std::string& base)
            : user(std::move(u)), upn(std::move(m)), browser(base) {}
        std::string user, upn;
        Browser browser;
        std::string callback;
        long status = 0;
    };
    std::vector<std::unique_ptr<Person>> people;
    for (auto [user, upn] :
         {std::pair{"ann", "adele@contoso.example"}, std::pair{"bob", "megan.personal@outlook.com"}}) {
        auto p = std::make_unique<Person>(user, upn, base);
        ASSERT_EQ(p->browser.request("/signin"), 200);
        ASSERT_EQ(p->browser.request("/signin", "user_id=" + p->user + "&csrf=" + p->browser.csrf(), true), 303);
        ASSERT_EQ(p->browser.request("/settings/communication"), 200);
        ASSERT_EQ(
            p->browser.request("/settings/communication/connect", "provider=outlook&csrf=" + p->browser.csrf(), true),
            303);
        p->callback = sandbox_.autopilot(p->browser.location(), p->upn);
        ASSERT_TRUE(p->callback.starts_with(base + "/callback?")) << p->callback;
        people.push_back(std::move(p));
    }

    ms_sandbox::FaultRule slow;
    slow.endpoint = "token";
    slow.action = "delay";
    slow.delay_ms = static_cast<int>(kTokenDelay.count());
    slow.times = -1;
    sandbox_.add_fault(slow);

    std::vector<std::thread> callbacks;
    auto started = std::chrono::steady_clock::now();
    for (auto& p : people) callbacks.emplace_back([&p] { p->status = p->browser.request(p->callback); });
    std::this_thread::sleep_for(500ms);  // both callbacks are now waiting on the token endpoint
    std::chrono::milliseconds worst{0};
    for (int i = 0; i < 5; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(healthz(port, 10000ms));
        worst = std::max(worst,
                         std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0));
        std::this_thread::sleep_for(200ms);
    }
    bool callbacks_still_waiting = std::chrono::steady_clock::now() - started < kTokenDelay;
    for (auto& t : callbacks) t.join();
    std::cout << "slow callbacks: worst /healthz " << worst.count() << " ms while two token exchanges took "
              << kTokenDelay.count() << " ms each\n";
    EXPECT_TRUE(callbacks_still_waiting) << "the measurement did not overlap the slow exchanges";
    EXPECT_LT(worst, 1000ms) << "/healthz waited behind the provider calls";
    for (auto& p : people) {
        EXPECT_EQ(p->status, 303) << p->user;
        ASSERT_EQ(p->browser.request("/api/state"), 200);
        json::value state = json::parse(p->browser.body());
        EXPECT_EQ(state.as_object().at("providers").as_object().at("outlook").as_object().at("state"), "connected")
            << p->user;
    }
    EXPECT_EQ(server.stop(), 0) << server.log();
}
