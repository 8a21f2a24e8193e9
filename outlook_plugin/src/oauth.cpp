#include "oauth.hpp"

#include "ep_kit/ascii.hpp"
#include "ep_kit/encoding.hpp"
#include "uses_kit.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <set>

namespace outlook {
namespace {

namespace json = boost::json;
using ep::sdk::Error;

std::string pct(std::string_view v) { return boost::urls::encode(v, boost::urls::unreserved_chars); }

std::string str(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return {};
    if (it->value().is_string()) return std::string(it->value().as_string());
    return {};
}

// The longest lifetime believed: CAE-capable tokens live up to 28 hours
// (outlook_plugin/docs/microsoft-behaviour.md §8); anything beyond a week is a broken answer,
// and bounding it keeps now + lifetime from overflowing.
constexpr int64_t kMaxLifetimeSeconds = 7 * 24 * 3600;

// expires_in arrives as a number; MSAL also tolerates numeric strings, and so do we.
// Returns 0 (unusable) for anything that is not a positive number of seconds.
int64_t seconds(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end()) return 0;
    const json::value& v = it->value();
    double value = 0;
    if (v.is_int64())
        value = static_cast<double>(v.as_int64());
    else if (v.is_uint64())
        value = static_cast<double>(v.as_uint64());
    else if (v.is_double())
        value = v.as_double();
    else if (v.is_string()) {
        try {
            value = std::stod(std::string(v.as_string()));
        } catch (...) {
            return 0;
        }
    }
    if (!(value > 0)) return 0;  // also NaN
    return static_cast<int64_t>(std::min(value, static_cast<double>(kMaxLifetimeSeconds)));
}

// A granted scope without its resource: "https://graph.microsoft.com/Mail.Send" -> "Mail.Send".
std::string_view short_scope(std::string_view s) {
    if (s.size() > 8 && iequals(s.substr(0, 8), "https://"))
        if (auto slash = s.rfind('/'); slash != std::string_view::npos) s.remove_prefix(slash + 1);
    return s;
}

// Shown to people and written into status documents: valid UTF-8 without control characters.
bool printable(std::string_view s) {
    return ep::sdk::is_valid_utf8(s) &&
           std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

std::string domain_of(std::string_view login_hint) {
    auto at = login_hint.rfind('@');
    if (at == std::string_view::npos || at + 1 >= login_hint.size()) return {};
    std::string d = ascii_lower(login_hint.substr(at + 1));
    for (char c : d)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return {};
    return d.find('.') == std::string::npos ? std::string() : d;
}

}  // namespace

std::string authorization_url(const OutlookConfig& c, std::string_view state, std::string_view challenge,
                              std::string_view login_hint, std::string_view prompt, std::string_view claims) {
    std::string url = c.authorize_endpoint();
    url += "?client_id=" + pct(c.client_id);
    url += "&response_type=code";
    url += "&redirect_uri=" + pct(c.redirect_uri);
    url += "&response_mode=query";
    url += "&scope=" + pct(c.requested_scopes());
    url += "&state=" + pct(state);
    url += "&code_challenge=" + pct(challenge);
    url += "&code_challenge_method=S256";
    if (!login_hint.empty()) url += "&login_hint=" + pct(login_hint);
    if (!prompt.empty()) url += "&prompt=" + pct(prompt);
    if (!claims.empty()) url += "&claims=" + pct(claims);
    return url;
}

std::string admin_consent_tenant(const OutlookConfig& c, std::string_view known_tenant_id,
                                 std::string_view login_hint) {
    if (c.authority != "common" && c.authority != "organizations" && c.authority != "consumers") return c.authority;
    if (!known_tenant_id.empty() && known_tenant_id != "9188040d-6c67-4c5b-b112-36a304b66dad")
        return std::string(known_tenant_id);
    if (std::string d = domain_of(login_hint); !d.empty()) return d;
    return "organizations";
}

std::string admin_consent_url(const OutlookConfig& c, std::string_view tenant) {
    // The v2 endpoint with the exact permissions this app asks for (outlook_plugin/docs/microsoft-behaviour.md §5);
    // offline_access is not a Graph permission and needs no admin consent.
    std::string graph = c.scope_prefix.empty() ? "https://graph.microsoft.com/" : c.scope_prefix;
    std::string url = c.login_base + "/" + std::string(tenant) + "/v2.0/adminconsent";
    url += "?client_id=" + pct(c.client_id);
    url += "&scope=" + pct(graph + "User.Read " + graph + "Mail.Send");
    url += "&redirect_uri=" + pct(c.redirect_uri);
    return url;
}

int aadsts_code(std::string_view d) {
    auto pos = d.find("AADSTS");
    if (pos == std::string_view::npos) return 0;
    int code = 0, digits = 0;
    for (std::size_t i = pos + 6; i < d.size() && std::isdigit(static_cast<unsigned char>(d[i])) && digits < 9;
         ++i, ++digits)
        code = code * 10 + (d[i] - '0');
    return code;
}

TokenResponse parse_token_response(int http_status, std::string_view body) {
    TokenResponse r;
    r.http_status = http_status;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        r.problem = http_status
                        ? "the token endpoint answered HTTP " + std::to_string(http_status) + " without a JSON body"
                        : "no answer from the token endpoint";
        return r;
    }
    json::object& o = v.as_object();
    if (http_status == 200 && o.contains("access_token")) {
        TokenSuccess s;
        if (ascii_lower(str(o, "token_type")) != "bearer") {
            r.problem = "the token endpoint returned a token type other than Bearer";
        } else {
            s.access_token = SecretString(str(o, "access_token"));
            s.refresh_token = SecretString(str(o, "refresh_token"));
            s.expires_in_s = seconds(o, "expires_in");
            s.refresh_in_s = seconds(o, "refresh_in");
            if (auto it = o.find("scope"); it != o.end() && it->value().is_string())
                s.scope = std::string(it->value().as_string());
            if (std::string info = str(o, "client_info"); !info.empty()) {
                try {
                    json::value ci = json::parse(base64url_decode(info));
                    if (ci.is_object()) {
                        s.user_object_id = str(ci.as_object(), "uid");
                        s.tenant_id = str(ci.as_object(), "utid");
                    }
                } catch (...) {
                    // client_info is a convenience (the tenant for admin links); never fatal.
                }
            }
            if (s.access_token.empty() || s.expires_in_s <= 0)
                r.problem = "the token response has no access token or expiry";
            else
                r.success = std::move(s);
        }
    } else if (o.contains("error")) {
        AadError e;
        e.error = str(o, "error");
        e.suberror = str(o, "suberror");
        std::string description = str(o, "error_description");
        e.description = first_line(description, 300);
        if (auto it = o.find("error_codes"); it != o.end() && it->value().is_array() &&
                                             !it->value().as_array().empty() && it->value().as_array()[0].is_int64())
            e.code = static_cast<int>(it->value().as_array()[0].as_int64());
        else
            e.code = aadsts_code(description);
        e.trace_id = str(o, "trace_id");
        e.correlation_id = str(o, "correlation_id");
        r.error = std::move(e);
    } else {
        r.problem = "the token endpoint answered HTTP " + std::to_string(http_status) + " with an unexpected body";
    }
    wipe_strings(v);
    return r;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) out += separator;
        out += w;
    }
    return out;
}

