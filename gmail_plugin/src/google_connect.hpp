// Connecting a Gmail account: Google's authorization-code flow with PKCE, state and an OpenID
// nonce (begin), and every way the answer can come back (complete): consent with every box
// ticked, a box left unticked (granular consent), Cancel, a Workspace policy, a forged, reused
// or expired state, a refused code, an ID token that does not verify, a network failure. Each
// has its own ep.connect_result/1 outcome; nothing is stored unless the account can send.
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/http_engine.hpp"
#include "ep_kit/pending_sign_ins.hpp"
#include "ep_kit/token_manager.hpp"
#include "gmail_config.hpp"
#include "gmail_send.hpp"
#include "google_tokens.hpp"
#include "id_token.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace gmail {

// Google's signing keys (JWKS), fetched when first needed and again when an ID token names a
// key not in them (Google rotates its keys) or they are older than an hour.
class SigningKeys {
public:
    SigningKeys(HttpEngine& http, const GmailConfig& config, const GoogleClient& client)
        : http_(http), config_(config), client_(client) {}
    // The ID token's identity. Throws ep::sdk::Error: "invalid_id_token" (field names the claim)
    // or "keys_unavailable" (Google's keys could not be fetched).
    GoogleIdentity verify(std::string_view id_token, std::string_view nonce, int64_t now_ms);

private:
    std::string fetch();

    HttpEngine& http_;
    const GmailConfig& config_;
    const GoogleClient& client_;
    std::mutex mutex_;
    std::string jwks_;
    int64_t fetched_at_ms_ = 0;
};

class GoogleConnect {
public:
    using Log = std::function<void(ep_log_level, const std::string&)>;
    using StatusBuilder = std::function<boost::json::object(std::string_view account)>;

    GoogleConnect(const GmailConfig& config, const AccountStore& store, HttpEngine& http, const GoogleTokens& google,
                  TokenManager& tokens, const Senders& senders, ep::sdk::Host host, Log log, StatusBuilder status);

    // ep.connect_request/1 -> ep.connect_start/1
    std::string begin(std::string_view account, std::string_view request_json);
    // ep.callback/1 -> ep.connect_result/1
    std::string complete(std::string_view account, std::string_view callback_json);

private:
    struct Result;
    std::string result(std::string_view account, const Result& r);
    std::string redeem(std::string_view account, const AuthorizationCallback& callback, const PendingFlow& flow);
    std::string store_connection(std::string_view account, TokenSuccess& tokens, const GrantedScopes& granted,
                                 const GoogleIdentity& identity);

    const GmailConfig& config_;
    const AccountStore& store_;
    HttpEngine& http_;
    const GoogleTokens& google_;
    TokenManager& tokens_;
    const Senders& senders_;
    PendingSignIns pending_;
    SigningKeys keys_;
    ep::sdk::Host host_;
    Log log_;
    StatusBuilder status_;
};

}  // namespace gmail
