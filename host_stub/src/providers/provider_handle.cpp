#include "providers/provider_handle.hpp"

#include "core/host_util.hpp"
#include "providers/provider_set.hpp"

#include <boost/json/parse.hpp>

namespace host {
namespace {

namespace json = boost::json;

// What a check answered: the provider's status document, or why there is none.
json::object check_answer(const ep::loader::CallResult& r) {
    ProviderAnswer a = read_answer(r);
    if (r.ok())
        return a.readable ? std::move(a.document)
                          : check_failed("unreadable", "the provider's answer could not be read");
    std::string message = a.readable ? json_str(a.document, "message") : std::string();
    return check_failed("call_failed", message.empty()
                                           ? "the provider refused the check (status " + std::to_string(r.status) + ")"
                                           : message);
}

// A provider loaded by the set: calls go to its instance (in this process, or its runner's
// client), which the entry (and so this handle) keeps alive.
class LoadedProviderHandle final : public ProviderHandle {
public:
    explicit LoadedProviderHandle(std::shared_ptr<const ProviderEntry> entry) : entry_(std::move(entry)) {}

    const std::string& id() const override { return entry_->id; }
    const std::string& display_name() const override { return entry_->display_name; }
    bool available() const override { return entry_->available(); }
    std::string unavailable_reason() const override { return entry_->reason(); }
    void require_available() const override {
        if (!available()) throw ProviderUnavailable(entry_->id, entry_->reason());
    }
    bool interactive_connect() const override {
        return available() && (entry_->instance->info().capabilities & EP_CAP_INTERACTIVE_CONNECT) != 0;
    }
    bool can_check() const override { return available() && entry_->instance->can_check(); }
    bool threads_messages() const override { return available() && entry_->instance->threads_messages(); }

    ProviderStatus status(const std::string& user_id) override {
        ProviderAnswer a = read_answer(instance().status(user_id));
        if (!a.ok()) throw StatusUnreadable(std::move(a));
        return parse_status(a.document);
    }

    ProviderAnswer begin_connect(const std::string& user_id, std::string_view request_json) override {
        return read_answer(instance().begin_connect(user_id, request_json));
    }
    ProviderAnswer complete_connect(const std::string& user_id, std::string_view callback_json) override {
        return read_answer(instance().complete_connect(user_id, callback_json));
    }
    ProviderAnswer disconnect(const std::string& user_id) override {
        return read_answer(instance().disconnect(user_id));
    }
    ProviderAnswer forget_account(const std::string& user_id) override {
        return read_answer(instance().forget_account(user_id));
    }

    std::optional<ProviderAnswer> send(const std::string& user_id, std::string_view message_json,
                                       SendDone done) override {
        auto refusal = instance().send(user_id, message_json, std::move(done));
        if (!refusal) return std::nullopt;
        return read_answer(std::move(*refusal));
    }
    ProviderAnswer send_blocking(const std::string& user_id, std::string_view message_json) override {
        return read_answer(instance().send_blocking(user_id, message_json));
    }

    ProviderAnswer sending_limits(const std::string& user_id) override {
        return read_answer(instance().sending_limits(user_id));
    }

    void check(const std::string& user_id, CheckDone done) override {
        // The callback holds `done` only: never this handle, whose last reference (and with it
        // the instance's) must not drop on the plugin's own thread.
        instance().check_connection(user_id,
                                    [done = std::move(done)](ep::loader::CallResult r) { done(check_answer(r)); });
    }
    json::object check_blocking(const std::string& user_id) override {
        return check_answer(instance().check_blocking(user_id));
    }

private:
    ep::loader::Provider& instance() const {
        require_available();
        return *entry_->instance;
    }

    std::shared_ptr<const ProviderEntry> entry_;
};

}  // namespace

ProviderAnswer read_answer(ep::loader::CallResult result) {
    ProviderAnswer a;
    boost::system::error_code ec;
    json::value v = json::parse(result.document, ec);
    a.readable = !ec && v.is_object();
    if (a.readable) a.document = std::move(v.as_object());
    a.result = std::move(result);
    return a;
}

ProviderUnavailable::ProviderUnavailable(std::string provider_id, std::optional<std::string> reason)
    : std::runtime_error(reason ? "provider '" + provider_id + "' is not available: " + *reason
                                : "no provider with id '" + provider_id + "' is configured"),
      provider_id_(std::move(provider_id)),
      reason_(std::move(reason)) {}

StatusUnreadable::StatusUnreadable(ProviderAnswer answer)
    : std::runtime_error("the provider's status could not be read (status " + std::to_string(answer.result.status) +
                         ")"),
      answer_(std::move(answer)) {}

ProviderStatus ProviderAnswer::status() const {
    const json::value* s = document.if_contains("status");
    return parse_status(s ? *s : json::value());
}

std::string ProviderAnswer::reason() const {
    if (const json::value* error = document.if_contains("error")) {
        std::string message = json_str(*error, "message");
        if (!message.empty()) return message;
    }
    return "provider returned status " + std::to_string(result.status);
}

std::optional<std::string> ProviderHandle::connected_mailbox(const std::string& user_id) {
    try {
        ProviderStatus s = status(user_id);
        if (s.state != ConnectionState::connected) return std::nullopt;
        return s.mailbox;
    } catch (const StatusUnreadable&) {
        return std::nullopt;
    }
}

std::shared_ptr<ProviderHandle> loaded_provider_handle(std::shared_ptr<const ProviderEntry> entry) {
    return std::make_shared<LoadedProviderHandle>(std::move(entry));
}

json::object check_failed(std::string_view code, std::string message) {
    return json::object{{"check_failed", json::object{{"code", code}, {"message", std::move(message)}}}};
}

}  // namespace host
