// TLS, the raw HTTP layer and the standalone binary.
#include "support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace mst {
namespace {

using TransportTest = SandboxTest;

TEST_F(TransportTest, HttpsVerifiesAgainstGeneratedCa) {
    auto r = get("/_sandbox/health");
    ASSERT_EQ(r.curl_code, 0);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.json().at("ok").as_bool());
}

TEST_F(TransportTest, CurlRefusesWithoutTheCa) {
    Request req;  // system trust store only
    auto r = http(url("/_sandbox/health"), req);
    EXPECT_EQ(r.curl_code, 60);
}

TEST_F(TransportTest, CurlRefusesWithAnUnrelatedCa) {
    Request req;
    req.ca_file = (sandbox->tls_dir() / "other-ca.pem").string();
    EXPECT_EQ(http(url("/_sandbox/health"), req).curl_code, 60);
}

TEST_F(TransportTest, UnknownPathIs404NotACrash) {
    auto r = get("/no/such/thing");
    EXPECT_EQ(r.status, 404);
    auto g = get("/v1.0/users/someone/messages");
    EXPECT_EQ(g.status, 400);
    EXPECT_EQ(g.json().at("error").at("code"), "BadRequest");
    EXPECT_FALSE(g.header("request-id").empty());
}

TEST_F(TransportTest, HugeHeaderGetsBadRequest) {
    auto r = get("/_sandbox/health", {"X-Big: " + std::string(100 * 1024, 'a')});
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("Request Too Long"), std::string::npos);
    EXPECT_EQ(get("/_sandbox/health").status, 200);  // server still fine
}

TEST_F(TransportTest, IdentityHeadersEchoClientRequestId) {
    auto r = get("/common/v2.0/.well-known/openid-configuration",
                 {"client-request-id: 0f0e0d0c-1111-2222-3333-444455556666"});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("client-request-id"), "0f0e0d0c-1111-2222-3333-444455556666");
    EXPECT_EQ(r.header("x-ms-request-id").size(), 36u);
    auto j = r.json();
    EXPECT_EQ(j.at("token_endpoint"), sandbox->base_url() + "/common/oauth2/v2.0/token");
    EXPECT_EQ(j.at("authorization_endpoint"), sandbox->base_url() + "/common/oauth2/v2.0/authorize");
    EXPECT_EQ(get("/nope.example/v2.0/.well-known/openid-configuration").status, 400);
}

class PlainHttpTest : public SandboxTest {
    ms_sandbox::Options options() override {
        ms_sandbox::Options o;
        o.tls = false;
        return o;
    }
};

// Sends raw bytes over TCP, returns whatever comes back before the server closes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "connect failed";
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!write(fd, bytes.data(), bytes.size());
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fd);
    return out;
}

TEST_F(PlainHttpTest, ServesPlainHttpWhenAsked) {
    EXPECT_EQ(sandbox->base_url().rfind("http://127.0.0.1:", 0), 0u);
    auto r = http(url("/_sandbox/health"), Request());
    EXPECT_EQ(r.status, 200);
}

TEST_F(PlainHttpTest, GarbageGetsA400AndTheServerSurvives) {
    std::string reply = raw_exchange(sandbox->port(), "\x16\x03\x01 this is not http\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
    reply = raw_exchange(sandbox->port(),
                         "POST /common/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
    EXPECT_EQ(http(url("/_sandbox/health"), Request()).status, 200);
}

struct CertCase {
    const char* cert;
};
class ServerCertTest : public ::testing::TestWithParam<CertCase> {};

TEST_P(ServerCertTest, BadServerCertificatesAreRefusedByCurl) {
    ms_sandbox::Options o;
    o.server_cert = GetParam().cert;
    ms_sandbox::Sandbox sb(o);
    Request req;
    req.ca_file = sb.ca_file().string();
    EXPECT_EQ(http(sb.base_url() + "/_sandbox/health", req).curl_code, 60);
    req.verify = false;  // the server itself works
    EXPECT_EQ(http(sb.base_url() + "/_sandbox/health", req).status, 200);
}
INSTANTIATE_TEST_SUITE_P(Certs, ServerCertTest, ::testing::Values(CertCase{"wrong-host"}, CertCase{"expired"}),
                         [](const ::testing::TestParamInfo<CertCase>& i) {
                             return std::string(i.param.cert[0] == 'w' ? "WrongHost" : "Expired");
                         });

TEST(BinaryTest, HelpListensAndStopsOnSigterm) {
    FILE* help = popen(MS_SANDBOX_BINARY " --help", "r");
    ASSERT_NE(help, nullptr);
    std::string text;
    char buf[512];
    while (fgets(buf, sizeof buf, help)) text += buf;
    EXPECT_EQ(pclose(help), 0);
    EXPECT_NE(text.find("--scenario"), std::string::npos);
    EXPECT_NE(text.find("--cert"), std::string::npos);

    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(MS_SANDBOX_BINARY, MS_SANDBOX_BINARY, "--port", "0", "--quiet", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ASSERT_EQ(line.rfind("listening on https://127.0.0.1:", 0), 0u) << line;
    Request req;
    req.ca_file = (ms_sandbox::default_tls_dir() / "ca.pem").string();
    EXPECT_EQ(http(line.substr(13) + "/_sandbox/health", req).status, 200);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    close(out[0]);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ScenarioTest, BadScenarioNamesTheField) {
    ms_sandbox::Options o;
    o.scenario_json = R"({"users":[{"upn":"x@y","tenant":"nope.example"}]})";
    try {
        ms_sandbox::Sandbox sb(o);
        FAIL() << "accepted a bad scenario";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("users[0].tenant"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace mst
