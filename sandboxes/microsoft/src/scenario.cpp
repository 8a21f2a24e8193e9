#include "scenario.hpp"
#include "text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <stdexcept>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw std::runtime_error("scenario: " + where + ": " + what);
}

// Typed field access with error messages that name the field.
class Fields {
public:
    Fields(const json::value& v, std::string where) : where_(std::move(where)) {
        if (!v.is_object()) fail(where_, "expected an object");
        obj_ = &v.as_object();
    }
    const std::string& where() const { return where_; }
    std::string at(const std::string& k) const { return where_ + "." + k; }

    const json::value* find(const std::string& k) const {
        auto it = obj_->find(k);
        return it == obj_->end() ? nullptr : &it->value();
    }
    std::string str(const std::string& k) const {
        auto* v = find(k);
        if (!v || !v->is_string()) fail(at(k), "required string missing");
        return std::string(v->as_string());
    }
    std::string str(const std::string& k, const std::string& def) const {
        auto* v = find(k);
        if (!v || v->is_null()) return def;
        if (!v->is_string()) fail(at(k), "expected a string");
        return std::string(v->as_string());
    }
    std::optional<std::string> opt_str(const std::string& k) const {
        auto* v = find(k);
        if (!v || v->is_null()) return std::nullopt;
        if (!v->is_string()) fail(at(k), "expected a string or null");
        return std::string(v->as_string());
    }
    bool boolean(const std::string& k, bool def) const {
        auto* v = find(k);
        if (!v) return def;
        if (!v->is_bool()) fail(at(k), "expected true or false");
        return v->as_bool();
    }
    std::int64_t integer(const std::string& k, std::int64_t def) const {
        auto* v = find(k);
        if (!v) return def;
        if (v->is_int64()) return v->as_int64();
        if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
        fail(at(k), "expected an integer");
    }
    const json::array* array(const std::string& k) const {
        auto* v = find(k);
        if (!v) return nullptr;
        if (!v->is_array()) fail(at(k), "expected an array");
        return &v->as_array();
    }
    std::vector<std::string> strings(const std::string& k) const {
        std::vector<std::string> out;
        if (auto* a = array(k)) {
            for (std::size_t i = 0; i < a->size(); ++i) {
                if (!(*a)[i].is_string()) fail(at(k) + "[" + std::to_string(i) + "]", "expected a string");
                out.emplace_back((*a)[i].as_string());
            }
        }
        return out;
    }

private:
    const json::object* obj_ = nullptr;
    std::string where_;
};

MailboxLimits parse_limits(const json::value* v, const std::string& where, MailboxLimits def) {
    if (!v) return def;
    Fields f(*v, where);
    def.concurrent_requests = static_cast<int>(f.integer("concurrent_requests", def.concurrent_requests));
    def.messages_per_minute = static_cast<int>(f.integer("messages_per_minute", def.messages_per_minute));
    def.recipients_per_day = static_cast<int>(f.integer("recipients_per_day", def.recipients_per_day));
    if (def.concurrent_requests < 0 || def.messages_per_minute < 0 || def.recipients_per_day < 0)
        fail(where, "limits must be >= 0");
    return def;
}

bool is_guid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

std::size_t token_size(const Fields& f, const std::string& k, std::size_t def) {
    const std::int64_t v = f.integer(k, static_cast<std::int64_t>(def));
    if (v < 64 || v > 16384) fail(f.at(k), "must be 64..16384");
    return static_cast<std::size_t>(v);
}

}  // namespace

