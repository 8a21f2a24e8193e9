#include "ep_kit/send_outcome.hpp"

namespace ep::kit {

const char* to_string(SendOutcome outcome) noexcept {
    switch (outcome) {
        case SendOutcome::sent:
            return "sent";
        case SendOutcome::rejected:
            return "rejected";
        case SendOutcome::auth_expired:
            return "auth_expired";
        case SendOutcome::throttled:
            return "throttled";
        case SendOutcome::transient:
            return "transient";
        case SendOutcome::indeterminate:
            return "indeterminate";
    }
    return "unknown";
}

}  // namespace ep::kit
