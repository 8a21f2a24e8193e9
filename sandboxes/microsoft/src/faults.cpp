#include "faults.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

struct ActionName {
    FaultAction action;
    const char* name;
};
constexpr ActionName kActions[] = {
    {FaultAction::status, "status"},
    {FaultAction::delay, "delay"},
    {FaultAction::drop_before_response, "drop_before_response"},
    {FaultAction::reset_before_body, "reset_before_body"},
    {FaultAction::status_after_record, "status_after_record"},
    {FaultAction::malformed_json, "malformed_json"},
    {FaultAction::truncated_body, "truncated_body"},
    {FaultAction::huge_body, "huge_body"},
    {FaultAction::access_denied, "access_denied"},
    {FaultAction::redirect_error, "redirect_error"},
};

const char* action_name(FaultAction a) {
    for (const auto& n : kActions)
        if (n.action == a) return n.name;
    return "?";
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("fault rule: " + what); }

std::int64_t get_int(const json::object& o, const char* key, std::int64_t def) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return def;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
    bad(std::string(key) + " must be an integer");
}

std::optional<std::string> get_str(const json::object& o, const char* key) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return std::nullopt;
    if (!it->value().is_string()) bad(std::string(key) + " must be a string");
    return std::string(it->value().as_string());
}

}  // namespace

const char* endpoint_name(Endpoint e) {
    switch (e) {
        case Endpoint::authorize:
            return "authorize";
        case Endpoint::login_pages:
            return "login_pages";
        case Endpoint::token:
            return "token";
        case Endpoint::adminconsent:
            return "adminconsent";
        case Endpoint::discovery:
            return "discovery";
        case Endpoint::me:
            return "me";
        case Endpoint::send_mail:
            return "sendMail";
        case Endpoint::control:
            return "control";
        case Endpoint::unknown:
            return "unknown";
    }
    return "unknown";
}

namespace {

// "action", or the action implied by a bare status or delay_ms (read before it).
void read_action(const json::object& o, FaultRule& r) {
    const auto action = get_str(o, "action");
    if (!action) {
        // {"status": 503} or {"delay_ms": 500} alone are enough.
        r.action = r.status ? FaultAction::status : r.delay_ms ? FaultAction::delay : FaultAction::status;
        if (!r.status && !r.delay_ms) bad("give an action, a status or a delay_ms");
    } else {
        auto it = std::find_if(std::begin(kActions), std::end(kActions),
                               [&](const ActionName& n) { return *action == n.name; });
        if (it == std::end(kActions)) bad("unknown action '" + *action + "'");
        r.action = it->action;
    }
}

void read_retry_after(const json::object& o, FaultRule& r) {
    if (auto it = o.find("retry_after"); it != o.end() && !it->value().is_null()) {
        const auto& v = it->value();
        if (v.is_string())
            r.retry_after = std::string(v.as_string());
        else if (v.is_int64())
            r.retry_after = std::to_string(v.as_int64());
        else if (v.is_double())
            r.retry_after = json::serialize(v);
        else
            bad("retry_after must be seconds (number or string) or an HTTP date string");
    }
}

}  // namespace

