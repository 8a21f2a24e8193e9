// The settings page's actions (its POST forms): connect, disconnect, preferences, the test
// nudge, decisions on held nudges, deleting the account; and the demo's debug clock.
#include "web/http_helpers.hpp"
#include "web/web_app.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace host {
namespace {

namespace json = boost::json;
using web::json_response;
using web::lower;
using web::redirect;

// A media type without its parameters: "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(const std::string& content_type) {
    std::string t = lower(content_type.substr(0, content_type.find(';')));
    t.erase(0, t.find_first_not_of(" \t"));
    t.erase(t.find_last_not_of(" \t") + 1);
    return t;
}

constexpr int64_t kMaxClockStepSeconds = 366LL * 24 * 3600;  // a year per call is plenty for a demo

}  // namespace

WebResponse WebApp::connect(const std::string& sid, const Form& form) {
    std::string user_id = user_of(sid);
    std::string provider = form.count("provider") ? form.at("provider") : "";
    auto p = rt_.providers->available(provider);
    if (!p) {
        flash(sid, "error", "That integration is not available.");
        return redirect("/settings/communication");
    }
    json::object request;
    std::string mailbox = provider_status(user_id, provider).mailbox;
    // Reconnecting: the same person again. A first connect: the person picks the account,
    // even when the browser is still signed in at the provider as someone else.
    if (!mailbox.empty())
        request["login_hint"] = mailbox;
    else if (p->interactive_connect())
        request["prompt"] = "select_account";
    auto r = p->begin_connect(user_id, json::serialize(request));
    if (!r.ok()) {
        flash(sid, "error", "Could not start connecting: " + r.result.document);
        return redirect("/settings/communication");
    }
    if (json_str(r.document, "action") == "redirect") {
        {
            std::lock_guard lock(mutex_);
            if (Session* s = session(sid)) {
                std::erase(s->connecting_providers, provider);
                s->connecting_providers.push_back(provider);
            }
        }
        return redirect(json_str(r.document, "authorization_url"));
    }
    flash(sid, "success", p->display_name() + " is connected.");
    rt_.outbox->on_connected(user_id, provider);
    offer_to_use(sid, user_id, *p);
    return redirect("/settings/communication");
}

// After a connect: the user is asked whether nudges should go through it, unless they do already.
void WebApp::offer_to_use(const std::string& sid, const std::string& user_id, const ProviderHandle& p) {
    CommunicationSettings s = rt_.store->settings(user_id);
    if (s.preferred_channel != "email" || s.email_provider != p.id())
        flash(sid, "info", "Use " + p.display_name() + " for your nudges? Click \"Use for nudges\" on its card.");
}

