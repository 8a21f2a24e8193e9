// Connecting an account: the authorization-code flow with PKCE (begin), and every way the
// answer can come back (complete): success, user cancel or decline, admin approval required,
// MFA / conditional access, operator errors, forged / reused / expired state, a code already
// redeemed, network failures. Each outcome has its own result (SCHEMAS.md ep.connect_result/1).
#pragma once

#include "config.hpp"
#include "ep_kit/account_store.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/pending_sign_ins.hpp"
#include "ep_kit/token_manager.hpp"
#include "oauth.hpp"
#include "token_client.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace outlook {

struct Profile;

class ConnectFlow {
public:
    using Log = std::function<void(ep_log_level, const std::string&)>;

    ConnectFlow(const OutlookConfig& config, const AccountStore& store, HttpEngine& http,
                const TokenClient& token_client, TokenManager& tokens, ep::sdk::Host host, Log log);

    // ep.connect_request/1 -> ep.connect_start/1
    std::string begin(std::string_view account, std::string_view request_json);
    // ep.callback/1 -> ep.connect_result/1
    std::string complete(std::string_view account, std::string_view callback_json);

    // The status document the connect result embeds; built by the provider.
    using StatusBuilder = std::function<boost::json::object(std::string_view account)>;
    void set_status_builder(StatusBuilder builder) { status_ = std::move(builder); }

private:
    std::string result(std::string_view account, std::string_view outcome, const std::string& message,
                       const std::string& code = {}, const std::string& operator_message = {});
    std::string redirect_error(std::string_view account, const std::map<std::string, std::string>& params,
                               const std::string& login_hint);
    std::string redeem(std::string_view account, std::string_view code, const SecretString& verifier,
                       const std::string& login_hint);
    // Microsoft refused to redeem the code: each known refusal has its own outcome.
    std::string redemption_refused(std::string_view account, const TokenResponse& response,
                                   const std::string& login_hint);
    // Tokens granted and the profile read: the connection is stored and reported.
    std::string store_connection(std::string_view account, TokenSuccess& tokens, const GrantedScopes& granted,
                                 const Profile& profile);
    std::string record_approval_required(std::string_view account, const std::string& code,
                                         const std::string& login_hint, const std::string& tenant_id);

    const OutlookConfig& config_;
    const AccountStore& store_;
    HttpEngine& http_;
    const TokenClient& token_client_;
    TokenManager& tokens_;
    PendingSignIns pending_;
    ep::sdk::Host host_;
    Log log_;
    StatusBuilder status_;
};

}  // namespace outlook
