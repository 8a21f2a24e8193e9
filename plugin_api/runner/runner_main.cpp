// ep-provider-runner: started by a host's loader (start_isolated, ISOLATION.md), never by hand.
#include "runner.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <exception>

namespace {

constexpr int kChannelFd = 3;

bool channel_is_a_socket() {
    struct stat st {};
    return ::fstat(kChannelFd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

int main(int argc, char** argv) {
    if (!channel_is_a_socket()) {
        std::fputs(
            "ep-provider-runner: descriptor 3 is not a socket; this program is started by an email-provider "
            "host (ISOLATION.md), not by hand\n",
            stderr);
        return ep::runner::kExitUsage;
    }
    // The provider may start programs of its own: they get no channel to the host.
    ::fcntl(kChannelFd, F_SETFD, FD_CLOEXEC);
    try {
        ep::runner::apply_limits(ep::runner::parse_arguments(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ep-provider-runner: %s\n", e.what());
        return ep::runner::kExitUsage;
    }
    return ep::runner::serve(kChannelFd);
}
