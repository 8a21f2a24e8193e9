// The Personal Outlook provider: wires configuration, the vault-backed account store, the
// HTTP engine, token lifecycle, connect flows and the send engine behind the SDK interface.
#pragma once

#include "config.hpp"
#include "connect_flow.hpp"
#include "ep_kit/account_store.hpp"
#include "ep_kit/connection_checker.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/send_engine.hpp"
#include "ep_kit/status_fields.hpp"
#include "ep_kit/token_manager.hpp"
#include "ep_kit/work_queue.hpp"
#include "graph_send.hpp"
#include "token_client.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/object.hpp>

#include <memory>

namespace outlook {

class OutlookProvider final : public ep::sdk::Provider {
public:
    OutlookProvider(ep::sdk::Host host, std::string_view config_json);
    ~OutlookProvider() override;

    std::string begin_connect(std::string_view account, std::string_view request_json) override;
    std::string complete_connect(std::string_view account, std::string_view callback_json) override;
    std::string status(std::string_view account) override;
    std::string disconnect(std::string_view account) override;
    std::string forget_account(std::string_view account) override;
    ep::sdk::SendAdmission send(std::string_view account, std::string_view message_json,
                                ep::sdk::SendCallback done) override;
    void check_connection(std::string_view account, ep::sdk::CheckCallback done) override;
    std::string sending_limits(std::string_view account) override;

    // For tests and benchmarks.
    int64_t refresh_requests() const { return tokens_.refresh_requests(); }
    std::size_t cached_tokens() const { return tokens_.cached_accounts(); }

private:
    boost::json::object status_object(std::string_view account) const;
    // The identity request of a connection check, and what Graph's answers mean.
    ConnectionChecker::Probe profile_probe() const;
    void log(ep_log_level level, const std::string& message) const;

    // Declaration order is construction order; destruction runs backwards so that sends and
    // refreshes finish while the threads and engine they need still exist.
    ep::sdk::Host host_;
    OutlookConfig config_;
    AccountStore store_;
    HttpEngine http_;
    WorkQueue work_;
    TokenClient token_client_;
    TokenManager tokens_;
    GraphSend graph_send_;
    SendEngine sends_;
    ConnectFlow connect_;

    ConnectionChecker checks_;  // last: destroyed first, after waiting for checks in flight
};

}  // namespace outlook
