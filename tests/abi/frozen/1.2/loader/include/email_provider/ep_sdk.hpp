// ep_sdk.hpp — a thin, header-only C++ layer for writing providers against ep_abi.h.
//
// A provider is a class deriving from ep::sdk::Provider, constructed from
// (ep::sdk::Host, std::string_view config_json), plus one line:
//
//     EP_DECLARE_PROVIDER(MyProvider, "My provider", "1.2.3", EP_CAP_HTML_BODY);
//
// The macro defines the exported ep_negotiate() and a static ep_provider_api whose every
// entry is a noexcept firewall: exceptions (ep::sdk::Error, std::bad_alloc, anything else)
// become an ep_status plus an error document, never an unwind across the C boundary.
//
// This header depends only on the C++20 standard library: plugin authors may use any JSON
// library they like, so the few JSON strings the SDK writes itself (error documents) are
// escaped here by hand.
#pragma once

#include <email_provider/ep_abi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ep::sdk {

inline ep_str to_ep(std::string_view s) noexcept { return ep_str{s.data(), s.size()}; }
inline std::string_view to_view(ep_str s) noexcept {
    return s.data ? std::string_view(s.data, s.len) : std::string_view();
}

// ---- JSON text helpers (error documents only) ------------------------------------------

// Appends `s` as a JSON string literal (with quotes) to `out`.
inline void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
}

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
inline bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        unsigned char c = *p++;
        if (c < 0x80) continue;
        int extra;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07u;
        } else
            return false;
        if (end - p < extra) return false;
        for (int i = 0; i < extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        p += extra;
        static constexpr uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    }
    return true;
}

// ---- Errors ------------------------------------------------------------------------------

// What a provider throws to fail a call with a specific status. `code` is a stable,
// machine-readable word (snake_case); `message` is for people and must not hold secrets;
// `field` names the offending input (a JSON path such as "to[2].address"), if any.
class Error : public std::runtime_error {
public:
    Error(ep_status status, std::string code, const std::string& message, std::string field = {})
        : std::runtime_error(message), status_(status), code_(std::move(code)), field_(std::move(field)) {}
    ep_status status() const noexcept { return status_; }
    const std::string& code() const noexcept { return code_; }
    const std::string& field() const noexcept { return field_; }

private:
    ep_status status_;
    std::string code_;
    std::string field_;
};

// Appends "code":...,"message":...[,"field":...] (the last only when there is one).
inline void append_error_fields(std::string& doc, std::string_view code, std::string_view message,
                                std::string_view field) {
    doc += "\"code\":";
    append_json_string(doc, code);
    doc += ",\"message\":";
    append_json_string(doc, message);
    if (!field.empty()) {
        doc += ",\"field\":";
        append_json_string(doc, field);
    }
}

// {"error":{"code":...,"message":...,"field":...}}
inline std::string error_document(std::string_view code, std::string_view message, std::string_view field = {}) {
    std::string doc = "{\"error\":{";
    append_error_fields(doc, code, message, field);
    return doc + "}}";
}

// The send-result document of a send that was not accepted: invalid input is "rejected"
// (resending the same will not help); anything else was certainly not sent: "transient".
inline std::string send_refusal_document(ep_status status, std::string_view code, std::string_view message,
                                         std::string_view field) {
    std::string doc = "{\"schema\":\"ep.send_result/1\",\"outcome\":";
    doc += status == EP_ERR_INVALID_ARGUMENT ? "\"rejected\"," : "\"transient\",";
    append_error_fields(doc, code, message, field);
    return doc + "}";
}

// Account ids are opaque to providers but must be usable as store keys and in logs.
inline void check_account_id(ep_str account) {
    if (account.data == nullptr && account.len != 0)
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_account", "account id has a NULL pointer with a nonzero length",
                    "account");
    std::string_view a = to_view(account);
    if (a.empty()) throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_account", "account id is empty", "account");
    if (a.size() > 256)
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_account", "account id is longer than 256 bytes", "account");
    if (!is_valid_utf8(a))
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_account", "account id is not valid UTF-8", "account");
    for (unsigned char c : a)
        if (c < 0x20 || c == 0x7F)
            throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_account", "account id contains a control character",
                        "account");
}

