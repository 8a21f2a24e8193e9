// The Personal Gmail provider: wires configuration, the vault-backed account store, the HTTP
// engine, token lifecycle, the connect flow and the send engine behind the SDK interface.
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/connection_checker.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/send_engine.hpp"
#include "ep_kit/status_fields.hpp"
#include "ep_kit/token_manager.hpp"
#include "ep_kit/work_queue.hpp"
#include "gmail_config.hpp"
#include "gmail_send.hpp"
#include "google_connect.hpp"
#include "google_tokens.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/object.hpp>

#include <memory>

namespace gmail {

class GmailProvider final : public ep::sdk::Provider {
public:
    GmailProvider(ep::sdk::Host host, std::string_view config_json);
    ~GmailProvider() override;

    std::string begin_connect(std::string_view account, std::string_view request_json) override;
    std::string complete_connect(std::string_view account, std::string_view callback_json) override;
    std::string status(std::string_view account) override;
    std::string disconnect(std::string_view account) override;
    std::string forget_account(std::string_view account) override;
    ep::sdk::SendAdmission send(std::string_view account, std::string_view message_json,
                                ep::sdk::SendCallback done) override;
    void check_connection(std::string_view account, ep::sdk::CheckCallback done) override;
    // Google's limits for the account's kind (ABI 1.2).
    std::string sending_limits(std::string_view account) override;

    // For tests and benchmarks.
    int64_t refresh_requests() const { return tokens_.refresh_requests(); }

private:
    boost::json::object status_object(std::string_view account) const;
    // The identity request of a connection check, and what Google's answers mean.
    ConnectionChecker::Probe userinfo_probe() const;
    // Asks Google to revoke the stored grant; true when Google holds no grant for it afterwards.
    bool revoke_at_google(const GrantRecord& grant);
    void log(ep_log_level level, const std::string& message) const;

    // Declaration order is construction order; destruction runs backwards so that sends and
    // refreshes finish while the threads and engine they need still exist.
    ep::sdk::Host host_;
    GmailConfig config_;
    AccountStore store_;
    HttpEngine http_;
    WorkQueue work_;
    GoogleTokens google_;
    TokenManager tokens_;
    Senders senders_;
    GmailSend gmail_send_;
    SendEngine sends_;
    GoogleConnect connect_;
    ConnectionChecker checks_;  // last: destroyed first, after waiting for checks in flight
};

}  // namespace gmail
