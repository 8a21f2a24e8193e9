#include "graph_send.hpp"

#include "graph_mail.hpp"
#include "graph_request.hpp"

#include "ep_kit/retry_after.hpp"

namespace outlook {

std::optional<Sender> GraphSend::sender(std::string_view account) const {
    AccountStore::LoadResult loaded = store_.load_grant(account);
    if (!loaded.grant || loaded.grant->record.state != GrantState::connected) return std::nullopt;
    return Sender{loaded.grant->record.email, loaded.grant->record.display_name};
}

PreparedMessage GraphSend::prepare(std::string_view account, const ep::message::Message& message) const {
    if (!wants_mime_form(message))
        return {std::make_shared<const std::string>(build_validated_send_mail_body(message)), "application/json",
                "/me/sendMail", ""};
    // The From must be the mailbox's own address: only the connection knows it (from /me at connect).
    std::optional<Sender> from = sender(account);
    if (!from) throw NotConnected("This account has not connected Outlook.");
    MimeSendMail mime = build_validated_mime_send_mail(message, *from, now_() / 1000);
    return {std::make_shared<const std::string>(std::move(mime.body)), "text/plain", "/me/sendMail",
            std::move(mime.internet_message_id)};
}

HttpRequest GraphSend::request(const PreparedMessage& message, std::string_view access_token,
                               std::string_view client_request_id) const {
    HttpRequest request =
        graph_request(config_, "POST", message.path, access_token,
                      {"Content-Type: " + message.content_type, "client-request-id: " + std::string(client_request_id),
                       "return-client-request-id: true"});
    request.shared_body = message.body;
    request.wanted_headers = {"request-id", "retry-after", "www-authenticate"};
    return request;
}

SendClassification GraphSend::classify(const HttpResponse& response, bool has_retry_after, int64_t now_unix_ms) const {
    std::optional<int64_t> retry_at;
    if (auto wait = parse_retry_after_ms(response.header("retry-after"), now_unix_ms)) retry_at = now_unix_ms + *wait;
    return classify_send_response(response.status, response.body.view(), has_retry_after, now_unix_ms, retry_at);
}

SendProtocol::TokenRefusal GraphSend::token_refused(const HttpResponse& response,
                                                    const SendClassification& verdict) const {
    if (verdict.permission_denied)
        return {false, {GrantState::permission_denied, "access_denied", verdict.user_message, verdict.code, {}}};
    BearerChallenge challenge = parse_bearer_challenge(response.header("www-authenticate"));
    return {verdict.retry_with_fresh_token && !challenge.claims_challenge(),
            {GrantState::expired, "signin_required",
             "Microsoft requires you to sign in again (for example after a password reset or a change of your "
             "organisation's security policy). Connect again.",
             challenge.claims_challenge() ? "insufficient_claims" : verdict.code, challenge.claims}};
}

}  // namespace outlook
