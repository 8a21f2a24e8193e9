#include "outlook_provider.hpp"

#include "ep_kit/encoding.hpp"
#include "ep_kit/mime_message.hpp"
#include "ep_kit/redact.hpp"
#include "ep_kit/status_fields.hpp"
#include "graph_mail.hpp"
#include "graph_request.hpp"
#include "uses_kit.hpp"

#include <boost/json.hpp>

namespace outlook {
namespace {

namespace json = boost::json;

constexpr const char* kPersonalTenant = "9188040d-6c67-4c5b-b112-36a304b66dad";

// Where people remove the app's access at Microsoft: the page the product documentation names
// for personal accounts, My Apps for work and school accounts.
std::string revoke_url(const std::string& tenant_id) {
    return tenant_id == kPersonalTenant ? "https://account.microsoft.com/privacy/app-access"
                                        : "https://myapps.microsoft.com";
}

// The card's words for an "approval required" state (ep.status/1 user_action, admin_instructions,
// admin_request). AADSTS90095 means the tenant runs the admin consent workflow: the user was
// offered "Request approval" at Microsoft, which does not tell the app whether they used it.
void describe_approval(json::object& s, const std::string& code) {
    bool workflow = code == "AADSTS90095";
    s["admin_request"] = workflow ? "possible" : "unavailable";
    s["user_action"] =
        workflow
            ? "If you clicked Request approval at Microsoft, your IT administrators have your request and you will "
              "get an email from Microsoft when they decide. If you did not, click Connect again and request "
              "approval there, or send your IT administrator the details below. Once approved, connect again."
            : "Your organisation does not let people request approval at Microsoft. Send your IT administrator the "
              "details below; once they have approved the app, connect again.";
    s["admin_instructions"] =
        workflow ? "Please approve this app: in the Microsoft Entra admin center, open Enterprise applications > Admin "
                   "consent requests and review the request, or approve the app for the whole organisation with the "
                   "link. Check that the application ID matches before approving."
                 : "Please approve this app for our organisation with the link (you sign in as an administrator of our "
                   "Microsoft Entra tenant and review its permissions: User.Read, Mail.Send, offline_access). Check "
                   "that the application ID matches before approving.";
}

// The part of ep.status/1 a stored grant decides: who is connected and in which state, with
// Microsoft's own fields.
void describe_grant(json::object& s, const GrantRecord& r) {
    describe_stored_grant(s, r);
    if (r.state == GrantState::connected && !r.operator_error) {
        s["tenant"] = r.tenant_id;
        s["cloud"] = r.cloud;
        s["revoke_url"] = revoke_url(r.tenant_id);
        s["disconnect_hint"] =
            "Disconnecting deletes the sign-in this app keeps for you, right away. Your Microsoft "
            "account still lists the app until you remove it there (the link below).";
    } else if (r.state == GrantState::admin_approval_required) {
        s["admin_consent_url"] = r.admin_consent_url;
        describe_approval(s, r.error_code);
    }
}

}  // namespace

OutlookProvider::OutlookProvider(ep::sdk::Host host, std::string_view config_json)
    : host_(host),
      config_(parse_config(config_json)),
      store_(host_, config_.vault, std::string(kProviderName)),
      http_(config_.tls),
      work_(2),
      token_client_(config_, [host] { return host.now_unix_ms(); }),
      tokens_(config_.token_settings(), store_, http_, work_, token_client_, host_,
              [this](ep_log_level l, const std::string& m) { log(l, m); }),
      graph_send_(config_, store_, [host] { return host.now_unix_ms(); }),
      sends_(config_.send_settings(), graph_send_, http_, tokens_, host_,
             [this](ep_log_level l, const std::string& m) { log(l, m); }),
      connect_(config_, store_, http_, token_client_, tokens_, host_,
               [this](ep_log_level l, const std::string& m) { log(l, m); }),
      checks_(
          tokens_, http_, host_, std::string(kProviderName),
          [this](std::string_view account) { return status_object(account); }, profile_probe()) {
    ep::kit::init_mime();  // on the host's thread, before any send builds a MIME message
    connect_.set_status_builder([this](std::string_view account) { return status_object(account); });
    log(EP_LOG_INFO, std::string("Personal Outlook ready: application ") + config_.client_id + ", authority " +
                         config_.authority + ", cloud " + to_string(config_.cloud));
}

OutlookProvider::~OutlookProvider() { sends_.shutdown(); }

void OutlookProvider::log(ep_log_level level, const std::string& message) const {
    if (host_.log_enabled(level)) host_.log(level, redact(message));
}

std::string OutlookProvider::begin_connect(std::string_view account, std::string_view request_json) {
    return connect_.begin(account, request_json);
}

std::string OutlookProvider::complete_connect(std::string_view account, std::string_view callback_json) {
    return connect_.complete(account, callback_json);
}

std::string OutlookProvider::status(std::string_view account) { return json::serialize(status_object(account)); }

json::object OutlookProvider::status_object(std::string_view account) const {
    json::object s{{"schema", "ep.status/1"},
                   {"account", account},
                   {"provider", kProviderName},
                   {"application_id", config_.client_id},
                   {"service_name", "Microsoft Outlook"}};
    AccountStore::LoadResult loaded = store_.load_grant(account);
    if (loaded.absent()) {
        s["state"] = "not_connected";
        s["connect_hint"] =
            "You will sign in at Microsoft and approve what this app may do: read your profile (name "
            "and address) and send mail as you. It cannot read your mail.";
        return s;
    }
    if (loaded.unreadable) {
        describe_unreadable(s, loaded.unreadable->problem);
        return s;
    }
    describe_grant(s, loaded.grant->record);
    return s;
}

// Exchange Online's sending limits, the same for every mailbox of the service (an administrator
// may lower them; a refusal then still says so):
// https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1
std::string OutlookProvider::sending_limits(std::string_view) {
    return R"({"schema":"ep.sending_limits/1","messages_per_minute":30,"recipients_per_day":10000,"day":"rolling_24h",)"
           R"("source":"https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/)"
           R"(exchange-online-limits#sending-limits-1"})";
}

