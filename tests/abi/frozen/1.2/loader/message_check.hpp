// The validation every provider's send gets first, wherever the provider runs (CONTRACT.md
// EP_HOST_9): shared by ProviderInstance and the isolated provider. Internal to the loader.
#pragma once

#include "email_provider/provider_loader.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ep::loader {

// The refusal (an ep.send_result/1) of a message the shared model finds invalid, else nullopt
// with the message's client_request_id in `client_request_id` when asked for.
std::optional<CallResult> refuse_invalid_message(std::string_view message_json,
                                                 std::string* client_request_id = nullptr);

}  // namespace ep::loader