inline std::string_view checked_document(ep_str doc, const char* what) {
    if (doc.data == nullptr && doc.len != 0)
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_document",
                    std::string(what) + " has a NULL pointer with a nonzero length", what);
    std::string_view v = to_view(doc);
    if (!is_valid_utf8(v))
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_document", std::string(what) + " is not valid UTF-8", what);
    return v;
}

// ---- Host services -----------------------------------------------------------------------

// A copy of the host's table, adopted by struct_size (fields the host does not know are NULL).
class Host {
public:
    struct Blob {
        std::vector<uint8_t> bytes;
        uint64_t version = 0;
    };

    explicit Host(const ep_host_api* api) {
        if (api == nullptr || api->struct_size < required_size())
            throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_host_api", "host services table is missing or too small",
                        "host");
        std::memcpy(&api_, api, std::min<std::size_t>(api->struct_size, sizeof api_));
        if (!api_.log || !api_.log_enabled || !api_.now_unix_ms || !api_.secret_get || !api_.secret_put ||
            !api_.secret_delete || !api_.secret_delete_prefix)
            throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_host_api", "host services table has a NULL function", "host");
    }

    void log(ep_log_level level, std::string_view message) const noexcept {
        api_.log(api_.host_ctx, level, to_ep(message));
    }
    bool log_enabled(ep_log_level level) const noexcept { return api_.log_enabled(api_.host_ctx, level) != 0; }
    int64_t now_unix_ms() const noexcept { return api_.now_unix_ms(api_.host_ctx); }

    // nullopt when absent; throws Error(EP_ERR_STORAGE) when the store fails.
    std::optional<Blob> secret_get(std::string_view key) const {
        Blob blob;
        auto receive = [](void* ctx, ep_bytes b, uint64_t version) noexcept {
            auto* out = static_cast<Blob*>(ctx);
            try {
                out->bytes.assign(b.data, b.data + b.len);
                out->version = version;
            } catch (...) {
                out->version = 0;  // reported below as a storage failure
            }
        };
        ep_status s = api_.secret_get(api_.host_ctx, to_ep(key), receive, &blob);
        if (s == EP_ERR_NOT_FOUND) return std::nullopt;
        if (s != EP_OK || blob.version == 0)
            throw Error(EP_ERR_STORAGE, "storage", "the host's secret store failed to read");
        return blob;
    }

    // Compare-and-swap. Returns the new version, or nullopt on a version conflict.
    std::optional<uint64_t> secret_put(std::string_view key, const std::vector<uint8_t>& value,
                                       uint64_t expected_version) const {
        uint64_t version = 0;
        ep_status s = api_.secret_put(api_.host_ctx, to_ep(key), ep_bytes{value.data(), value.size()}, expected_version,
                                      &version);
        if (s == EP_ERR_CONFLICT) return std::nullopt;
        if (s != EP_OK) throw Error(EP_ERR_STORAGE, "storage", "the host's secret store failed to write");
        return version;
    }

    // Returns false on a version conflict.
    bool secret_delete(std::string_view key, uint64_t expected_version = 0) const {
        ep_status s = api_.secret_delete(api_.host_ctx, to_ep(key), expected_version);
        if (s == EP_ERR_CONFLICT) return false;
        if (s != EP_OK) throw Error(EP_ERR_STORAGE, "storage", "the host's secret store failed to delete");
        return true;
    }

    void secret_delete_prefix(std::string_view prefix) const {
        if (api_.secret_delete_prefix(api_.host_ctx, to_ep(prefix)) != EP_OK)
            throw Error(EP_ERR_STORAGE, "storage", "the host's secret store failed to delete");
    }

private:
    static constexpr std::size_t required_size() {
        return offsetof(ep_host_api, secret_delete_prefix) + sizeof(ep_host_api::secret_delete_prefix);
    }
    ep_host_api api_{};
};

// ---- Sends -------------------------------------------------------------------------------

