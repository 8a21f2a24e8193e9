#include "web/settings_view.hpp"

#include "core/host_util.hpp"
#include "outbox/threading.hpp"

#include <ctime>

namespace host::view {
namespace {

std::string provider_form(const std::string& action, const std::string& id, const std::string& csrf,
                          const std::string& confirm = {}) {
    return "<form method=\"post\" action=\"" + action + "\"" +
           (confirm.empty() ? std::string() : " data-confirm=\"" + esc(confirm) + "\"") + ">" + hidden_csrf(csrf) +
           "<input type=\"hidden\" name=\"provider\" value=\"" + esc(id) + "\">";
}

std::string connect_form(const Card& c, const std::string& csrf, const std::string& label) {
    return provider_form("/settings/communication/connect", c.id, csrf) + "<button id=\"connect-" + esc(c.id) + "\">" +
           esc(label) + "</button></form>";
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
}

// A value a person copies to someone else: shown, and with a button that copies it.
std::string copyable(const std::string& element_id, const std::string& text, const std::string& shown) {
    return shown + " <button type=\"button\" class=\"secondary copy\" data-copy=\"" + esc(text) +
           "\" aria-label=\"Copy " + esc(element_id) + "\">Copy</button>";
}

std::string who_and_since(const ProviderStatus& s) {
    std::string out;
    if (!s.mailbox.empty()) out += "<span class=\"muted\">" + esc(s.mailbox) + "</span> ";
    if (!s.since.empty()) out += "<span class=\"muted\">since " + time_element(s.since) + "</span>";
    return out;
}

// Approval required: what the user does, apart from what they send IT (the application id and
// the approval link, each easy to copy), and whether a request may already be with IT.
std::string approval_required(const Card& c, const std::string& csrf) {
    const ProviderStatus& s = c.status;
    std::string id = esc(c.id);
    std::string b = "<span class=\"badge warn\">Approval required</span> " + who_and_since(s);
    const char* request = nullptr;
    switch (s.admin_request) {
        case AdminRequest::sent:
            request =
                "Your request for approval was sent to your IT administrators. You will get an email when they decide.";
            break;
        case AdminRequest::possible:
            request =
                "Your organisation lets you request approval on the provider's sign-in page; this app cannot "
                "tell whether you sent a request.";
            break;
        case AdminRequest::unavailable:
            request =
                "No request was sent: your organisation has no way to request approval on the provider's "
                "sign-in page, so your IT administrator must be asked directly.";
            break;
        case AdminRequest::none:
            break;
    }
    b += "<p id=\"approval-request-" + id + "\" data-request=\"" +
         (s.admin_request == AdminRequest::sent          ? "sent"
          : s.admin_request == AdminRequest::possible    ? "possible"
          : s.admin_request == AdminRequest::unavailable ? "unavailable"
                                                         : "unknown") +
         "\">" + (request ? esc(request) : esc(s.message)) + "</p>";
    b += "<h4>What you do</h4><p id=\"user-action-" + id + "\">" +
         esc(s.user_action.empty() ? s.message : s.user_action) + "</p>";
    b += "<h4>What to send your IT administrator</h4><div class=\"for-it\" id=\"for-it-" + id + "\">";
    std::string all = s.admin_instructions;
    if (!s.admin_instructions.empty())
        b += "<p id=\"admin-instructions-" + id + "\">" + esc(s.admin_instructions) + "</p>";
    b += "<dl>";
    if (!s.application_id.empty()) {
        b += "<dt>Application ID</dt><dd>" +
             copyable("application ID", s.application_id,
                      "<code id=\"application-id\">" + esc(s.application_id) + "</code>") +
             "</dd>";
        all += "\nApplication ID: " + s.application_id;
    }
    if (!s.admin_consent_url.empty()) {
        b += "<dt>Approval link for the whole organisation</dt><dd>" +
             copyable("approval link", s.admin_consent_url,
                      "<a id=\"admin-consent-link\" href=\"" + esc(s.admin_consent_url) + "\">" +
                          esc(s.admin_consent_url) + "</a>") +
             "</dd>";
        all += "\nApproval link: " + s.admin_consent_url;
    }
    b += "</dl><p><button type=\"button\" class=\"secondary copy\" id=\"copy-for-it-" + id + "\" data-copy=\"" +
         esc(all) + "\">Copy all of it</button></p></div></div>";
    return b + connect_form(c, csrf, "Connect again after approval");
}

}  // namespace

std::string esc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string hidden_csrf(const std::string& csrf) {
    return "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(csrf) + "\">";
}

std::string time_element(const std::string& iso) {
    std::tm tm{};
    const char* end = strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr || (*end != 'Z' && *end != '.')) return esc(iso);  // not what SCHEMAS.md promises: as sent
    char buf[40];
    std::strftime(buf, sizeof buf, "%d %b %Y, %H:%M UTC", &tm);
    return "<time datetime=\"" + esc(iso) + "\">" + buf + "</time>";
}