GrantedScopes read_granted_scopes(const std::optional<std::string>& scope, bool has_refresh_token) {
    GrantedScopes g;
    bool user_read = !scope, mail_send = !scope;
    if (scope) {
        // Form-encoded ("User.Read+Mail.Send", "https%3A%2F%2Fgraph.microsoft.com%2FMail.Send")
        // or plain; a plain scope list decodes to itself.
        auto encoded = boost::urls::make_pct_string_view(*scope);
        std::string text = encoded ? encoded->decode({true}) : *scope;
        std::set<std::string> seen;  // lower-case, so each extra is listed once
        std::size_t i = 0;
        while (i < text.size()) {
            std::size_t end = std::min(text.find(' ', i), text.size());
            std::string_view name = short_scope(std::string_view(text).substr(i, end - i));
            i = end + 1;
            if (name.empty()) continue;
            std::string lower = ascii_lower(name);
            if (lower == "user.read")
                user_read = true;
            else if (lower == "mail.send")
                mail_send = true;
            // The sign-in scopes give no access to data beyond User.Read's; offline_access is asked for.
            else if (lower != "openid" && lower != "profile" && lower != "email" && lower != "offline_access" &&
                     seen.insert(lower).second && printable(name))
                g.extras.emplace_back(name);
        }
        std::sort(g.extras.begin(), g.extras.end(),
                  [](const std::string& a, const std::string& b) { return ascii_lower(a) < ascii_lower(b); });
    }
    if (!user_read) g.missing.emplace_back("User.Read");
    if (!mail_send) g.missing.emplace_back("Mail.Send");
    std::vector<std::string> granted;
    if (mail_send) granted.emplace_back("Mail.Send");
    if (user_read) granted.emplace_back("User.Read");
    if (has_refresh_token) granted.emplace_back("offline_access");
    g.scopes = join(granted, " ");
    return g;
}

