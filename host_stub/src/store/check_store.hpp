// Connection checks, one record per user and provider shared by every host on the database:
// hosts that share it check each account once, and a restart forgets nothing.
#pragma once

#include <cstdint>
#include <string>

namespace host {

// Every method commits before it returns and throws StoreError on an engine failure.
class CheckStore {
public:
    virtual ~CheckStore() = default;

    // Claims a check unless some host claimed one at or after `unless_claimed_since_ms`.
    virtual bool claim_check(const std::string& user_id, const std::string& provider, int64_t now_ms,
                             int64_t unless_claimed_since_ms) = 0;
    virtual void record_check(const std::string& user_id, const std::string& provider, int64_t checked_ms) = 0;
    virtual int64_t last_checked(const std::string& user_id, const std::string& provider) = 0;  // 0: never
};

}  // namespace host
