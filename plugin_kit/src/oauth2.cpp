#include "ep_kit/oauth2.hpp"

#include "ep_kit/encoding.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

namespace ep::kit {

namespace json = boost::json;
using ep::sdk::Error;

Pkce make_pkce() {
    Pkce p;
    p.verifier = SecretString(random_urlsafe(64));  // 86 characters, within RFC 7636's 43-128
    p.challenge = pkce_challenge(p.verifier.view());
    return p;
}

std::string pkce_challenge(std::string_view verifier) { return base64url_encode(sha256(verifier)); }

std::string percent_encode(std::string_view value) { return boost::urls::encode(value, boost::urls::unreserved_chars); }

std::string form_encode(const std::vector<std::pair<std::string, std::string_view>>& fields) {
    std::string out;
    for (const auto& [name, value] : fields) {
        if (!out.empty()) out.push_back('&');
        out += percent_encode(name);
        out.push_back('=');
        out += percent_encode(value);
    }
    return out;
}

std::map<std::string, std::string> parse_callback(std::string_view callback_json) {
    auto invalid = [](const std::string& field, const std::string& what) -> Error {
        return Error(EP_ERR_INVALID_ARGUMENT, "invalid_callback", field + " " + what, field);
    };
    boost::system::error_code ec;
    json::value v = json::parse(callback_json, ec);
    if (ec || !v.is_object()) throw invalid("callback", "must be a JSON object with callback_url, query or params");
    const json::object& o = v.as_object();
    int forms = o.contains("callback_url") + o.contains("query") + o.contains("params");
    if (forms != 1) throw invalid("callback", "must have exactly one of callback_url, query or params");

    std::map<std::string, std::string> params;
    auto add_query = [&](std::string_view query_view, const std::string& field) {
        // Parsed from a copy: Boost.URL 1.81 finds the end of the last value by scanning for a
        // delimiter, past the end of the view, so "state=X#..." would give state "X#".
        const std::string query(query_view);
        auto parsed = boost::urls::parse_query(query);
        if (!parsed) throw invalid(field, "is not a valid query string");
        for (auto p : parsed.value()) {
            if (!p.has_value) continue;
            // Forms decode '+' as a space; identity providers percent-encode every '+' they mean.
            params[p.key.decode()] = p.value.decode({true});
        }
    };
    if (auto it = o.find("callback_url"); it != o.end()) {
        if (!it->value().is_string()) throw invalid("callback_url", "must be a string");
        auto url = boost::urls::parse_uri_reference(std::string_view(it->value().as_string()));
        if (!url) throw invalid("callback_url", "is not a valid URL");
        add_query(url->encoded_query(), "callback_url");
        // Microsoft's redirects may end in a bare '#' (outlook_plugin/docs/microsoft-behaviour.md §9);
        // response_mode=fragment would put the answer after it, so parameters there are read too.
        if (url->has_fragment() && url->encoded_fragment().find('=') != std::string_view::npos)
            add_query(url->encoded_fragment(), "callback_url");
    } else if (auto q = o.find("query"); q != o.end()) {
        if (!q->value().is_string()) throw invalid("query", "must be a string");
        // A query copied with its URL's fragment (a trailing '#'): the fragment is not part of it.
        std::string_view query = q->value().as_string();
        query = query.substr(0, query.find('#'));
        if (query.starts_with('?')) query.remove_prefix(1);
        add_query(query, "query");
    } else {
        const json::value& p = o.at("params");
        if (!p.is_object()) throw invalid("params", "must be an object of strings");
        for (const auto& kv : p.as_object()) {
            if (!kv.value().is_string())
                throw invalid(ep::sdk::is_valid_utf8(kv.key()) && kv.key().size() <= 64
                                  ? "params." + std::string(kv.key())
                                  : std::string("params"),
                              "must be a string");
            params[std::string(kv.key())] = std::string(kv.value().as_string());
        }
    }
    for (const auto& [k, val] : params) {
        // A key that is itself bad is not echoed back: it may be anything an attacker put in a link.
        if (!ep::sdk::is_valid_utf8(k) || k.size() > 64)
            throw invalid("callback", "has a parameter name that is not valid UTF-8 or is too long");
        if (!ep::sdk::is_valid_utf8(val) || val.size() > 16384)
            throw invalid("callback." + k, "is not valid UTF-8 or is too long");
    }
    return params;
}

std::string first_line(std::string_view text, std::size_t max_bytes) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && out.size() < max_bytes; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\r' || c == '\n') break;
        // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F; U+0085 is a line break to some readers)
        // are no more printable than DEL or the C0 controls.
        const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
        if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
            ++i;
            continue;
        }
        if (c >= 0x20 && c != 0x7F) out.push_back(static_cast<char>(c));
    }
    // Never end inside a UTF-8 character: these texts end up in JSON documents.
    while (!out.empty() && !ep::sdk::is_valid_utf8(out)) out.pop_back();
    return out;
}

}  // namespace ep::kit
