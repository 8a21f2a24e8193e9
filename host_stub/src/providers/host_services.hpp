// The ep_host_api table the host lends to one provider instance: logging tagged with the
// provider id, the host clock, and the secret store with every key namespaced under the
// provider id (so providers never see each other's secrets).
#pragma once

#include "core/logger.hpp"
#include "store/secret_store.hpp"

#include <email_provider/ep_abi.h>

#include <cstdint>
#include <functional>
#include <string>

namespace host {

using Clock = std::function<int64_t()>;  // Unix milliseconds
Clock system_clock();

class HostServices {
public:
    HostServices(std::string provider_id, SecretStore& store, Logger& logger, Clock clock);
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    const ep_host_api* api() const { return &api_; }
    // The store key a provider's key maps to (for host-side inspection and deletion).
    std::string namespaced(std::string_view key) const { return prefix_ + std::string(key); }

private:
    static HostServices& self(void* ctx) { return *static_cast<HostServices*>(ctx); }
    // The table's entries, in two groups: the log and the clock, and the secret store.
    void lend_log_and_clock();
    void lend_secret_store();

    std::string provider_id_;
    std::string prefix_;
    SecretStore& store_;
    Logger& logger_;
    Clock clock_;
    ep_host_api api_{};
};

}  // namespace host
