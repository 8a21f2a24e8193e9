#include "outbox/threading.hpp"

#include "core/host_util.hpp"
#include "outbox/outbox.hpp"

#include <email_provider/message.hpp>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <vector>

namespace host {
namespace {

namespace json = boost::json;

constexpr std::string_view kThreadingFields[] = {"message_id", "in_reply_to", "references", "thread_id"};

std::vector<std::string> references_of(const json::object& message) {
    std::vector<std::string> out;
    if (auto it = message.find("references"); it != message.end() && it->value().is_array())
        for (const auto& v : it->value().as_array())
            if (v.is_string()) out.emplace_back(v.as_string());
    return out;
}

// RFC 5322 §3.6.4 lets a long References drop ids from the middle: the first (the thread's
// start) and the most recent ones matter to threading.
void set_references(json::object& message, std::vector<std::string> ids) {
    if (ids.size() > ep::message::kMaxReferences)
        ids.erase(ids.begin() + 1, ids.end() - static_cast<std::ptrdiff_t>(ep::message::kMaxReferences - 1));
    json::array a;
    for (auto& id : ids) a.emplace_back(id);
    message["references"] = std::move(a);
}

void add_reference(std::vector<std::string>& ids, const std::string& id) {
    if (!id.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

std::vector<std::string> recipients_of(const json::object& message) {
    std::vector<std::string> out;
    if (auto it = message.find("to"); it != message.end() && it->value().is_array())
        for (const auto& r : it->value().as_array()) out.push_back(json_str(r, "address"));
    return out;
}

bool same_candidate(const json::object& follow_up, const json::object& followed) {
    for (const auto& a : recipients_of(follow_up))
        for (const auto& b : recipients_of(followed))
            if (boost::algorithm::iequals(a, b)) return true;
    return false;
}

json::object message_object(const Nudge& n) {
    boost::system::error_code ec;
    json::value v = json::parse(n.message_json, ec);
    return !ec && v.is_object() ? v.as_object() : json::object{};
}

std::string new_message_id(const std::string& mailbox) {
    auto at = mailbox.rfind('@');
    std::string domain = at == std::string::npos ? "nudges.invalid" : mailbox.substr(at + 1);
    std::string id = "<nudge." + random_hex(16) + "@" + domain + ">";
    // A mailbox domain the msg-id grammar does not take (an address literal) gets a placeholder.
    return ep::message::is_valid_message_id(id) ? id : "<nudge." + random_hex(16) + "@nudges.invalid>";
}

// The earlier nudge a follow-up answers, checked. Returns its message.
json::object followed_message(HostStore& store, const std::string& user_id, int64_t id, const json::object& message,
                              Nudge& followed) {
    std::string name = "nudge #" + std::to_string(id);
    auto n = store.nudge(id);
    if (!n || n->user_id != user_id) throw OutboxError(name + " is not one of your nudges");
    if (n->state == NudgeState::failed)
        throw OutboxError(name + " was never sent (it failed), so there is no conversation to follow");
    json::object m = message_object(*n);
    if (!same_candidate(message, m))
        throw OutboxError(name + " went to " + n->to + "; a follow-up goes to the same candidate");
    followed = std::move(*n);
    return m;
}

}  // namespace

FollowUp parse_follow_up(std::string_view text) {
    FollowUp f;
    if (text.starts_with('<')) {
        if (!ep::message::is_valid_message_id(text))
            throw OutboxError(
                "the message to follow must be a nudge number or a Message-ID such as "
                "<a1b2@example.org>");
        f.message_id = std::string(text);
        return f;
    }
    if (text.starts_with('#')) text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), f.nudge_id);
    if (ec != std::errc() || end != text.data() + text.size() || f.nudge_id <= 0)
        throw OutboxError(
            "the message to follow must be a nudge number (such as 12) or a Message-ID such as "
            "<a1b2@example.org>");
    return f;
}

NudgeThread thread_new_nudge(HostStore& store, const std::string& user_id, const std::string& mailbox,
                             const FollowUp& follows, json::object& message) {
    NudgeThread t;
    t.message_id = new_message_id(mailbox);
    message["message_id"] = t.message_id;
    std::vector<std::string> references;
    std::string in_reply_to, followed_subject;
    if (follows.nudge_id != 0) {
        Nudge followed;
        json::object m = followed_message(store, user_id, follows.nudge_id, message, followed);
        t.follows_id = followed.id;
        t.root_id = followed.thread.root_id != 0 ? followed.thread.root_id : followed.id;
        references = references_of(m);
        add_reference(references, followed.thread.message_id);
        add_reference(references, followed.thread.sent_message_id);
        in_reply_to =
            !followed.thread.sent_message_id.empty() ? followed.thread.sent_message_id : followed.thread.message_id;
        followed_subject = followed.subject;
    } else if (!follows.message_id.empty()) {
        references = {follows.message_id};
        in_reply_to = follows.message_id;
    }
    if (in_reply_to.empty()) return t;  // a nudge of an earlier release: nothing to name
    message["in_reply_to"] = in_reply_to;
    set_references(message, std::move(references));
    // A provider that threads by id may keep a message in a thread only when the subjects match
    // (plugin_api/SCHEMAS.md "Threading"); a reply's subject is the usual one.
    if (json_str(message, "subject").empty() && !followed_subject.empty())
        message["subject"] =
            boost::algorithm::istarts_with(followed_subject, "Re:") ? followed_subject : "Re: " + followed_subject;
    return t;
}

bool on_its_way(NudgeState s) {
    return s == NudgeState::queued || s == NudgeState::sending || s == NudgeState::throttled ||
           s == NudgeState::paced || s == NudgeState::held;
}

OutgoingMessage message_for_provider(HostStore& store, const Nudge& n, bool provider_threads) {
    // The common case, a first message to a provider that threads, goes as queued, unparsed.
    if (n.thread.follows_id == 0 && provider_threads) return {n.message_json};
    json::object m = message_object(n);
    if (m.empty()) return {n.message_json};  // the provider refuses it, naming what is wrong
    if (n.thread.follows_id == 0) {
        bool had = false;
        for (auto key : kThreadingFields) had = m.erase(key) > 0 || had;
        return {had ? json::serialize(m) : n.message_json};
    }
    std::optional<Nudge> followed;
    try {
        followed = store.nudge(n.thread.follows_id);
    } catch (const StoreError&) {
        // Sent with the headers it was queued with: the conversation holds without a thread id.
    }
    if (followed && on_its_way(followed->state)) return {"", followed->id};
    if (!provider_threads) {
        for (auto key : kThreadingFields) m.erase(key);
        return {json::serialize(m)};
    }
    if (!followed) return {n.message_json};
    const NudgeThread& f = followed->thread;
    bool changed = false;
    // The followed nudge went out after this one was queued, and its service gave it another id.
    if (!f.sent_message_id.empty() && json_str(m, "in_reply_to") != f.sent_message_id) {
        m["in_reply_to"] = f.sent_message_id;
        auto references = references_of(m);
        add_reference(references, f.sent_message_id);
        set_references(m, std::move(references));
        changed = true;
    }
    if (!f.provider_thread_id.empty() && followed->provider == n.provider && followed->mailbox == n.mailbox) {
        m["thread_id"] = f.provider_thread_id;
        changed = true;
    }
    return {changed ? json::serialize(m) : n.message_json};
}

std::string waiting_for_followed_result(int64_t followed) {
    return json::serialize(
        json::object{{"schema", "ep.send_result/1"},
                     {"outcome", "throttled"},
                     {"code", "follows_unsent"},
                     {"message", "Goes out after nudge #" + std::to_string(followed) + ", which it follows."},
                     {"retry_after_ms", 30000}});
}

std::string thread_label(const Nudge& n) {
    if (n.thread.root_id != 0) return "in thread with #" + std::to_string(n.thread.root_id);
    return {};
}

}  // namespace host
