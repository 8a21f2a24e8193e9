// The parts of ep.status/1 every provider writes the same way from its stored grant, and the
// bookkeeping of connection checks in flight (an instance must not be destroyed under one).
#pragma once

#include "ep_kit/account_store.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace ep::kit {

// A status time (ISO 8601, UTC); null for 0, a time never recorded.
boost::json::value iso_time_or_null(int64_t unix_ms);

// The state a stored grant puts the account in: who is connected (email, display_name); when
// connected, the granted scopes, extra_permissions, connected_at and last_refresh (or
// configuration_error while an operator error stands); when ended, reason, message, code and
// since. The provider adds its own fields (where to revoke, its organisation, approvals).
void describe_stored_grant(boost::json::object& status, const GrantRecord& record);

// The answer of a connection check: the status, with checked_at when the service answered, or
// check_failed {code, message} (redacted) and the last known state when it could not be asked.
void mark_checked(boost::json::object& status, int64_t now_unix_ms, std::string_view failed_code,
                  std::string_view failed_message);

// Counts connection checks in flight; the provider's destructor waits for the last one.
class ChecksInFlight {
public:
    void begin();
    void end();  // last thing a check does: nothing may touch the provider afterwards
    void wait_until_idle();

private:
    std::mutex mutex_;
    std::condition_variable idle_;
    int in_flight_ = 0;
};

}  // namespace ep::kit
