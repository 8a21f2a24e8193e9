// Microsoft Graph's POST /me/sendMail for the kit's send engine: the request (JSON, or MIME for a
// threaded message), what Graph's answers mean (graph_mail.hpp), and a 401's bearer challenge: a
// claims challenge (continuous access evaluation) is not cured by a refresh
// (outlook_plugin/docs/microsoft-behaviour.md §9).
#pragma once

#include "config.hpp"
#include "ep_kit/account_store.hpp"
#include "ep_kit/send_protocol.hpp"
#include "graph_mail.hpp"
#include "uses_kit.hpp"

#include <functional>
#include <optional>

namespace outlook {

class GraphSend final : public SendProtocol {
public:
    using Clock = std::function<int64_t()>;  // Unix milliseconds, the host's clock
    GraphSend(const OutlookConfig& config, const AccountStore& store, Clock now)
        : config_(config), store_(store), now_(std::move(now)) {}

    PreparedMessage prepare(std::string_view account, const ep::message::Message& message) const override;
    HttpRequest request(const PreparedMessage& message, std::string_view access_token,
                        std::string_view client_request_id) const override;
    bool accepted(const HttpResponse& response) const override { return response.status == 202; }
    std::string request_id(const HttpResponse& response) const override { return response.header("request-id"); }
    SendClassification classify(const HttpResponse& response, bool has_retry_after, int64_t) const override;
    TokenRefusal token_refused(const HttpResponse& response, const SendClassification& verdict) const override;
    std::string api_name() const override { return "Microsoft Graph"; }
    std::string mailbox_throttled_message() const override {
        return "Microsoft is limiting how fast this mailbox can send; the message was not sent. Try again later.";
    }

private:
    // The connected mailbox's address and name, stored from /me when it connected.
    std::optional<Sender> sender(std::string_view account) const;

    const OutlookConfig& config_;
    const AccountStore& store_;
    Clock now_;
};

}  // namespace outlook