namespace {

// A connected card's status, the offer to use it for nudges, and its Disconnect form.
std::string connected_body(const Card& c, const std::string& csrf) {
    std::string id = esc(c.id);
    const ProviderStatus& s = c.status;
    std::string b;
    b += "<span class=\"badge ok\">Connected</span> <strong id=\"email-" + id + "\">" + esc(s.mailbox) +
         "</strong> <span class=\"muted\">" + esc(s.display_name) + "</span>";
    // Permissions granted to the app that it never uses: said, so that IT can remove them.
    if (!s.extra_permissions.empty())
        b += "<p class=\"muted\" id=\"extra-permissions-" + id +
             "\">The provider also lists permissions this "
             "app does not use: " +
             esc(joined(s.extra_permissions)) +
             " (granted earlier or by your "
             "organisation). Your IT administrator can remove them.</p>";
    b += "</div>";
    if (!c.chosen)
        b += "<form method=\"post\" action=\"/settings/communication/preferences\" class=\"offer\">" +
             hidden_csrf(csrf) +
             "<input type=\"hidden\" name=\"channel\" value=\"email\"><input type=\"hidden\" "
             "name=\"email_provider\" value=\"" +
             id + "\"><p id=\"offer-" + id + "\">Send your nudges through " + esc(c.name) + " (" + esc(s.mailbox) +
             ")? <button id=\"use-" + id + "\">Use for nudges</button></p></form>";
    b += provider_form("/settings/communication/disconnect", c.id, csrf,
                       "Disconnect " + c.title() + "? Nudges are not sent through it until you connect again.") +
         "<p class=\"muted\" id=\"disconnect-hint-" + id + "\">" + esc(s.disconnect_hint) +
         (s.revoke_url.empty()
              ? std::string()
              : " <a id=\"revoke-link-" + id + "\" href=\"" + esc(s.revoke_url) + "\">" + esc(s.revoke_url) + "</a>") +
         "</p><button class=\"secondary\" id=\"disconnect-" + id + "\">Disconnect</button></form>";
    return b;
}

}  // namespace

std::string integration_card(const Card& c, const std::string& csrf) {
    std::string id = esc(c.id);
    std::string b = "<div class=\"card\" id=\"integration-" + id + "\"" + (c.checking ? " data-checking" : "") +
                    "><h3>" + esc(c.title()) + "</h3>";
    if (!c.available)
        return b + "<span class=\"badge bad\">Unavailable</span><p class=\"muted\" id=\"load-error-" + id +
               "\">This integration " + (c.loaded ? "is not available: " : "could not be loaded: ") +
               esc(c.load_error) + "</p></div>";
    const ProviderStatus& s = c.status;
    b += "<div id=\"status-" + id + "\" data-state=\"" + esc(s.state_name) + "\">";
    switch (s.state) {
        case ConnectionState::connected:
            b += connected_body(c, csrf);
            break;
        case ConnectionState::expired:
            b += "<span class=\"badge warn\">Expired</span> " + who_and_since(s) + "<p id=\"reason-" + id + "\">" +
                 esc(s.message) + " Nudges are kept and go out once you connect again.</p></div>" +
                 connect_form(c, csrf, "Connect again");
            break;
        case ConnectionState::permission_denied:
            b += "<span class=\"badge bad\">Permission denied</span> " + who_and_since(s) + "<p id=\"reason-" + id +
                 "\">" + esc(s.message) + "</p></div>" + connect_form(c, csrf, "Connect again");
            break;
        case ConnectionState::admin_approval_required:
            b += approval_required(c, csrf);
            break;
        case ConnectionState::configuration_error:
            b += "<span class=\"badge bad\">Configuration problem</span><p>This integration cannot work until the "
                 "operator fixes its configuration. <span class=\"muted\" id=\"operator-message\">For the operator: " +
                 esc(s.message) + "</span></p></div>";
            break;
        case ConnectionState::not_connected:
            b += "<span class=\"badge off\">Not connected</span>";
            if (!s.connect_hint.empty())
                b += "<p class=\"muted\" id=\"connect-hint-" + id + "\">" + esc(s.connect_hint) + "</p>";
            // A provider that needs no sign-in has nothing to click: choosing it connects it.
            b += c.interactive ? "</div>" + connect_form(c, csrf, "Connect")
                               : "<p id=\"no-connect-" + id +
                                     "\">Nothing to connect: choose it as your email provider "
                                     "below.</p></div>";
            break;
        case ConnectionState::unknown:
            b += "<span class=\"badge off\">" + esc(s.state_name.empty() ? "Unknown" : s.state_name) + "</span><p>" +
                 esc(s.message) + "</p></div>";
            break;
    }
    if (s.state != ConnectionState::not_connected) {
        b += "<p class=\"muted\" id=\"checked-" + id + "\">" +
             (s.checked_at.empty() ? std::string("Not checked with the provider yet.")
                                   : "Last checked with the provider: " + time_element(s.checked_at) + ".") +
             (c.checking ? " <span class=\"checking\">Checking now…</span>" : "") + "</p>";
    }
    if (!s.application_id.empty() && s.state != ConnectionState::admin_approval_required)
        b += "<p class=\"muted\">Application ID, for your IT administrator: <code>" + esc(s.application_id) +
             "</code></p>";
    return b + "</div>";
}

