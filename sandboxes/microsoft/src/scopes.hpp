// Scope vocabulary: the Graph delegated permissions and OIDC scopes the sandbox knows,
// normalisation of short / fully-qualified names, and the token response "scope" format.
#pragma once

#include "scenario.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ms_sandbox::detail {

using ScopeList = std::vector<std::string>;  // canonical names, no duplicates, request order

struct ParsedScopes {
    ScopeList scopes;
    std::string invalid;     // first scope the sandbox does not know (empty if all fine)
    bool qualified = false;  // a Graph scope was named by URI (or ".default"), not by short name
};

// Accepts "User.Read", "https://graph.microsoft.com/User.Read", "00000003-.../User.Read",
// "https://graph.microsoft.com/.default" (expands to the app's api_permissions) and the OIDC
// scopes openid/profile/email/offline_access, case-insensitively.
ParsedScopes parse_scopes(std::string_view raw, const App& app);

bool is_oidc_scope(std::string_view canonical);  // openid, profile, email, offline_access
// "mail.send" -> "Mail.Send"; nullopt for names that are not known Graph delegated scopes.
std::optional<std::string> canonical_graph_scope(std::string_view name);
bool contains(const ScopeList& list, std::string_view scope);
ScopeList merged(ScopeList a, const ScopeList& b);

// What the consent page says for a scope ("Send mail as you").
std::string consent_text(std::string_view canonical);

// The token response "scope": Graph scopes sorted, short ("Mail.Send") or fully qualified
// ("https://graph.microsoft.com/Mail.Send"), then the OIDC scopes openid/profile/email that
// were asked for; never offline_access (see README "Scopes in tokens").
std::string scope_response(const ScopeList& granted, bool qualified);
// The access token's "scp" claim: short names, space-separated, OIDC scopes included.
std::string scp_claim(const ScopeList& granted);

}  // namespace ms_sandbox::detail