std::string least_privilege_notice(const std::vector<std::string>& extras) {
    return "Microsoft's token also carries permissions this app never asked for and never uses (" + join(extras, ", ") +
           "): consented earlier for this application or granted by an administrator. Least privilege: an "
           "administrator can remove them in Microsoft Entra admin center > Enterprise applications > this app > "
           "Permissions.";
}

std::string without_aadsts_prefix(std::string_view d) {
    if (!d.starts_with("AADSTS")) return std::string(d);
    std::size_t i = 6;
    while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) ++i;
    if (i == 6 || i >= d.size() || d[i] != ':') return std::string(d);
    ++i;
    while (i < d.size() && d[i] == ' ') ++i;
    return std::string(d.substr(i));
}

namespace {

// The kinds of failure, each with the code the caller shows next to it.
GrantFailure transient(std::string message, const std::string& code) {
    return GrantFailure{GrantFailureKind::transient, "", std::move(message), code};
}
GrantFailure dead(const char* reason, const char* message, const std::string& code) {
    return GrantFailure{GrantFailureKind::dead_grant, reason, message, code};
}
GrantFailure interaction(const char* reason, const char* message, const std::string& code) {
    return GrantFailure{GrantFailureKind::interaction, reason, message, code};
}
GrantFailure operator_error(std::string message, const std::string& code) {
    return GrantFailure{GrantFailureKind::operator_error, "", std::move(message), code};
}

// The known AADSTS codes that concern the user's grant or sign-in; nothing for the others.
std::optional<GrantFailure> classify_user_aadsts(int aadsts, const std::string& code) {
    switch (aadsts) {
        // Transient server-side conditions (outlook_plugin/docs/microsoft-behaviour.md §3).
        case 90033:
        case 90006:
        case 90024:
        case 50033:
        case 70012:
        case 50087:
            return transient("Microsoft's sign-in service reported a temporary problem; will retry", code);
        case 700082:
            return dead("inactivity", "The connection was not used for 90 days and Microsoft ended it. Connect again.",
                        code);
        case 50173:
        case 50133:
        case 50132:
            return dead("password_changed",
                        "Your Microsoft password was changed or your sessions were revoked. Connect again.", code);
        case 70008:
            return dead("access_revoked", "Microsoft says this connection expired or was revoked. Connect again.",
                        code);
        case 65001:
            return dead("consent_revoked",
                        "The permission for this app was removed at Microsoft. Connect again (your administrator may "
                        "need to approve it).",
                        code);
        case 70043:
            return dead("signin_frequency",
                        "Your organisation requires you to sign in again periodically. Connect again.", code);
        case 50057:
            return dead("access_revoked", "Your Microsoft account is disabled. Contact your IT administrator.", code);
        case 700084:
        case 9002313:
            return dead("grant_invalid", "The stored connection is no longer valid. Connect again.", code);
        case 50076:
        case 50079:
        case 50078:
        case 50074:
            return interaction("mfa_required",
                               "Your organisation now requires multi-factor sign-in. Connect again to complete it.",
                               code);
        case 53003:
        case 53000:
        case 53001:
        case 530003:
        case 530035:
            return interaction("policy",
                               "A sign-in policy of your organisation blocks this connection. Connect again, or "
                               "contact your IT administrator.",
                               code);
        default:
            return std::nullopt;
    }
}

// The known AADSTS codes that say the app's registration or credentials are wrong: the
// operator's to fix, not the user's.
std::optional<GrantFailure> classify_operator_aadsts(int aadsts, const std::string& code) {
    switch (aadsts) {
        case 7000215:
            return operator_error(
                "The client secret is invalid (AADSTS7000215): check that the secret's value, not its id, is "
                "configured.",
                code);
        case 7000222:
            return operator_error(
                "The client secret has expired (AADSTS7000222): create a new secret in the app registration and "
                "configure it.",
                code);
        case 700027:
        case 50012:
            return operator_error("The client certificate is not accepted (" + code +
                                      "): check that it is uploaded to the app registration.",
                                  code);
        case 700024:
            return operator_error(
                "The client assertion is outside its validity window (AADSTS700024): check the server clock.", code);
        case 700016:
            return operator_error(
                "The application (client) id is not known to Microsoft (AADSTS700016): check client_id and the tenant.",
                code);
        case 7000218:
        case 700025:
            return operator_error(
                "The app registration's platform does not match the configured client credential (" + code + ").",
                code);
        default:
            return std::nullopt;
    }
}

// The AADSTS codes whose meaning is known; nothing for the others.
std::optional<GrantFailure> classify_aadsts(int aadsts, const std::string& code) {
    if (auto failure = classify_user_aadsts(aadsts, code)) return failure;
    return classify_operator_aadsts(aadsts, code);
}

// An error without a known AADSTS code: the OAuth error and its suberror decide.
GrantFailure classify_oauth_error(const AadError& e, const std::string& code) {
    if (e.error == "invalid_client" || e.error == "unauthorized_client")
        return operator_error(
            "Microsoft refused the app's credentials (" + code + ": " + without_aadsts_prefix(e.description) + ").",
            code);
    if (e.error == "invalid_grant") {
        if (e.suberror == "consent_required")
            return dead("consent_revoked", "The permission for this app was removed at Microsoft. Connect again.",
                        code);
        if (e.suberror == "basic_action" || e.suberror == "additional_action" || e.suberror == "message_only")
            return interaction("mfa_required", "Microsoft needs you to sign in again. Connect again.", code);
        if (e.suberror == "user_password_expired")
            return dead("password_changed", "Your Microsoft password has expired. Change it, then connect again.",
                        code);
        return dead("grant_invalid", "Microsoft no longer accepts this connection. Connect again.", code);
    }
    if (e.error == "interaction_required" || e.error == "consent_required")
        return interaction("mfa_required", "Microsoft needs you to sign in again. Connect again.", code);
    return operator_error(
        "Microsoft refused the token request (" + code + ": " + without_aadsts_prefix(e.description) + ").", code);
}

}  // namespace

GrantFailure classify_token_failure(const TokenResponse& r) {
    std::string code = !r.error        ? (r.http_status ? "http_" + std::to_string(r.http_status) : "network")
                       : r.error->code ? "AADSTS" + std::to_string(r.error->code)
                                       : r.error->error;
    if (!r.error) {
        if (r.http_status == 429 || r.http_status >= 500 || r.http_status == 0)
            return transient("Microsoft's sign-in service could not be reached; will retry", code);
        return transient("Microsoft's sign-in service gave an unexpected answer (" + r.problem + "); will retry", code);
    }
    const AadError& e = *r.error;
    if (r.http_status == 429 || r.http_status >= 500 || e.error == "temporarily_unavailable" ||
        e.error == "server_error")
        return transient("Microsoft's sign-in service is temporarily unavailable; will retry", code);
    if (std::optional<GrantFailure> known = classify_aadsts(e.code, code)) return *known;
    return classify_oauth_error(e, code);
}

}  // namespace outlook
