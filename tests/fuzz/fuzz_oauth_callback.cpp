// fuzz_oauth_callback: outlook::parse_callback, then outlook::aadsts_code on every key and
// value it returns.
//
// The callback document (ep.callback/1) carries whatever came back to the redirect URI:
// anyone can send a victim a crafted link, so the URL, its query and its fragment are
// attacker-controlled. The only exception allowed out is ep::sdk::Error(invalid_callback),
// and since that error becomes an ep.error/1 document for the host, its text must stay
// valid UTF-8 (the SDK copies it byte for byte).
#include "fuzz_support.hpp"

#include <oauth.hpp>

#include <email_provider/ep_sdk.hpp>

#include <string>

namespace {

// aadsts_code reads at most 9 digits after the first "AADSTS", so it can never overflow.
void check_aadsts(std::string_view text) {
    const int code = outlook::aadsts_code(text);
    FUZZ_CHECK(code >= 0 && code <= 999'999'999, text);
    const auto at = text.find("AADSTS");
    if (at == std::string_view::npos) FUZZ_CHECK(code == 0, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    // The plugin's entry points refuse documents that are not UTF-8 before any parsing
    // (ep::sdk::checked_document): only such documents can reach parse_callback.
    if (!ep::sdk::is_valid_utf8(text)) return 0;
    try {
        for (const auto& [key, value] : outlook::parse_callback(text)) {
            // Values reach ep.connect_result/1 messages (error_description is quoted).
            FUZZ_CHECK(ep::sdk::is_valid_utf8(value), value);
            FUZZ_CHECK(value.size() <= 16384, key);
            check_aadsts(key);
            check_aadsts(value);
        }
    } catch (const ep::sdk::Error& e) {
        FUZZ_CHECK(e.status() == EP_ERR_INVALID_ARGUMENT, e.what());
        FUZZ_CHECK(e.code() == "invalid_callback", e.code());
        FUZZ_CHECK(fuzz::is_document_safe(e.what()), e.what());
        FUZZ_CHECK(fuzz::is_document_safe(e.field()), e.field());
    }
    return 0;
}
