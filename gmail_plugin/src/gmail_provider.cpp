#include "gmail_provider.hpp"

#include "ep_kit/mime_message.hpp"
#include "ep_kit/redact.hpp"

#include <boost/json.hpp>

namespace gmail {
namespace {

namespace json = boost::json;

// The part of ep.status/1 a stored grant decides, with Google's own fields: the Workspace
// organisation (hd) when there is one, and where the user removes the app's access.
void describe_grant(json::object& s, const GrantRecord& r) {
    describe_stored_grant(s, r);
    if (r.state != GrantState::connected || r.operator_error) return;
    s["account_kind"] = r.tenant_id.empty() ? "personal" : "workspace";
    if (!r.tenant_id.empty()) s["organization"] = r.tenant_id;
    s["revoke_url"] = kGoogleConnectionsUrl;
    s["disconnect_hint"] =
        "Disconnecting deletes the sign-in this app keeps for you and asks Google to withdraw the app's access to "
        "your account.";
}

}  // namespace

GmailProvider::GmailProvider(ep::sdk::Host host, std::string_view config_json)
    : host_(host),
      config_(parse_config(config_json)),
      store_(host_, config_.vault, std::string(kProviderName)),
      http_(config_.tls),
      work_(2),
      google_(std::move(config_.google)),
      tokens_(config_.token_settings(), store_, http_, work_, google_, host_,
              [this](ep_log_level l, const std::string& m) { log(l, m); }),
      senders_(store_, config_.access_token_cache_size),
      gmail_send_(config_, senders_, [host] { return host.now_unix_ms(); }),
      sends_(config_.send_settings(), gmail_send_, http_, tokens_, host_,
             [this](ep_log_level l, const std::string& m) { log(l, m); }),
      connect_(
          config_, store_, http_, google_, tokens_, senders_, host_,
          [this](ep_log_level l, const std::string& m) { log(l, m); },
          [this](std::string_view account) { return status_object(account); }),
      checks_(
          tokens_, http_, host_, std::string(kProviderName),
          [this](std::string_view account) { return status_object(account); }, userinfo_probe()) {
    ep::kit::init_mime();  // on the host's thread, before any send builds a MIME message
    log(EP_LOG_INFO,
        "Personal Gmail ready: OAuth client " + google_.settings().client.client_id +
            (google_.settings().app_in_testing ? " (publishing status Testing: connections last 7 days)" : ""));
}

GmailProvider::~GmailProvider() { sends_.shutdown(); }

void GmailProvider::log(ep_log_level level, const std::string& message) const {
    if (host_.log_enabled(level)) host_.log(level, redact(message));
}

std::string GmailProvider::begin_connect(std::string_view account, std::string_view request_json) {
    return connect_.begin(account, request_json);
}

std::string GmailProvider::complete_connect(std::string_view account, std::string_view callback_json) {
    return connect_.complete(account, callback_json);
}

std::string GmailProvider::status(std::string_view account) { return json::serialize(status_object(account)); }

json::object GmailProvider::status_object(std::string_view account) const {
    json::object s{{"schema", "ep.status/1"},
                   {"account", account},
                   {"provider", kProviderName},
                   {"application_id", google_.settings().client.client_id},
                   {"service_name", "Gmail"}};
    AccountStore::LoadResult loaded = store_.load_grant(account);
    if (loaded.absent()) {
        s["state"] = "not_connected";
        s["connect_hint"] =
            "You will sign in at Google and choose what this app may do: see your email address and send email as "
            "you. It cannot read your mail. If Google answers \"admin_policy_enforced\" or \"org_internal\", "
            "your organisation's Google Workspace does not allow this app yet: ask your IT administrator to trust "
            "it (its ID is below).";
        return s;
    }
    if (loaded.unreadable) {
        describe_unreadable(s, loaded.unreadable->problem);
        return s;
    }
    describe_grant(s, loaded.grant->record);
    return s;
}

std::string GmailProvider::sending_limits(std::string_view account) {
    AccountStore::LoadResult loaded = store_.load_grant(account);
    if (!loaded.grant || loaded.grant->record.state != GrantState::connected)
        return sending_limits_document(AccountKind::unknown);
    // The same test as status's account_kind: Google names a Workspace domain (hd).
    return sending_limits_document(loaded.grant->record.tenant_id.empty() ? AccountKind::consumer
                                                                          : AccountKind::workspace);
}

void GmailProvider::check_connection(std::string_view account, ep::sdk::CheckCallback done) {
    checks_.check(account, std::move(done));
}

// Userinfo with a token refreshed a moment ago: a session Google ended shows there.
ConnectionChecker::Probe GmailProvider::userinfo_probe() const {
    return {
        [this](std::string_view access_token) {
            HttpRequest me;
            me.url = config_.endpoints.userinfo();
            me.headers = {"Authorization: Bearer " + std::string(access_token), "Accept: application/json"};
            me.connect_timeout_ms = config_.connect_timeout_ms;
            me.timeout_ms = config_.request_timeout_ms;
            me.wanted_headers = {"www-authenticate"};
            return me;
        },
        [](const HttpResponse& r) {
            using Kind = ProbeVerdict::Kind;
            if (r.failure != TransferFailure::none)
                return ProbeVerdict{
                    Kind::failed, "network", "Google's userinfo endpoint could not be reached (" + r.error + ").", {}};
            if (r.status == 200) return ProbeVerdict{};
            if (r.status == 401)
                return ProbeVerdict{Kind::ended,
                                    {},
                                    {},
                                    ConnectionEnd{GrantState::expired,
                                                  "signin_required",
                                                  "Google no longer accepts this Gmail connection (for example "
                                                  "after you signed out of all devices). Connect again.",
                                                  "invalid_token",
                                                  {}}};
            return ProbeVerdict{Kind::failed,
                                "userinfo_unavailable",
                                "Google's userinfo endpoint answered HTTP " + std::to_string(r.status) + ".",
                                {}};
        }};
}

bool GmailProvider::revoke_at_google(const GrantRecord& grant) {
    if (grant.refresh_token.empty()) return true;
    HttpResponse r = http_.perform(google_.revoke_request(grant.refresh_token.view()));
    if (r.failure != TransferFailure::none) {
        log(EP_LOG_WARN, "Google's revoke endpoint could not be reached: " + r.error);
        return false;
    }
    if (classify_revoke_response(r.status, r.body.view()) == RevokeResult::revoked) return true;
    log(EP_LOG_WARN, "Google's revoke endpoint answered HTTP " + std::to_string(r.status));
    return false;
}

// Google can revoke the grant itself (unlike Microsoft for delegated consent), so disconnect
// asks it to, then deletes everything stored whatever Google answered: the user asked for it.
std::string GmailProvider::disconnect(std::string_view account) {
    AccountStore::LoadResult loaded = store_.load_grant(account);
    const bool revoked = loaded.grant && loaded.grant->record.state == GrantState::connected
                             ? revoke_at_google(loaded.grant->record)
                             : true;
    store_.erase_account(account);
    tokens_.forget(std::string(account));
    sends_.cancel_account(std::string(account));
    senders_.forget(account);
    log(EP_LOG_INFO, "account " + std::string(account) + " disconnected; its tokens were deleted" +
                         (revoked ? "" : " (Google could not revoke them)"));
    json::object out{
        {"schema", "ep.disconnect_result/1"},
        {"disconnected", true},
        {"revoked_at_provider", revoked},
        {"message",
         revoked ? "Disconnected: this app deleted your Google sign-in, and Google withdrew the app's access to your "
                   "account."
                 : "Disconnected: this app deleted your Google sign-in, but Google could not be reached to withdraw "
                   "the app's access. To remove it there too, go to " +
                       std::string(kGoogleConnectionsUrl) + "."},
        {"revoke_url", kGoogleConnectionsUrl},
        {"status", status_object(account)}};
    return json::serialize(out);
}

std::string GmailProvider::forget_account(std::string_view account) { return disconnect(account); }

ep::sdk::SendAdmission GmailProvider::send(std::string_view account, std::string_view message_json,
                                           ep::sdk::SendCallback done) {
    return sends_.submit(account, message_json, std::move(done));
}

}  // namespace gmail