void OutlookProvider::check_connection(std::string_view account, ep::sdk::CheckCallback done) {
    checks_.check(account, std::move(done));
}

// GET /me with a token refreshed a moment ago: continuous access evaluation and a blocked
// mailbox show at Graph.
ConnectionChecker::Probe OutlookProvider::profile_probe() const {
    return {
        [this](std::string_view access_token) {
            HttpRequest me = profile_request(config_, access_token);
            me.wanted_headers = {"www-authenticate"};
            return me;
        },
        [](const HttpResponse& r) {
            using Kind = ProbeVerdict::Kind;
            if (r.failure != TransferFailure::none)
                return ProbeVerdict{
                    Kind::failed, "network", "Microsoft Graph could not be reached (" + r.error + ").", {}};
            if (r.status == 200) return ProbeVerdict{};
            std::optional<GraphError> error = parse_graph_error(r.body.view());
            if (r.status == 403)
                return ProbeVerdict{Kind::ended,
                                    {},
                                    {},
                                    ConnectionEnd{GrantState::permission_denied,
                                                  "access_denied",
                                                  std::string(kPermissionDeniedMessage),
                                                  error ? error->code : "ErrorAccessDenied",
                                                  {}}};
            if (r.status == 401) {
                // Refused right after a refresh: a claims challenge or a revoked session.
                BearerChallenge challenge = parse_bearer_challenge(r.header("www-authenticate"));
                return ProbeVerdict{
                    Kind::ended,
                    {},
                    {},
                    ConnectionEnd{GrantState::expired, "signin_required",
                                  "Microsoft requires you to sign in again (for example after a password reset or a "
                                  "change of your organisation's security policy). Connect again.",
                                  challenge.claims_challenge() ? "insufficient_claims" : "InvalidAuthenticationToken",
                                  challenge.claims}};
            }
            return ProbeVerdict{
                Kind::failed,
                "graph_unavailable",
                "Microsoft Graph answered HTTP " + std::to_string(r.status) + (error ? " " + error->code : "") + ".",
                {}};
        }};
}

std::string OutlookProvider::disconnect(std::string_view account) {
    AccountStore::LoadResult loaded = store_.load_grant(account);
    std::string tenant = loaded.grant ? loaded.grant->record.tenant_id : std::string();
    store_.erase_account(account);
    tokens_.forget(std::string(account));
    sends_.cancel_account(std::string(account));
    std::string revoke = revoke_url(tenant);
    log(EP_LOG_INFO, "account " + std::string(account) + " disconnected; its tokens were deleted");
    json::object out{{"schema", "ep.disconnect_result/1"},
                     {"disconnected", true},
                     {"message",
                      "Disconnected: this app deleted your Microsoft sign-in and can no longer send mail as you. "
                      "Your Microsoft account still lists the app; to remove it there too, go to " +
                          revoke + "."},
                     {"revoke_url", revoke},
                     {"status", status_object(account)}};
    return json::serialize(out);
}

std::string OutlookProvider::forget_account(std::string_view account) { return disconnect(account); }

ep::sdk::SendAdmission OutlookProvider::send(std::string_view account, std::string_view message_json,
                                             ep::sdk::SendCallback done) {
    return sends_.submit(account, message_json, std::move(done));
}

}  // namespace outlook
