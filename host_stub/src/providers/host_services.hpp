// The ep_host_api table the host lends to one provider instance: logging tagged with the
// provider id, the host clock, and the secret store with every key namespaced under the
// provider id (so providers never see each other's secrets).
#pragma once

#include "core/logger.hpp"
#include "store/secret_store.hpp"

#include <email_provider/ep_abi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace host {

using Clock = std::function<int64_t()>;  // Unix milliseconds
Clock system_clock();

// Receives the events providers count (ABI 1.3 count_event), e.g. for the host's metrics. The
// event and outcome are words of plugin_api/SCHEMAS.md "events", never what a plugin made up.
using EventSink = std::function<void(std::string_view provider_id, std::string_view event, std::string_view outcome)>;

// The outcome as the host counts it: `outcome` itself when plugin_api/SCHEMAS.md "events" lists
// it for `event`, else "other"; nullopt for an event the host does not count.
std::optional<std::string_view> counted_outcome(std::string_view event, std::string_view outcome);

// The sink every provider's services pass their events to, which the host runtime may set (or
// replace) at any time, while providers run. Until it is set, events are dropped.
class EventSinkSlot {
public:
    void set(EventSink sink);
    // Passes on an event of the vocabulary; drops an unknown event, and an unknown outcome
    // becomes "other", so that no plugin can grow the host's metrics without bound.
    void count(std::string_view provider_id, std::string_view event, std::string_view outcome) const;

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const EventSink> sink_;
};

class HostServices {
public:
    HostServices(std::string provider_id, SecretStore& store, Logger& logger, Clock clock,
                 std::shared_ptr<const EventSinkSlot> events = nullptr);
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    const ep_host_api* api() const { return &api_; }
    // The store key a provider's key maps to (for host-side inspection and deletion).
    std::string namespaced(std::string_view key) const { return prefix_ + std::string(key); }

private:
    static HostServices& self(void* ctx) { return *static_cast<HostServices*>(ctx); }
    // The table's entries, in three groups: the log and the clock, the secret store, the events.
    void lend_log_and_clock();
    void lend_secret_store();
    void lend_event_counter();

    std::string provider_id_;
    std::string prefix_;
    SecretStore& store_;
    Logger& logger_;
    Clock clock_;
    std::shared_ptr<const EventSinkSlot> events_;
    ep_host_api api_{};
};

}  // namespace host
