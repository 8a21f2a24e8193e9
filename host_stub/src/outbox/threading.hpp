// Follow-ups in the candidate's conversation (ABI 1.2 threading, plugin_api/SCHEMAS.md
// "Threading"). Every nudge gets a Message-ID from the host when it is queued; a follow-up also
// gets In-Reply-To and References naming the message it follows (RFC 5322 §3.6.4), which is what
// mail clients thread by. The provider's own thread id (where its service has one) is added when the nudge
// goes out, since the followed nudge may not have been sent when its follow-up was queued.
#pragma once

#include "store/host_store.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace host {

// What a new nudge follows: an earlier nudge of the same user, or a message sent outside the
// host, named by its Message-ID.
struct FollowUp {
    int64_t nudge_id = 0;
    std::string message_id;
    bool empty() const { return nudge_id == 0 && message_id.empty(); }
};

// Reads "12", "#12" or "<id@example.org>". Throws OutboxError saying what is wrong.
FollowUp parse_follow_up(std::string_view text);

// Gives a new nudge its Message-ID (at the domain of `mailbox`, the address it goes out from)
// and, when it follows something, its In-Reply-To and References, and "Re: <subject>" when it
// has no subject of its own. Returns the thread columns to store with it. Throws OutboxError
// when `follows` cannot be followed: an unknown nudge or another user's, one that was never sent
// (failed), or one to another candidate.
NudgeThread thread_new_nudge(HostStore& store, const std::string& user_id, const std::string& mailbox,
                             const FollowUp& follows, boost::json::object& message);

// The message as its provider gets it when it goes out. A provider that cannot thread gets no
// threading fields (the follow-up starts a new conversation). One that can gets the Message-ID
// the followed nudge really went out with, when its provider reported another, and that nudge's
// provider thread id when it went out through the same provider and mailbox (a thread id means
// nothing anywhere else). A follow-up never overtakes the nudge it follows: while that one is
// still on its way, `waits_for` names it and nothing is sent.
struct OutgoingMessage {
    std::string json;
    int64_t waits_for = 0;
};
OutgoingMessage message_for_provider(HostStore& store, const Nudge& nudge, bool provider_threads);

// The send result of a follow-up that waits for `followed` (throttled, tried again shortly).
std::string waiting_for_followed_result(int64_t followed);

// "in thread with #N" for listings; "" when the nudge starts no thread and follows none.
std::string thread_label(const Nudge& nudge);

}  // namespace host