Settings parse_settings(const json::value& v, Settings st, const std::string& where) {
    Fields f(v, where);
    const bool lifetime_given = f.find("access_token_lifetime_seconds") != nullptr;
    st.access_token_lifetime = f.integer("access_token_lifetime_seconds", st.access_token_lifetime);
    st.ext_expires_in =
        f.integer("ext_expires_in_seconds", lifetime_given ? st.access_token_lifetime : st.ext_expires_in);
    st.refresh_token_inactivity = f.integer("refresh_token_inactivity_seconds", st.refresh_token_inactivity);
    st.authorization_code_lifetime = f.integer("authorization_code_lifetime_seconds", st.authorization_code_lifetime);
    st.old_refresh_token_stays_valid = f.boolean("old_refresh_token_stays_valid", st.old_refresh_token_stays_valid);
    st.pkce_mismatch_code = static_cast<int>(f.integer("pkce_mismatch_code", st.pkce_mismatch_code));
    if (st.pkce_mismatch_code != 501481 && st.pkce_mismatch_code != 50148)
        fail(f.at("pkce_mismatch_code"), "must be 501481 or 50148");
    st.assertion_clock_skew = f.integer("client_assertion_clock_skew_seconds", st.assertion_clock_skew);
    st.mailbox_limits = parse_limits(f.find("mailbox_limits"), f.at("mailbox_limits"), st.mailbox_limits);
    if (st.access_token_lifetime <= 0) fail(f.at("access_token_lifetime_seconds"), "must be > 0");
    if (auto* sizes = f.find("token_sizes")) {
        Fields z(*sizes, f.at("token_sizes"));
        auto& t = st.token_sizes;
        t.work_access_token = token_size(z, "work_access_token", t.work_access_token);
        t.personal_access_token = token_size(z, "personal_access_token", t.personal_access_token);
        t.refresh_token = token_size(z, "refresh_token", t.refresh_token);
        t.code = token_size(z, "code", t.code);
    }
    st.token_scope_form = f.str("token_scope_form", st.token_scope_form);
    if (st.token_scope_form != "as_requested" && st.token_scope_form != "qualified" && st.token_scope_form != "short")
        fail(f.at("token_scope_form"), "must be as_requested, qualified or short");
    st.token_scope_url_encoded = f.boolean("token_scope_url_encoded", st.token_scope_url_encoded);
    st.token_scope_omitted = f.boolean("token_scope_omitted", st.token_scope_omitted);
    st.redirect_trailing_hash = f.boolean("redirect_trailing_hash", st.redirect_trailing_hash);
    st.replace_message_id = f.boolean("replace_message_id", st.replace_message_id);
    return st;
}

json::object settings_json(const Settings& s) {
    json::object o;
    o["access_token_lifetime_seconds"] = s.access_token_lifetime;
    o["ext_expires_in_seconds"] = s.ext_expires_in;
    o["refresh_token_inactivity_seconds"] = s.refresh_token_inactivity;
    o["authorization_code_lifetime_seconds"] = s.authorization_code_lifetime;
    o["old_refresh_token_stays_valid"] = s.old_refresh_token_stays_valid;
    o["pkce_mismatch_code"] = s.pkce_mismatch_code;
    o["client_assertion_clock_skew_seconds"] = s.assertion_clock_skew;
    o["mailbox_limits"] = json::object{{"concurrent_requests", s.mailbox_limits.concurrent_requests},
                                       {"messages_per_minute", s.mailbox_limits.messages_per_minute},
                                       {"recipients_per_day", s.mailbox_limits.recipients_per_day}};
    o["token_sizes"] = json::object{{"work_access_token", s.token_sizes.work_access_token},
                                    {"personal_access_token", s.token_sizes.personal_access_token},
                                    {"refresh_token", s.token_sizes.refresh_token},
                                    {"code", s.token_sizes.code}};
    o["token_scope_form"] = s.token_scope_form;
    o["token_scope_url_encoded"] = s.token_scope_url_encoded;
    o["token_scope_omitted"] = s.token_scope_omitted;
    o["redirect_trailing_hash"] = s.redirect_trailing_hash;
    o["replace_message_id"] = s.replace_message_id;
    return o;
}

std::string User::oid() const {
    if (!personal) return id;
    return "00000000-0000-0000-" + id.substr(0, 4) + "-" + id.substr(4);
}

Tenant* Scenario::tenant_by_id_or_domain(std::string_view key) {
    for (auto& t : tenants)
        if (iequals(t.id, key) || iequals(t.domain, key)) return &t;
    return nullptr;
}

User* Scenario::user(std::string_view upn) {
    std::string key(upn);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = user_index_.find(key);
    return it == user_index_.end() ? nullptr : &users[it->second];
}

User& Scenario::add_user(User u) {
    std::string key = u.upn;
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    user_index_[key] = users.size();
    users.push_back(std::move(u));
    return users.back();
}

App* Scenario::app(std::string_view client_id) {
    for (auto& a : apps)
        if (iequals(a.client_id, client_id)) return &a;
    return nullptr;
}

