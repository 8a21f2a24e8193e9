// Gmail's users.messages.send for the kit's send engine: the message built for the account's
// address (gmail_mail.hpp), the request in its JSON or upload form, what Gmail's answers mean,
// and what a refused token means for the connection.
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/send_protocol.hpp"
#include "gmail_config.hpp"
#include "uses_kit.hpp"

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gmail {

// Who a connected account sends as: its address and name, read from the stored grant once and
// kept in memory (a send would otherwise unseal the grant). Gmail itself writes the
// authenticated user's address into From, so a stale entry (the account reconnected as another
// Google account in another process) cannot send as the wrong person.
class Senders {
public:
    struct Sender {
        std::string address;
        std::string name;
    };
    Senders(const AccountStore& store, std::size_t capacity) : store_(store), capacity_(capacity) {}

    // nullopt: no connected grant.
    std::optional<Sender> find(std::string_view account) const;
    void forget(std::string_view account) const;

private:
    const AccountStore& store_;
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    mutable std::unordered_map<std::string, Sender> known_;
};

class GmailSend final : public SendProtocol {
public:
    using Clock = std::function<int64_t()>;  // Unix milliseconds, the host's clock
    GmailSend(const GmailConfig& config, const Senders& senders, Clock now)
        : config_(config), senders_(senders), now_(std::move(now)) {}

    PreparedMessage prepare(std::string_view account, const ep::message::Message& message) const override;
    HttpRequest request(const PreparedMessage& message, std::string_view access_token,
                        std::string_view client_request_id) const override;
    bool accepted(const HttpResponse& response) const override { return response.status == 200; }
    // Gmail's id of the sent message.
    std::string request_id(const HttpResponse& response) const override;
    // The threadId of the sent message (ABI 1.2).
    std::string thread_id(const HttpResponse& response) const override;
    SendClassification classify(const HttpResponse& response, bool has_retry_after, int64_t now_unix_ms) const override;
    TokenRefusal token_refused(const HttpResponse& response, const SendClassification& verdict) const override;
    std::string api_name() const override { return "the Gmail API"; }
    std::string mailbox_throttled_message() const override {
        return "Google is limiting how fast this Gmail account can send; the message was not sent. Try again later.";
    }

private:
    const GmailConfig& config_;
    const Senders& senders_;
    Clock now_;
};

// What the stored grant says about the account: a Workspace account (Google gave an hd), a
// consumer one, or unknown (not connected, unreadable).
enum class AccountKind { workspace, consumer, unknown };

// The ep.sending_limits/1 document for an account of this kind; unknown gets the consumer
// limits, the lower ones.
std::string sending_limits_document(AccountKind kind);

}  // namespace gmail