// The host's completion callback for one send. Move-only; calling it a second time does
// nothing, which makes "exactly once" easy to keep.
class SendCallback {
public:
    SendCallback(ep_send_callback fn, void* ctx) noexcept : fn_(fn), ctx_(ctx) {}
    SendCallback(SendCallback&& o) noexcept : fn_(std::exchange(o.fn_, nullptr)), ctx_(o.ctx_) {}
    SendCallback& operator=(SendCallback&& o) noexcept {
        fn_ = std::exchange(o.fn_, nullptr);
        ctx_ = o.ctx_;
        return *this;
    }
    SendCallback(const SendCallback&) = delete;
    SendCallback& operator=(const SendCallback&) = delete;

    void operator()(std::string_view result_json) noexcept {
        if (auto fn = std::exchange(fn_, nullptr)) fn(ctx_, to_ep(result_json));
    }
    explicit operator bool() const noexcept { return fn_ != nullptr; }

private:
    ep_send_callback fn_;
    void* ctx_;
};

// The host's completion callback for one connection check (ABI 1.1): the same shape as a
// send's, so the same exactly-once wrapper.
using CheckCallback = SendCallback;

// The answer of Provider::send: accepted (the callback will run), or refused with a status
// and a send-result document (the callback has been dropped without being called).
struct SendAdmission {
    ep_status status = EP_OK;
    std::string document;
    static SendAdmission accepted() { return {}; }
};

// ---- The provider interface --------------------------------------------------------------

// THREADING (ep_abi.h, CONTRACT.md EP_PLUGIN_6): the host may call every method below
// concurrently, from any of its threads, on the same instance and for the same account; make
// each one thread-safe. Only the destructor (the ABI's destroy) never overlaps another call;
// it must wait for the sends it accepted and call their callbacks (or cancel them as
// "transient") before it returns. The constructor runs before any method.
class Provider {
public:
    virtual ~Provider() = default;
    // Each returns the result document (see SCHEMAS.md) or throws Error.
    virtual std::string begin_connect(std::string_view account, std::string_view request_json) = 0;
    virtual std::string complete_connect(std::string_view account, std::string_view callback_json) = 0;
    virtual std::string status(std::string_view account) = 0;
    virtual std::string disconnect(std::string_view account) = 0;
    virtual std::string forget_account(std::string_view account) = 0;
    // Must either keep `done` and return accepted(), or drop it uncalled and return a
    // refusal. If it throws, it must not have kept `done`.
    virtual SendAdmission send(std::string_view account, std::string_view message_json, SendCallback done) = 0;
    // ABI 1.1: find out whether a send now would go out (refresh the grant, ask the service)
    // and call `done` once, later, on a provider thread, with a status document carrying
    // checked_at. If it throws, it must not have kept `done`. The default checks nothing and
    // says so; hosts then fall back to status().
    virtual void check_connection(std::string_view /*account*/, CheckCallback /*done*/) {
        throw Error(EP_ERR_UNSUPPORTED, "unsupported", "this provider does not check connections");
    }
    // ABI 1.2: the account's ep.sending_limits/1 document (SCHEMAS.md). Never blocks on the
    // network. The default declares none, and hosts then pace nothing.
    virtual std::string sending_limits(std::string_view /*account*/) {
        throw Error(EP_ERR_UNSUPPORTED, "unsupported", "this provider declares no sending limits");
    }
};

// A Unix-milliseconds time as the documents write their `*_at` times (SCHEMAS.md): ISO 8601
// UTC to the second, "2026-11-30T09:05:00Z". "" for 0 or less, which the documents use for
// "never".
inline std::string iso_time(int64_t unix_ms) {
    if (unix_ms <= 0) return {};
    std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace detail {

inline constexpr uint32_t kInstanceMagic = 0x45504931;  // "EPI1"

}  // namespace detail
}  // namespace ep::sdk

// The concrete definition of the ABI's opaque handle, private to each plugin.
struct ep_instance {
    uint32_t magic = ep::sdk::detail::kInstanceMagic;
    ep::sdk::Provider* provider = nullptr;
};

