// Host side of the ABI: loads a provider library named by a manifest, negotiates the ABI
// version, adopts the provider table by struct_size, and wraps instances in RAII objects.
#pragma once

#include "email_provider/isolation.hpp"
#include "email_provider/manifest.hpp"

#include <email_provider/ep_abi.h>

#include <boost/dll/shared_library.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ep::loader {

// The smallest provider table this host accepts: ABI 1.0's table.
inline constexpr std::size_t kMinProviderTableSize =
    offsetof(ep_provider_api, free_str) + sizeof(ep_provider_api::free_str);

struct LoadOptions {
    // The minor this host offers. Tests offer newer minors to check that a 1.0 plugin still
    // works in a newer host.
    uint16_t host_abi_minor = EP_ABI_VERSION_MINOR;
};

// A loaded provider library. Never unloaded while an instance lives (every ProviderInstance
// holds a shared_ptr to it), and in fact never unloaded at all: the loader pins it resident.
class LoadedProvider {
public:
    // Declared first so it is destroyed last, after everything that points into the library.
    boost::dll::shared_library library;
    Manifest manifest;
    // Copy of the plugin's table; fields it does not have are NULL. struct_size is the plugin's
    // own: larger than sizeof(api) for a plugin of a newer minor, whose extra fields are not copied.
    ep_provider_api api{};
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;  // effective minor: min(host, plugin)
    uint16_t plugin_abi_minor = 0;
    std::string provider_name;
    std::string provider_version;
    // The manifest's warnings, then where the manifest and what negotiation returned disagree
    // (ABI minor, capabilities): loaded anyway, the library's answer wins; worth logging.
    std::vector<std::string> warnings;
};

// Loads, negotiates and adopts. Throws LoadError with a message naming the manifest and
// the cause (library not found, not a shared library, entry point missing, ABI mismatch,
// negotiation refused, table too small).
std::shared_ptr<LoadedProvider> load_provider(const Manifest& manifest, const LoadOptions& options = {});

// create refused: a LoadError that also keeps the plugin's status and error document, so a
// runner can pass them on to its host (ISOLATION.md, hello's error data).
class CreateError : public LoadError {
public:
    CreateError(const std::string& what, ep_status status, std::string document)
        : LoadError(what), status_(status), document_(std::move(document)) {}
    ep_status status() const { return status_; }
    const std::string& document() const { return document_; }

private:
    ep_status status_;
    std::string document_;
};

// A plugin's answer: its status and the document it returned (result or error).
struct CallResult {
    ep_status status = EP_OK;
    std::string document;
    bool ok() const { return status == EP_OK; }
};

// What a host knows of a running provider, wherever it runs: read from the library in this
// process, or reported by its runner.
struct ProviderInfo {
    Manifest manifest;
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;  // effective minor: min(host, plugin)
    uint16_t plugin_abi_minor = 0;
    uint64_t capabilities = 0;      // the library's EP_CAP_* bits
    bool can_check = false;         // ABI 1.1 check_connection is there
    bool threads_messages = false;  // ABI 1.2 and EP_CAP_THREADING
    std::string provider_name;
    std::string provider_version;
    std::vector<std::string> warnings;  // as LoadedProvider::warnings
};

// One instance of a provider: loaded into this process (ProviderInstance) or served by an
// ep-provider-runner process (start_isolated, ISOLATION.md). Thread-safe like the ABI
// (concurrent calls allowed; the destructor must not race other calls).
class Provider {
public:
    using SendDone = std::function<void(std::string_view result_json)>;
    using CheckDone = std::function<void(CallResult status)>;

    virtual ~Provider() = default;

    virtual const ProviderInfo& info() const = 0;
    const std::string& id() const { return info().manifest.id; }
    // Why the provider cannot take calls until the host replaces it (its runner was quarantined
    // after crashing again and again); nullopt when it can. Calls made anyway answer
    // EP_ERR_INTERNAL with an error document saying the same. (A runner restarting after one
    // crash is still available: its calls fail for a moment, and its sends are transient.)
    virtual std::optional<std::string> unavailable_reason() const { return std::nullopt; }
    // Why calls fail for a moment (its runner is restarting after a crash); nullopt otherwise.
    virtual std::optional<std::string> restarting() const { return std::nullopt; }

    virtual CallResult begin_connect(std::string_view account, std::string_view request_json) = 0;
    virtual CallResult complete_connect(std::string_view account, std::string_view callback_json) = 0;
    virtual CallResult status(std::string_view account) = 0;
    virtual CallResult disconnect(std::string_view account) = 0;
    virtual CallResult forget_account(std::string_view account) = 0;

