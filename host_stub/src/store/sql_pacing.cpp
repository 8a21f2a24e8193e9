#include "store/sql_pacing.hpp"

#include <map>
#include <tuple>

namespace host {
namespace {

// The rows of one mailbox that count: ?1 user, ?2 provider, ?3 mailbox, ?4 counted after.
constexpr const char* kCounted =
    " FROM outbox WHERE user_id = ?1 AND provider = ?2 AND mailbox = ?3 "
    "AND state IN ('sending','sent','needs_review') AND handed_ms > ?4";

const std::string kLastMinute = std::string("SELECT handed_ms") + kCounted + " ORDER BY handed_ms";
const std::string kToday =
    std::string("SELECT count(*), coalesce(sum(recipients), 0), coalesce(min(handed_ms), 0)") + kCounted;
const std::string kHeldUntil =
    "SELECT coalesce(max(not_before_ms), 0) FROM outbox WHERE user_id = ?1 AND provider = ?2 AND mailbox = ?3 "
    "AND state = 'paced' AND last_code = '" +
    std::string(paced::daily_limit) + "'";

// Each statement runs with exec, not read: inside the claim's transaction, never retried on
// another connection.
// Only what the limits need is counted (a provider that declares none is only held).
MailboxWindow load_window(SqlAdapter& db, const Nudge& n, const SendingLimits& limits, int64_t now_ms) {
    MailboxWindow w;
    if (limits.messages_per_minute)
        db.exec(kLastMinute, {n.user_id, n.provider, n.mailbox, now_ms - kPacingMinuteMs - kPacingMarginMs},
                [&](const SqlRow& r) { w.last_minute.push_back(r.integer(0)); });
    if (limits.messages_per_day || limits.recipients_per_day)
        db.exec(kToday, {n.user_id, n.provider, n.mailbox, now_ms - kPacingDayMs - kPacingMarginMs},
                [&](const SqlRow& r) {
                    w.day_messages = r.integer(0);
                    w.day_recipients = r.integer(1);
                    w.oldest_today_ms = r.integer(2);
                });
    db.exec(kHeldUntil, {n.user_id, n.provider, n.mailbox}, [&](const SqlRow& r) { w.held_until_ms = r.integer(0); });
    return w;
}

std::string paced_message(const PacedUntil& p, const SendingLimits& limits) {
    if (p.code == paced::messages_per_minute)
        return "This mailbox may send " + std::to_string(*limits.messages_per_minute) +
               " messages a minute: it goes out when a slot is free.";
    if (p.code == paced::messages_per_day)
        return "This mailbox may send " + std::to_string(*limits.messages_per_day) +
               " messages in 24 hours: it goes out when a slot is free.";
    if (p.code == paced::recipients_per_day)
        return "This mailbox may send to " + std::to_string(*limits.recipients_per_day) +
               " recipients in 24 hours: it goes out when a slot is free.";
    return "The mailbox reached its daily sending limit: it goes out when the limit resets.";
}

// The claimed nudge, and the mailbox's waiting nudges due before the slot, wait for it (a
// daily hold's own message stays: its nudges are due at the slot already).
void pace(SqlAdapter& db, const Nudge& n, const PacedUntil& p, const std::string& message, int64_t now_ms) {
    const std::string code(p.code);
    db.exec(
        "UPDATE outbox SET state = 'paced', attempts = attempts - 1, lease_owner = '', not_before_ms = ?2, "
        "last_code = ?3, last_message = ?4, updated_ms = ?5 WHERE id = ?1 AND state = 'sending'",
        {n.id, p.not_before_ms, code, message, now_ms});
    db.exec(
        "UPDATE outbox SET state = 'paced', not_before_ms = ?4, last_code = ?5, last_message = ?6, updated_ms = ?7 "
        "WHERE user_id = ?1 AND provider = ?2 AND mailbox = ?3 AND state IN ('queued','paced') AND not_before_ms < ?4",
        {n.user_id, n.provider, n.mailbox, p.not_before_ms, code, message, now_ms});
}

}  // namespace

std::optional<PacedUntil> pacing_slot(const MailboxWindow& w, const SendingLimits& limits, int64_t recipients,
                                      int64_t now_ms) {
    if (w.held_until_ms > now_ms) return PacedUntil{w.held_until_ms, paced::daily_limit};
    const int64_t day_slot = w.oldest_today_ms + kPacingDayMs + kPacingMarginMs;
    if (auto per_minute = limits.messages_per_minute;
        per_minute && static_cast<int64_t>(w.last_minute.size()) >= *per_minute) {
        // The send that leaves the window first makes room: the (size - limit)th oldest.
        auto first_out = w.last_minute[w.last_minute.size() - static_cast<std::size_t>(*per_minute)];
        return PacedUntil{first_out + kPacingMinuteMs + kPacingMarginMs, paced::messages_per_minute};
    }
    if (limits.messages_per_day && w.day_messages >= *limits.messages_per_day)
        return PacedUntil{day_slot, paced::messages_per_day};
    if (limits.recipients_per_day && w.day_messages > 0 && w.day_recipients + recipients > *limits.recipients_per_day)
        return PacedUntil{day_slot, paced::recipients_per_day};
    return std::nullopt;
}

std::vector<Nudge> pace_claimed(SqlAdapter& db, std::vector<Nudge> claimed, const SendingLimitsByUser& limits,
                                int64_t now_ms) {
    struct Mailbox {
        MailboxWindow window;
        std::optional<PacedUntil> paced;  // the first one over a limit: those behind it wait too
        std::string message;
    };
    std::map<std::tuple<std::string, std::string, std::string>, Mailbox> mailboxes;
    std::vector<Nudge> out;
    std::map<int64_t, std::vector<int64_t>> handed;  // recipients -> nudges handed to their provider now
    for (auto& n : claimed) {
        auto entry = limits.find({n.provider, n.user_id});
        if (entry == limits.end()) {
            db.exec("UPDATE outbox SET state = 'queued', attempts = attempts - 1, lease_owner = '' WHERE id = ?1",
                    {n.id});
            continue;
        }
        // Without declared limits, a mailbox is still held after a daily-limit refusal.
        const SendingLimits mailbox_limits = entry->second.value_or(SendingLimits{});
        const int64_t recipients = recipient_count(n.message_json);
        auto key = std::make_tuple(n.user_id, n.provider, n.mailbox);
        auto found = mailboxes.find(key);
        if (found == mailboxes.end())
            found = mailboxes.emplace(key, Mailbox{load_window(db, n, mailbox_limits, now_ms), {}, {}}).first;
        Mailbox& m = found->second;
        if (!m.paced) {
            m.paced = pacing_slot(m.window, mailbox_limits, recipients, now_ms);
            if (m.paced) m.message = paced_message(*m.paced, mailbox_limits);
        }
        if (m.paced) {
            pace(db, n, *m.paced, m.message, now_ms);
            continue;
        }
        m.window.last_minute.push_back(now_ms);
        m.window.day_messages += 1;
        m.window.day_recipients += recipients;
        if (m.window.oldest_today_ms == 0) m.window.oldest_today_ms = now_ms;
        handed[recipients].push_back(n.id);
        out.push_back(std::move(n));
    }
    // One statement per recipient count (almost always one in all), not one per nudge.
    for (const auto& [recipients, ids] : handed) {
        std::string list;
        for (int64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
        db.exec("UPDATE outbox SET handed_ms = ?1, recipients = ?2 WHERE id IN (" + list + ")", {now_ms, recipients});
    }
    return out;
}

OutboxStore::SentToday mailbox_sent_today(SqlAdapter& db, const std::string& user_id, const std::string& provider,
                                          const std::string& mailbox, int64_t now_ms) {
    OutboxStore::SentToday out;
    db.read_first(kToday, {user_id, provider, mailbox, now_ms - kPacingDayMs - kPacingMarginMs}, [&](const SqlRow& r) {
        out.messages = r.integer(0);
        out.recipients = r.integer(1);
    });
    return out;
}

}  // namespace host
