#include "graph_send.hpp"

#include "graph_mail.hpp"
#include "graph_request.hpp"

namespace outlook {

PreparedMessage GraphSend::prepare(std::string_view, const ep::message::Message& message) const {
    return {std::make_shared<const std::string>(build_validated_send_mail_body(message)), "application/json",
            "/me/sendMail", ""};
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

SendClassification GraphSend::classify(const HttpResponse& response, bool has_retry_after, int64_t) const {
    return classify_send_response(response.status, response.body.view(), has_retry_after);
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
