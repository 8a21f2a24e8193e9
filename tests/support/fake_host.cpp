#include "fake_host.hpp"

#include <sstream>

namespace test_support {
namespace {

std::string key_of(ep_str s) { return s.data ? std::string(s.data, s.len) : std::string(); }
FakeHost& self(void* ctx) { return *static_cast<FakeHost*>(ctx); }

}  // namespace

FakeHost::FakeHost() : now_ms_(1'790'000'000'000) {  // 2026-09-21T...
    api_.struct_size = sizeof api_;
    api_.host_ctx = this;
    api_.log = [](void* ctx, ep_log_level level, ep_str message) noexcept {
        auto& h = self(ctx);
        std::lock_guard lock(h.mutex_);
        h.log_.push_back({level, key_of(message)});
    };
    api_.log_enabled = [](void*, ep_log_level) noexcept -> int32_t { return 1; };
#if EP_ABI_VERSION_MINOR >= 3  // also built from released headers, for the frozen-ABI host tests
    api_.count_event = [](void* ctx, ep_str event, ep_str outcome) noexcept {
        auto& h = self(ctx);
        std::lock_guard lock(h.mutex_);
        h.events_.push_back(key_of(event) + "/" + key_of(outcome));
    };
#endif
    api_.now_unix_ms = [](void* ctx) noexcept -> int64_t { return self(ctx).now_ms_.load(); };
    api_.secret_get = [](void* ctx, ep_str key, ep_secret_receiver receiver, void* rctx) noexcept -> ep_status {
        auto& h = self(ctx);
        if (h.fail_store_) return EP_ERR_STORAGE;
        std::vector<uint8_t> copy;
        uint64_t version;
        {
            std::lock_guard lock(h.mutex_);
            auto it = h.store_.find(key_of(key));
            if (it == h.store_.end()) return EP_ERR_NOT_FOUND;
            copy = it->second.value;
            version = it->second.version;
        }
        receiver(rctx, ep_bytes{copy.data(), copy.size()}, version);
        return EP_OK;
    };
    api_.secret_put = [](void* ctx, ep_str key, ep_bytes value, uint64_t expected,
                         uint64_t* new_version) noexcept -> ep_status {
        auto& h = self(ctx);
        if (h.fail_store_) return EP_ERR_STORAGE;
        std::lock_guard lock(h.mutex_);
        auto it = h.store_.find(key_of(key));
        uint64_t current = it == h.store_.end() ? 0 : it->second.version;
        if (current != expected) {
            ++h.conflicts_;
            return EP_ERR_CONFLICT;
        }
        uint64_t v = h.next_version_++;
        h.store_[key_of(key)] = Entry{std::vector<uint8_t>(value.data, value.data + value.len), v};
        *new_version = v;
        ++h.puts_;
        return EP_OK;
    };
    api_.secret_delete = [](void* ctx, ep_str key, uint64_t expected) noexcept -> ep_status {
        auto& h = self(ctx);
        if (h.fail_store_) return EP_ERR_STORAGE;
        std::lock_guard lock(h.mutex_);
        auto it = h.store_.find(key_of(key));
        if (it == h.store_.end()) return EP_OK;
        if (expected != 0 && it->second.version != expected) return EP_ERR_CONFLICT;
        h.store_.erase(it);
        return EP_OK;
    };
    api_.secret_delete_prefix = [](void* ctx, ep_str prefix) noexcept -> ep_status {
        auto& h = self(ctx);
        if (h.fail_store_) return EP_ERR_STORAGE;
        if (prefix.len == 0) return EP_ERR_INVALID_ARGUMENT;
        std::string p = key_of(prefix);
        std::lock_guard lock(h.mutex_);
        for (auto it = h.store_.lower_bound(p); it != h.store_.end() && it->first.compare(0, p.size(), p) == 0;)
            it = h.store_.erase(it);
        return EP_OK;
    };
}

std::map<std::string, std::vector<uint8_t>> FakeHost::secrets() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::vector<uint8_t>> out;
    for (const auto& [k, e] : store_) out[k] = e.value;
    return out;
}

bool FakeHost::has_key(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return store_.count(key) != 0;
}

std::size_t FakeHost::count_prefix(const std::string& prefix) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [k, e] : store_)
        if (k.compare(0, prefix.size(), prefix) == 0) ++n;
    return n;
}

void FakeHost::overwrite(const std::string& key, std::vector<uint8_t> value) {
    std::lock_guard lock(mutex_);
    store_[key] = Entry{std::move(value), next_version_++};
}

std::vector<FakeHost::LogLine> FakeHost::log_lines() const {
    std::lock_guard lock(mutex_);
    return log_;
}

std::vector<std::string> FakeHost::events() const {
    std::lock_guard lock(mutex_);
    return events_;
}

std::string FakeHost::log_text() const {
    std::ostringstream out;
    for (const auto& l : log_lines()) out << l.message << "\n";
    return out.str();
}

}  // namespace test_support
