// Where a provider's sign-in sends the browser back: the connect started on the settings
// page is completed here (or an IT administrator's admin-consent answer is acknowledged).
#include "web/http_helpers.hpp"
#include "web/web_app.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <iterator>

namespace host {

namespace json = boost::json;
using web::html;
using web::redirect;

WebResponse WebApp::callback(const std::string& sid, const WebRequest& r, const std::string& path_provider) {
    std::string user_id, provider;
    {
        std::lock_guard lock(mutex_);
        if (Session* s = session(sid)) {
            user_id = s->user_id;
            auto& connecting = s->connecting_providers;
            // The provider the path names, if its sign-in started here; else the latest one.
            auto it = path_provider.empty() ? (connecting.empty() ? connecting.end() : std::prev(connecting.end()))
                                            : std::find(connecting.begin(), connecting.end(), path_provider);
            if (it != connecting.end()) {
                provider = *it;
                connecting.erase(it);
            }
        }
    }
    bool admin_consent = r.target.find("admin_consent=") != std::string::npos;
    if (admin_consent && provider.empty()) {
        // An IT administrator coming back from the admin-consent link: nothing to connect.
        bool declined = r.target.find("error=") != std::string::npos;
        return html(
            200, page("Admin consent", "",
                      declined ? "<h1>Consent was not granted</h1><p>The administrator declined. Nothing changed.</p>"
                               : "<h1>Thank you</h1><p id=\"admin-consent-done\">The application was approved for "
                                 "your organisation. People can now connect their mailbox from Settings &gt; "
                                 "Communication.</p>"));
    }
    if (user_id.empty() || !user_may_sign_in(user_id)) return redirect("/signin");  // deleted or removed since
    if (provider.empty()) {
        flash(sid, "error",
              "No sign-in was in progress in this browser session, so this answer was ignored. Start with Connect.");
        return redirect("/settings/communication");
    }
    auto p = rt_.providers->available(provider);
    if (!p) return redirect("/settings/communication");
    std::string callback_url = public_url_ + r.target;
    auto result = p->complete_connect(user_id, json::serialize(json::object{{"callback_url", callback_url}}));
    if (!result.ok()) {
        flash(sid, "error", "The connection could not be completed: " + result.result.document);
        return redirect("/settings/communication");
    }
    const json::object& o = result.document;
    switch (connect_outcome_from(json_str(o, "outcome"))) {
        case ConnectOutcome::connected:
            flash(sid, "success", json_str(o, "message"));
            rt_.outbox->on_connected(user_id, provider);
            offer_to_use(sid, user_id, *p);
            break;
        case ConnectOutcome::admin_approval_required:
            flash(sid, "warning",
                  "Your organisation needs an administrator to approve this app: see below what you do "
                  "and what to send your IT administrator.");
            break;
        case ConnectOutcome::configuration_error:
            flash(sid, "error",
                  json_str(o, "message") + " (For the operator: " + json_str(o, "operator_message") + ")");
            break;
        case ConnectOutcome::cancelled:
        case ConnectOutcome::declined:
            flash(sid, "info", json_str(o, "message"));
            break;
        case ConnectOutcome::other:
            flash(sid, "error", json_str(o, "message"));
            break;
    }
    return redirect("/settings/communication");
}

}  // namespace host
