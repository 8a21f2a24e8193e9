// Stateless bulk tokens (README "Bulk mode"): access and refresh tokens the stand-in verifies
// with an HMAC instead of looking them up, so that a load test can hold 1,000,000 connected
// mailboxes without 1,000,000 stored users and token records.
//
// Format (version 1), all characters from [A-Za-z0-9._-]:
//
//   "sl1." BASE64URL(payload) "." BASE64URL(mac) "." padding
//
//   payload  u8 kind ('A' access | 'R' refresh), u8 flags (bit 0: the grant named Graph scopes by
//            URI), u16 total token length, u32 generation (0 at the bulk grant, +1 per refresh),
//            i64 issued, i64 expires (access; 0 for refresh), u64 user number, then four
//            u8-length-prefixed strings: client id, tenant id, user prefix, scopes
//            (canonical names, space-separated); integers big-endian. The user is
//            <prefix><number>@<tenant's domain>, its id guid_from_name(upn).
//   mac      HMAC-SHA256 under a 32-byte key drawn at random when the Service starts (never
//            printed), over the text "sl1.<payload>" as sent (so any changed character fails).
//   padding  up to the configured token size: characters of the base64url alphabet drawn by a
//            splitmix64 generator seeded from the MAC (derived, not random; checked too).
//
// A token whose length differs from the length it carries, whose MAC or padding differs, or
// whose payload does not decode, does not verify. The token stays opaque to clients.
#pragma once

#include "scopes.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ms_sandbox::detail {

struct StatelessToken {
    enum class Kind : std::uint8_t { access = 'A', refresh = 'R' };
    Kind kind = Kind::access;
    bool qualified = false;
    std::uint32_t generation = 0;
    std::int64_t issued = 0;
    std::int64_t expires = 0;  // access tokens only
    std::uint64_t number = 0;
    std::string client_id, tenant_id, prefix;
    ScopeList scopes;
    // Set by verify: the first 16 bytes of the MAC, a compact identity of this very token.
    std::array<unsigned char, 16> id{};
};

// A fresh random key (32 bytes).
std::string stateless_key();
// Whether `token` has the stateless shape (the "sl1." mark); says nothing about its validity.
bool looks_stateless(std::string_view token);
// The token for `t`, `length` characters long (longer when its payload needs more).
// Throws std::invalid_argument when a string field exceeds 255 bytes.
std::string mint_stateless(const std::string& key, const StatelessToken& t, std::size_t length);
// The first 36 characters: the mark and the base64url of the payload's first 24 bytes (kind,
// flags, length, generation, issue time, expiry), which every token of one kind minted by one
// bulk call shares, and which only such tokens contain. Recorded for the secret scan in place
// of each token of a large call (README "Bulk mode").
std::string stateless_batch_mark(std::string_view token);
// The fields of a token minted under `key`; nullopt when it does not verify.
std::optional<StatelessToken> verify_stateless(const std::string& key, std::string_view token);

class Service;

// A work user of `tenant` that the scenario does not name, built as parse_scenario builds one
// that names only upn and tenant: mail = UPN, a mailbox, id guid_from_name(upn), the scenario's
// default mailbox_limits. Used by bulk grants (which add it) and stateless tokens (which do not).
User bulk_work_user(const Settings& settings, const Tenant& tenant, const std::string& upn);
// <prefix><number>@<tenant's domain>; nullopt when the tenant is not (or no longer) a work tenant.
std::optional<std::string> stateless_upn(Service& svc, const StatelessToken& t);
// The user a stateless token stands for, built by bulk_work_user, never added to the scenario
// (and never the scenario's user of the same UPN); nullopt as for stateless_upn.
std::optional<User> stateless_user(Service& svc, const StatelessToken& t);

}  // namespace ms_sandbox::detail
