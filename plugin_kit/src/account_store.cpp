#include "ep_kit/account_store.hpp"

#include <boost/json.hpp>

namespace ep::kit {
namespace {

namespace json = boost::json;

constexpr int kRecordFormat = 1;

const char* state_name(GrantState s) {
    switch (s) {
        case GrantState::connected:
            return "connected";
        case GrantState::expired:
            return "expired";
        case GrantState::permission_denied:
            return "permission_denied";
        default:
            return "admin_approval_required";
    }
}

std::string str(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return (it != o.end() && it->value().is_string()) ? std::string(it->value().as_string()) : std::string();
}

int64_t num(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return (it != o.end() && it->value().is_int64()) ? it->value().as_int64() : 0;
}

// Serialises, seals, and wipes the plaintext JSON.
std::vector<uint8_t> seal_json(const Vault& vault, const json::object& o, const VaultContext& ctx) {
    std::string text = json::serialize(o);
    auto sealed = vault.seal(text, ctx);
    wipe(text);
    return sealed;
}

json::value parse_secret_json(const SecretString& s) {
    boost::system::error_code ec;
    json::value v = json::parse(s.view(), ec);
    if (ec || !v.is_object()) throw VaultError(VaultError::Kind::malformed, "the stored record is not a JSON object");
    return v;
}

}  // namespace

std::string AccountStore::key_prefix(std::string_view account) {
    std::string out = "account/";
    for (char c : account) {
        if (c == '%')
            out += "%25";
        else if (c == '/')
            out += "%2F";
        else
            out.push_back(c);
    }
    return out + "/";
}

AccountStore::AccountStore(ep::sdk::Host host, std::shared_ptr<const Vault> vault, std::string provider)
    : host_(host), vault_(std::move(vault)), provider_(std::move(provider)) {}

AccountStore::LoadResult AccountStore::load_grant(std::string_view account) const {
    LoadResult result;
    auto blob = host_.secret_get(key_prefix(account) + "grant");
    if (!blob) return result;
    VaultContext ctx{provider_, account, "grant"};
    try {
        SecretString plain = vault_->open(blob->bytes, ctx);
        json::value v = parse_secret_json(plain);
        json::object& o = v.as_object();
        GrantRecord r;
        std::string state = str(o, "state");
        if (state == "connected")
            r.state = GrantState::connected;
        else if (state == "expired")
            r.state = GrantState::expired;
        else if (state == "admin_approval_required")
            r.state = GrantState::admin_approval_required;
        else if (state == "permission_denied")
            r.state = GrantState::permission_denied;
        else
            throw VaultError(VaultError::Kind::malformed, "the stored record has an unknown state");
        if (auto it = o.find("refresh_token"); it != o.end() && it->value().is_string()) {
            r.refresh_token = SecretString(std::string_view(it->value().as_string()));
        }
        if (auto it = o.find("access_token"); it != o.end() && it->value().is_string()) {
            r.access_token = SecretString(std::string_view(it->value().as_string()));
        }
        r.access_expires_at_ms = num(o, "access_expires_at_ms");
        r.refresh_after_ms = num(o, "refresh_after_ms");
        r.scopes = str(o, "scopes");
        if (auto it = o.find("extra_scopes"); it != o.end() && it->value().is_array())
            for (const auto& e : it->value().as_array())
                if (e.is_string()) r.extra_scopes.emplace_back(e.as_string());
        r.connected_at_ms = num(o, "connected_at_ms");
        r.refresh_lease_until_ms = num(o, "refresh_lease_until_ms");
        r.refresh_lease_owner = str(o, "refresh_lease_owner");
        r.last_refresh_ms = num(o, "last_refresh_ms");
        if (auto it = o.find("operator_error"); it != o.end() && it->value().is_object()) {
            const auto& e = it->value().as_object();
            r.operator_error = OperatorError{str(e, "code"), str(e, "message"), num(e, "since_ms")};
        }
        r.email = str(o, "email");
        r.display_name = str(o, "display_name");
        r.user_id = str(o, "user_id");
        r.tenant_id = str(o, "tenant_id");
        r.cloud = str(o, "cloud");
        r.reason = str(o, "reason");
        r.message = str(o, "message");
        r.error_code = str(o, "error_code");
        r.admin_consent_url = str(o, "admin_consent_url");
        r.claims = str(o, "claims");
        r.since_ms = num(o, "since_ms");
        wipe_strings(v);
        result.grant = StoredGrant{std::move(r), blob->version};
    } catch (const VaultError& e) {
        result.unreadable = UnreadableGrant{blob->version, e.what()};
    }
    return result;
}

std::optional<uint64_t> AccountStore::save_grant(std::string_view account, const GrantRecord& r,
                                                 uint64_t expected_version) const {
    json::object o{{"format", kRecordFormat}, {"state", state_name(r.state)}};
    if (r.state == GrantState::connected) {
        o["refresh_token"] = r.refresh_token.view();
        if (!r.access_token.empty()) {
            o["access_token"] = r.access_token.view();
            o["access_expires_at_ms"] = r.access_expires_at_ms;
            if (r.refresh_after_ms) o["refresh_after_ms"] = r.refresh_after_ms;
        }
        o["scopes"] = r.scopes;
        if (!r.extra_scopes.empty()) o["extra_scopes"] = json::value_from(r.extra_scopes);
        o["connected_at_ms"] = r.connected_at_ms;
        o["last_refresh_ms"] = r.last_refresh_ms;
        if (r.refresh_lease_until_ms) {
            o["refresh_lease_until_ms"] = r.refresh_lease_until_ms;
            o["refresh_lease_owner"] = r.refresh_lease_owner;
        }
        if (r.operator_error)
            o["operator_error"] = json::object{{"code", r.operator_error->code},
                                               {"message", r.operator_error->message},
                                               {"since_ms", r.operator_error->since_ms}};
    } else {
        o["reason"] = r.reason;
        o["message"] = r.message;
        o["error_code"] = r.error_code;
        o["since_ms"] = r.since_ms;
        if (!r.admin_consent_url.empty()) o["admin_consent_url"] = r.admin_consent_url;
        if (!r.claims.empty()) o["claims"] = r.claims;
    }
    o["email"] = r.email;
    o["display_name"] = r.display_name;
    o["user_id"] = r.user_id;
    o["tenant_id"] = r.tenant_id;
    o["cloud"] = r.cloud;
    json::value doc(std::move(o));
    auto sealed = seal_json(*vault_, doc.as_object(), VaultContext{provider_, account, "grant"});
    wipe_strings(doc);
    return host_.secret_put(key_prefix(account) + "grant", sealed, expected_version);
}

PendingFlows AccountStore::load_pending(std::string_view account) const {
    PendingFlows p;
    auto blob = host_.secret_get(key_prefix(account) + "pending");
    if (!blob) return p;
    p.version = blob->version;
    try {
        SecretString plain = vault_->open(blob->bytes, VaultContext{provider_, account, "pending"});
        json::value v = parse_secret_json(plain);
        const json::object& o = v.as_object();
        if (auto it = o.find("flows"); it != o.end() && it->value().is_array())
            for (const auto& f : it->value().as_array()) {
                if (!f.is_object()) continue;
                const auto& fo = f.as_object();
                PendingFlow flow;
                flow.state_hash = str(fo, "state_hash");
                flow.verifier = SecretString(str(fo, "verifier"));
                flow.created_ms = num(fo, "created_ms");
                flow.login_hint = str(fo, "login_hint");
                flow.nonce = str(fo, "nonce");
                p.flows.push_back(std::move(flow));
            }
        if (auto it = o.find("consumed"); it != o.end() && it->value().is_array())
            for (const auto& c : it->value().as_array())
                if (c.is_object())
                    p.consumed.emplace_back(str(c.as_object(), "state_hash"), num(c.as_object(), "at_ms"));
        wipe_strings(v);
    } catch (const VaultError&) {
        // Unreadable in-progress sign-ins are simply dropped on the next write.
    }
    return p;
}

std::optional<uint64_t> AccountStore::save_pending(std::string_view account, const PendingFlows& p) const {
    std::string key = key_prefix(account) + "pending";
    if (p.flows.empty() && p.consumed.empty()) {
        if (p.version == 0) return 0;
        return host_.secret_delete(key, p.version) ? std::optional<uint64_t>(0) : std::nullopt;
    }
    json::array flows, consumed;
    for (const auto& f : p.flows) {
        json::object flow{{"state_hash", f.state_hash},
                          {"verifier", f.verifier.view()},
                          {"created_ms", f.created_ms},
                          {"login_hint", f.login_hint}};
        if (!f.nonce.empty()) flow["nonce"] = f.nonce;
        flows.push_back(std::move(flow));
    }
    for (const auto& [hash, at] : p.consumed) consumed.push_back(json::object{{"state_hash", hash}, {"at_ms", at}});
    json::value doc(
        json::object{{"format", kRecordFormat}, {"flows", std::move(flows)}, {"consumed", std::move(consumed)}});
    auto sealed = seal_json(*vault_, doc.as_object(), VaultContext{provider_, account, "pending"});
    wipe_strings(doc);
    return host_.secret_put(key, sealed, p.version);
}

void AccountStore::erase_account(std::string_view account) const { host_.secret_delete_prefix(key_prefix(account)); }

}  // namespace ep::kit