FaultRule parse_fault_rule(const json::value& value) {
    if (!value.is_object()) bad("expected a JSON object");
    const auto& o = value.as_object();
    static const char* known[] = {"endpoint",   "user",    "grant_type",     "after",          "times",
                                  "action",     "status",  "retry_after",    "delay_ms",       "process_first",
                                  "error_code", "message", "redirect_error", "huge_body_bytes"};
    for (const auto& kv : o) {
        if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return kv.key() == k; }))
            bad("unknown field '" + std::string(kv.key()) + "'");
    }
    FaultRule r;
    r.endpoint = get_str(o, "endpoint").value_or("any");
    static const char* endpoints[] = {"authorize", "token", "me", "sendMail", "adminconsent", "any"};
    if (std::none_of(std::begin(endpoints), std::end(endpoints), [&](const char* e) { return r.endpoint == e; }))
        bad("endpoint must be one of authorize, token, me, sendMail, adminconsent, any");
    r.user = get_str(o, "user");
    r.grant_type = get_str(o, "grant_type");
    r.after = static_cast<int>(get_int(o, "after", 0));
    r.times = static_cast<int>(get_int(o, "times", 1));
    if (r.after < 0 || r.times < -1 || r.times == 0) bad("after must be >= 0 and times >= 1 or -1");
    r.status = static_cast<int>(get_int(o, "status", 0));
    r.delay_ms = static_cast<int>(get_int(o, "delay_ms", 0));
    if (r.delay_ms < 0 || r.delay_ms > 600000) bad("delay_ms must be within 0..600000");

    read_action(o, r);
    if (r.action == FaultAction::status && (r.status < 400 || r.status > 599))
        bad("action status needs a status between 400 and 599");
    if (r.action == FaultAction::status_after_record && r.status == 0) r.status = 504;

    read_retry_after(o, r);
    // Actions that make sense only once the request took effect default to processing first.
    const bool after_processing = r.action == FaultAction::status_after_record ||
                                  r.action == FaultAction::malformed_json || r.action == FaultAction::truncated_body ||
                                  r.action == FaultAction::huge_body || r.action == FaultAction::delay;
    r.process_first = after_processing;
    if (auto it = o.find("process_first"); it != o.end()) {
        if (!it->value().is_bool()) bad("process_first must be a boolean");
        r.process_first = it->value().as_bool();
    }
    if (auto code = get_str(o, "error_code"))
        r.error_code = *code;
    else if (auto it = o.find("error_code"); it != o.end() && it->value().is_int64())
        r.error_code = std::to_string(it->value().as_int64());
    if (auto m = get_str(o, "message")) r.message = *m;
    if (auto e = get_str(o, "redirect_error")) r.redirect_error = *e;
    r.huge_body_bytes = static_cast<std::size_t>(get_int(o, "huge_body_bytes", 20 * 1024 * 1024));
    if (r.huge_body_bytes > 256u * 1024 * 1024) bad("huge_body_bytes is capped at 256 MiB");
    if (r.action == FaultAction::redirect_error && r.endpoint != "authorize")
        bad("redirect_error applies to the authorize endpoint only");
    return r;
}

json::object FaultRule::to_json() const {
    json::object o;
    o["id"] = id;
    o["endpoint"] = endpoint;
    o["user"] = user ? json::value(*user) : json::value(nullptr);
    o["grant_type"] = grant_type ? json::value(*grant_type) : json::value(nullptr);
    o["after"] = after;
    o["times"] = times;
    o["action"] = action_name(action);
    o["status"] = status;
    o["retry_after"] = retry_after ? json::value(*retry_after) : json::value(nullptr);
    o["delay_ms"] = delay_ms;
    o["process_first"] = process_first;
    o["matched"] = matched;
    o["fired"] = fired;
    return o;
}

int FaultEngine::add(FaultRule rule) {
    rule.id = next_id_++;
    rule.matched = rule.fired = 0;
    rules_.push_back(std::move(rule));
    return rules_.back().id;
}

std::optional<FaultRule> FaultEngine::match(Endpoint endpoint, std::string_view user, std::string_view grant_type,
                                            bool header_phase) {
    if (endpoint == Endpoint::control || endpoint == Endpoint::unknown) return std::nullopt;
    const std::string_view name = endpoint_name(endpoint);
    for (auto& r : rules_) {
        if ((r.action == FaultAction::reset_before_body) != header_phase) continue;
        if (r.endpoint != "any" && r.endpoint != name) continue;
        if (r.user && !iequal(*r.user, user)) continue;
        if (r.grant_type && *r.grant_type != grant_type) continue;
        if (r.times != -1 && r.fired >= r.times) continue;
        ++r.matched;
        if (r.matched <= r.after) continue;
        ++r.fired;
        return r;
    }
    return std::nullopt;
}

}  // namespace ms_sandbox::detail
