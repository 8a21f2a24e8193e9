#include "providers/host_services.hpp"

#include <array>
#include <chrono>

namespace host {
namespace {

std::string_view view(ep_str s) { return s.data ? std::string_view(s.data, s.len) : std::string_view(); }

// plugin_api/SCHEMAS.md "events": each event the host counts, with the outcomes it knows.
struct KnownEvent {
    std::string_view name;
    std::array<std::string_view, 7> outcomes;
};
constexpr std::array<KnownEvent, 1> kKnownEvents{{
    {"token_refresh",
     {"ok", "invalid_grant", "interaction_required", "permission_denied", "configuration_error", "transient",
      "conflict"}},
}};
constexpr std::string_view kOtherOutcome = "other";

}  // namespace

Clock system_clock() {
    return [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
}

void EventSinkSlot::set(EventSink sink) {
    auto shared = sink ? std::make_shared<const EventSink>(std::move(sink)) : nullptr;
    std::lock_guard lock(mutex_);
    sink_ = std::move(shared);
}

std::optional<std::string_view> counted_outcome(std::string_view event, std::string_view outcome) {
    for (const KnownEvent& known : kKnownEvents) {
        if (known.name != event) continue;
        for (std::string_view o : known.outcomes)
            if (o == outcome) return o;
        return kOtherOutcome;
    }
    return std::nullopt;
}

void EventSinkSlot::count(std::string_view provider_id, std::string_view event, std::string_view outcome) const {
    const std::optional<std::string_view> counted = counted_outcome(event, outcome);
    if (!counted) return;
    std::shared_ptr<const EventSink> sink;
    {
        std::lock_guard lock(mutex_);
        sink = sink_;
    }
    // Called outside the lock: a sink may take its own (the metrics registry's).
    if (sink) (*sink)(provider_id, event, *counted);
}

HostServices::HostServices(std::string provider_id, SecretStore& store, Logger& logger, Clock clock,
                           std::shared_ptr<const EventSinkSlot> events)
    : provider_id_(std::move(provider_id)),
      prefix_(provider_id_ + "/"),
      store_(store),
      logger_(logger),
      clock_(std::move(clock)),
      events_(std::move(events)) {
    api_.struct_size = sizeof api_;
    api_.host_ctx = this;
    // Every service is noexcept at the boundary: store failures become EP_ERR_STORAGE and are
    // logged here with the cause (the plugin only sees the status).
    lend_log_and_clock();
    lend_secret_store();
    lend_event_counter();
}

void HostServices::lend_event_counter() {
    api_.count_event = [](void* ctx, ep_str event, ep_str outcome) noexcept {
        auto& s = self(ctx);
        if (!s.events_) return;
        try {
            s.events_->count(s.provider_id_, view(event), view(outcome));
        } catch (...) {
            // A sink that fails loses the count, never the plugin's work.
        }
    };
}

void HostServices::lend_log_and_clock() {
    api_.log = [](void* ctx, ep_log_level level, ep_str message) noexcept {
        try {
            auto& s = self(ctx);
            s.logger_.log(level, s.provider_id_, view(message));
        } catch (...) {}
    };
    api_.log_enabled = [](void* ctx, ep_log_level level) noexcept -> int32_t {
        return self(ctx).logger_.enabled(level) ? 1 : 0;
    };
    api_.now_unix_ms = [](void* ctx) noexcept -> int64_t {
        try {
            return self(ctx).clock_();
        } catch (...) {
            return 0;
        }
    };
}

void HostServices::lend_secret_store() {
    api_.secret_get = [](void* ctx, ep_str key, ep_secret_receiver receiver, void* receiver_ctx) noexcept -> ep_status {
        auto& s = self(ctx);
        if (receiver == nullptr || (key.data == nullptr && key.len != 0) || key.len == 0)
            return EP_ERR_INVALID_ARGUMENT;
        try {
            auto entry = s.store_.get(s.namespaced(view(key)));
            if (!entry) return EP_ERR_NOT_FOUND;
            receiver(receiver_ctx, ep_bytes{entry->value.data(), entry->value.size()}, entry->version);
            return EP_OK;
        } catch (const std::exception& e) {
            s.logger_.log(EP_LOG_ERROR, "host", std::string("secret store read failed: ") + e.what());
            return EP_ERR_STORAGE;
        }
    };
    api_.secret_put = [](void* ctx, ep_str key, ep_bytes value, uint64_t expected,
                         uint64_t* new_version) noexcept -> ep_status {
        auto& s = self(ctx);
        if (new_version == nullptr || key.len == 0 || key.data == nullptr || (value.data == nullptr && value.len != 0))
            return EP_ERR_INVALID_ARGUMENT;
        try {
            auto v = s.store_.put(s.namespaced(view(key)), std::span<const uint8_t>(value.data, value.len), expected);
            if (!v) return EP_ERR_CONFLICT;
            *new_version = *v;
            return EP_OK;
        } catch (const std::exception& e) {
            s.logger_.log(EP_LOG_ERROR, "host", std::string("secret store write failed: ") + e.what());
            return EP_ERR_STORAGE;
        }
    };
    api_.secret_delete = [](void* ctx, ep_str key, uint64_t expected) noexcept -> ep_status {
        auto& s = self(ctx);
        if (key.len == 0 || key.data == nullptr) return EP_ERR_INVALID_ARGUMENT;
        try {
            return s.store_.erase(s.namespaced(view(key)), expected) ? EP_OK : EP_ERR_CONFLICT;
        } catch (const std::exception& e) {
            s.logger_.log(EP_LOG_ERROR, "host", std::string("secret store delete failed: ") + e.what());
            return EP_ERR_STORAGE;
        }
    };
    api_.secret_delete_prefix = [](void* ctx, ep_str prefix) noexcept -> ep_status {
        auto& s = self(ctx);
        if (prefix.len == 0 || prefix.data == nullptr) return EP_ERR_INVALID_ARGUMENT;
        try {
            s.store_.erase_prefix(s.namespaced(view(prefix)));
            return EP_OK;
        } catch (const std::exception& e) {
            s.logger_.log(EP_LOG_ERROR, "host", std::string("secret store delete failed: ") + e.what());
            return EP_ERR_STORAGE;
        }
    };
}

}  // namespace host
