#include "host_services.hpp"

#include "../channel/channel.hpp"

#include <email_provider/message.hpp>

#include <cstddef>
#include <string>

namespace ep::loader::isolated {
namespace {

namespace json = boost::json;
using channel::ProtocolError;

constexpr int64_t kMethodNotFound = -32601;
constexpr int64_t kInvalidParams = -32602;

ep_str view(std::string_view s) { return ep_str{s.data(), s.size()}; }

uint64_t version_member(const json::object& params, std::string_view key) {
    const int64_t v = channel::integer_member(params, key);
    if (v < 0) throw ProtocolError("\"" + std::string(key) + "\" is negative");
    return static_cast<uint64_t>(v);
}

json::object secret_get(const ep_host_api& host, const json::object& params) {
    struct Found {
        std::string value;
        uint64_t version = 0;
    } found;
    auto receive = [](void* ctx, ep_bytes blob, uint64_t version) {
        auto* f = static_cast<Found*>(ctx);
        f->value.assign(reinterpret_cast<const char*>(blob.data), blob.len);
        f->version = version;
    };
    const ep_status status =
        host.secret_get(host.host_ctx, view(channel::string_member(params, "key")), receive, &found);
    json::object result{{"status", status}};
    if (status == EP_OK) {
        result["value"] = ep::message::base64_encode(found.value);
        result["version"] = found.version;
    }
    return result;
}

json::object secret_put(const ep_host_api& host, const json::object& params) {
    const std::optional<std::string> value = ep::message::base64_decode(channel::string_member(params, "value"));
    if (!value) throw ProtocolError("\"value\" is not base64");
    const ep_bytes bytes{reinterpret_cast<const uint8_t*>(value->data()), value->size()};
    uint64_t version = 0;
    const ep_status status = host.secret_put(host.host_ctx, view(channel::string_member(params, "key")), bytes,
                                             version_member(params, "expected_version"), &version);
    json::object result{{"status", status}};
    if (status == EP_OK) result["version"] = version;
    return result;
}

json::object secret_delete(const ep_host_api& host, const json::object& params) {
    return {{"status", host.secret_delete(host.host_ctx, view(channel::string_member(params, "key")),
                                          version_member(params, "expected_version"))}};
}

json::object secret_delete_prefix(const ep_host_api& host, const json::object& params) {
    return {{"status", host.secret_delete_prefix(host.host_ctx, view(channel::string_member(params, "prefix")))}};
}

}  // namespace

void count_host_event(const ep_host_api& host, std::string_view event, std::string_view outcome) {
    if (host.struct_size < offsetof(ep_host_api, count_event) + sizeof host.count_event || !host.count_event) return;
    host.count_event(host.host_ctx, view(event), view(outcome));
}

json::object answer_host_request(const ep_host_api& host, uint64_t id, std::string_view method,
                                 const json::object& params) {
    try {
        if (method == "secret_get") return channel::response(id, secret_get(host, params));
        if (method == "secret_put") return channel::response(id, secret_put(host, params));
        if (method == "secret_delete") return channel::response(id, secret_delete(host, params));
        if (method == "secret_delete_prefix") return channel::response(id, secret_delete_prefix(host, params));
    } catch (const ProtocolError& e) {
        return channel::error_response(id, kInvalidParams, std::string(method) + ": " + e.what());
    }
    return channel::error_response(id, kMethodNotFound, "no host service \"" + std::string(method) + "\"");
}

}  // namespace ep::loader::isolated
