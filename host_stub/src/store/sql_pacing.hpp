// Pacing: a claimed nudge is counted against the sending limits of the mailbox it leaves from
// (its user, provider and `mailbox` column) inside the claim's own transaction, so the count
// and the claim are one step. On SQLite that transaction is BEGIN IMMEDIATE (one claimer at a
// time); on PostgreSQL the claim holds the row locks of the users it claims for until it
// commits (pg_host_store.cpp), and a mailbox is one user's: no other host counts or claims for
// that mailbox meanwhile, so two hosts cannot both take its last slot.
//
// A nudge counts from the moment it is handed to its provider (handed_ms) while it is
// sending, sent or needs review (it may have gone out); one the provider refused (throttled,
// transient, not connected, rejected) does not count.
#pragma once

#include "store/outbox_store.hpp"
#include "store/sql_adapter.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace host {

inline constexpr int64_t kPacingMinuteMs = 60 * 1000;
inline constexpr int64_t kPacingDayMs = 24 * 60 * 60 * 1000;
// A send counts this much longer than its window: the host counts from the hand-over, the
// service from its acceptance a moment later, so a slot the host sees free is free there too.
inline constexpr int64_t kPacingMarginMs = 1000;

// A mailbox's recent sends as the pacing counts them.
struct MailboxWindow {
    std::vector<int64_t> last_minute;  // when each was handed over, ascending
    int64_t day_messages = 0, day_recipients = 0;
    int64_t oldest_today_ms = 0;  // 0: none
    int64_t held_until_ms = 0;    // a daily-limit refusal holds the mailbox until then
};

struct PacedUntil {
    int64_t not_before_ms = 0;
    std::string_view code;  // a paced:: code: the limit it waits for
};

// Whether a nudge to `recipients` may go out now from a mailbox with this window and these
// limits; if not, when its slot comes. A nudge with more recipients than a whole day allows
// goes out once nothing else was sent that day (waiting longer would not help).
std::optional<PacedUntil> pacing_slot(const MailboxWindow& window, const SendingLimits& limits, int64_t recipients,
                                      int64_t now_ms);

// In the claim's transaction: counts each claimed nudge against its mailbox. Those within the
// limits are returned (and counted from now); one over a limit goes to paced with the waiting
// nudges of its mailbox behind it; one whose (provider, user) has no entry in `limits` goes
// back to queued for the next round.
std::vector<Nudge> pace_claimed(SqlAdapter& db, std::vector<Nudge> claimed, const SendingLimitsByUser& limits,
                                int64_t now_ms);

// What the mailbox sent in the 24 hours before now, as pace_claimed counts it.
OutboxStore::SentToday mailbox_sent_today(SqlAdapter& db, const std::string& user_id, const std::string& provider,
                                          const std::string& mailbox, int64_t now_ms);

}  // namespace host
