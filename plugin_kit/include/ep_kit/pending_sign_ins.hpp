// Sign-ins in progress, per account, sealed in the account store: each starts with a random
// state, of which only the SHA-256 is kept, and its PKCE verifier (and OpenID nonce, where the
// provider has one). The provider's answer consumes its sign-in once: a state works a single
// time, a recent used one is told apart from one never issued here, and one older than the
// time limit has expired. Every write is a compare-and-swap, so concurrent sign-ins of one
// account, in one process or several, neither lose nor reuse a flow.
#pragma once

#include "ep_kit/account_store.hpp"
#include "ep_kit/secret_string.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ep::kit {

class PendingSignIns {
public:
    PendingSignIns(const AccountStore& store, int64_t time_limit_ms) : store_(store), time_limit_ms_(time_limit_ms) {}

    struct Start {
        std::string_view state;  // random, single use; only its hash is stored
        const SecretString& verifier;
        const std::string& login_hint;
        std::string_view nonce;  // empty when the provider has none
    };
    // Records a sign-in about to start; the oldest of too many pending ones is dropped. Throws
    // ep::sdk::Error(EP_ERR_STORAGE) when the store keeps changing.
    void start(std::string_view account, const Start& flow, int64_t now_ms) const;

    enum class Match {
        found,    // the sign-in this state started, now consumed
        unknown,  // no sign-in here started with this state: a forgery, or another account's answer
        reused,   // this state's sign-in was already answered
        expired,  // found and consumed, but older than the time limit
    };
    struct Answer {
        Match match = Match::unknown;
        std::optional<PendingFlow> flow;  // found or expired
    };
    // Consumes the sign-in `state` started, before anything else happens, so that it works once
    // even if the rest of the sign-in fails. Throws ep::sdk::Error(EP_ERR_STORAGE) when the store
    // keeps changing.
    Answer consume(std::string_view account, std::string_view state, int64_t now_ms) const;

private:
    const AccountStore& store_;
    const int64_t time_limit_ms_;
};

}  // namespace ep::kit
