// The host's one reading of the documents providers send (plugin_api/SCHEMAS.md): the
// states, outcomes and fields that the outbox, the CLI and the settings page act on, parsed
// in one place. Everything a person reads about a provider (its name, what connecting
// involves, what to tell IT) comes from these documents: the host adds no provider's words.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace host {

// ep.status/1 `state`. `unknown` is any value this host does not know (a newer provider).
enum class ConnectionState {
    not_connected,
    connected,
    expired,
    permission_denied,
    admin_approval_required,
    configuration_error,
    unknown
};
const char* to_string(ConnectionState);
ConnectionState connection_state_from(std::string_view);

// ep.send_result/1 `outcome`; `unknown` is treated like indeterminate (never resent silently).
enum class SendOutcome { sent, rejected, auth_expired, throttled, transient, indeterminate, unknown };
const char* to_string(SendOutcome);
SendOutcome send_outcome_from(std::string_view);

// ep.connect_result/1 `outcome`, as far as a host acts differently on it; every other value is
// `other` (its message says what happened).
enum class ConnectOutcome { connected, admin_approval_required, configuration_error, cancelled, declined, other };
ConnectOutcome connect_outcome_from(std::string_view);

// ep.status/1 `admin_request`: whether the user could ask IT for approval at the provider.
enum class AdminRequest { none, sent, possible, unavailable };
AdminRequest admin_request_from(std::string_view);

// An ep.status/1 document. Optional fields are empty when absent.
struct ProviderStatus {
    ConnectionState state = ConnectionState::unknown;
    std::string state_name;  // as sent, for JSON output
    // The address the account is connected as (the document's `email`): what a nudge records
    // as its `mailbox`.
    std::string mailbox;
    std::string display_name, message, reason, since, checked_at;
    std::vector<std::string> extra_permissions;
    // What the card says, from the provider (optional fields of ep.status/1).
    std::string service_name;        // the service the card connects to
    std::string connect_hint;        // what connecting involves
    std::string disconnect_hint;     // what disconnecting does and does not do
    std::string revoke_url;          // where access is removed at the provider
    std::string user_action;         // approval required: what the user does
    std::string admin_instructions;  // approval required: what to send the IT administrator
    std::string application_id, admin_consent_url;
    AdminRequest admin_request = AdminRequest::none;
    bool developer_only = false;
    std::optional<std::string> check_failed;  // the message, when a check could not ask the service
    boost::json::object document;             // the document as sent, for output that passes it on
};

// Reads an ep.status/1 object; a value that is not an object reads as state unknown.
ProviderStatus parse_status(const boost::json::value& document);

}  // namespace host
