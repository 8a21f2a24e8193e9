// Microsoft Graph: GET /v1.0/me and POST /v1.0/me/sendMail (outlook_plugin/docs/microsoft-behaviour.md §6):
// bearer-token checks, per-mailbox limits, Graph-style payload validation and the record of sent mail.
#include "common.hpp"
#include "errors.hpp"
#include "mime_message.hpp"
#include "service.hpp"
#include "stateless_tokens.hpp"

#include <boost/json.hpp>

#include <array>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxRequestBytes = 4 * 1024 * 1024;  // 4,194,304
constexpr std::size_t kMaxRecipients = 500;
constexpr std::size_t kMaxInternetHeaders = 5;

// A validation failure: HTTP status + Graph code + message.
struct GraphFailure {
    int status;
    std::string code, message;
};

GraphFailure body_read(const std::string& message) { return {400, "RequestBodyRead", message}; }

// ---- /me ----

constexpr std::array kUserProperties{
    "businessPhones", "displayName",       "givenName", "jobTitle",          "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname",   "userPrincipalName", "id"};

json::value opt(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::value user_property(const User& u, std::string_view name) {
    if (name == "businessPhones") return json::array{};
    if (name == "displayName") return json::value(u.display_name);
    if (name == "givenName") return json::value(u.given_name);
    if (name == "jobTitle") return opt(u.job_title);
    if (name == "mail") return opt(u.mail);
    if (name == "mobilePhone") return opt(u.mobile_phone);
    if (name == "officeLocation") return opt(u.office_location);
    if (name == "preferredLanguage") return opt(u.preferred_language);
    if (name == "surname") return json::value(u.surname);
    if (name == "userPrincipalName") return json::value(u.upn);
    return json::value(u.id);
}

HttpResponse get_me(Service& svc, const HttpRequest& request, const User& u, const RequestContext& ctx) {
    auto query = parse_form(request.query).value_or(Params{});
    std::vector<std::string> selected;
    if (auto select = param(query, "$select")) {
        std::size_t pos = 0;
        while (pos <= select->size()) {
            std::size_t end = select->find(',', pos);
            if (end == std::string::npos) end = select->size();
            std::string name = select->substr(pos, end - pos);
            while (!name.empty() && name.front() == ' ') name.erase(0, 1);
            while (!name.empty() && name.back() == ' ') name.pop_back();
            pos = end + 1;
            if (name.empty()) continue;
            auto it = std::find_if(kUserProperties.begin(), kUserProperties.end(),
                                   [&](const char* p) { return iequals(p, name); });
            if (it == kUserProperties.end())
                return graph_error(400, "BadRequest",
                                   "Could not find a property named '" + name + "' on type 'microsoft.graph.user'.",
                                   ctx);
            if (std::find(selected.begin(), selected.end(), *it) == selected.end()) selected.emplace_back(*it);
        }
    }
    json::object o;
    std::string context = svc.base_url() + "/v1.0/$metadata#users";
    if (!selected.empty()) {
        context += "(";
        for (std::size_t i = 0; i < selected.size(); ++i) context += (i ? "," : "") + selected[i];
        context += ")";
    }
    o["@odata.context"] = context + "/$entity";
    if (selected.empty())
        for (const char* p : kUserProperties) o[p] = user_property(u, p);
    else
        for (const auto& p : selected) o[p] = user_property(u, p);
    auto res = json_response(200, json::serialize(o));
    res.set_header(
        "Content-Type",
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8");
    res.set_header("Cache-Control", "private");
    return res;
}

// ---- sendMail validation ----

bool plausible_address(std::string_view a) {
    const auto at = a.find('@');
    return !a.empty() && at != std::string_view::npos && at > 0 && at + 1 < a.size() &&
           a.find_first_of(" \t\r\n<>,;") == std::string_view::npos;
}

std::optional<GraphFailure> read_recipients(const json::object& msg, const char* key, json::array& out) {
    auto it = msg.find(key);
    if (it == msg.end() || it->value().is_null()) return std::nullopt;
    if (!it->value().is_array())
        return body_read(std::string("The property '") + key +
                         "' must be a collection of 'microsoft.graph.recipient'.");
    for (const auto& r : it->value().as_array()) {
        const json::object* ea = nullptr;
        if (r.is_object())
            if (auto e = r.as_object().find("emailAddress"); e != r.as_object().end() && e->value().is_object())
                ea = &e->value().as_object();
        if (!ea)
            return body_read("Cannot convert the literal '" + json::serialize(r) +
                             "' to the expected type 'microsoft.graph.recipient'.");
        std::string address, name;
        if (auto a = ea->find("address"); a != ea->end() && a->value().is_string()) address = a->value().as_string();
        if (auto n = ea->find("name"); n != ea->end() && n->value().is_string()) name = n->value().as_string();
        if (!plausible_address(address))
            return GraphFailure{
                400, "ErrorInvalidRecipients",
                "At least one recipient is not valid., Recipient '" + address +
                    "' is not resolved. All recipients must be resolved before a message can be submitted."};
        out.push_back(json::object{{"address", address}, {"name", name}});
    }
    return std::nullopt;
}

bool is_own_address(const User& u, std::string_view address) {
    return iequals(address, u.upn) || (u.mail && iequals(address, *u.mail));
}

GraphFailure send_as_denied() {
    return {403, "ErrorSendAsDenied",
            "The user account which was used to submit this request does not have the right to send "
            "mail on behalf of the specified sending account., Cannot submit message."};
}

std::optional<GraphFailure> check_recipient_count(std::size_t total) {
    if (total == 0)
        return GraphFailure{400, "ErrorInvalidRecipients", "At least one recipient is required, but none were found."};
    if (total > kMaxRecipients)
        return GraphFailure{400, "ErrorTooManyRecipients",
                            "The message exceeds the maximum number of recipients (500) per message."};
    return std::nullopt;
}

// from / sender other than the signed-in mailbox needs Send-As rights the sandbox never grants.
std::optional<GraphFailure> check_sender(const json::object& msg, const User& u) {
    for (const char* key : {"from", "sender"}) {
        auto f = msg.find(key);
        if (f == msg.end() || f->value().is_null()) continue;
        json::array one;
        json::object wrapper{{key, json::array{f->value()}}};
        if (auto failure = read_recipients(wrapper, key, one)) return failure;
        if (!is_own_address(u, std::string(one[0].as_object().at("address").as_string()))) return send_as_denied();
    }
    return std::nullopt;
}

std::optional<GraphFailure> read_subject(const json::object& msg, std::string& subject) {
    if (auto s = msg.find("subject"); s != msg.end() && !s->value().is_null()) {
        if (!s->value().is_string()) return body_read("The property 'subject' must be a string.");
        subject = s->value().as_string();
    }
    return std::nullopt;
}

std::optional<GraphFailure> read_body(const json::object& msg, std::string& content_type, std::string& content) {
    if (auto b = msg.find("body"); b != msg.end() && !b->value().is_null()) {
        if (!b->value().is_object())
            return body_read("Cannot convert the literal to the expected type 'microsoft.graph.itemBody'.");
        const auto& bo = b->value().as_object();
        if (auto ct = bo.find("contentType"); ct != bo.end() && !ct->value().is_null()) {
            if (!ct->value().is_string()) return body_read("The property 'contentType' must be a string.");
            const std::string v(ct->value().as_string());
            if (iequals(v, "text"))
                content_type = "Text";
            else if (iequals(v, "html"))
                content_type = "HTML";
            else
                return body_read("Requested value '" + v + "' was not found.");
        }
        if (auto c = bo.find("content"); c != bo.end() && !c->value().is_null()) {
            if (!c->value().is_string()) return body_read("The property 'content' must be a string.");
            content = c->value().as_string();
        }
    }
    return std::nullopt;
}

// One fileAttachment, recorded by name, type, size and digest rather than its bytes.
std::optional<GraphFailure> read_attachment(const json::value& item, json::array& attachments) {
    if (!item.is_object())
        return body_read("Cannot convert the literal to the expected type 'microsoft.graph.attachment'.");
    const auto& att = item.as_object();
    std::string type;
    if (auto t = att.find("@odata.type"); t != att.end() && t->value().is_string()) type = t->value().as_string();
    if (!iequals(type, "#microsoft.graph.fileAttachment"))
        return body_read(type.empty() ? "An attachment needs '@odata.type': '#microsoft.graph.fileAttachment'."
                                      : "The attachment type '" + type +
                                            "' is not supported by sendMail here; use "
                                            "'#microsoft.graph.fileAttachment'.");
    std::string name;
    if (auto n = att.find("name"); n != att.end() && n->value().is_string()) name = n->value().as_string();
    if (name.empty()) return GraphFailure{400, "ErrorRequiredPropertyMissing", "Required property is missing: name."};
    auto cb = att.find("contentBytes");
    if (cb == att.end() || !cb->value().is_string())
        return GraphFailure{400, "ErrorRequiredPropertyMissing", "Required property is missing: contentBytes."};
    auto decoded = base64_decode(cb->value().as_string());
    if (!decoded)
        return body_read("Cannot convert the literal '" + std::string(cb->value().as_string()).substr(0, 32) +
                         "' to the expected type 'Edm.Binary'.");
    json::object rec_att;
    rec_att["name"] = name;
    auto ct = att.find("contentType");
    rec_att["content_type"] = ct != att.end() && ct->value().is_string() ? ct->value() : json::value(nullptr);
    rec_att["size"] = decoded->size();
    auto inl = att.find("isInline");
    if (inl != att.end() && !inl->value().is_null() && !inl->value().is_bool())
        return body_read("The property 'isInline' must be a Boolean.");
    rec_att["is_inline"] = inl != att.end() && inl->value().is_bool() && inl->value().as_bool();
    auto cid = att.find("contentId");
    rec_att["content_id"] = cid != att.end() && cid->value().is_string() ? cid->value() : json::value(nullptr);
    rec_att["sha256"] = base64url_encode(sha256(*decoded));
    attachments.push_back(std::move(rec_att));
    return std::nullopt;
}

std::optional<GraphFailure> read_attachments(const json::object& msg, json::array& attachments) {
    if (auto a = msg.find("attachments"); a != msg.end() && !a->value().is_null()) {
        if (!a->value().is_array()) return body_read("The property 'attachments' must be a collection.");
        for (const auto& item : a->value().as_array())
            if (auto f = read_attachment(item, attachments)) return f;
    }
    return std::nullopt;
}

std::optional<GraphFailure> read_internet_headers(const json::object& msg, json::array& headers) {
    if (auto h = msg.find("internetMessageHeaders"); h != msg.end() && !h->value().is_null()) {
        if (!h->value().is_array()) return body_read("The property 'internetMessageHeaders' must be a collection.");
        const auto& arr = h->value().as_array();
        if (arr.empty())
            return GraphFailure{400, "InvalidInternetMessageHeaderCollection",
                                "The internet message header collection must not be empty."};
        if (arr.size() > kMaxInternetHeaders)
            return GraphFailure{400, "InvalidInternetMessageHeaderCollection",
                                "Maximum number of headers in one message should be less than or equal to 5."};
        for (const auto& item : arr) {
            std::string name, value;
            if (item.is_object()) {
                const auto& ho = item.as_object();
                if (auto n = ho.find("name"); n != ho.end() && n->value().is_string()) name = n->value().as_string();
                if (auto v = ho.find("value"); v != ho.end() && v->value().is_string()) value = v->value().as_string();
            }
            if (name.size() < 3 || !(name[0] == 'x' || name[0] == 'X') || name[1] != '-')
                return GraphFailure{400, "InvalidInternetMessageHeader",
                                    "The internet message header name '" + name + "' should start with 'x-' or 'X-'."};
            headers.push_back(json::object{{"name", name}, {"value", value}});
        }
    }
    return std::nullopt;
}

std::optional<GraphFailure> read_save_to_sent_items(const json::object& top, bool& save) {
    if (auto s = top.find("saveToSentItems"); s != top.end() && !s->value().is_null()) {
        if (s->value().is_bool())
            save = s->value().as_bool();
        else if (s->value().is_string() && iequals(s->value().as_string(), "true"))
            save = true;
        else if (s->value().is_string() && iequals(s->value().as_string(), "false"))
            save = false;
        else
            return body_read("Cannot convert the literal '" + json::serialize(s->value()) +
                             "' to the expected type 'Edm.Boolean'.");
    }
    return std::nullopt;
}

// Validates a JSON sendMail payload; on success fills the message record.
std::optional<GraphFailure> validate_json_message(const std::string& body, const User& u, json::object& rec) {
    boost::system::error_code ec;
    json::value root = json::parse(body, ec);
    if (ec || !root.is_object()) return GraphFailure{400, "UnableToDeserializePostBody", "were unable to deserialize "};
    const auto& top = root.as_object();
    auto m = top.find("message");
    if (m == top.end() || !m->value().is_object())
        return GraphFailure{400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty or missing."};
    const auto& msg = m->value().as_object();

    json::array to, cc, bcc, reply_to;
    for (auto [key, out] :
         {std::pair{"toRecipients", &to}, {"ccRecipients", &cc}, {"bccRecipients", &bcc}, {"replyTo", &reply_to}})
        if (auto f = read_recipients(msg, key, *out)) return f;
    if (auto f = check_recipient_count(to.size() + cc.size() + bcc.size())) return f;
    if (auto f = check_sender(msg, u)) return f;

    std::string subject, content_type = "Text", content;
    json::array attachments, headers;
    bool save = true;
    if (auto f = read_subject(msg, subject)) return f;
    if (auto f = read_body(msg, content_type, content)) return f;
    if (auto f = read_attachments(msg, attachments)) return f;
    if (auto f = read_internet_headers(msg, headers)) return f;
    if (auto f = read_save_to_sent_items(top, save)) return f;

    rec["subject"] = subject;
    rec["body"] = json::object{{"content_type", content_type}, {"content", content}};
    rec["to"] = std::move(to);
    rec["cc"] = std::move(cc);
    rec["bcc"] = std::move(bcc);
    rec["reply_to"] = std::move(reply_to);
    rec["attachments"] = std::move(attachments);
    rec["internet_message_headers"] = std::move(headers);
    rec["save_to_sent_items"] = save;
    rec["mime"] = false;
    // Exchange gives a JSON-form message its own Message-ID, which sendMail does not return:
    // recorded as "" (none known), as the Google stand-in records an absent header.
    rec["message_id"] = "";
    rec["submitted_message_id"] = "";
    rec["in_reply_to"] = "";
    rec["references"] = json::array{};
    return std::nullopt;
}

json::array recipient_records(const std::vector<MimeMailbox>& list) {
    json::array out;
    for (const auto& r : list) out.push_back(json::object{{"address", r.address}, {"name", r.name}});
    return out;
}

std::optional<GraphFailure> check_mime_recipients(const MimeMessage& mime) {
    for (const auto* list : {&mime.to, &mime.cc, &mime.bcc})
        for (const auto& r : *list)
            if (!plausible_address(r.address))
                return GraphFailure{
                    400, "ErrorInvalidRecipients",
                    "At least one recipient is not valid., Recipient '" + r.address +
                        "' is not resolved. All recipients must be resolved before a message can be submitted."};
    return check_recipient_count(mime.to.size() + mime.cc.size() + mime.bcc.size());
}

// MIME send (https://learn.microsoft.com/graph/api/user-sendmail, "Example 4"): Content-Type
// text/plain, the body the base64 of an RFC 5322 message, read with GMime. The page documents one
// answer to malformed MIME content, 400 ErrorMimeContentInvalidBase64String "Invalid base64 string
// for MIME content."; the stand-in gives it for bad base64 and for bytes that hold no message.
// The Message-ID recipients see: the submitted one, or with the replace_message_id switch one of
// the stand-in's at the mailbox's domain, as Exchange might make it (UNVERIFIED).
std::string delivered_message_id(const MimeMessage& mime, const User& u, bool replace) {
    if (!replace) return mime.message_id;
    const std::string address = u.mail.value_or(u.upn);
    return "<" + random_guid() + "@" + address.substr(address.rfind('@') + 1) + ">";
}

std::optional<GraphFailure> validate_mime_message(const std::string& body, const User& u, bool replace_message_id,
                                                  json::object& rec) {
    const GraphFailure malformed{400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."};
    std::string compact;  // Microsoft's example wraps the base64 in lines of 76
    for (char c : body)
        if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
    auto bytes = base64_decode(compact);
    if (!bytes || compact.empty()) return malformed;
    std::optional<MimeMessage> mime = parse_mime_message(*bytes);
    if (!mime) return malformed;
    if (auto f = check_mime_recipients(*mime)) return f;
    for (const auto& sender : mime->from)
        if (!is_own_address(u, sender.address)) return send_as_denied();

    rec["subject"] = mime->subject;
    rec["body"] = json::object{{"content_type", "MIME"}, {"content", *bytes}};
    rec["to"] = recipient_records(mime->to);
    rec["cc"] = recipient_records(mime->cc);
    rec["bcc"] = recipient_records(mime->bcc);
    rec["reply_to"] = recipient_records(mime->reply_to);
    rec["attachments"] = json::array{};
    rec["internet_message_headers"] = json::array{};
    rec["save_to_sent_items"] = true;  // "This method saves the message in the Sent Items folder."
    rec["mime"] = true;
    rec["message_id"] = delivered_message_id(*mime, u, replace_message_id);
    rec["submitted_message_id"] = mime->message_id;
    rec["in_reply_to"] = mime->in_reply_to;
    json::array references;
    for (const auto& id : mime->references) references.emplace_back(id);
    rec["references"] = std::move(references);
    return std::nullopt;
}

HttpResponse unauthorized(Service& svc, const std::string& message, const RequestContext& ctx) {
    auto res = graph_error(401, "InvalidAuthenticationToken", message, ctx);
    res.set_header("WWW-Authenticate", "Bearer realm=\"\", authorization_uri=\"" + svc.base_url() +
                                           "/common/oauth2/authorize\", client_id=\"" + kGraphAppId + "\"");
    return res;
}

// CAE: 401 with error="insufficient_claims" and the claims a new token must satisfy. Header
// and claims as Graph sends them (MicrosoftDocs azure-docs claims-challenge.md; a captured
// header in msgraph-sdk-dotnet-core's AuthenticationHandler tests, note the ", " in the JSON).
HttpResponse cae_challenge(Service& svc, const CaeEvent& event, const RequestContext& ctx) {
    const std::string why =
        "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: "
        "TokenIssuedBeforeRevocationTimestamp";
    auto res = graph_error(401, "InvalidAuthenticationToken", why, ctx);
    const std::string claims =
        R"({"access_token":{"nbf":{"essential":true, "value":")" + std::to_string(event.at) + R"("}}})";
    res.set_header("WWW-Authenticate",
                   "Bearer realm=\"\", authorization_uri=\"" + svc.base_url() +
                       "/common/oauth2/authorize\", client_id=\"" + kGraphAppId + "\", error_description=\"" + why +
                       "\", error=\"insufficient_claims\", claims=\"" + base64_encode(claims) + "\"");
    return res;
}

// Exchange Online's recipient rate limit, 10,000 recipients a day (exchange-online-limits#sending-limits-1).
// The code is the one Exchange gives a mailbox over its sending limit; the status (403), the text
// and the absence of Retry-After are UNVERIFIED against the real service (README, Guesses).
HttpResponse daily_limit_exceeded(const User& u, const RequestContext& ctx) {
    return graph_error(403, "ErrorExceededMessageLimit",
                       "Cannot send mail. The mailbox has reached its limit of " +
                           std::to_string(u.limits.recipients_per_day) + " recipients in 24 hours.",
                       ctx);
}

// The compact ledger: one count per key (the client-request-id, else the subject).
void tally_message(Service& svc, const json::object& rec, const RequestContext& ctx) {
    auto& tally = svc.state.message_tally;
    ++tally.total;
    const std::string key =
        ctx.client_request_id.empty() ? std::string(rec.at("subject").as_string()) : ctx.client_request_id;
    ++tally.by_key[key];
}

// `stateless`: the token is a bulk-mode one; its message is tallied, not kept in full.
HttpResponse send_mail(Service& svc, const HttpRequest& request, const AccessTokenRecord& token, const User& u,
                       const RequestContext& ctx, bool stateless) {
    HttpResponse res;
    // Outlook's per-mailbox concurrency: the slot stays taken until the response is written.
    int in_flight = 0;
    auto slot = svc.try_enter_mailbox(u.upn, u.limits.concurrent_requests, &in_flight);
    if (!slot) {
        res = graph_throttled("MailboxConcurrency", "Application is over its MailboxConcurrency limit.", "1", ctx);
        return res;
    }
    auto finish = [&](HttpResponse r) {
        r.in_flight = slot;
        return r;
    };
    if (int wait = svc.rate_limit_wait(u.upn, u.limits.messages_per_minute))
        return finish(graph_throttled("ApplicationThrottled",
                                      "Mailbox has exceeded its message submission rate limit (" +
                                          std::to_string(u.limits.messages_per_minute) + " messages per minute).",
                                      std::to_string(wait), ctx));
    if (!contains(token.scopes, "Mail.Send") || token.access_denied)
        return finish(graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", ctx));
    if (!u.mailbox_enabled)
        return finish(graph_error(404, "MailboxNotEnabledForRESTAPI",
                                  "The mailbox is either inactive, soft-deleted, or is hosted on-premise.", ctx));
    if (request.body.size() > kMaxRequestBytes)
        return finish(graph_error(413, "RequestEntityTooLarge", "The maximum request length supported is 4MB.", ctx));

    json::object rec;
    rec["sender"] = u.upn;
    rec["from"] = u.mail.value_or(u.upn);
    rec["client_id"] = token.client_id;
    const bool mime = lower(request.header("content-type")).rfind("text/plain", 0) == 0;
    auto failure = mime ? validate_mime_message(request.body, u, svc.state.scenario.settings.replace_message_id, rec)
                        : validate_json_message(request.body, u, rec);
    if (failure) return finish(graph_error(failure->status, failure->code, failure->message, ctx));
    const int recipients =
        static_cast<int>(rec["to"].as_array().size() + rec["cc"].as_array().size() + rec["bcc"].as_array().size());
    if (svc.over_recipient_limit(u.upn, u.limits.recipients_per_day, recipients))
        return finish(daily_limit_exceeded(u, ctx));

    rec["client_request_id"] =
        ctx.client_request_id.empty() ? json::value(nullptr) : json::value(ctx.client_request_id);
    rec["request_id"] = ctx.request_id;
    rec["sent_at"] = format_iso8601(ctx.now);
    rec["sent_at_unix"] = ctx.now;
    rec["concurrent_at_send"] = in_flight;
    tally_message(svc, rec, ctx);
    if (!stateless) svc.state.messages.push_back(std::move(rec));
    svc.record_accepted(u.upn, recipients);
    res.status = 202;
    res.set_header("Cache-Control", "private");
    return finish(std::move(res));
}

HttpResponse me_or_denied(Service& svc, const HttpRequest& request, const AccessTokenRecord& token, const User& u,
                          const RequestContext& ctx) {
    if (!contains(token.scopes, "User.Read") && !contains(token.scopes, "User.ReadBasic.All"))
        return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                           ctx);
    return get_me(svc, request, u, ctx);
}

// A stateless bulk access token (README "Bulk mode"): verified by its MAC, then expiry on the
// stand-in's clock; the user is built from the token, not looked up. No CAE for these users.
HttpResponse stateless_graph(Service& svc, const HttpRequest& request, std::string_view bearer, bool is_me,
                             const RequestContext& ctx) {
    auto t = verify_stateless(svc.stateless_key(), bearer);
    std::optional<User> u = t && t->kind == StatelessToken::Kind::access ? stateless_user(svc, *t) : std::nullopt;
    if (!u) return unauthorized(svc, "CompactToken parsing failed with error code: 80049217", ctx);
    if (ctx.now >= t->expires) return unauthorized(svc, "Access token has expired or is not yet valid.", ctx);
    AccessTokenRecord token{t->client_id, u->upn, t->scopes, t->expires, 0, false, false};
    if (is_me) return me_or_denied(svc, request, token, *u, ctx);
    return send_mail(svc, request, token, *u, ctx, true);
}

}  // namespace

HttpResponse handle_graph(Service& svc, const Route& route, HttpRequest& request, RequestContext& ctx) {
    if (route.endpoint != Endpoint::me && route.endpoint != Endpoint::send_mail) {
        const std::string seg = route.segments.size() > 1 ? route.segments.back() : "";
        return graph_error(400, "BadRequest", "Resource not found for the segment '" + seg + "'.", ctx);
    }
    const bool is_me = route.endpoint == Endpoint::me;
    if ((is_me && request.method != "GET" && request.method != "HEAD") || (!is_me && request.method != "POST"))
        return graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.", ctx);

    std::string_view auth = request.header("authorization");
    if (auth.size() < 7 || !iequals(auth.substr(0, 7), "bearer ") ||
        auth.find_first_not_of(' ', 7) == std::string_view::npos)
        return unauthorized(svc, "Access token is empty.", ctx);
    auto it = svc.state.access_tokens.find(std::string(auth.substr(7)));
    if (it == svc.state.access_tokens.end()) {
        if (looks_stateless(auth.substr(7))) return stateless_graph(svc, request, auth.substr(7), is_me, ctx);
        return unauthorized(svc, "CompactToken parsing failed with error code: 80049217", ctx);
    }
    const AccessTokenRecord& token = it->second;
    if (ctx.now >= token.expires) return unauthorized(svc, "Access token has expired or is not yet valid.", ctx);
    const User* u = svc.state.scenario.user(token.upn);
    if (!u) return unauthorized(svc, "CompactToken parsing failed with error code: 80049217", ctx);
    if (auto cae = svc.state.cae_events.find(lower(u->upn)); cae != svc.state.cae_events.end())
        if (token.serial <= cae->second.serial || token.cae_challenged) return cae_challenge(svc, cae->second, ctx);

    if (is_me) return me_or_denied(svc, request, token, *u, ctx);
    return send_mail(svc, request, token, *u, ctx, false);
}

}  // namespace ms_sandbox::detail
