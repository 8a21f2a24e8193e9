// When held nudges are stranded for their provider, and when they may go out again.
//
// A held nudge waits for its user to be connected again to the provider it was queued for. It
// cannot when that provider was removed from this host, is not available on it, or is no
// longer the user's choice: then it is stranded, with the reason (a stranded:: code) and a
// message for the user, until the user or an operator requeues or fails it. Once the provider
// is back and the user's choice again, the stranding is lifted and the nudges wait for a
// reconnect like any other held nudge. (Nudges queued from another mailbox than the one now
// connected are stranded as mailbox_changed by HostStore::release_held, until the user
// confirms.) Held nudges are released only after a check confirms the connection; a check
// that did not is not repeated for a while, since each costs the provider a token request.
#pragma once

#include "providers/provider_set.hpp"
#include "store/host_store.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace host {

struct Stranding {
    std::string_view code;  // stranded::
    std::string message;    // for the user: what happened and what they can do
};

// Why a user's held nudges for `provider` cannot wait for a reconnect. `entry` is that provider
// on this host (null: removed), `current_provider` the user's choice now and `current` its
// handle (null when there is none). nullopt: they wait for a reconnect, stranded no more.
std::optional<Stranding> stranding_of(const std::string& provider, const ProviderHandle* entry,
                                      const std::string& current_provider, const ProviderHandle* current);

// When a user's held nudges for a provider may be checked for release again, after a check
// that did not confirm the connection.
class ReleaseRetries {
public:
    static constexpr int64_t kRetryMs = 60000;

    bool may_check(const std::string& user_id, const std::string& provider, int64_t now_ms) const;
    // The outcome of a check at `now_ms`: confirmed, the next may come at once; not, in kRetryMs.
    void checked(const std::string& user_id, const std::string& provider, bool confirmed, int64_t now_ms);

private:
    std::map<std::pair<std::string, std::string>, int64_t> retry_at_;  // (user, provider) -> host clock
};

}  // namespace host
