#include "faults.hpp"

#include <ep_json/reader.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace google_sandbox::detail {

namespace json = boost::json;
namespace reader = ep::json_reader;

namespace {

constexpr reader::Choice<FaultAction> kActions[] = {
    {"status", FaultAction::status},
    {"delay", FaultAction::delay},
    {"drop_before_response", FaultAction::drop_before_response},
    {"reset_before_body", FaultAction::reset_before_body},
    {"malformed_json", FaultAction::malformed_json},
};

const char* action_name(FaultAction a) {
    for (const auto& c : kActions)
        if (c.value == a) return c.name.data();
    return "status";
}

}  // namespace

Fault parse_fault(const json::value& value) {
    const reader::Object o(value, "fault",
                           {"endpoint", "user", "after", "times", "action", "status", "delay_ms", "process_first"});
    Fault f;
    f.endpoint = o.one_of<std::string>("endpoint", {{"authorize", "authorize"},
                                                    {"token", "token"},
                                                    {"revoke", "revoke"},
                                                    {"userinfo", "userinfo"},
                                                    {"certs", "certs"},
                                                    {"send", "send"},
                                                    {"any", "any"}})
                     .value_or("any");
    if (auto user = o.non_empty_string("user")) {  // accounts are matched in lower case
        std::transform(user->begin(), user->end(), user->begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        f.user = *user;
    }
    f.after = static_cast<int>(o.integer("after", 0, 1000000).value_or(0));
    f.times = static_cast<int>(o.integer("times", -1, 1000000).value_or(1));
    if (f.times == 0) o.fail("times", "must be at least 1, or -1 for forever");
    f.status = static_cast<int>(o.integer("status", 400, 599).value_or(0));
    f.delay_ms = static_cast<int>(o.integer("delay_ms", 0, 600000).value_or(0));
    f.action = o.one_of<FaultAction>("action", {kActions[0], kActions[1], kActions[2], kActions[3], kActions[4]})
                   .value_or(f.status ? FaultAction::status : FaultAction::delay);
    if (f.action == FaultAction::status && f.status == 0) o.fail("status", "is required by the action status");
    if (f.action == FaultAction::delay && f.delay_ms == 0) o.fail("delay_ms", "is required by the action delay");
    f.process_first = o.boolean("process_first")
                          .value_or(f.action == FaultAction::drop_before_response || f.action == FaultAction::delay ||
                                    f.action == FaultAction::malformed_json);
    return f;
}

json::object Fault::to_json() const {
    return {{"id", id},           {"endpoint", endpoint}, {"user", user ? json::value(*user) : json::value(nullptr)},
            {"after", after},     {"times", times},       {"action", action_name(action)},
            {"status", status},   {"delay_ms", delay_ms}, {"process_first", process_first},
            {"matched", matched}, {"fired", fired}};
}

int Faults::add(Fault fault) {
    fault.id = next_id_++;
    faults_.push_back(std::move(fault));
    return faults_.back().id;
}

json::array Faults::to_json() const {
    json::array out;
    for (const auto& f : faults_) out.push_back(f.to_json());
    return out;
}

std::optional<Fault> Faults::match(const std::string& endpoint, const std::string& user, bool header_phase) {
    for (auto& f : faults_) {
        if ((f.action == FaultAction::reset_before_body) != header_phase) continue;
        if (f.endpoint != "any" && f.endpoint != endpoint) continue;
        if (f.user && *f.user != user) continue;
        if (f.times != -1 && f.fired >= f.times) continue;
        if (++f.matched <= f.after) continue;
        ++f.fired;
        return f;
    }
    return std::nullopt;
}

}  // namespace google_sandbox::detail
