// Scope vocabulary: the Graph delegated permissions and OIDC scopes the sandbox knows,
// normalisation of short / fully-qualified names, and the token response "scope" format.
#pragma once

#include "scenario.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ms_sandbox::detail {

using ScopeList = std::vector<std::string>;  // canonical names, no duplicates, request order

struct ParsedScopes {
  ScopeList scopes;
  std::string invalid;  // first scope the sandbox does not know (empty if all fine)
};

// Accepts "User.Read", "https://graph.microsoft.com/User.Read", "00000003-.../User.Read",
// "https://graph.microsoft.com/.default" (expands to the app's api_permissions) and the OIDC
// scopes openid/profile/email/offline_access, case-insensitively.
ParsedScopes parse_scopes(std::string_view raw, const App& app);

bool is_oidc_scope(std::string_view canonical);  // openid, profile, email, offline_access
bool contains(const ScopeList& list, std::string_view scope);
// True if every scope of `wanted` is in `granted`.
bool is_subset(const ScopeList& wanted, const ScopeList& granted);
ScopeList merged(ScopeList a, const ScopeList& b);

// What the consent page says for a scope ("Send mail as you").
std::string consent_text(std::string_view canonical);

// The token response "scope": Graph scopes fully qualified and sorted, then the OIDC scopes
// openid/profile/email that were asked for; never offline_access (see README "Guesses").
std::string scope_response(const ScopeList& granted);

}  // namespace ms_sandbox::detail