namespace ep::sdk::detail {

// Hands `s` to the host as an ep_owned_str. False when it could not be allocated: `out` is
// then empty, and the caller must not report success with a document that is not there.
[[nodiscard]] inline bool set_owned(ep_owned_str* out, std::string_view s) noexcept {
    if (out == nullptr) return true;
    out->data = nullptr;
    out->len = 0;
    if (s.empty()) return true;
    char* p = new (std::nothrow) char[s.size() + 1];
    if (p == nullptr) return false;
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    out->data = p;
    out->len = s.size();
    return true;
}

// For error paths, where the status already says what went wrong: a document that cannot be
// allocated is left out.
inline void set_owned_if_possible(ep_owned_str* out, std::string_view s) noexcept { (void)set_owned(out, s); }

inline void EP_CALL free_str(ep_owned_str* s) noexcept {
    if (s == nullptr) return;
    delete[] s->data;
    s->data = nullptr;
    s->len = 0;
}

// The exception firewall around every export.
template <class Body>
ep_status guard(ep_owned_str* out, Body&& body) noexcept {
    try {
        return body();
    } catch (const Error& e) {
        try {
            set_owned_if_possible(out, error_document(e.code(), e.what(), e.field()));
        } catch (...) {}
        return e.status();
    } catch (const std::bad_alloc&) {
        set_owned_if_possible(out, "{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory\"}}");
        return EP_ERR_NO_MEMORY;
    } catch (const std::exception& e) {
        try {
            set_owned_if_possible(out, error_document("internal", e.what()));
        } catch (...) {}
        return EP_ERR_INTERNAL;
    } catch (...) {
        set_owned_if_possible(out, "{\"error\":{\"code\":\"internal\",\"message\":\"unknown failure\"}}");
        return EP_ERR_INTERNAL;
    }
}

inline Provider& provider_of(ep_instance* instance) {
    if (instance == nullptr || instance->magic != kInstanceMagic || instance->provider == nullptr)
        throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_instance",
                    "instance handle is NULL or not an instance of this provider", "instance");
    return *instance->provider;
}

