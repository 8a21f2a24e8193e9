// The mock provider's exported entry point. Like Vulkan's test driver, the same source builds
// the loader-test variants, selected by compile definitions (see CMakeLists.txt):
// MOCK_NO_ENTRY_POINT, MOCK_ABI_MAJOR=2, MOCK_NEGOTIATE_REFUSES, MOCK_TABLE_TOO_SMALL,
// MOCK_NEWER_MINOR, MOCK_CREATE_FAILS. The provider itself (mock_provider.cpp) is compiled once.

#include "mock_provider.hpp"

#include <cstddef>

namespace {

#ifdef MOCK_CREATE_FAILS
// Fails in create, after the SDK has checked its arguments (a provider whose initialisation fails).
class Provider final : public mock::MockProvider {
public:
    Provider(ep::sdk::Host host, std::string_view config) : mock::MockProvider(host, config) {
        throw ep::sdk::Error(EP_ERR_CONFIG, "init_failed", "mock provider built to fail at create (test variant)");
    }
};
#else
using Provider = mock::MockProvider;
#endif

constexpr uint64_t kMockCapabilities = mock::kCapabilities;

}  // namespace

#if defined(MOCK_NO_ENTRY_POINT)
// Exports nothing: the loader must report the missing entry point.
#elif defined(MOCK_ABI_MAJOR) || defined(MOCK_NEGOTIATE_REFUSES) || defined(MOCK_TABLE_TOO_SMALL) || \
    defined(MOCK_NEWER_MINOR)

namespace {
// ABI 1.1 as a future plugin would see it: the 1.0 table with fields appended.
struct ProviderApiV1_1 {
    ep_provider_api v1_0;
    void (*future_hook)(void);
    uint64_t future_flags;
};
}  // namespace

extern "C" EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io) {
    static constexpr ep_provider_api base = ep::sdk::detail::Exports<Provider>::table(kMockCapabilities);
#if defined(MOCK_ABI_MAJOR)
    // A sloppy plugin of another major that claims success: the host must re-check.
    static constexpr ep_provider_api table = base;
    io->plugin_abi_major = MOCK_ABI_MAJOR;
    io->plugin_abi_minor = 0;
    io->provider = &table;
    return EP_OK;
#elif defined(MOCK_NEGOTIATE_REFUSES)
    (void)base;
    io->plugin_abi_major = EP_ABI_VERSION_MAJOR;
    io->plugin_abi_minor = EP_ABI_VERSION_MINOR;
    io->provider = nullptr;
    return EP_ERR_INCOMPATIBLE;
#elif defined(MOCK_TABLE_TOO_SMALL)
    static ep_provider_api table = [] {
        ep_provider_api t = base;
        t.struct_size = offsetof(ep_provider_api, send);  // claims to end before send
        return t;
    }();
    return ep::sdk::detail::negotiate(io, &table, EP_ABI_VERSION_MAJOR, EP_ABI_VERSION_MINOR, "Mock (too small)", "0");
#else
    static const ProviderApiV1_1 table = [] {
        ProviderApiV1_1 t{base, nullptr, 0xFFFF};
        t.v1_0.struct_size = sizeof(ProviderApiV1_1);
        t.v1_0.abi_minor = 1;
        return t;
    }();
    return ep::sdk::detail::negotiate(io, &table.v1_0, EP_ABI_VERSION_MAJOR, 1, "Mock (ABI 1.1)", "1.1.0");
#endif
}

#else
EP_DECLARE_PROVIDER(Provider, "Mock provider", "1.0.0", kMockCapabilities)
#endif