std::string integrations(const std::vector<Card>& cards, const std::string& csrf) {
    std::string b = "<div id=\"integrations\">";
    for (const auto& c : cards) b += integration_card(c, csrf);
    return b + "</div>";
}

std::string preferences(const std::vector<Card>& cards, const CommunicationSettings& settings,
                        const std::string& csrf) {
    std::string b = "<form method=\"post\" action=\"/settings/communication/preferences\">" + hidden_csrf(csrf) +
                    "<fieldset><legend>Preferred channel</legend><label><input type=\"radio\" name=\"channel\" "
                    "id=\"channel-email\" value=\"email\"" +
                    (settings.preferred_channel == "email" ? " checked" : "") +
                    "> Email</label></fieldset><fieldset><legend>Email provider</legend>";
    for (const auto& c : cards) {
        if (!c.available) continue;
        std::string note = c.connected()   ? c.status.mailbox
                           : c.choosable() ? "connects when you choose it"
                                           : "not connected: connect it above first";
        b += "<label><input type=\"radio\" name=\"email_provider\" id=\"provider-" + esc(c.id) + "\" value=\"" +
             esc(c.id) + "\"" + (settings.email_provider == c.id ? " checked" : "") +
             (c.choosable() ? "" : " disabled") + "> " + esc(c.name) +
             (note.empty() ? "" : " <span class=\"muted\">(" + esc(note) + ")</span>") + "</label>";
    }
    return b + "</fieldset><p><button id=\"save-preferences\">Save</button></p></form>";
}

// The user's decision on one held nudge that will not go out by itself (is_stranded): send it
// with the current provider (or, when the mailbox changed, from the one connected now), or
// discard it. Empty for any other nudge.
std::string held_nudge_actions(const Nudge& n, const std::string& csrf) {
    if (!is_stranded(n)) return {};
    std::string id = std::to_string(n.id);
    std::string send_label =
        n.last_code == stranded::mailbox_changed ? "Confirm and send" : "Send with current provider";
    return "<form method=\"post\" action=\"/settings/communication/outbox/send\" style=\"display:inline\">" +
           hidden_csrf(csrf) + "<input type=\"hidden\" name=\"id\" value=\"" + id + "\"><button id=\"send-held-" + id +
           "\">" + send_label +
           "</button></form> <form method=\"post\" action=\"/settings/communication/outbox/discard\" "
           "style=\"display:inline\">" +
           hidden_csrf(csrf) + "<input type=\"hidden\" name=\"id\" value=\"" + id +
           "\"><button class=\"secondary\" id=\"discard-" + id + "\">Discard</button></form>";
}

// Under a follow-up's subject: the conversation it continues ("in thread with #N").
std::string thread_note(const Nudge& n) {
    std::string label = thread_label(n);
    return label.empty() ? "" : "<br><span class=\"muted thread\">" + esc(label) + "</span>";
}

// What a paced nudge waits for, and when its slot comes.
std::string paced_details(const Nudge& n) {
    return "Paced: goes out at " + time_element(iso_time(n.not_before_ms)) + ". " + esc(n.last_message);
}

std::string daily_allowance(const std::optional<DailyAllowance>& allowance) {
    std::string text = allowance ? describe(*allowance) : std::string();
    return text.empty() ? text : "<caption id=\"outbox-allowance\" class=\"muted\">" + esc(text) + "</caption>";
}

