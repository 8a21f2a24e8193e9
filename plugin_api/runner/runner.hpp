// ep-provider-runner (ISOLATION.md): serves one provider library to its host over the channel
// the host passes as descriptor 3.
#pragma once

#include <cstdint>
#include <string>

namespace ep::runner {

// Exit codes the host reads.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;     // not started by a host (no channel), or bad arguments
inline constexpr int kExitProtocol = 3;  // the host broke the channel's framing

// False in sanitizer builds: they map terabytes of shadow memory, which RLIMIT_AS counts
// (https://clang.llvm.org/docs/AddressSanitizer.html#limitations), so no useful limit would let
// such a runner start. It then keeps the inherited limit and says so on stderr.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kAddressSpaceLimitApplies = false;
#elif defined(__has_feature)
inline constexpr bool kAddressSpaceLimitApplies =
    !(__has_feature(address_sanitizer) || __has_feature(thread_sanitizer));
#else
inline constexpr bool kAddressSpaceLimitApplies = true;
#endif

// Limits the runner sets on itself before it loads any library; 0 leaves the inherited one.
struct Limits {
    uint64_t address_space_bytes = 0;  // RLIMIT_AS
    uint64_t open_files = 0;           // RLIMIT_NOFILE
};

// Reads `--address-space-bytes N --open-files N`. Throws std::invalid_argument naming the
// argument that is wrong.
Limits parse_arguments(int argc, const char* const* argv);

// Applies the limits (soft and hard, so the provider cannot raise them again). Throws
// std::system_error naming the limit when the kernel refuses.
void apply_limits(const Limits& limits);

// Serves the channel `fd` until the host says `shutdown` or closes it; returns the exit code.
int serve(int fd);

}  // namespace ep::runner
