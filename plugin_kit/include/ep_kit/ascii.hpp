// ASCII case folding for protocol tokens (header names, scopes, error codes, domains). Not
// std::tolower: that follows the process locale, which the host, not the plugin, decides.
#pragma once

#include <algorithm>
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

}  // namespace ep::kit