std::optional<std::int64_t> parse_iso8601(std::string_view text) {
    std::tm tm{};
    int consumed = 0;
    std::string s(text);
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return std::nullopt;
    std::string_view rest = std::string_view(s).substr(static_cast<std::size_t>(consumed));
    if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
    }
    if (rest != "Z" && rest != "" && rest != "+00:00") return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string format_iso8601(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

// One entry of "tenants"; `sc` holds the tenants read before it, for the duplicate check.
Tenant read_tenant(const Fields& f, Scenario& sc) {
    Tenant t;
    t.id = f.str("id");
    if (!is_guid(t.id)) fail(f.at("id"), "expected a GUID");
    t.domain = f.str("domain");
    t.display_name = f.str("display_name", t.domain);
    t.user_consent_allowed = f.boolean("user_consent_allowed", true);
    t.admin_consent_workflow = f.boolean("admin_consent_workflow", false);
    t.consent_blocked_code = static_cast<int>(f.integer("consent_blocked_code", 90094));
    if (t.consent_blocked_code != 90094 && t.consent_blocked_code != 90093)
        fail(f.at("consent_blocked_code"), "must be 90094 or 90093");
    if (auto* granted = f.find("admin_consent_granted")) {
        if (granted->is_bool())
            t.admin_consent_all_apps = granted->as_bool();
        else
            for (auto& id : f.strings("admin_consent_granted")) t.admin_consented_apps.insert(id);
    }
    t.consented_scopes = f.strings("consented_scopes");
    t.cancel_as_consent_required = f.boolean("cancel_as_consent_required", false);
    if (sc.tenant_by_id_or_domain(t.id) || sc.tenant_by_id_or_domain(t.domain))
        fail(f.where(), "duplicate tenant id or domain");
    return t;
}

// One entry of "users"; its tenant must be among those already read.
User read_user(const Fields& f, Scenario& sc) {
    User u;
    u.upn = f.str("upn");
    const std::string type = f.str("account_type", "work");
    if (type != "work" && type != "personal") fail(f.at("account_type"), "must be work or personal");
    u.personal = type == "personal";
    u.display_name = f.str("display_name", u.upn);
    auto space = u.display_name.find(' ');
    u.given_name = f.str("given_name", u.display_name.substr(0, space));
    u.surname = f.str("surname", space == std::string::npos ? "" : u.display_name.substr(space + 1));
    if (auto* m = f.find("mail"); m && !m->is_null())
        u.mail = f.str("mail");
    else if (!m && !u.personal)
        u.mail = u.upn;  // work users default to mail == UPN
    if (u.personal) {
        u.tenant_id = kConsumersTenantId;
        u.id = f.str("id", hex16_from_name(u.upn));
        if (u.id.size() != 16) fail(f.at("id"), "personal account ids are 16 hex digits");
    } else {
        auto* t = sc.tenant_by_id_or_domain(f.str("tenant"));
        if (!t || t->consumers) fail(f.at("tenant"), "unknown tenant");
        u.tenant_id = t->id;
        u.id = f.str("id", guid_from_name(u.upn));
    }
    u.mailbox_enabled = f.boolean("mailbox_enabled", true);
    u.password = f.opt_str("password");
    u.is_admin = f.boolean("is_admin", false);
    u.job_title = f.opt_str("job_title");
    u.mobile_phone = f.opt_str("mobile_phone");
    u.office_location = f.opt_str("office_location");
    u.preferred_language = f.opt_str("preferred_language");
    u.limits = parse_limits(f.find("mailbox_limits"), f.at("mailbox_limits"), sc.settings.mailbox_limits);
    u.consented_scopes = f.strings("consented_scopes");
    if (sc.user(u.upn)) fail(f.where(), "duplicate upn");
    return u;
}

Secret read_secret(const Fields& sf, const App& a, const std::filesystem::path& tls_dir) {
    Secret s;
    // Secret values come from a file (relative: the TLS dir, where the build generates
    // them) so that none is committed; an inline "value" is accepted for ad-hoc scenarios.
    if (auto file = sf.opt_str("value_file")) {
        std::filesystem::path p(*file);
        if (p.is_relative()) p = tls_dir / p;
        std::ifstream in(p);
        if (!in || !std::getline(in, s.value) || s.value.empty())
            fail(sf.at("value_file"), "cannot read a secret from " + p.string());
    } else {
        s.value = sf.str("value");
    }
    s.id = sf.str("id", guid_from_name(a.client_id + s.value));
    if (auto exp = sf.opt_str("expires")) {
        auto t = parse_iso8601(*exp);
        if (!t) fail(sf.at("expires"), "expected an ISO 8601 UTC time like 2099-01-01T00:00:00Z");
        s.expires_unix = *t;
    }
    return s;
}

// One entry of "apps", with its secrets and certificates (relative paths: the TLS dir).
App read_app(const Fields& f, Scenario& sc, const std::filesystem::path& tls_dir) {
    App a;
    a.client_id = f.str("client_id");
    if (!is_guid(a.client_id)) fail(f.at("client_id"), "expected a GUID");
    a.display_name = f.str("display_name", "Sandbox app");
    a.publisher = f.str("publisher", "Unverified");
    const std::string type = f.str("type", "public");
    if (type != "public" && type != "confidential") fail(f.at("type"), "must be public or confidential");
    a.confidential = type == "confidential";
    a.redirect_uris = f.strings("redirect_uris");
    if (a.redirect_uris.empty()) fail(f.at("redirect_uris"), "at least one redirect URI");
    if (auto* secrets = f.array("secrets")) {
        for (std::size_t j = 0; j < secrets->size(); ++j) {
            Fields sf((*secrets)[j], f.at("secrets") + "[" + std::to_string(j) + "]");
            a.secrets.push_back(read_secret(sf, a, tls_dir));
        }
    }
    for (auto& file : f.strings("certificates")) {
        std::filesystem::path p(file);
        if (p.is_relative()) p = tls_dir / p;
        auto cert = Certificate::load(p);
        if (!cert) fail(f.at("certificates"), "cannot read PEM certificate " + p.string());
        a.certificates.push_back({p, std::move(*cert)});
    }
    if (a.confidential && a.secrets.empty() && a.certificates.empty())
        fail(f.where(), "a confidential app needs a secret or a certificate");
    a.api_permissions = f.strings("api_permissions");
    if (a.api_permissions.empty()) a.api_permissions = {"User.Read", "Mail.Send", "offline_access"};
    a.sign_in_audience = f.str("sign_in_audience", a.sign_in_audience);
    if (a.sign_in_audience != "AzureADandPersonalMicrosoftAccount" && a.sign_in_audience != "AzureADMultipleOrgs" &&
        a.sign_in_audience != "AzureADMyOrg")
        fail(f.at("sign_in_audience"), "unknown audience");
    if (auto home = f.opt_str("home_tenant")) {
        auto* t = sc.tenant_by_id_or_domain(*home);
        if (!t) fail(f.at("home_tenant"), "unknown tenant");
        a.home_tenant = t->id;
    }
    if (a.sign_in_audience == "AzureADMyOrg" && a.home_tenant.empty())
        fail(f.where(), "AzureADMyOrg apps need home_tenant");
    if (sc.app(a.client_id)) fail(f.where(), "duplicate client_id");
    return a;
}

}  // namespace