template <class P>
struct Exports {
    static ep_status EP_CALL create(const ep_host_api* host, ep_str config, ep_instance** instance,
                                    ep_owned_str* out) noexcept {
        if (instance) *instance = nullptr;
        return guard(out, [&] {
            if (instance == nullptr)
                throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_argument", "instance out-pointer is NULL", "instance");
            Host h(host);
            auto handle = std::make_unique<ep_instance>();
            auto provider = std::make_unique<P>(h, checked_document(config, "config"));
            handle->provider = provider.release();
            *instance = handle.release();
            if (out) *out = ep_owned_str{nullptr, 0};
            return EP_OK;
        });
    }
    static void EP_CALL destroy(ep_instance* instance) noexcept {
        if (instance == nullptr || instance->magic != kInstanceMagic) return;
        delete instance->provider;  // providers' destructors must not throw
        instance->magic = 0;
        delete instance;
    }
    template <class Fn>
    static ep_status account_call(ep_instance* instance, ep_str account, ep_owned_str* out, Fn&& fn) noexcept {
        return guard(out, [&] {
            Provider& p = provider_of(instance);
            check_account_id(account);
            if (!set_owned(out, fn(p, to_view(account)))) throw std::bad_alloc();
            return EP_OK;
        });
    }
    static ep_status EP_CALL begin_connect(ep_instance* i, ep_str a, ep_str request, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [&](Provider& p, std::string_view acc) {
            return p.begin_connect(acc, checked_document(request, "request"));
        });
    }
    static ep_status EP_CALL complete_connect(ep_instance* i, ep_str a, ep_str callback, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [&](Provider& p, std::string_view acc) {
            return p.complete_connect(acc, checked_document(callback, "callback"));
        });
    }
    static ep_status EP_CALL get_status(ep_instance* i, ep_str a, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [](Provider& p, std::string_view acc) { return p.status(acc); });
    }
    static ep_status EP_CALL disconnect(ep_instance* i, ep_str a, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [](Provider& p, std::string_view acc) { return p.disconnect(acc); });
    }
    static ep_status EP_CALL forget_account(ep_instance* i, ep_str a, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [](Provider& p, std::string_view acc) { return p.forget_account(acc); });
    }
    static ep_status EP_CALL get_sending_limits(ep_instance* i, ep_str a, ep_owned_str* out) noexcept {
        return account_call(i, a, out, [](Provider& p, std::string_view acc) { return p.sending_limits(acc); });
    }
    static ep_status EP_CALL send(ep_instance* i, ep_str a, ep_str message, ep_send_callback cb, void* ctx,
                                  ep_owned_str* out) noexcept {
        // A refused send always answers with a send-result document, never an error document,
        // so hosts read one shape whatever went wrong.
        try {
            Provider& p = provider_of(i);
            check_account_id(a);
            if (cb == nullptr)
                throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_argument", "send callback is NULL", "callback");
            SendAdmission admission = p.send(to_view(a), checked_document(message, "message"), SendCallback(cb, ctx));
            // An accepted send stays accepted (its callback will run) even when its informational
            // document cannot be allocated; a refusal without its document is still a refusal.
            set_owned_if_possible(out, admission.document);
            return admission.status;
        } catch (const Error& e) {
            try {
                set_owned_if_possible(out, send_refusal_document(e.status(), e.code(), e.what(), e.field()));
            } catch (...) {}
            return e.status();
        } catch (const std::bad_alloc&) {
            set_owned_if_possible(
                out,
                "{\"schema\":\"ep.send_result/1\",\"outcome\":\"transient\",\"code\":\"no_memory\",\"message\":\"out "
                "of memory\"}");
            return EP_ERR_NO_MEMORY;
        } catch (const std::exception& e) {
            try {
                set_owned_if_possible(out, send_refusal_document(EP_ERR_INTERNAL, "internal", e.what(), ""));
            } catch (...) {}
            return EP_ERR_INTERNAL;
        } catch (...) {
            set_owned_if_possible(
                out,
                "{\"schema\":\"ep.send_result/"
                "1\",\"outcome\":\"transient\",\"code\":\"internal\",\"message\":\"unknown failure\"}");
            return EP_ERR_INTERNAL;
        }
    }
    static ep_status EP_CALL check_connection(ep_instance* i, ep_str a, ep_check_callback cb, void* ctx) noexcept {
        return guard(nullptr, [&] {
            Provider& p = provider_of(i);
            check_account_id(a);
            if (cb == nullptr)
                throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_argument", "check callback is NULL", "callback");
            p.check_connection(to_view(a), CheckCallback(cb, ctx));
            return EP_OK;
        });
    }

    static constexpr ep_provider_api table(uint64_t capabilities) {
        ep_provider_api t{};
        t.struct_size = sizeof(ep_provider_api);
        t.abi_major = EP_ABI_VERSION_MAJOR;
        t.abi_minor = EP_ABI_VERSION_MINOR;
        t.capabilities = capabilities;
        t.create = &create;
        t.destroy = &destroy;
        t.begin_connect = &begin_connect;
        t.complete_connect = &complete_connect;
        t.get_status = &get_status;
        t.disconnect = &disconnect;
        t.forget_account = &forget_account;
        t.send = &send;
        t.free_str = &free_str;
        t.check_connection = &check_connection;
        t.get_sending_limits = &get_sending_limits;
        return t;
    }
};

// The plugin half of negotiation: answer what we implement; refuse another major.
inline ep_status negotiate(ep_negotiation* io, const ep_provider_api* table, uint16_t abi_major, uint16_t abi_minor,
                           const char* name, const char* version) noexcept {
    constexpr std::size_t needed = offsetof(ep_negotiation, provider_version) + sizeof(io->provider_version);
    if (io == nullptr || io->struct_size < needed) return EP_ERR_INVALID_ARGUMENT;
    io->plugin_abi_major = abi_major;
    io->plugin_abi_minor = abi_minor;
    io->provider_name = name;
    io->provider_version = version;
    if (io->host_abi_major != abi_major) {
        io->provider = nullptr;
        return EP_ERR_INCOMPATIBLE;
    }
    io->provider = table;
    return EP_OK;
}

}  // namespace ep::sdk::detail

// Defines the plugin's exported entry point for provider class `ProviderClass`.
#define EP_DECLARE_PROVIDER(ProviderClass, name, version, capabilities)                                             \
    extern "C" EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io) {                                       \
        static constexpr ep_provider_api table = ::ep::sdk::detail::Exports<ProviderClass>::table(capabilities);    \
        return ::ep::sdk::detail::negotiate(io, &table, EP_ABI_VERSION_MAJOR, EP_ABI_VERSION_MINOR, name, version); \
    }