    // Asynchronous send. When accepted (returns nullopt), `done` runs exactly once on a
    // provider thread. Otherwise the refusal (an ep.send_result/1 document) is returned and
    // `done` is never called. The message is validated with the shared model first
    // (CONTRACT.md EP_HOST_9). An isolated provider does not wait for its runner's answer: a
    // refusal from the plugin then reaches `done`, as an ep.send_result/1 all the same, so a host
    // must treat a returned refusal and one passed to `done` alike.
    virtual std::optional<CallResult> send(std::string_view account, std::string_view message_json, SendDone done) = 0;

    // Convenience for tools and tests: waits for the outcome and returns the send-result
    // document (a refusal's document when not accepted).
    CallResult send_blocking(std::string_view account, std::string_view message_json);

    // True when the plugin checks accounts against its service (ABI 1.1 check_connection).
    bool can_check() const { return info().can_check; }

    // Finds out whether a send now would go out and passes the status document to `done`,
    // exactly once: on a provider thread after the plugin checked (ABI 1.1), or before this
    // returns with get_status's answer when the plugin is 1.0 or refused to start a check.
    virtual void check_connection(std::string_view account, CheckDone done) = 0;
    // Waits for check_connection's status document, at most `timeout`: hosts call it on their
    // outbox thread, which a check that never answers must not stall. On timeout it returns a
    // status with check_failed {"code":"timeout"} and no state (SCHEMAS.md), which hosts read
    // as a failed check; the plugin's late answer is then dropped.
    CallResult check_blocking(std::string_view account, std::chrono::milliseconds timeout = std::chrono::seconds(60));

    // True when the plugin sets ep.message's threading fields (ABI 1.2, EP_CAP_THREADING):
    // hosts send them to no other plugin.
    bool threads_messages() const { return info().threads_messages; }
    // The account's ep.sending_limits/1 document (ABI 1.2); EP_ERR_UNSUPPORTED with an error
    // document when the plugin is older or declares none.
    virtual CallResult sending_limits(std::string_view account) = 0;
};

// A provider loaded into this process.
class ProviderInstance final : public Provider {
public:
    // Creates an instance. `host` must outlive the instance. Throws CreateError naming the
    // provider and the plugin's error (e.g. the configuration field) on failure.
    static std::unique_ptr<ProviderInstance> create(std::shared_ptr<LoadedProvider> provider, const ep_host_api* host,
                                                    std::string_view config_json);
    ~ProviderInstance() override;
    ProviderInstance(const ProviderInstance&) = delete;
    ProviderInstance& operator=(const ProviderInstance&) = delete;

    const LoadedProvider& provider() const { return *provider_; }
    const ProviderInfo& info() const override { return info_; }

    CallResult begin_connect(std::string_view account, std::string_view request_json) override;
    CallResult complete_connect(std::string_view account, std::string_view callback_json) override;
    CallResult status(std::string_view account) override;
    CallResult disconnect(std::string_view account) override;
    CallResult forget_account(std::string_view account) override;
    std::optional<CallResult> send(std::string_view account, std::string_view message_json, SendDone done) override;
    void check_connection(std::string_view account, CheckDone done) override;
    CallResult sending_limits(std::string_view account) override;

private:
    ProviderInstance(std::shared_ptr<LoadedProvider> provider, ep_instance* instance,
                     std::unique_ptr<ep_host_api> lent_host);
    CallResult take(ep_status status, ep_owned_str& out) const;

    std::shared_ptr<LoadedProvider> provider_;
    ep_instance* instance_;
    // The host's table as the negotiated minor has it, when that is less than the host's own;
    // the plugin uses it until destroy returns, so it goes after (members go after the body).
    std::unique_ptr<ep_host_api> lent_host_;
    ProviderInfo info_;
};

// ---- Isolation (ISOLATION.md) --------------------------------------------------------

// Starts a runner for the provider `manifest` names and creates its instance there, with
// `host` serving the runner's log, clock and secret store (so `host` must outlive the
// provider). Throws LoadError naming the cause when the library cannot be loaded (including
// when it crashes while loading), negotiation fails or create fails.
std::unique_ptr<Provider> start_isolated(const Manifest& manifest, const ep_host_api* host,
                                         std::string_view config_json, const IsolationOptions& options = {});

}  // namespace ep::loader
