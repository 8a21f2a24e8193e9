// The one way the host reaches a loaded provider: its status (the one reading of ep.status/1),
// the mailbox it is connected as, and the connect, send, check and disconnect calls.
//
// It is an interface so that a provider running in another process can stand behind it: every
// call may throw ProviderUnavailable with the reason (the provider failed to load, is disabled,
// or is gone), and completion callbacks own what they need, so they may arrive after the
// provider was reloaded or removed. A handle keeps the provider it was made for alive: the
// outbox holds one until a send's outcome is recorded (see ProviderSet::reload).
#pragma once

#include "providers/documents.hpp"

#include <email_provider/provider_loader.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace host {

struct ProviderEntry;

// No provider has the id, or the one that has it cannot take calls (reason() says why).
class ProviderUnavailable : public std::runtime_error {
public:
    // `reason` is nullopt when no provider with this id is configured.
    ProviderUnavailable(std::string provider_id, std::optional<std::string> reason);
    const std::string& provider_id() const { return provider_id_; }
    bool configured() const { return reason_.has_value(); }
    const std::string& reason() const { return *reason_; }  // only when configured()

private:
    std::string provider_id_;
    std::optional<std::string> reason_;
};

// A provider's answer to a call: the text as sent (what `--json` prints) and that text read.
struct ProviderAnswer {
    ep::loader::CallResult result;
    boost::json::object document;  // empty when the text is not a JSON object
    bool readable = false;         // the text is a JSON object

    // Accepted, and an answer the host can read.
    bool ok() const { return result.ok() && readable; }
    // The ep.status/1 a connect result carries in "status" (state unknown without one).
    ProviderStatus status() const;
    // Why a call failed, in a line: the plugin's error message, else its status.
    std::string reason() const;
};
ProviderAnswer read_answer(ep::loader::CallResult result);

// The provider answered get_status with an error or with something that is not a status.
class StatusUnreadable : public std::runtime_error {
public:
    explicit StatusUnreadable(ProviderAnswer answer);
    const ProviderAnswer& answer() const { return answer_; }

private:
    ProviderAnswer answer_;
};

class ProviderHandle {
public:
    // Run exactly once, on a thread of the provider's: they must own everything they use.
    using SendDone = std::function<void(std::string_view send_result_json)>;
    using CheckDone = std::function<void(boost::json::object status)>;

    virtual ~ProviderHandle() = default;

    virtual const std::string& id() const = 0;
    virtual const std::string& display_name() const = 0;
    virtual bool available() const = 0;
    // Why it is not available (failed to load, disabled, quarantined); empty when it is.
    virtual std::string unavailable_reason() const = 0;
    // Returns when available(); else throws ProviderUnavailable with the reason.
    virtual void require_available() const = 0;
    // Whether connecting sends the user to the provider's sign-in (else it needs nothing).
    virtual bool interactive_connect() const = 0;
    // Whether a check reaches the provider's service (ABI 1.1); false when unavailable.
    virtual bool can_check() const = 0;
    // Whether the provider puts a message's threading fields on what it sends (ABI 1.2,
    // EP_CAP_THREADING); false when unavailable.
    virtual bool threads_messages() const = 0;

    // The account's ep.status/1, read. Throws StatusUnreadable when there is none to read.
    virtual ProviderStatus status(const std::string& user_id) = 0;
    // The address the account is connected as; nullopt when it is not connected (or the
    // provider's status cannot be read).
    std::optional<std::string> connected_mailbox(const std::string& user_id);

    virtual ProviderAnswer begin_connect(const std::string& user_id, std::string_view request_json) = 0;
    virtual ProviderAnswer complete_connect(const std::string& user_id, std::string_view callback_json) = 0;
    virtual ProviderAnswer disconnect(const std::string& user_id) = 0;
    virtual ProviderAnswer forget_account(const std::string& user_id) = 0;

    // Accepted (nullopt): `done` gets the ep.send_result/1 later. Refused: the refusal, and
    // `done` is never called.
    virtual std::optional<ProviderAnswer> send(const std::string& user_id, std::string_view message_json,
                                               SendDone done) = 0;
    // For the command line: waits for the outcome (a refusal's document when not accepted).
    virtual ProviderAnswer send_blocking(const std::string& user_id, std::string_view message_json) = 0;

    // The account's ep.sending_limits/1 (ABI 1.2), as answered; EP_ERR_UNSUPPORTED when the
    // provider declares none. Never blocks on the network (the SDK's contract).
    virtual ProviderAnswer sending_limits(const std::string& user_id) = 0;

    // Asks the provider whether a send now would go out. `done` gets its ep.status/1, or a
    // status with check_failed {code, message} and no state when the check got no answer.
    virtual void check(const std::string& user_id, CheckDone done) = 0;
    // The same, waited for (at most a minute: see ProviderInstance::check_blocking).
    virtual boost::json::object check_blocking(const std::string& user_id) = 0;
};

// The handle of a provider the set loaded, in this process or isolated in a runner
// (entry->instance, null when it failed to load).
std::shared_ptr<ProviderHandle> loaded_provider_handle(std::shared_ptr<const ProviderEntry> entry);

// A status saying that a check got no answer: what ProviderHandle::check passes on then.
boost::json::object check_failed(std::string_view code, std::string message);

}  // namespace host
