#include "store/outbox_store.hpp"

#include <boost/json.hpp>

#include <iterator>

namespace host {
namespace {

constexpr const char* kStateNames[] = {"queued",    "sending", "sent",         "held",
                                       "throttled", "failed",  "needs_review", "paced"};

std::string first_address(const boost::json::value& list) {
    if (!list.is_array() || list.as_array().empty() || !list.as_array()[0].is_object()) return {};
    const auto& o = list.as_array()[0].as_object();
    auto it = o.find("address");
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

}  // namespace

const char* to_string(NudgeState s) { return kStateNames[static_cast<int>(s)]; }

std::optional<NudgeState> nudge_state_from(std::string_view name) {
    for (int i = 0; i < static_cast<int>(std::size(kStateNames)); ++i)
        if (name == kStateNames[i]) return static_cast<NudgeState>(i);
    return std::nullopt;
}

bool is_stranded(const Nudge& n) {
    if (n.state != NudgeState::held) return false;
    for (auto code : {stranded::provider_removed, stranded::provider_unavailable, stranded::provider_switched,
                      stranded::mailbox_changed})
        if (n.last_code == code) return true;
    return false;
}

void describe_message(Nudge& n) {
    boost::system::error_code ec;
    auto m = boost::json::parse(n.message_json, ec);
    if (ec || !m.is_object()) return;
    if (auto it = m.as_object().find("to"); it != m.as_object().end()) n.to = first_address(it->value());
    if (auto it = m.as_object().find("subject"); it != m.as_object().end() && it->value().is_string())
        n.subject = it->value().as_string();
}

int64_t recipient_count(const std::string& message_json) {
    boost::system::error_code ec;
    auto m = boost::json::parse(message_json, ec);
    if (ec || !m.is_object()) return 0;
    int64_t count = 0;
    for (const char* field : {"to", "cc", "bcc"})
        if (auto it = m.as_object().find(field); it != m.as_object().end() && it->value().is_array())
            count += static_cast<int64_t>(it->value().as_array().size());
    return count;
}

}  // namespace host
