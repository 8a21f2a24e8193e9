// The google-sandbox binary: prints its address at once, serves, stops cleanly on SIGTERM.
#include "support.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>

namespace gst {
namespace {

TEST(BinaryTest, PrintsListeningLineAndStopsOnSigterm) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execl(GOOGLE_SANDBOX_BINARY, GOOGLE_SANDBOX_BINARY, "--port", "0", "--quiet", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    EXPECT_EQ(line.rfind("listening on https://127.0.0.1:", 0), 0u) << line;
    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace gst