WebResponse WebApp::disconnect(const std::string& sid, const Form& form) {
    std::string provider = form.count("provider") ? form.at("provider") : "";
    if (auto p = rt_.providers->available(provider)) {
        auto r = p->disconnect(user_of(sid));
        if (r.ok()) {
            std::string message = json_str(r.document, "message");
            flash(sid, "info", message.empty() ? p->display_name() + " was disconnected." : message);
        } else {
            flash(sid, "error", "Disconnect failed: " + r.result.document);
        }
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::save_preferences(const std::string& sid, const Form& form) {
    std::string user_id = user_of(sid);
    CommunicationSettings s = rt_.store->settings(user_id);
    if (form.count("channel")) {
        if (form.at("channel") != "email") {
            flash(sid, "error", "That channel is not offered here: Email is the only one.");
            return redirect("/settings/communication");
        }
        s.preferred_channel = "email";
    }
    if (form.count("email_provider")) {
        auto p = rt_.providers->available(form.at("email_provider"));
        if (!p) {
            flash(sid, "error", "That email provider is not available.");
            return redirect("/settings/communication");
        }
        bool connected = provider_status(user_id, p->id()).state == ConnectionState::connected;
        if (!connected && p->interactive_connect()) {
            flash(sid, "error", p->display_name() + " is not connected: connect it first, then choose it.");
            return redirect("/settings/communication");
        }
        if (!connected) {
            // Needs no sign-in: choosing it is connecting it.
            auto r = p->begin_connect(user_id, "{}");
            if (!r.ok() || r.status().state != ConnectionState::connected) {
                flash(sid, "error", p->display_name() + " could not be connected: " + r.result.document);
                return redirect("/settings/communication");
            }
            rt_.outbox->on_connected(user_id, p->id());
        }
        s.email_provider = p->id();
    }
    rt_.store->save_settings(user_id, s);
    auto chosen = rt_.providers->find(s.email_provider);
    flash(sid, "success",
          chosen && s.preferred_channel == "email"
              ? "Preferences saved: your nudges go out by email through " + chosen->display_name() + "."
              : std::string("Preferences saved."));
    rt_.outbox->wake();
    return redirect("/settings/communication");
}

WebResponse WebApp::send_test_nudge(const std::string& sid, const Form& form) {
    auto get = [&](const char* k) { return form.count(k) ? form.at(k) : std::string(); };
    json::object message{{"to", json::array{json::object{{"address", get("to")}}}},
                         {"subject", get("subject")},
                         {"text", get("text")},
                         {"headers", json::array{json::object{{"name", "x-nudge-source"}, {"value", "test-nudge"}}}}};
    try {
        std::string user_id = user_of(sid);
        FollowUp follows = get("follows").empty() ? FollowUp{} : parse_follow_up(get("follows"));
        int64_t id = rt_.outbox->enqueue(user_id, std::move(message), follows);
        // Queued is not on its way when the provider cannot send: the nudge waits, and says so.
        std::string provider = rt_.store->settings(user_id).email_provider;
        auto p = rt_.providers->find(provider);
        if (provider_status(user_id, provider).state == ConnectionState::connected)
            flash(sid, "success", "Nudge #" + std::to_string(id) + " queued.");
        else
            flash(sid, "warning",
                  "Nudge #" + std::to_string(id) + " is waiting: " + (p ? p->display_name() : provider) +
                      " is not connected, so it goes out once you connect it again.");
    } catch (const OutboxError& e) {
        flash(sid, "error", std::string("The nudge was not queued: ") + e.what() + ".");
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::resend(const std::string& sid, const Form& form) {
    int64_t id = 0;
    try {
        id = std::stoll(form.count("id") ? form.at("id") : "0");
    } catch (...) {}
    if (rt_.store->resend(id, user_of(sid), rt_.clock.now_ms())) {
        flash(sid, "info", "Nudge #" + std::to_string(id) + " will be sent again, as you chose.");
        rt_.outbox->wake();
    } else {
        flash(sid, "error", "That nudge cannot be resent.");
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::decide_held(const std::string& sid, const Form& form, bool send) {
    auto it = form.find("id");
    int64_t id = 0;
    const std::string text = it == form.end() ? std::string() : it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
        flash(sid, "error", "That is not a nudge number.");
        return redirect("/settings/communication");
    }
    try {
        if (send)
            rt_.outbox->requeue(id, user_of(sid));
        else
            rt_.outbox->fail(id, user_of(sid), "discarded", "Discarded by you.");
        flash(sid, "success", "Nudge #" + std::to_string(id) + (send ? " will be sent now." : " was discarded."));
    } catch (const OutboxError& e) {
        flash(sid, "error", std::string("Nudge #") + std::to_string(id) + ": " + e.what());
    }
    return redirect("/settings/communication");
}

WebResponse WebApp::delete_account(const std::string& sid) {
    std::string user_id = user_of(sid);
    try {
        rt_.delete_user(user_id);
    } catch (const std::exception& e) {
        flash(sid, "error", std::string("The account could not be deleted: ") + e.what());
        return redirect("/settings/communication");
    }
    {
        // Every browser signed in as this user, not only this one.
        std::lock_guard lock(mutex_);
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            auto next = std::next(it);
            if (it->second.user_id == user_id) erase_session(it->first);
            it = next;
        }
    }
    return redirect("/signin?deleted=1");
}

WebResponse WebApp::debug_clock(const WebRequest& r) {
    // JSON only: a cross-site form cannot send it without a CORS preflight we never answer.
    if (media_type(r.header("content-type")) != "application/json")
        return json_response(415, json::object{{"error", "send application/json"}});
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    const json::value* seconds = !ec && v.is_object() ? v.as_object().if_contains("advance_seconds") : nullptr;
    if (!seconds || !seconds->is_int64() || seconds->as_int64() < -kMaxClockStepSeconds ||
        seconds->as_int64() > kMaxClockStepSeconds)
        return json_response(400, json::object{{"error", "expected {\"advance_seconds\": N} with |N| at most " +
                                                             std::to_string(kMaxClockStepSeconds) + " (a year)"}});
    if (!rt_.clock.advance(seconds->as_int64() * 1000))
        return json_response(
            400, json::object{{"error", "the host clock would move more than 100 years from the system clock"}});
    rt_.outbox->wake();
    return json_response(200, json::object{{"now_ms", rt_.clock.now_ms()}});
}

}  // namespace host
