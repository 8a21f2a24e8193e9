// Each mailbox's sending limits, as its provider declares them (ABI 1.2 get_sending_limits,
// ep.sending_limits/1 in plugin_api/SCHEMAS.md), for the outbox's pacing. They change only
// with the connected account, so they are kept per (provider, user) for a while and forgotten
// when the user connects again. A provider that declares none (EP_ERR_UNSUPPORTED, or a 1.0 or
// 1.1 plugin) is not paced; nor is one whose document cannot be read, which is logged once
// with the field named: pacing is a courtesy, never a reason to lose or hold up a nudge.
#pragma once

#include "core/logger.hpp"
#include "providers/host_services.hpp"
#include "providers/provider_handle.hpp"
#include "store/outbox_store.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace host {

// Reads an ep.sending_limits/1 document; throws ep::json_reader::FieldError naming the field.
SendingLimits parse_sending_limits(std::string_view document);

// What a connected mailbox may still send today, by its provider's declared limits and the
// host's own count (an estimate: the service also counts what is sent by other means).
struct DailyAllowance {
    std::string mailbox;
    SendingLimits limits;
    OutboxStore::SentToday sent;
};
// "From rita@example.org: about 9990 more recipients today (limit 10000 recipients in 24
// hours), at most 30 a minute."; empty when no limit is declared.
std::string describe(const DailyAllowance& allowance);

class SendingLimitsCache {
public:
    static constexpr int64_t kKeepMs = 10 * 60 * 1000;

    SendingLimitsCache(Logger& logger, Clock clock) : logger_(logger), clock_(std::move(clock)) {}

    // The limits of the user's mailbox with `provider`; nullopt: pace nothing.
    std::optional<SendingLimits> limits(ProviderHandle& provider, const std::string& user_id);
    // The user connected (maybe another mailbox): ask again next time.
    void forget(const std::string& provider, const std::string& user_id);

private:
    struct Entry {
        std::optional<SendingLimits> limits;
        int64_t fetched_ms = 0;
    };
    std::optional<SendingLimits> ask(ProviderHandle& provider, const std::string& user_id);
    void log_once(const std::string& provider, const std::string& problem);

    Logger& logger_;
    Clock clock_;
    std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, Entry> entries_;
    std::set<std::string> logged_;  // "<provider>: <problem>" already said
};

}  // namespace host
