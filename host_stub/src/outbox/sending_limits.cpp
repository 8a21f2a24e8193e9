#include "outbox/sending_limits.hpp"

#include <ep_json/reader.hpp>

#include <algorithm>

namespace host {

namespace reader = ep::json_reader;

SendingLimits parse_sending_limits(std::string_view document) {
    // Unknown keys are ignored: a newer version of the schema may add limits.
    const boost::json::value root = reader::parse(document);  // the Object reads it in place
    reader::Object o(root, "", reader::Null::is_absent, "must be a JSON object");
    if (o.required_string("schema") != "ep.sending_limits/1") o.fail("schema", "must be \"ep.sending_limits/1\"");
    o.one_of<bool>("day", {{"rolling_24h", true}});
    o.string("source");
    constexpr int64_t kMost = 1'000'000'000;
    return SendingLimits{o.integer("messages_per_minute", 1, kMost), o.integer("messages_per_day", 1, kMost),
                         o.integer("recipients_per_day", 1, kMost)};
}

std::string describe(const DailyAllowance& a) {
    const SendingLimits& l = a.limits;
    auto left = [](int64_t limit, int64_t used) { return std::to_string(std::max<int64_t>(limit - used, 0)); };
    std::string text;
    if (l.messages_per_day)
        text = "about " + left(*l.messages_per_day, a.sent.messages) + " more today (limit " +
               std::to_string(*l.messages_per_day) + " in 24 hours)";
    else if (l.recipients_per_day)
        text = "about " + left(*l.recipients_per_day, a.sent.recipients) + " more recipients today (limit " +
               std::to_string(*l.recipients_per_day) + " recipients in 24 hours)";
    if (l.messages_per_minute)
        text += (text.empty() ? "at most " : ", at most ") + std::to_string(*l.messages_per_minute) + " a minute";
    if (text.empty()) return {};
    return (a.mailbox.empty() ? "This mailbox" : "From " + a.mailbox) + ": " + text + ".";
}

std::optional<SendingLimits> SendingLimitsCache::limits(ProviderHandle& provider, const std::string& user_id) {
    const auto key = std::make_pair(provider.id(), user_id);
    const int64_t now = clock_();
    {
        std::lock_guard lock(mutex_);
        if (auto it = entries_.find(key); it != entries_.end() && now - it->second.fetched_ms < kKeepMs)
            return it->second.limits;
    }
    // Asked unlocked: a provider's answer may take a moment, other users' limits need not wait.
    std::optional<SendingLimits> limits = ask(provider, user_id);
    std::lock_guard lock(mutex_);
    entries_[key] = Entry{limits, now};
    return limits;
}

void SendingLimitsCache::forget(const std::string& provider, const std::string& user_id) {
    std::lock_guard lock(mutex_);
    entries_.erase({provider, user_id});
}

std::optional<SendingLimits> SendingLimitsCache::ask(ProviderHandle& provider, const std::string& user_id) {
    ProviderAnswer a;
    try {
        a = provider.sending_limits(user_id);
    } catch (const ProviderUnavailable&) {
        return std::nullopt;  // the outbox holds its nudges for that reason
    }
    if (a.result.status == EP_ERR_UNSUPPORTED) return std::nullopt;
    if (!a.result.ok()) {
        log_once(provider.id(), "the provider could not say its sending limits (" + a.reason() + ")");
        return std::nullopt;
    }
    try {
        return parse_sending_limits(a.result.document);
    } catch (const reader::FieldError& e) {
        const std::string where = e.path().empty() ? "the document" : e.path();
        log_once(provider.id(), "its ep.sending_limits/1 cannot be read: " + where + " " + e.problem());
        return std::nullopt;
    }
}

void SendingLimitsCache::log_once(const std::string& provider, const std::string& problem) {
    {
        std::lock_guard lock(mutex_);
        if (!logged_.insert(provider + ": " + problem).second) return;
    }
    logger_.log(EP_LOG_WARN, "outbox",
                "email provider '" + provider + "': " + problem + "; its mailboxes are sent from without pacing");
}

}  // namespace host
