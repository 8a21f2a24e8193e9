#include "email_provider/provider_loader.hpp"

#include "message_check.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/dll/shared_library_load_mode.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <type_traits>

namespace ep::loader {
namespace {

std::string about(const Manifest& m, const std::string& what) {
    return "provider '" + m.id + "' (manifest " + m.manifest_path.string() + "): " + what;
}

[[noreturn]] void fail(const Manifest& m, const std::string& what) { throw LoadError(about(m, what)); }

std::string version_text(uint16_t major, uint16_t minor) { return std::to_string(major) + "." + std::to_string(minor); }

// An ELF file starts with these four bytes; anything else is "not a shared library", which
// reads better than dlopen's "invalid ELF header".
bool looks_like_shared_library(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    return in.gcount() == 4 && std::memcmp(magic,
                                           "\x7f"
                                           "ELF",
                                           4) == 0;
}

ep_str view(std::string_view s) { return ep_str{s.data(), s.size()}; }

// Opens the library with the flags a provider needs and keeps it resident.
void open_library(const Manifest& m, LoadedProvider& loaded) {
    std::error_code fs_ec;
    if (!std::filesystem::exists(m.library_path, fs_ec))
        fail(m, "library_path " + m.library_path.string() + " not found");
    if (!std::filesystem::is_regular_file(m.library_path, fs_ec) || !looks_like_shared_library(m.library_path))
        fail(m, "library_path " + m.library_path.string() + " is not a shared library");
    try {
        // rtld_now: a plugin with a missing import fails here, not in the middle of a send.
        // rtld_local: plugins cannot see or shadow each other's symbols.
        loaded.library.load(m.library_path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        fail(m, "cannot load " + m.library_path.string() + ": " + e.what());
    }
    // Keep the library resident for the life of the process (as GStreamer and Envoy do): a
    // provider's dependencies (libcurl, OpenSSL) register thread-local state and exit handlers
    // that must not outlive their code. RTLD_NOLOAD | RTLD_NODELETE marks the copy just loaded.
    if (void* pin = ::dlopen(m.library_path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) ::dlclose(pin);
}

// Calls the entry point and adopts the provider table it returns, after checking whatever the
// plugin answered before trusting any of it (after OpenXR).
void negotiate(const Manifest& m, const LoadOptions& options, LoadedProvider& loaded) {
    if (!loaded.library.has(EP_ENTRY_POINT_NAME))
        fail(m, std::string("entry point ") + EP_ENTRY_POINT_NAME + " is missing from " + m.library_path.string());

    auto& negotiate = loaded.library.get<std::remove_pointer_t<ep_negotiate_fn>>(EP_ENTRY_POINT_NAME);
    ep_negotiation io{};
    io.struct_size = sizeof io;
    io.host_abi_major = EP_ABI_VERSION_MAJOR;
    io.host_abi_minor = options.host_abi_minor;
    ep_status status = negotiate(&io);

    if (io.plugin_abi_major != EP_ABI_VERSION_MAJOR)
        fail(m, "ABI major mismatch: plugin implements " + version_text(io.plugin_abi_major, io.plugin_abi_minor) +
                    ", host speaks " + version_text(EP_ABI_VERSION_MAJOR, options.host_abi_minor));
    if (status != EP_OK) fail(m, "negotiation refused by the plugin (status " + std::to_string(status) + ")");
    if (io.provider == nullptr) fail(m, "negotiation returned no provider table");
    if (m.abi_major != io.plugin_abi_major)
        fail(m, "manifest declares ABI " + version_text(m.abi_major, m.abi_minor) + " but the library implements " +
                    version_text(io.plugin_abi_major, io.plugin_abi_minor));
    if (io.provider->struct_size < kMinProviderTableSize)
        fail(m, "provider table too small: " + std::to_string(io.provider->struct_size) + " bytes, ABI 1.0 needs " +
                    std::to_string(kMinProviderTableSize));

    // Adopt by size: copy what both sides know, leave the rest zero (after OBS). struct_size
    // stays what the plugin declared, so the host can tell which fields the plugin has.
    std::memcpy(&loaded.api, io.provider, std::min<std::size_t>(io.provider->struct_size, sizeof loaded.api));
    const ep_provider_api& t = loaded.api;
    if (!t.create || !t.destroy || !t.begin_connect || !t.complete_connect || !t.get_status || !t.disconnect ||
        !t.forget_account || !t.send || !t.free_str)
        fail(m, "provider table has a NULL required function");

    loaded.abi_major = io.plugin_abi_major;
    loaded.plugin_abi_minor = io.plugin_abi_minor;
    loaded.abi_minor = std::min(io.plugin_abi_minor, options.host_abi_minor);
    loaded.provider_name = io.provider_name ? io.provider_name : "";
    loaded.provider_version = io.provider_version ? io.provider_version : "";
}

// What the manifest says and the library does not (or the reverse): warnings, not refusals.
void warn_about_differences(const Manifest& m, LoadedProvider& loaded) {
    loaded.warnings = m.warnings;
    auto warn = [&](const std::string& what) {
        loaded.warnings.push_back("provider '" + m.id + "' (manifest " + m.manifest_path.string() + "): " + what);
    };
    if (m.abi_minor != loaded.plugin_abi_minor)
        warn("manifest declares ABI " + version_text(m.abi_major, m.abi_minor) + " but the library implements " +
             version_text(loaded.abi_major, loaded.plugin_abi_minor));
    uint64_t known = 0;
    for (const auto& c : kCapabilityNames) known |= c.bit;
    const uint64_t declared = capability_bits(m.capabilities), advertised = loaded.api.capabilities & known;
    auto names = [](uint64_t bits) {
        std::string list;
        for (const auto& c : kCapabilityNames)
            if (bits & c.bit) list += (list.empty() ? "" : ", ") + std::string(c.name);
        return list;
    };
    if (declared & ~advertised)
        warn("manifest lists capabilities the library does not advertise: " + names(declared & ~advertised));
    if (advertised & ~declared)
        warn("library advertises capabilities the manifest does not list: " + names(advertised & ~declared));
}

}  // namespace

std::shared_ptr<LoadedProvider> load_provider(const Manifest& m, const LoadOptions& options) {
    auto loaded = std::make_shared<LoadedProvider>();
    loaded->manifest = m;
    open_library(m, *loaded);
    negotiate(m, options, *loaded);
    warn_about_differences(m, *loaded);
    return loaded;
}

// ---- ProviderInstance ----------------------------------------------------------------

ProviderInstance::ProviderInstance(std::shared_ptr<LoadedProvider> provider, ep_instance* instance)
    : provider_(std::move(provider)), instance_(instance) {
    const LoadedProvider& p = *provider_;
    info_.manifest = p.manifest;
    info_.abi_major = p.abi_major;
    info_.abi_minor = p.abi_minor;
    info_.plugin_abi_minor = p.plugin_abi_minor;
    info_.capabilities = p.api.capabilities;
    info_.can_check = p.abi_minor >= 1 && p.api.check_connection != nullptr;
    info_.threads_messages = p.abi_minor >= 2 && (p.api.capabilities & EP_CAP_THREADING) != 0;
    info_.provider_name = p.provider_name;
    info_.provider_version = p.provider_version;
    info_.warnings = p.warnings;
}

ProviderInstance::~ProviderInstance() { provider_->api.destroy(instance_); }

std::unique_ptr<ProviderInstance> ProviderInstance::create(std::shared_ptr<LoadedProvider> provider,
                                                           const ep_host_api* host, std::string_view config_json) {
    ep_instance* instance = nullptr;
    ep_owned_str out{};
    ep_status status = provider->api.create(host, view(config_json), &instance, &out);
    std::string document = out.data ? std::string(out.data, out.len) : std::string();
    provider->api.free_str(&out);
    if (status != EP_OK || instance == nullptr) {
        if (instance) provider->api.destroy(instance);
        throw CreateError(
            about(provider->manifest, "instance creation failed (status " + std::to_string(status) + "): " + document),
            status == EP_OK ? EP_ERR_INTERNAL : status, document);
    }
    return std::unique_ptr<ProviderInstance>(new ProviderInstance(std::move(provider), instance));
}

CallResult ProviderInstance::take(ep_status status, ep_owned_str& out) const {
    CallResult r{status, out.data ? std::string(out.data, out.len) : std::string()};
    provider_->api.free_str(&out);
    return r;
}

CallResult ProviderInstance::begin_connect(std::string_view account, std::string_view request_json) {
    ep_owned_str out{};
    return take(provider_->api.begin_connect(instance_, view(account), view(request_json), &out), out);
}
CallResult ProviderInstance::complete_connect(std::string_view account, std::string_view callback_json) {
    ep_owned_str out{};
    return take(provider_->api.complete_connect(instance_, view(account), view(callback_json), &out), out);
}
CallResult ProviderInstance::status(std::string_view account) {
    ep_owned_str out{};
    return take(provider_->api.get_status(instance_, view(account), &out), out);
}
CallResult ProviderInstance::disconnect(std::string_view account) {
    ep_owned_str out{};
    return take(provider_->api.disconnect(instance_, view(account), &out), out);
}
CallResult ProviderInstance::forget_account(std::string_view account) {
    ep_owned_str out{};
    return take(provider_->api.forget_account(instance_, view(account), &out), out);
}

std::optional<CallResult> refuse_invalid_message(std::string_view message_json, std::string* client_request_id) {
    // The host validates every message with the shared model before any provider sees it
    // (CONTRACT.md EP_HOST_9), so a provider in any language gets well-formed messages only.
    try {
        ep::message::Message m = ep::message::parse_message(message_json);
        if (client_request_id != nullptr) *client_request_id = std::move(m.client_request_id);
        return std::nullopt;
    } catch (const ep::sdk::Error& e) {
        return CallResult{e.status(), ep::sdk::send_refusal_document(e.status(), e.code(), e.what(), e.field())};
    }
}

std::optional<CallResult> ProviderInstance::send(std::string_view account, std::string_view message_json,
                                                 SendDone done) {
    if (auto refusal = refuse_invalid_message(message_json)) return refusal;
    // The context lives until the plugin calls back. It holds no reference to the library:
    // the instance does, and destroy waits for every callback.
    auto ctx = std::make_unique<SendDone>(std::move(done));
    auto trampoline = [](void* c, ep_str result) noexcept {
        std::unique_ptr<SendDone> fn(static_cast<SendDone*>(c));
        try {
            (*fn)(std::string_view(result.data ? result.data : "", result.len));
        } catch (...) {
            // A host callback must not unwind into the plugin's thread.
        }
    };
    ep_owned_str out{};
    ep_status status = provider_->api.send(instance_, view(account), view(message_json), trampoline, ctx.get(), &out);
    if (status == EP_OK) {
        ctx.release();  // owned by the pending callback now
        ep_owned_str ignored = out;
        provider_->api.free_str(&ignored);
        return std::nullopt;
    }
    return take(status, out);
}

void ProviderInstance::check_connection(std::string_view account, CheckDone done) {
    if (can_check()) {
        auto ctx = std::make_unique<CheckDone>(std::move(done));
        auto trampoline = [](void* c, ep_str status) noexcept {
            std::unique_ptr<CheckDone> fn(static_cast<CheckDone*>(c));
            try {
                (*fn)(CallResult{EP_OK, std::string(status.data ? status.data : "", status.len)});
            } catch (...) {
                // A host callback must not unwind into the plugin's thread.
            }
        };
        if (provider_->api.check_connection(instance_, view(account), trampoline, ctx.get()) == EP_OK) {
            ctx.release();  // owned by the pending callback now
            return;
        }
        done = std::move(*ctx);
    }
    // A 1.0 plugin, or one that could not start a check (busy, shutting down): the last known
    // status is the best answer there is.
    done(status(account));
}

CallResult ProviderInstance::sending_limits(std::string_view account) {
    if (provider_->abi_minor < 2 || provider_->api.get_sending_limits == nullptr)
        return CallResult{EP_ERR_UNSUPPORTED,
                          ep::sdk::error_document("unsupported", "the provider declares no sending limits")};
    ep_owned_str out{};
    return take(provider_->api.get_sending_limits(instance_, view(account), &out), out);
}

CallResult Provider::check_blocking(std::string_view account, std::chrono::milliseconds timeout) {
    struct Waiter {
        std::mutex mutex;
        std::condition_variable cv;
        std::optional<CallResult> result;
    };
    auto waiter = std::make_shared<Waiter>();
    check_connection(account, [waiter](CallResult result) {
        std::lock_guard lock(waiter->mutex);
        waiter->result.emplace(std::move(result));
        waiter->cv.notify_all();
    });
    std::unique_lock lock(waiter->mutex);
    if (!waiter->cv.wait_for(lock, timeout, [&] { return waiter->result.has_value(); }))
        // The callback keeps the waiter alive, so the plugin may still answer, unheard.
        return CallResult{
            EP_OK,
            R"({"schema":"ep.status/1","check_failed":{"code":"timeout","message":"the provider did not answer the check within )" +
                std::to_string(timeout.count()) + R"( ms"}})"};
    return *waiter->result;
}

CallResult Provider::send_blocking(std::string_view account, std::string_view message_json) {
    struct Waiter {
        std::mutex mutex;
        std::condition_variable cv;
        std::optional<std::string> result;
    };
    auto waiter = std::make_shared<Waiter>();
    auto refusal = send(account, message_json, [waiter](std::string_view result) {
        std::lock_guard lock(waiter->mutex);
        waiter->result.emplace(result);
        waiter->cv.notify_all();
    });
    if (refusal) return *refusal;
    std::unique_lock lock(waiter->mutex);
    waiter->cv.wait(lock, [&] { return waiter->result.has_value(); });
    return CallResult{EP_OK, *waiter->result};
}

}  // namespace ep::loader
