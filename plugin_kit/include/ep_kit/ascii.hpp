// Matching protocol tokens (header names, scopes, error codes, domains): ASCII case folding, and
// exact comparison with a list. Not std::tolower: that follows the process locale, which the
// host, not the plugin, decides.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ep::kit {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

// `value` is one of `values`, exactly (case and all).
inline bool equals_any(std::string_view value, std::initializer_list<std::string_view> values) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace ep::kit
