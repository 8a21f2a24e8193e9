// What a provider's send API means, told to the kit's send engine by the provider: how a
// message becomes a request, what its answers mean, and the words users see. The send engine
// owns the queue, the per-mailbox limits, throttling, retries and the one refresh after a 401;
// the provider owns its API.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/send_outcome.hpp"
#include "ep_kit/token_manager.hpp"

#include <email_provider/message.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ep::kit {

// A message as its API takes it, built once when the send is accepted and reused by every attempt.
struct PreparedMessage {
    std::shared_ptr<const std::string> body;
    std::string content_type;  // e.g. application/json
    std::string path;          // after the API's base, e.g. /me/sendMail
    // The Message-ID the built message carries (ABI 1.2 threading), reported when it is sent;
    // empty when the provider's service chooses it unseen.
    std::string internet_message_id;
};

// The account has no connection to send from: the send is answered auth_expired, as one that
// found no token would be.
struct NotConnected : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class SendProtocol {
public:
    virtual ~SendProtocol() = default;

    // Validates `message` against the API's own rules and builds its request body for
    // `account`. Throws ep::sdk::Error naming the field, or NotConnected when the body needs
    // the account's connection (its address) and there is none.
    virtual PreparedMessage prepare(std::string_view account, const ep::message::Message& message) const = 0;
    virtual HttpRequest request(const PreparedMessage& message, std::string_view access_token,
                                std::string_view client_request_id) const = 0;

    // The answer that means the API took the message.
    virtual bool accepted(const HttpResponse& response) const = 0;
    // The id the API gave this request or message, for the result and the log; may be empty.
    virtual std::string request_id(const HttpResponse& response) const = 0;
    // The provider's id of the conversation an accepted message went into (ABI 1.2), for a
    // follow-up's thread_id; empty when the API has none (the default).
    virtual std::string thread_id(const HttpResponse& /*accepted*/) const { return {}; }
    virtual SendClassification classify(const HttpResponse& response, bool has_retry_after,
                                        int64_t now_unix_ms) const = 0;

    // The API refused the token (classified auth_expired): whether one fresh token may cure it,
    // and how the connection ends when it does not.
    struct TokenRefusal {
        bool refresh_may_cure = false;
        ConnectionEnd end;
    };
    virtual TokenRefusal token_refused(const HttpResponse& response, const SendClassification& verdict) const = 0;

    // The words users see.
    virtual std::string api_name() const = 0;  // "Microsoft Graph", "the Gmail API"
    virtual std::string mailbox_throttled_message() const = 0;
};

struct SendSettings {
    std::size_t queue_limit = 10'000;
    int max_concurrency_per_mailbox = 4;
    int max_send_attempts = 3;              // only for outcomes that certainly did not take effect
    int64_t max_throttle_wait_ms = 60'000;  // longer waits go back to the host as "throttled"
};

}  // namespace ep::kit
