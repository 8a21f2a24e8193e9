#include "outbox/stranded_policy.hpp"

namespace host {

std::optional<Stranding> stranding_of(const std::string& provider, const ProviderHandle* entry,
                                      const std::string& current_provider, const ProviderHandle* current) {
    if (entry == nullptr)
        return Stranding{stranded::provider_removed,
                         "Its email provider '" + provider +
                             "' was removed from this host: send it with your current email "
                             "provider, or discard it."};
    std::string name = entry->display_name().empty() ? provider : entry->display_name();
    if (!entry->available()) {
        std::string why = entry->unavailable_reason();
        return Stranding{stranded::provider_unavailable,
                         "Its email provider " + name + " is not available on this host" +
                             (why.empty() ? "" : " (" + why + ")") +
                             ": send it with your current email provider, or discard it."};
    }
    if (provider != current_provider) {
        std::string now = current && !current->display_name().empty() ? current->display_name()
                          : current_provider.empty()                  ? std::string("none")
                                                                      : current_provider;
        return Stranding{stranded::provider_switched, "Queued for " + name + ", but your email provider is now " + now +
                                                          ": send it with your current email provider, or discard it."};
    }
    return std::nullopt;
}

bool ReleaseRetries::may_check(const std::string& user_id, const std::string& provider, int64_t now_ms) const {
    auto it = retry_at_.find({user_id, provider});
    return it == retry_at_.end() || now_ms >= it->second;
}

void ReleaseRetries::checked(const std::string& user_id, const std::string& provider, bool confirmed, int64_t now_ms) {
    if (confirmed)
        retry_at_.erase({user_id, provider});
    else
        retry_at_[{user_id, provider}] = now_ms + kRetryMs;
}

}  // namespace host
