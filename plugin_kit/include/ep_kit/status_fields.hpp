// The parts of ep.status/1 every provider writes the same way from its stored grant.
#pragma once

#include "ep_kit/account_store.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace ep::kit {

// A status time (ISO 8601, UTC); null for 0, a time never recorded.
boost::json::value iso_time_or_null(int64_t unix_ms);

// The state a stored grant puts the account in: who is connected (email, display_name); when
// connected, the granted scopes, extra_permissions, connected_at and last_refresh (or
// configuration_error while an operator error stands); when ended, reason, message, code and
// since. The provider adds its own fields (where to revoke, its organisation, approvals).
void describe_stored_grant(boost::json::object& status, const GrantRecord& record);

// A stored grant that cannot be read (ep::kit::UnreadableGrant): expired, reason storage.
void describe_unreadable(boost::json::object& status, const std::string& problem);

// The answer of a connection check: the status, with checked_at when the service answered, or
// check_failed {code, message} (redacted) and the last known state when it could not be asked.
void mark_checked(boost::json::object& status, int64_t now_unix_ms, std::string_view failed_code,
                  std::string_view failed_message);

}  // namespace ep::kit
