#include "ep_kit/status_fields.hpp"

#include "ep_kit/redact.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>

namespace ep::kit {

namespace json = boost::json;

json::value iso_time_or_null(int64_t unix_ms) {
    if (unix_ms <= 0) return nullptr;
    return json::string(ep::sdk::iso_time(unix_ms));
}

namespace {

json::array scope_list(std::string_view scopes) {
    json::array out;
    std::size_t i = 0;
    while (i < scopes.size()) {
        std::size_t j = scopes.find(' ', i);
        if (j == std::string_view::npos) j = scopes.size();
        if (j > i) out.emplace_back(scopes.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

const char* state_name(GrantState state) {
    switch (state) {
        case GrantState::connected:
            return "connected";
        case GrantState::expired:
            return "expired";
        case GrantState::admin_approval_required:
            return "admin_approval_required";
        case GrantState::permission_denied:
            return "permission_denied";
    }
    return "expired";
}

}  // namespace

void describe_stored_grant(json::object& s, const GrantRecord& r) {
    if (!r.email.empty()) s["email"] = r.email;
    if (!r.display_name.empty()) s["display_name"] = r.display_name;
    if (r.state == GrantState::connected && r.operator_error) {
        s["state"] = "configuration_error";
        s["message"] = r.operator_error->message;
        s["code"] = r.operator_error->code;
        s["since"] = iso_time_or_null(r.operator_error->since_ms);
        return;
    }
    s["state"] = state_name(r.state);
    if (r.state == GrantState::connected) {
        s["scopes"] = scope_list(r.scopes);
        // Consented for this app but never used by it: shown so the user and IT can see them.
        if (!r.extra_scopes.empty()) s["extra_permissions"] = json::value_from(r.extra_scopes);
        s["connected_at"] = iso_time_or_null(r.connected_at_ms);
        s["last_refresh"] = iso_time_or_null(r.last_refresh_ms);
        return;
    }
    if (r.state != GrantState::admin_approval_required) s["reason"] = r.reason;
    s["message"] = r.message;
    s["code"] = r.error_code;
    s["since"] = iso_time_or_null(r.since_ms);
}

void describe_unreadable(json::object& s, const std::string& problem) {
    s["state"] = "expired";
    s["reason"] = "storage";
    s["message"] = "The stored connection cannot be read, so it cannot be used. Connect again.";
    s["detail"] = problem;
}

void mark_checked(json::object& s, int64_t now_unix_ms, std::string_view failed_code, std::string_view failed_message) {
    if (failed_code.empty())
        s["checked_at"] = iso_time_or_null(now_unix_ms);
    else
        s["check_failed"] = json::object{{"code", failed_code}, {"message", redact(std::string(failed_message))}};
}

}  // namespace ep::kit