std::string outbox(const std::vector<Nudge>& nudges, const std::map<std::string, Via>& via, const std::string& csrf,
                   std::string_view caption) {
    std::string b = "<table id=\"outbox\">" + std::string(caption) +
                    "<thead><tr><th scope=\"col\">#</th><th scope=\"col\">To</th><th scope=\"col\">"
                    "Subject</th><th scope=\"col\">Via</th><th scope=\"col\">State</th><th scope=\"col\">Details</th>"
                    "<th scope=\"col\">Actions</th></tr></thead><tbody>";
    if (nudges.empty()) b += "<tr><td colspan=\"7\" class=\"muted\" id=\"outbox-empty\">No nudges yet.</td></tr>";
    for (const auto& n : nudges) {
        auto it = via.find(n.provider);
        Via v = it != via.end() ? it->second : Via{n.provider, "", false};
        // The mailbox it was queued from (and so sent from); the provider's current one for
        // nudges from before that was recorded.
        const std::string& mailbox = n.mailbox.empty() ? v.mailbox : n.mailbox;
        std::string state = to_string(n.state);
        std::string badge =
            n.state == NudgeState::sent                                                                       ? "ok"
            : (n.state == NudgeState::failed || n.state == NudgeState::needs_review)                          ? "bad"
            : n.state == NudgeState::held || n.state == NudgeState::throttled || n.state == NudgeState::paced ? "warn"
                                                                                                              : "off";
        std::string details = esc(n.last_message);
        if (n.state == NudgeState::sent)
            details = "sent " + time_element(iso_time(n.sent_ms));
        else if (n.state == NudgeState::held && is_stranded(n))
            details = esc(n.last_message);
        else if (n.state == NudgeState::held)
            details = esc(v.connected ? "Held: it goes out shortly, now that " + v.name + " is connected again."
                                      : "Held: it goes out when you connect " + v.name + " again.");
        else if (n.state == NudgeState::throttled && n.not_before_ms > 0)
            // A mailbox's daily limit can hold nudges for hours: say when the next try is.
            details = esc(n.last_message) + " Next attempt: " + time_element(iso_time(n.not_before_ms)) + ".";
        else if (n.state == NudgeState::paced)
            details = paced_details(n);
        else if (n.state == NudgeState::queued && !v.connected)
            details = esc("Waiting: " + v.name + " is not connected; it goes out once you connect it.");
        b += "<tr id=\"nudge-" + std::to_string(n.id) + "\" data-state=\"" + state + "\"><td>" + std::to_string(n.id) +
             "</td><td>" + esc(n.to) + "</td><td>" + esc(n.subject) + thread_note(n) + "</td><td>" + esc(v.name) +
             (mailbox.empty() ? "" : "<br><span class=\"muted mailbox\">" + esc(mailbox) + "</span>") +
             "</td><td><span class=\"badge " + badge + "\">" + esc(state == "needs_review" ? "needs review" : state) +
             "</span></td><td class=\"muted\">" + details + "</td><td>";
        if (n.state == NudgeState::needs_review)
            b += "<form method=\"post\" action=\"/settings/communication/resend\">" + hidden_csrf(csrf) +
                 "<input type=\"hidden\" name=\"id\" value=\"" + std::to_string(n.id) +
                 "\"><button class=\"secondary\" title=\"It may already have been sent\">Resend</button></form>";
        b += held_nudge_actions(n, csrf);
        b += "</td></tr>";
    }
    return b + "</tbody></table>";
}

const char* script() {
    return R"JS('use strict';
(() => {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const localTimes = (root) => root.querySelectorAll('time[datetime]').forEach((t) => {
    const d = new Date(t.dateTime);
    if (!Number.isNaN(d.getTime())) { t.title = t.textContent; t.textContent = fmt.format(d); }
  });

  // Confirm what cannot be undone with one click (Disconnect, Delete my account).
  document.addEventListener('submit', (e) => {
    const question = e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // Copy buttons; where the clipboard is refused, the text is selected for Ctrl+C instead.
  document.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-copy]');
    if (!button) return;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = 'Copied';
    } catch {
      const target = button.previousElementSibling || button.parentElement;
      window.getSelection().selectAllChildren(target);
      button.textContent = 'Selected: press Ctrl+C';
    }
  });

  // The outbox, and the cards while a check runs or when a nudge changed (a send may have found
  // the connection ended), follow the server without a reload. null: signed out or gone.
  const last = {};
  async function refresh(id, url) {
    const r = await fetch(url, { credentials: 'same-origin', redirect: 'manual' });
    if (r.status !== 200) return null;
    const html = await r.text();
    const el = document.getElementById(id);
    if (!el || last[id] === html) return false;
    last[id] = html;
    const template = document.createElement('template');
    template.innerHTML = html;
    const fresh = template.content.firstElementChild;
    if (fresh && fresh.id === id) { el.replaceWith(fresh); localTimes(fresh); }
    return true;
  }
  async function poll() {
    try {
      if (!document.hidden) {
        const changed = await refresh('outbox', '/settings/communication/outbox');
        if (changed === null) return;  // stop asking
        if (changed || document.querySelector('#integrations [data-checking]'))
          if (await refresh('integrations', '/settings/communication/integrations') === null) return;
      }
    } catch { /* offline for a moment: try again */ }
    setTimeout(poll, 1500);
  }
  localTimes(document);
  setTimeout(poll, 1500);
})();
)JS";
}

}  // namespace host::view
