#include "ep_kit/pending_sign_ins.hpp"

#include "ep_kit/encoding.hpp"

#include <email_provider/ep_sdk.hpp>

#include <algorithm>

namespace ep::kit {
namespace {

constexpr std::size_t kMaxPendingFlows = 5;     // per account; the oldest is dropped
constexpr std::size_t kMaxConsumedStates = 10;  // remembered to tell "reused" from "unknown"
constexpr int kMaxStoreRetries = 5;

std::string state_hash(std::string_view state) { return hex(sha256(state)); }

}  // namespace

void PendingSignIns::start(std::string_view account, const Start& flow, int64_t now) const {
    for (int attempt = 0; attempt < kMaxStoreRetries; ++attempt) {
        PendingFlows pending = store_.load_pending(account);
        std::erase_if(pending.flows, [&](const PendingFlow& f) { return now - f.created_ms > time_limit_ms_; });
        std::erase_if(pending.consumed, [&](const auto& c) { return now - c.second > 2 * time_limit_ms_; });
        pending.flows.push_back(PendingFlow{state_hash(flow.state), SecretString(flow.verifier.view()), now,
                                            flow.login_hint, std::string(flow.nonce)});
        if (pending.flows.size() > kMaxPendingFlows) pending.flows.erase(pending.flows.begin());
        if (store_.save_pending(account, pending)) return;
    }
    throw ep::sdk::Error(EP_ERR_STORAGE, "storage",
                         "could not record the sign-in in progress (the store kept changing)");
}

PendingSignIns::Answer PendingSignIns::consume(std::string_view account, std::string_view state, int64_t now) const {
    const std::string hash = state_hash(state);
    for (int attempt = 0; attempt < kMaxStoreRetries; ++attempt) {
        PendingFlows pending = store_.load_pending(account);
        auto it = std::find_if(pending.flows.begin(), pending.flows.end(),
                               [&](const PendingFlow& f) { return f.state_hash == hash; });
        if (it == pending.flows.end()) {
            const bool reused = std::any_of(pending.consumed.begin(), pending.consumed.end(),
                                            [&](const auto& c) { return c.first == hash; });
            return {reused ? Match::reused : Match::unknown, std::nullopt};
        }
        PendingFlow flow{it->state_hash, SecretString(it->verifier.view()), it->created_ms, it->login_hint, it->nonce};
        pending.flows.erase(it);
        pending.consumed.emplace_back(hash, now);
        if (pending.consumed.size() > kMaxConsumedStates) pending.consumed.erase(pending.consumed.begin());
        if (store_.save_pending(account, pending))
            return {now - flow.created_ms > time_limit_ms_ ? Match::expired : Match::found, std::move(flow)};
    }
    throw ep::sdk::Error(EP_ERR_STORAGE, "storage", "could not record the sign-in answer (the store kept changing)");
}

}  // namespace ep::kit
