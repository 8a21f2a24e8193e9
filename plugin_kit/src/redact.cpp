#include "ep_kit/redact.hpp"

#include "ep_kit/ascii.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

namespace ep::kit {
namespace {

constexpr std::array<std::string_view, 13> kSecretNames = {
    "code",          "state",        "code_verifier", "code_challenge", "client_secret", "client_assertion",
    "refresh_token", "access_token", "id_token",      "assertion",      "password",      "session_state",
    "token",  // Google's revoke endpoint
};
constexpr std::size_t kLongestSecretName = 16;  // "client_assertion"

bool is_secret_name(std::string_view word) {
    if (word.size() > kLongestSecretName) return false;
    for (std::string_view name : kSecretNames)
        if (iequals(word, name)) return true;
    return false;
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
// Names are runs of these, so "error_code" is one word and never matches "code".
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_base64url(char c) { return is_alnum(c) || c == '_' || c == '-'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Where an unquoted value ends: the next parameter, the end of a word or of a quoted string.
bool ends_value(char c) { return c == '&' || c == '"' || c == '\'' || c == '\\' || is_space(c); }

std::size_t skip(std::string_view text, std::size_t pos, bool (*predicate)(char)) {
    while (pos < text.size() && predicate(text[pos])) ++pos;
    return pos;
}

std::size_t skip_blanks(std::string_view text, std::size_t pos) {
    return skip(text, pos, [](char c) { return c == ' ' || c == '\t'; });
}

// The quote just before a name at `start`, if any: ", ' or an escaped \".
std::string_view quote_before(std::string_view text, std::size_t start) {
    if (start >= 2 && text.substr(start - 2, 2) == "\\\"") return text.substr(start - 2, 2);
    if (start >= 1 && (text[start - 1] == '"' || text[start - 1] == '\'')) return text.substr(start - 1, 1);
    return {};
}

// The end of the closing `quote` from `pos`, skipping backslash escapes for a one-character
// quote; the text's end when the closing quote is missing (a truncated line).
std::size_t closing_quote(std::string_view text, std::size_t pos, std::string_view quote) {
    if (quote.size() == 1) {
        for (; pos < text.size(); ++pos) {
            if (text[pos] == '\\')
                ++pos;
            else if (text[pos] == quote[0])
                return pos;
        }
        return text.size();
    }
    const std::size_t found = text.find(quote, pos);
    return found == std::string_view::npos ? text.size() : found;
}

// Appends text[from, value) + [REDACTED] (when the value is not empty) and returns `end`.
std::size_t replace_value(std::string_view text, std::size_t from, std::size_t value, std::size_t end,
                          std::string& out) {
    out.append(text.substr(from, value - from));
    if (end > value) out.append(kRedacted);
    return end;
}

// An unquoted value runs to ends_value(); a quoted one to its closing quote (kept).
std::size_t redact_value(std::string_view text, std::size_t from, std::size_t value, std::string& out) {
    if (value < text.size() && (text[value] == '"' || text[value] == '\'')) {
        const std::string_view quote = text.substr(value, 1);
        const std::size_t end = closing_quote(text, value + 1, quote);
        return replace_value(text, from, value + 1, end, out);
    }
    return replace_value(text, from, value, skip(text, value, [](char c) { return !ends_value(c); }), out);
}

// After a secret name ending at `pos`: name=value, or "name":"value" when the name is quoted.
// Returns where scanning resumes; `pos` itself when nothing matched.
std::size_t redact_named_value(std::string_view text, std::size_t start, std::size_t pos, std::string& out) {
    if (pos < text.size() && text[pos] == '=') return redact_value(text, pos, pos + 1, out);

    const std::string_view quote = quote_before(text, start);
    if (quote.empty() || text.substr(pos, quote.size()) != quote) return pos;
    std::size_t p = skip_blanks(text, pos + quote.size());
    if (p >= text.size() || text[p] != ':') return pos;
    p = skip_blanks(text, p + 1);
    if (text.substr(p, quote.size()) != quote) return pos;  // not a string value: nothing secret
    const std::size_t value = p + quote.size();
    return replace_value(text, pos, value, closing_quote(text, value, quote), out);
}

// "Bearer <credential>": the credential is the next run of non-blank value characters.
std::size_t redact_after_scheme(std::string_view text, std::size_t pos, std::string& out) {
    const std::size_t credential = skip_blanks(text, pos);
    if (credential == pos) return pos;
    const std::size_t end = skip(text, credential, [](char c) { return !ends_value(c); });
    if (end == credential) return pos;
    return replace_value(text, pos, credential, end, out);
}

// "Authorization: <scheme> <credential>" or "Authorization: <credential>", also as a JSON
// field or a parameter. The scheme stays readable.
std::size_t redact_authorization(std::string_view text, std::size_t start, std::size_t pos, std::string& out) {
    const std::string_view quote = quote_before(text, start);
    std::size_t p = pos;
    if (!quote.empty() && text.substr(p, quote.size()) == quote) p += quote.size();
    p = skip_blanks(text, p);
    if (p >= text.size() || (text[p] != ':' && text[p] != '=')) return pos;
    p = skip_blanks(text, p + 1);
    if (!quote.empty() && text.substr(p, quote.size()) == quote) p += quote.size();

    const std::size_t first_end = skip(text, p, [](char c) { return !ends_value(c); });
    if (first_end == p) return pos;
    const std::size_t second = skip_blanks(text, first_end);
    const std::size_t second_end = skip(text, second, [](char c) { return !ends_value(c); });
    if (second > first_end && second_end > second) return replace_value(text, pos, second, second_end, out);
    return replace_value(text, pos, p, first_end, out);
}

// The end of a JWT starting at `pos`, or 0: base64url segments joined by at least two dots
// (a JWS has three segments, a JWE five; some may be empty, as the signature of an
// unsecured JWT is).
std::size_t jwt_end(std::string_view text, std::size_t pos) {
    if (text.substr(pos, 3) != "eyJ") return 0;
    std::size_t dots = 0;
    std::size_t end = pos;
    for (; end < text.size() && (is_base64url(text[end]) || text[end] == '.'); ++end) dots += text[end] == '.';
    return dots >= 2 ? end : 0;
}

}  // namespace

std::string redact(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_word(text[i])) {
            const std::size_t word = skip(text, i, [](char c) { return !is_word(c); });
            out.append(text.substr(i, word - i));
            i = word;
            continue;
        }
        const std::size_t start = i;
        if (const std::size_t end = jwt_end(text, start)) {
            out.append(kRedacted);
            i = end;
            continue;
        }
        i = skip(text, start, is_word);
        const std::string_view word = text.substr(start, i - start);
        out.append(word);
        if (is_secret_name(word))
            i = redact_named_value(text, start, i, out);
        else if (iequals(word, "bearer"))
            i = redact_after_scheme(text, i, out);
        else if (iequals(word, "authorization"))
            i = redact_authorization(text, start, i, out);
    }
    return out;
}

uint64_t Redactor::prefix_of(std::string_view text) noexcept {
    static_assert(kMinSecretLength == sizeof(uint64_t));
    uint64_t prefix = 0;
    std::memcpy(&prefix, text.data(), sizeof prefix);
    return prefix;
}

void Redactor::add_secret(std::string_view secret) {
    if (secret.size() < kMinSecretLength) return;
    std::unique_lock lock(mutex_);
    if (sorted_.contains(secret)) return;
    if (secrets_.size() == kCapacity) forget_oldest();
    const std::string_view stored = secrets_.emplace_back(secret).view();
    sorted_.insert(stored);
    ++prefixes_[prefix_of(stored)];
}

void Redactor::forget_oldest() {
    const std::string_view oldest = secrets_.front().view();
    sorted_.erase(oldest);
    const auto prefix = prefixes_.find(prefix_of(oldest));
    if (--prefix->second == 0) prefixes_.erase(prefix);
    secrets_.pop_front();  // wipes it
}

// The length of the longest registered secret that `text` starts with, or 0. In sorted
// order, the greatest secret X <= text is the answer when it is a prefix of text; if not,
// every secret that is a prefix of text is also a prefix of X, so no longer than the common
// prefix of X and text: search again below that, until it is shorter than any secret.
std::size_t Redactor::longest_match(std::string_view text) const {
    std::string_view query = text;
    while (query.size() >= kMinSecretLength) {
        auto candidate = sorted_.upper_bound(query);
        if (candidate == sorted_.begin()) return 0;
        --candidate;
        if (query.starts_with(*candidate)) return candidate->size();
        const auto mismatch = std::mismatch(query.begin(), query.end(), candidate->begin(), candidate->end());
        query = query.substr(0, static_cast<std::size_t>(mismatch.first - query.begin()));
    }
    return 0;
}

std::string Redactor::redact(std::string_view text) const {
    // Literals first, on the original text: a pattern could split a secret that contains
    // one of its delimiters and leave the rest readable.
    std::string literal_free;
    {
        std::shared_lock lock(mutex_);
        if (secrets_.empty()) return kit::redact(text);
        literal_free.reserve(text.size());
        std::size_t i = 0;
        while (i < text.size()) {
            const std::string_view rest = text.substr(i);
            const std::size_t length =
                rest.size() >= kMinSecretLength && prefixes_.contains(prefix_of(rest)) ? longest_match(rest) : 0;
            if (length > 0) {
                literal_free.append(kRedacted);
                i += length;
            } else {
                literal_free.push_back(text[i++]);
            }
        }
    }
    return kit::redact(literal_free);
}

}  // namespace ep::kit
