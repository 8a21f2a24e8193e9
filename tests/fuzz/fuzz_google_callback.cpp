// fuzz_google_callback: gmail::read_authorization_callback, then classify_callback_error on the
// error it returns.
//
// The callback document (ep.callback/1) carries whatever came back to the redirect URI: anyone
// can send a victim a crafted link, so every byte is attacker-controlled. The only exception
// allowed out is ep::sdk::Error(invalid_callback) naming the field, in UTF-8 (it becomes an
// ep.error/1 document); an accepted callback has a state and either a code that is not
// percent-encoded or an error, and the code (a credential) is never in an error message.
#include "fuzz_support.hpp"

#include <google_oauth.hpp>

#include "ep_kit/oauth2.hpp"

#include <email_provider/ep_sdk.hpp>

#include <map>
#include <set>
#include <string>

namespace {

// ep.connect_result/1 outcomes classify_callback_error may give (google_oauth.hpp).
const std::set<std::string> kCallbackOutcomes = {"declined", "blocked_by_policy", "configuration_error", "failed"};

void check_accepted(const gmail::AuthorizationCallback& cb) {
    FUZZ_CHECK(!cb.state.empty() && fuzz::is_document_safe(cb.state), cb.state);
    FUZZ_CHECK(fuzz::is_document_safe(cb.hosted_domain), cb.hosted_domain);
    if (cb.scope) FUZZ_CHECK(fuzz::is_document_safe(*cb.scope), *cb.scope);
    if (cb.error.empty()) {
        // Google's codes are "4/0A..."; a '%' means it was encoded twice (google/device-access-sample-web-app#5).
        FUZZ_CHECK(!cb.code.empty() && cb.code.view().find('%') == std::string_view::npos, "code");
        FUZZ_CHECK(ep::sdk::is_valid_utf8(cb.code.view()), "code");
        return;
    }
    FUZZ_CHECK(fuzz::is_document_safe(cb.error) && cb.error.size() <= 100, cb.error);
    const gmail::CallbackFailure f = gmail::classify_callback_error(cb.error);
    FUZZ_CHECK(kCallbackOutcomes.count(f.outcome) == 1, f.outcome);
    FUZZ_CHECK(!f.message.empty() && fuzz::is_document_safe(f.message), f.message);
}

// Every refusal text the reader writes once the kit has read the document. A code may by chance
// be part of them ("unts.google.com" is in the issuer): that is the text, not a quote of the code.
constexpr std::string_view kRefusalTexts =
    "callback.iss is not the expected issuer https://accounts.google.com (RFC 9207: the answer may come from "
    "another authorization server)\ncallback.state is missing\ncallback.error is empty\ncallback has neither a "
    "code nor an error\ncallback.code is not a Google authorization code (percent-encoded twice?)";

// The code as the kit reads it from any of the three forms (query, callback_url, params).
void check_code_not_quoted(std::string_view document, std::string_view message) {
    std::map<std::string, std::string> params;
    try {
        params = ep::kit::parse_callback(document);
    } catch (const ep::sdk::Error&) {
        return;  // refused by the kit before any code was read
    }
    const auto code = params.find("code");
    if (code != params.end() && code->second.size() >= 6)
        FUZZ_CHECK(!fuzz::quotes_input(message, code->second, code->second.size(), kRefusalTexts), message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    // The plugin's entry points refuse documents that are not UTF-8 before any parsing
    // (ep::sdk::checked_document): only such documents reach the callback reader.
    if (!ep::sdk::is_valid_utf8(text)) return 0;
    try {
        check_accepted(gmail::read_authorization_callback(text, gmail::kGoogleIssuer));
    } catch (const ep::sdk::Error& e) {
        FUZZ_CHECK(e.status() == EP_ERR_INVALID_ARGUMENT && e.code() == "invalid_callback", e.code());
        FUZZ_CHECK(!e.field().empty(), e.what());
        FUZZ_CHECK(fuzz::is_document_safe(e.what()) && fuzz::is_document_safe(e.field()), e.what());
        // The code is a credential: a refusal after the document was read never quotes it.
        check_code_not_quoted(text, e.what());
    }
    return 0;
}
