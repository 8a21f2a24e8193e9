#include "providers/documents.hpp"

#include "core/host_util.hpp"

#include <array>
#include <utility>

namespace host {
namespace {

namespace json = boost::json;

template <class E, std::size_t N>
E from_names(const std::array<std::pair<E, const char*>, N>& names, std::string_view name, E fallback) {
    for (const auto& [value, text] : names)
        if (name == text) return value;
    return fallback;
}

template <class E, std::size_t N>
const char* to_name(const std::array<std::pair<E, const char*>, N>& names, E value) {
    for (const auto& [v, text] : names)
        if (v == value) return text;
    return "unknown";
}

constexpr std::array<std::pair<ConnectionState, const char*>, 6> kStates{{
    {ConnectionState::not_connected, "not_connected"},
    {ConnectionState::connected, "connected"},
    {ConnectionState::expired, "expired"},
    {ConnectionState::permission_denied, "permission_denied"},
    {ConnectionState::admin_approval_required, "admin_approval_required"},
    {ConnectionState::configuration_error, "configuration_error"},
}};

constexpr std::array<std::pair<SendOutcome, const char*>, 6> kSendOutcomes{{
    {SendOutcome::sent, "sent"},
    {SendOutcome::rejected, "rejected"},
    {SendOutcome::auth_expired, "auth_expired"},
    {SendOutcome::throttled, "throttled"},
    {SendOutcome::transient, "transient"},
    {SendOutcome::indeterminate, "indeterminate"},
}};

constexpr std::array<std::pair<ConnectOutcome, const char*>, 5> kConnectOutcomes{{
    {ConnectOutcome::connected, "connected"},
    {ConnectOutcome::admin_approval_required, "admin_approval_required"},
    {ConnectOutcome::configuration_error, "configuration_error"},
    {ConnectOutcome::cancelled, "cancelled"},
    {ConnectOutcome::declined, "declined"},
}};

constexpr std::array<std::pair<AdminRequest, const char*>, 3> kAdminRequests{{
    {AdminRequest::sent, "sent"},
    {AdminRequest::possible, "possible"},
    {AdminRequest::unavailable, "unavailable"},
}};

}  // namespace

const char* to_string(ConnectionState s) { return to_name(kStates, s); }
ConnectionState connection_state_from(std::string_view name) {
    return from_names(kStates, name, ConnectionState::unknown);
}
const char* to_string(SendOutcome o) { return to_name(kSendOutcomes, o); }
SendOutcome send_outcome_from(std::string_view name) { return from_names(kSendOutcomes, name, SendOutcome::unknown); }
ConnectOutcome connect_outcome_from(std::string_view name) {
    return from_names(kConnectOutcomes, name, ConnectOutcome::other);
}
AdminRequest admin_request_from(std::string_view name) { return from_names(kAdminRequests, name, AdminRequest::none); }

ProviderStatus parse_status(const json::value& doc) {
    ProviderStatus s;
    if (!doc.is_object()) return s;
    const json::object& o = doc.as_object();
    s.document = o;
    s.state_name = json_str(doc, "state");
    s.state = connection_state_from(s.state_name);
    s.mailbox = json_str(doc, "email");
    s.display_name = json_str(doc, "display_name");
    s.message = json_str(doc, "message");
    s.reason = json_str(doc, "reason");
    s.since = json_str(doc, "since");
    s.checked_at = json_str(doc, "checked_at");
    if (const auto* list = o.if_contains("extra_permissions"); list && list->is_array())
        for (const auto& p : list->as_array())
            if (p.is_string()) s.extra_permissions.emplace_back(p.as_string());
    s.service_name = json_str(doc, "service_name");
    s.connect_hint = json_str(doc, "connect_hint");
    s.disconnect_hint = json_str(doc, "disconnect_hint");
    s.revoke_url = json_str(doc, "revoke_url");
    s.user_action = json_str(doc, "user_action");
    s.admin_instructions = json_str(doc, "admin_instructions");
    s.application_id = json_str(doc, "application_id");
    s.admin_consent_url = json_str(doc, "admin_consent_url");
    s.admin_request = admin_request_from(json_str(doc, "admin_request"));
    if (const auto* dev = o.if_contains("developer_only"); dev && dev->is_bool()) s.developer_only = dev->as_bool();
    if (const auto* failed = o.if_contains("check_failed")) s.check_failed = json_str(*failed, "message");
    return s;
}

}  // namespace host
