// Microsoft Graph's POST /me/sendMail for the kit's send engine: the request, what Graph's
// answers mean (graph_mail.hpp), and a 401's bearer challenge: a claims challenge (continuous
// access evaluation) is not cured by a refresh (outlook_plugin/docs/microsoft-behaviour.md §9).
#pragma once

#include "config.hpp"
#include "ep_kit/send_protocol.hpp"
#include "uses_kit.hpp"

namespace outlook {

class GraphSend final : public SendProtocol {
public:
    explicit GraphSend(const OutlookConfig& config) : config_(config) {}

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
    const OutlookConfig& config_;
};

}  // namespace outlook
