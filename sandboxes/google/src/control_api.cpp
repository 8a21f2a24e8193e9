// /_sandbox/...: the control API. The C++ API (sandbox.cpp) calls the same code.
#include "service.hpp"

#include <ep_json/reader.hpp>

#include <boost/json.hpp>

#include <stdexcept>

namespace google_sandbox::detail {

namespace json = boost::json;
namespace reader = ep::json_reader;

namespace {

using Answer_ = std::pair<int, json::value>;

Answer_ ok(json::value v = json::object{{"ok", true}}) { return {200, std::move(v)}; }

json::object message_json(const SentMessage& m) {
    const auto list = [](const std::vector<std::string>& v) { return json::array(v.begin(), v.end()); };
    return {{"id", m.id},
            {"threadId", m.thread_id},
            {"user", m.user},
            {"from", m.from},
            {"to", list(m.to)},
            {"cc", list(m.cc)},
            {"bcc", list(m.bcc)},
            {"subject", m.subject},
            {"size", m.size},
            {"upload_type", m.upload_type},
            {"sent_at", m.sent_at_unix},
            {"message_id", m.message_id},
            {"in_reply_to", m.in_reply_to},
            {"references", list(m.references)},
            {"requested_thread_id", m.requested_thread_id}};
}

std::optional<DeadCause> cause_named(std::string_view name) {
    for (auto c : {DeadCause::revoked_by_user, DeadCause::revoked_by_app, DeadCause::password_change,
                   DeadCause::unused_six_months, DeadCause::testing_expiry, DeadCause::token_limit})
        if (name == dead_cause_name(c)) return c;
    return std::nullopt;
}

Answer_ kill(Service& svc, const reader::Object& body) {
    body.only({"user", "cause", "client_id"});
    const std::string user = body.required_non_empty_string("user");
    const auto cause = cause_named(body.required_string("cause"));
    if (!cause)
        body.fail("cause",
                  "must be one of revoked_by_user, revoked_by_app, password_change, unused_six_months, "
                  "testing_expiry, token_limit");
    const Account* account = svc.state.scenario.account(user);
    if (!account) body.fail("user", "is not an account of the scenario");
    kill_refresh_tokens(svc, account->email, *cause, body.string("client_id"));
    return ok();
}

Answer_ token_status(Service& svc, const reader::Object& body) {
    body.only({"refresh_token"});
    auto it = svc.state.refresh_tokens.find(body.required_string("refresh_token"));
    if (it == svc.state.refresh_tokens.end()) return {404, json::object{{"error", "unknown refresh token"}}};
    json::object o{{"alive", !it->second.dead}, {"user", it->second.email}, {"client_id", it->second.client_id}};
    o["cause"] = it->second.dead ? json::value(dead_cause_name(*it->second.dead)) : json::value(nullptr);
    return ok(o);
}

Answer_ autopilot(Service& svc, const reader::Object& body) {
    body.only({"authorize_url", "user", "answer", "untick"});
    AutopilotRequest r;
    r.authorize_url = body.required_non_empty_string("authorize_url");
    r.user = body.required_non_empty_string("user");
    r.answer =
        body.one_of<Answer>("answer", {{"allow", Answer::allow}, {"deny", Answer::deny}}).value_or(Answer::allow);
    if (auto untick = body.array("untick"))
        for (std::size_t i = 0; i < untick->size(); ++i) r.untick.insert(untick->string(i));
    const AutopilotResult result = run_autopilot(svc, r);
    json::object o{{"consent_page_shown", result.consent_page_shown}};
    if (result.callback_url) o["callback_url"] = *result.callback_url;
    if (!result.error_code.empty())
        o["error_page"] = json::object{
            {"status", result.error_status}, {"code", result.error_code}, {"message", result.error_message}};
    return ok(o);
}

Answer_ set_domain(Service& svc, const reader::Object& body) {
    body.only({"name", "blocks_unverified_apps"});
    const std::string name = body.required_non_empty_string("name");
    const bool blocks = body.boolean("blocks_unverified_apps").value_or(false);
    for (auto& d : svc.state.scenario.domains)
        if (d.name == name) {
            d.blocks_unverified_apps = blocks;
            return ok();
        }
    svc.state.scenario.domains.push_back({name, blocks});
    return ok();
}

Answer_ set_reauth(Service& svc, const reader::Object& body) {
    body.only({"user", "required"});
    const Account* account = svc.state.scenario.account(body.required_non_empty_string("user"));
    if (!account) body.fail("user", "is not an account of the scenario");
    if (body.boolean("required").value_or(true))
        svc.state.reauth_required.insert(account->email);
    else
        svc.state.reauth_required.erase(account->email);
    return ok();
}

Answer_ messages(Service& svc, std::string_view method, const std::string& query) {
    if (method == "DELETE") {
        svc.state.messages.clear();
        svc.state.sends.clear();
        return ok();
    }
    const auto params = sandbox::parse_form(query).value_or(Params{});
    const auto user = sandbox::param(params, "user");
    json::array out;
    for (const auto& m : svc.state.messages)
        if (!user || m.user == *user) out.push_back(message_json(m));
    return ok(json::object{{"messages", out}});
}

Answer_ dispatch(Service& svc, std::string_view method, const std::string& path, const std::string& query,
                 const json::value& body) {
    static const json::value no_body = json::object{};
    const reader::Object object(body.is_null() ? no_body : body, "body");
    const bool post = method == "POST";
    if (path == "/_sandbox/health") return ok(json::object{{"status", "ok"}});
    if (path == "/_sandbox/messages") return messages(svc, method, query);
    if (path == "/_sandbox/clock" && post) {
        object.only({"advance_seconds"});
        svc.advance_clock(object.integer("advance_seconds", 0, 1LL << 40).value_or(0));
        return ok(json::object{{"now", svc.now()}});
    }
    if (path == "/_sandbox/clock") return ok(json::object{{"now", svc.now()}});
    if (path == "/_sandbox/refresh-tokens/kill" && post) return kill(svc, object);
    if (path == "/_sandbox/refresh-tokens/status" && post) return token_status(svc, object);
    if (path == "/_sandbox/autopilot" && post) return autopilot(svc, object);
    if (path == "/_sandbox/domains" && post) return set_domain(svc, object);
    if (path == "/_sandbox/reauth" && post) return set_reauth(svc, object);
    if (path == "/_sandbox/faults" && post) return ok(json::object{{"id", svc.state.faults.add(parse_fault(body))}});
    if (path == "/_sandbox/faults" && method == "DELETE") {
        svc.state.faults.clear();
        return ok();
    }
    if (path == "/_sandbox/faults") return ok(json::object{{"faults", svc.state.faults.to_json()}});
    return {404, json::object{{"error", "no control endpoint " + std::string(method) + " " + path}}};
}

}  // namespace

std::pair<int, json::value> Service::control(std::string_view method, std::string_view target,
                                             const json::value& body) {
    const auto q = target.find('?');
    const std::string path(target.substr(0, q));
    const std::string query(q == std::string_view::npos ? "" : target.substr(q + 1));
    std::lock_guard lock(mutex);
    try {
        return dispatch(*this, method, path, query, body);
    } catch (const reader::FieldError& e) {
        return {400, json::object{{"error", e.what()}}};
    }
}

}  // namespace google_sandbox::detail