Scenario parse_scenario(const json::value& root_value, const std::filesystem::path& tls_dir) {
    Scenario sc;
    Fields root(root_value, "$");

    if (auto* s = root.find("settings")) sc.settings = parse_settings(*s, sc.settings);

    // The MSA "tenant" always exists.
    Tenant consumers;
    consumers.id = kConsumersTenantId;
    consumers.domain = "consumers";
    consumers.display_name = "Microsoft Account";
    consumers.consumers = true;
    sc.tenants.push_back(consumers);

    if (auto* tenants = root.array("tenants")) {
        for (std::size_t i = 0; i < tenants->size(); ++i) {
            Fields f((*tenants)[i], "tenants[" + std::to_string(i) + "]");
            sc.tenants.push_back(read_tenant(f, sc));
        }
    }

    if (auto* users = root.array("users")) {
        for (std::size_t i = 0; i < users->size(); ++i) {
            Fields f((*users)[i], "users[" + std::to_string(i) + "]");
            sc.add_user(read_user(f, sc));
        }
    }

    if (auto* apps = root.array("apps")) {
        for (std::size_t i = 0; i < apps->size(); ++i) {
            Fields f((*apps)[i], "apps[" + std::to_string(i) + "]");
            sc.apps.push_back(read_app(f, sc, tls_dir));
        }
    }
    return sc;
}

}  // namespace ms_sandbox::detail
