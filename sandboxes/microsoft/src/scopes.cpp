#include "scopes.hpp"
#include "text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace ms_sandbox::detail {

namespace {

struct KnownScope {
    std::string_view name;
    std::string_view consent_text;
};

constexpr std::array kOidcScopes{
    KnownScope{"openid", "Sign you in"},
    KnownScope{"profile", "View your basic profile"},
    KnownScope{"email", "View your email address"},
    KnownScope{"offline_access", "Maintain access to data you have given it access to"},
};

constexpr std::array kGraphScopes{
    KnownScope{"User.Read", "Sign you in and read your profile"},
    KnownScope{"Mail.Send", "Send mail as you"},
    KnownScope{"Mail.Read", "Read your mail"},
    KnownScope{"Mail.ReadWrite", "Read and write access to your mail"},
    KnownScope{"User.ReadBasic.All", "Read all users' basic profiles"},
    // Not asked for by this project's apps; they appear as earlier (additive) consents.
    KnownScope{"Calendars.Read", "Read your calendars"},
    KnownScope{"Contacts.Read", "Read your contacts"},
};

template <class Table>
const KnownScope* find(const Table& table, std::string_view name) {
    for (const auto& s : table)
        if (lower(s.name) == lower(name)) return &s;
    return nullptr;
}

void add(ScopeList& list, std::string_view s) {
    if (!contains(list, s)) list.emplace_back(s);
}

}  // namespace

bool contains(const ScopeList& list, std::string_view scope) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return lower(s) == lower(scope); });
}

ScopeList merged(ScopeList a, const ScopeList& b) {
    for (const auto& s : b) add(a, s);
    return a;
}

bool is_oidc_scope(std::string_view canonical) { return find(kOidcScopes, canonical) != nullptr; }

std::optional<std::string> canonical_graph_scope(std::string_view name) {
    if (auto* g = find(kGraphScopes, name)) return std::string(g->name);
    return std::nullopt;
}

ParsedScopes parse_scopes(std::string_view raw, const App& app) {
    ParsedScopes out;
    std::size_t pos = 0;
    while (pos < raw.size()) {
        if (raw[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t end = raw.find(' ', pos);
        if (end == std::string_view::npos) end = raw.size();
        std::string_view token = raw.substr(pos, end - pos);
        pos = end;

        if (auto* o = find(kOidcScopes, token)) {
            add(out.scopes, o->name);
            continue;
        }
        std::string_view name = token;
        for (std::string_view prefix : {std::string_view(kGraphResource), std::string_view(kGraphAppId)}) {
            if (lower(token.substr(0, prefix.size() + 1)) == lower(prefix) + "/") {
                name = token.substr(prefix.size() + 1);
                out.qualified = true;
                break;
            }
        }
        if (name == ".default" && name != token) {
            for (const auto& p : app.api_permissions) add(out.scopes, p);
            continue;
        }
        if (auto* g = find(kGraphScopes, name)) {
            add(out.scopes, g->name);
            continue;
        }
        if (out.invalid.empty()) out.invalid = std::string(token);
    }
    return out;
}

std::string consent_text(std::string_view canonical) {
    if (auto* o = find(kOidcScopes, canonical)) return std::string(o->consent_text);
    if (auto* g = find(kGraphScopes, canonical)) return std::string(g->consent_text);
    return std::string(canonical);
}

std::string scope_response(const ScopeList& granted, bool qualified) {
    std::vector<std::string> graph;
    for (const auto& s : granted)
        if (!is_oidc_scope(s)) graph.push_back(qualified ? std::string(kGraphResource) + "/" + s : s);
    std::sort(graph.begin(), graph.end(),
              [](const std::string& a, const std::string& b) { return lower(a) < lower(b); });
    for (std::string_view oidc : {"openid", "profile", "email"})
        if (contains(granted, oidc)) graph.emplace_back(oidc);
    std::string out;
    for (const auto& s : graph) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

std::string scp_claim(const ScopeList& granted) {
    std::string out;
    for (const auto& s : granted) {
        if (s == "offline_access") continue;
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

}  // namespace ms_sandbox::detail
