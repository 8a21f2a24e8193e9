#include "gmail_send.hpp"

#include "gmail_mail.hpp"

namespace gmail {

std::optional<Senders::Sender> Senders::find(std::string_view account) const {
    {
        std::lock_guard lock(mutex_);
        if (auto it = known_.find(std::string(account)); it != known_.end()) return it->second;
    }
    AccountStore::LoadResult loaded = store_.load_grant(account);
    if (!loaded.grant || loaded.grant->record.state != GrantState::connected) return std::nullopt;
    Sender sender{loaded.grant->record.email, loaded.grant->record.display_name};
    std::lock_guard lock(mutex_);
    if (known_.size() >= capacity_) known_.clear();  // a cache: rebuilt from the store on demand
    known_.insert_or_assign(std::string(account), sender);
    return sender;
}

void Senders::forget(std::string_view account) const {
    std::lock_guard lock(mutex_);
    known_.erase(std::string(account));
}

PreparedMessage GmailSend::prepare(std::string_view account, const ep::message::Message& message) const {
    std::optional<Senders::Sender> sender = senders_.find(account);
    if (!sender) throw NotConnected("This account has not connected Gmail.");
    MimeOptions options{sender->address, sender->name, now_() / 1000, {}};
    SendRequest built = build_send_request(message, options);
    return {std::make_shared<const std::string>(std::move(built.body)), std::move(built.content_type),
            std::move(built.path_and_query), std::move(built.message_id)};
}

HttpRequest GmailSend::request(const PreparedMessage& message, std::string_view access_token, std::string_view) const {
    HttpRequest request;
    request.method = "POST";
    request.url = config_.endpoints.gmail + message.path;
    request.headers = {"Authorization: Bearer " + std::string(access_token), "Content-Type: " + message.content_type,
                       "Accept: application/json"};
    request.shared_body = message.body;
    request.connect_timeout_ms = config_.connect_timeout_ms;
    request.timeout_ms = config_.request_timeout_ms;
    request.wanted_headers = {"retry-after"};
    return request;
}

std::string GmailSend::request_id(const HttpResponse& response) const {
    if (response.status != 200) return {};
    std::optional<SentMessage> sent = parse_sent_message(response.body.view());
    return sent ? sent->id : std::string();
}

// users.messages.send answers the sent Message resource, whose threadId names the thread it went
// into [discovery]: the requested one, or a new one when Gmail did not add it there.
std::string GmailSend::thread_id(const HttpResponse& response) const {
    if (response.status != 200) return {};
    std::optional<SentMessage> sent = parse_sent_message(response.body.view());
    return sent ? sent->thread_id : std::string();
}

SendClassification GmailSend::classify(const HttpResponse& response, bool, int64_t now_unix_ms) const {
    return classify_send_response(response.status, response.body.view(), now_unix_ms);
}

SendProtocol::TokenRefusal GmailSend::token_refused(const HttpResponse&, const SendClassification& verdict) const {
    if (verdict.permission_denied)
        return {false, {GrantState::permission_denied, "permission_removed", verdict.user_message, verdict.code, {}}};
    // A 401 right after a refresh: Google ended the session (the user signed out everywhere,
    // or an administrator reset their sign-in): only signing in again helps.
    return {verdict.retry_with_fresh_token,
            {GrantState::expired,
             "signin_required",
             "Google no longer accepts this Gmail connection (for example after you signed out of all devices or "
             "your administrator reset your sign-in). Connect again; nudges are kept until then.",
             verdict.code,
             {}}};
}

// Gmail's per-user limits, shared by every way the account sends (https://developers.google.com/
// workspace/gmail/api/guides/handle-errors). Per day, over a rolling 24 hours:
// - Workspace: 2,000 messages, 10,000 recipients (https://support.google.com/a/answer/166852;
//   500 messages for a trial account, which Google's answers do not tell apart).
// - Consumer Gmail: Google's page names 500 recipients (https://support.google.com/mail/answer/22839);
//   500 messages a day is widely quoted. Declaring 500 of each keeps under both readings, and it
//   is the answer for an account of unknown kind.
// Per minute: 6,000 quota units per user per project, messages.send costing 100 units
// (https://developers.google.com/workspace/gmail/api/reference/quota): 60 sends, this plugin's only
// Gmail API call. Older projects keep 15,000 units (150 sends), so 60 never trips
// userRateLimitExceeded from this app's sends.
std::string sending_limits_document(AccountKind kind) {
    if (kind == AccountKind::workspace)
        return R"({"schema":"ep.sending_limits/1","messages_per_minute":60,"messages_per_day":2000,)"
               R"("recipients_per_day":10000,"day":"rolling_24h","source":"https://support.google.com/a/answer/166852"})";
    return R"({"schema":"ep.sending_limits/1","messages_per_minute":60,"messages_per_day":500,)"
           R"("recipients_per_day":500,"day":"rolling_24h","source":"https://support.google.com/mail/answer/22839"})";
}

}  // namespace gmail
