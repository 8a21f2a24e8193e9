// /_sandbox/... : the test-only control API (JSON in, JSON out), also reached in-process by
// the C++ Sandbox methods through Service::control. Documented in README.md.
#include "common.hpp"
#include "identity.hpp"
#include "stateless_tokens.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>

#include <stdexcept>

namespace ms_sandbox::detail {

namespace json = boost::json;

namespace {

using Result = Service::ControlResult;

Result ok(json::value v = json::object{}) { return {200, std::move(v)}; }
Result error(int status, const std::string& message) { return {status, json::object{{"error", message}}}; }

const json::object& object_body(const json::value& body) {
    static const json::object empty;
    if (body.is_null()) return empty;
    if (!body.is_object()) throw std::invalid_argument("request body must be a JSON object");
    return body.as_object();
}

std::optional<std::string> str_field(const json::object& o, const char* k) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return std::nullopt;
    if (!it->value().is_string()) throw std::invalid_argument(std::string(k) + " must be a string");
    return std::string(it->value().as_string());
}

bool bool_field(const json::object& o, const char* k, bool def) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return def;
    if (!it->value().is_bool()) throw std::invalid_argument(std::string(k) + " must be true or false");
    return it->value().as_bool();
}

std::optional<std::int64_t> int_field(const json::object& o, const char* k) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return std::nullopt;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
    if (it->value().is_double()) return static_cast<std::int64_t>(it->value().as_double());
    throw std::invalid_argument(std::string(k) + " must be a number");
}

json::array strings(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

json::object approval_json(const ApprovalRequest& r) {
    return json::object{{"id", r.id},
                        {"tenant_id", r.tenant_id},
                        {"client_id", r.client_id},
                        {"user", r.upn},
                        {"justification", r.justification},
                        {"scopes", strings(r.scopes)},
                        {"created", format_iso8601(r.created)},
                        {"status", r.status}};
}

json::object counters_json(Service& svc) {
    auto& st = svc.state;
    json::object requests, by_grant, by_user, max_conc;
    for (auto& [k, v] : st.requests_by_endpoint) requests[k] = v;
    for (auto& [k, v] : st.token_requests_by_grant) by_grant[k] = v;
    for (auto& [user, m] : st.token_requests_by_user) {
        json::object g;
        for (auto& [k, v] : m) g[k] = v;
        by_user[user] = std::move(g);
    }
    for (auto& [k, v] : svc.max_concurrent_all()) max_conc[k] = v;
    return json::object{
        {"requests", std::move(requests)},
        {"token_requests", json::object{{"by_grant_type", std::move(by_grant)}, {"by_user", std::move(by_user)}}},
        {"send_mail", json::object{{"max_concurrent", std::move(max_conc)}}}};
}

json::object scenario_json(Service& svc) {
    auto& sc = svc.state.scenario;
    json::array tenants, users, apps;
    for (auto& t : sc.tenants)
        tenants.push_back(
            json::object{{"id", t.id},
                         {"domain", t.domain},
                         {"user_consent_allowed", t.user_consent_allowed},
                         {"admin_consent_workflow", t.admin_consent_workflow},
                         {"admin_consent_granted", t.admin_consent_all_apps || !t.admin_consented_apps.empty()}});
    for (auto& u : sc.users)
        users.push_back(json::object{{"upn", u.upn},
                                     {"id", u.id},
                                     {"account_type", u.personal ? "personal" : "work"},
                                     {"tenant_id", u.tenant_id},
                                     {"mail", u.mail ? json::value(*u.mail) : json::value(nullptr)},
                                     {"mailbox_enabled", u.mailbox_enabled},
                                     {"is_admin", u.is_admin}});
    for (auto& a : sc.apps)
        apps.push_back(json::object{{"client_id", a.client_id},
                                    {"display_name", a.display_name},
                                    {"type", a.confidential ? "confidential" : "public"},
                                    {"redirect_uris", strings(a.redirect_uris)}});
    return json::object{{"tenants", std::move(tenants)}, {"users", std::move(users)}, {"apps", std::move(apps)}};
}

// What the autopilot's user types and clicks on the pages it walks through.
struct AutopilotAnswers {
    std::string user;
    std::string answer;
    std::string justification;
    std::optional<std::string> password;
    bool on_behalf = false;
};

// What the walk saw on the way, beyond the page it ends on.
struct AutopilotWalk {
    bool consent_shown = false;
    std::string approval_id;
};

// Clicks through the pages as the answers say, until a redirect, an error page or a page the
// answers do not get past.
FlowOutcome walk_pages(Service& svc, FlowOutcome o, const AutopilotAnswers& a, RequestContext& ctx,
                       AutopilotWalk& walk) {
    const std::string& answer = a.answer;
    bool signed_in = false;
    for (int step = 0; step < 6; ++step) {
        walk.consent_shown = walk.consent_shown || o.page == Page::consent;
        if (o.page == Page::redirect || o.page == Page::error_page) break;
        if (answer == "back") {  // the Back button, on whatever page shows first
            o = submit_consent(svc, o.flow_id, "back", false, ctx);
            continue;
        }
        if (o.page == Page::sign_in) {
            if (o.code != 0 || a.user.empty() || signed_in) break;  // sign-in refused, or nobody to sign in
            signed_in = true;
            o = submit_sign_in(svc, o.flow_id, a.user, a.password, ctx);
            continue;
        }
        if (o.page == Page::consent) {
            if (answer != "accept" && answer != "decline" && answer != "cancel") break;
            o = submit_consent(svc, o.flow_id, answer, a.on_behalf, ctx);
            continue;
        }
        if (o.page == Page::approval_required && answer == "request_approval") {
            o = submit_approval_request(svc, o.flow_id, a.justification, ctx);
            walk.approval_id = o.approval_request_id;
            o = return_to_app(svc, o.flow_id, ctx);
            continue;
        }
        if ((o.page == Page::approval_required || o.page == Page::need_admin_approval) &&
            (answer == "return_from_approval" || answer == "request_approval")) {
            o = return_to_app(svc, o.flow_id, ctx);
            continue;
        }
        if (o.page == Page::admin_consent_review) {
            o = submit_admin_review(svc, o.flow_id, answer == "accept", ctx);
            continue;
        }
        break;  // the user stays on an interrupt page
    }
    return o;
}

json::object autopilot_json(const FlowOutcome& o, const AutopilotWalk& walk, bool address_bar) {
    json::object out;
    out["page"] = page_name(o.page);
    out["callback_url"] = nullptr;
    out["form_post"] = nullptr;
    out["error_page"] = nullptr;
    out["interrupt"] = nullptr;
    out["consent_page_shown"] = walk.consent_shown;
    out["approval_request_id"] = walk.approval_id.empty() ? json::value(nullptr) : json::value(walk.approval_id);
    if (o.page == Page::redirect) {
        RedirectResult as_query = o.redirect;
        if (as_query.response_mode == "form_post") {
            json::object fields;
            for (auto& [k, v] : o.redirect.params) fields[k] = v;
            out["form_post"] = json::object{{"action", o.redirect.redirect_uri}, {"fields", std::move(fields)}};
            as_query.response_mode = "query";
        }
        out["callback_url"] = as_query.url(address_bar);
    } else if (o.page == Page::error_page || (o.page == Page::sign_in && o.code != 0)) {
        out["error_page"] = json::object{{"code", o.code}, {"message", o.message}};
    } else if (o.page == Page::approval_required || o.page == Page::need_admin_approval ||
               o.page == Page::approval_requested) {
        out["interrupt"] = json::object{{"code", o.code}, {"message", o.message}};
    }
    return out;
}

Result autopilot(Service& svc, const json::object& body) {
    const auto url = str_field(body, "authorize_url");
    if (!url) return error(400, "authorize_url is required");
    AutopilotAnswers a;
    a.user = str_field(body, "user").value_or("");
    a.answer = str_field(body, "answer").value_or("accept");
    static const char* answers[] = {"accept", "cancel", "decline", "back", "request_approval", "return_from_approval"};
    if (std::none_of(std::begin(answers), std::end(answers), [&](const char* x) { return a.answer == x; }))
        return error(400, "answer must be accept, cancel, decline, back, request_approval or return_from_approval");
    a.justification = str_field(body, "justification").value_or("");
    a.password = str_field(body, "password");
    const bool sso = bool_field(body, "sso", false);
    a.on_behalf = bool_field(body, "on_behalf_of_organization", false);
    const bool address_bar = bool_field(body, "address_bar", svc.state.scenario.settings.redirect_trailing_hash);

    auto parsed = boost::urls::parse_uri_reference(*url);
    if (!parsed) return error(400, "authorize_url is not a URL");
    auto segments = split_path(parsed->encoded_path());
    auto params = parse_form(parsed->encoded_query());
    if (!segments || !params || segments->size() < 2) return error(400, "authorize_url has a bad path or query");
    const auto& s = *segments;
    const std::string tenant = s[0];
    const bool is_authorize =
        s.size() == 4 && iequals(s[1], "oauth2") && iequals(s[2], "v2.0") && iequals(s[3], "authorize");
    const bool is_admin_v2 = s.size() == 3 && iequals(s[1], "v2.0") && iequals(s[2], "adminconsent");
    const bool is_admin_legacy = s.size() == 2 && iequals(s[1], "adminconsent");
    if (!is_authorize && !is_admin_v2 && !is_admin_legacy)
        return error(400, "authorize_url must point at /{tenant}/oauth2/v2.0/authorize or an adminconsent endpoint");

    HttpRequest fake;
    RequestContext ctx = svc.make_context(fake);
    ++svc.state.requests_by_endpoint[is_authorize ? "authorize" : "adminconsent"];
    FlowOutcome o = is_authorize ? begin_authorize(svc, tenant, *params, ctx, sso ? a.user : "")
                                 : begin_admin_consent(svc, tenant, *params, is_admin_legacy, ctx);
    AutopilotWalk walk;
    o = walk_pages(svc, std::move(o), a, ctx, walk);
    return ok(autopilot_json(o, walk, address_bar));
}

// The users of a bulk grant (created as work users of `tenant` when the scenario lacks them),
// each given its consent and a fresh token pair.
Result grant_to_users(Service& svc, const App& app, const ParsedScopes& scopes, const Tenant& tenant,
                      const std::vector<std::string>& upns) {
    auto& st = svc.state;
    std::vector<const User*> targets;  // stable: users live in a deque
    targets.reserve(upns.size());
    int created = 0;
    for (const auto& upn : upns) {
        User* existing = st.scenario.user(upn);
        if (!existing) {
            existing = &st.scenario.add_user(bulk_work_user(st.scenario.settings, tenant, upn));
            ++created;
        }
        targets.push_back(existing);
    }

    HttpRequest fake;
    const RequestContext ctx = svc.make_context(fake);
    json::array grants;
    grants.reserve(targets.size());
    for (const User* target : targets) {
        const User& u = *target;
        // The consent a sign-in would record, so later refreshes naming these scopes succeed.
        ScopeList& consented = st.user_grants[{lower(u.upn), lower(app.client_id)}];
        consented = merged(consented, scopes.scopes);
        json::object t = mint_tokens(svc, app, u, scopes.scopes, scopes.scopes,
                                     MintOptions{"", false, scopes.qualified, false}, ctx);
        t["upn"] = u.upn;
        t["user_id"] = u.id;
        t["tenant_id"] = u.tenant_id;
        grants.push_back(std::move(t));
    }
    return ok(json::object{{"grants", std::move(grants)}, {"created_users", created}});
}

constexpr std::int64_t kRecordEachUpTo = 1000;

// Bulk mode (README "Bulk mode"): `count` generated users get stateless tokens the stand-in
// verifies by their MAC; no user, consent or token is stored, so a million cost no memory and
// no RSA. The answer has the stateful form's fields.
Result stateless_grants(Service& svc, const App& app, const ParsedScopes& scopes, const Tenant& tenant,
                        std::int64_t count, std::int64_t first, const std::string& prefix,
                        std::optional<std::int64_t> expires_in) {
    const auto& settings = svc.state.scenario.settings;
    if (contains(scopes.scopes, "openid")) return error(400, "stateless grants issue no id_token: leave out openid");
    if (prefix.size() > 64) return error(400, "prefix: at most 64 characters");
    if (first < 0) return error(400, "first must not be negative");
    const std::int64_t lifetime = expires_in.value_or(settings.access_token_lifetime);
    const std::int64_t ext_expires_in = expires_in.value_or(settings.ext_expires_in);

    HttpRequest fake;
    const RequestContext ctx = svc.make_context(fake);
    // Additive consent as mint_tokens applies it; the same for every generated user (none of
    // them has grants of its own), so worked out once.
    const User sample = bulk_work_user(settings, tenant, prefix + std::to_string(first) + "@" + tenant.domain);
    const auto [at_scopes, graph_scopes] = token_scopes(svc, sample, app, scopes.scopes);
    json::object shape;
    shape["token_type"] = "Bearer";
    set_scope(settings, shape, at_scopes, scopes.qualified);
    shape["expires_in"] = lifetime;
    shape["ext_expires_in"] = ext_expires_in;

    StatelessToken at;
    at.kind = StatelessToken::Kind::access;
    at.qualified = scopes.qualified;
    at.issued = ctx.now;
    at.expires = ctx.now + lifetime;
    at.client_id = app.client_id;
    at.tenant_id = tenant.id;
    at.prefix = prefix;
    at.scopes = graph_scopes;
    StatelessToken rt = at;
    rt.kind = StatelessToken::Kind::refresh;
    rt.expires = 0;
    rt.scopes = scopes.scopes;
    const bool with_refresh = contains(scopes.scopes, "offline_access");

    // The secret scan (SANDBOX_ISSUED_FILE, when set): a small call records each token; a large
    // one, whose hundreds of MB of tokens would swamp the scan, records the marks every token of
    // the call starts with, which find any of them just as well.
    const bool record_each = count <= kRecordEachUpTo;
    json::array grants;
    grants.reserve(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) {
        const auto number = static_cast<std::uint64_t>(first + i);
        const std::string upn = prefix + std::to_string(number) + "@" + tenant.domain;
        json::object g = shape;
        at.number = rt.number = number;
        std::string at_text = mint_stateless(svc.stateless_key(), at, settings.token_sizes.work_access_token);
        if (record_each || i == 0) sandbox::record_issued_secret(record_each ? at_text : stateless_batch_mark(at_text));
        g["access_token"] = std::move(at_text);
        if (with_refresh) {
            std::string rt_text = mint_stateless(svc.stateless_key(), rt, settings.token_sizes.refresh_token);
            if (record_each || i == 0)
                sandbox::record_issued_secret(record_each ? rt_text : stateless_batch_mark(rt_text));
            g["refresh_token"] = std::move(rt_text);
        }
        g["upn"] = upn;
        g["user_id"] = guid_from_name(upn);
        g["tenant_id"] = tenant.id;
        grants.push_back(std::move(g));
    }
    return ok(json::object{{"grants", std::move(grants)}, {"created_users", 0}, {"stateless", true}});
}

// POST /_sandbox/bulk-grants (test-only: load tests): for each user, the state a completed
// sign-in leaves behind (the user, its consent, an access + refresh token pair), without the
// pages. Users unknown to the scenario are created as work users of `tenant` with a mailbox.
// Tokens are minted by mint_tokens, the token endpoint's own code, so they behave exactly like
// tokens from /token (expiry, refresh, rotation, revocation); the call is not counted as a
// token request.
Result bulk_grants(Service& svc, const json::object& body) {
    auto& st = svc.state;
    const auto client_id = str_field(body, "client_id");
    if (!client_id) return error(400, "client_id is required");
    const App* app = st.scenario.app(*client_id);
    if (!app) return error(404, "unknown app " + *client_id);

    std::string scope_text;
    if (auto it = body.find("scopes"); it != body.end() && !it->value().is_null()) {
        if (!it->value().is_array()) return error(400, "scopes must be an array of strings");
        for (const auto& v : it->value().as_array()) {
            if (!v.is_string()) return error(400, "scopes must be an array of strings");
            scope_text += std::string(v.as_string()) + " ";
        }
    } else {
        scope_text = "offline_access User.Read Mail.Send";
    }
    ParsedScopes scopes = parse_scopes(scope_text, *app);
    if (!scopes.invalid.empty()) return error(400, "unknown scope " + scopes.invalid);
    if (scopes.scopes.empty()) return error(400, "scopes must not be empty");

    const std::string tenant_key = str_field(body, "tenant").value_or("contoso.example");
    const Tenant* tenant = st.scenario.tenant_by_id_or_domain(tenant_key);
    if (!tenant || tenant->consumers) return error(404, "unknown work tenant " + tenant_key);

    std::vector<std::string> upns;
    auto users_it = body.find("users");
    if (users_it == body.end()) return error(400, "users is required: a count or an array of UPNs");
    const bool stateless = bool_field(body, "stateless", false);
    const auto expires_in = int_field(body, "expires_in");
    if (expires_in && *expires_in <= 0) return error(400, "expires_in must be a number of seconds > 0");
    if (expires_in && !stateless) return error(400, "expires_in applies to stateless grants only");
    if (stateless) {
        if (users_it->value().is_array())
            return error(400,
                         "stateless grants take a count (users: N with first and prefix), not an array of UPNs: a "
                         "stateless token rebuilds its user from prefix, number and tenant");
        const auto count = int_field(body, "users");
        if (!count || *count < 0 || *count > 1'000'000) return error(400, "users must be a count (0..1000000)");
        return stateless_grants(svc, *app, scopes, *tenant, *count, int_field(body, "first").value_or(0),
                                str_field(body, "prefix").value_or("bulk"), expires_in);
    }
    if (users_it->value().is_array()) {
        for (const auto& v : users_it->value().as_array()) {
            if (!v.is_string() || v.as_string().find('@') == json::string::npos)
                return error(400, "users must hold UPNs (name@domain)");
            upns.emplace_back(v.as_string());
        }
    } else {
        const auto count = int_field(body, "users");
        if (!count || *count < 0 || *count > 1'000'000)
            return error(400, "users must be a count (0..1000000) or an array");
        const std::int64_t first = int_field(body, "first").value_or(0);
        const std::string prefix = str_field(body, "prefix").value_or("bulk");
        upns.reserve(static_cast<std::size_t>(*count));
        for (std::int64_t i = 0; i < *count; ++i)
            upns.push_back(prefix + std::to_string(first + i) + "@" + tenant->domain);
    }

    return grant_to_users(svc, *app, scopes, *tenant, upns);
}

// /_sandbox/clock: read the stand-in's clock, or move it.
Result clock_route(Service& svc, const json::object& body, bool get, bool post) {
    if (post) {
        if (auto adv = int_field(body, "advance_seconds"))
            svc.advance_clock(*adv);
        else if (auto set = int_field(body, "set_unix"))
            svc.set_clock(*set);
        else
            return error(400, "give advance_seconds or set_unix");
    } else if (!get) {
        return error(405, "GET or POST");
    }
    const std::int64_t now = svc.now();
    return ok(json::object{{"now_unix", now}, {"now", format_iso8601(now)}});
}

// /_sandbox/faults: add a fault rule, clear them all, or list them.
Result faults_route(Service& svc, const json::value& body_value, bool post, bool del) {
    auto& st = svc.state;
    if (post) return ok(json::object{{"id", st.faults.add(parse_fault_rule(body_value))}});
    if (del) {
        st.faults.clear();
        return ok();
    }
    json::array rules;
    for (const auto& r : st.faults.rules()) rules.push_back(r.to_json());
    return ok(json::object{{"rules", std::move(rules)}});
}

// POST /_sandbox/users/{upn}/revoke: the user's sessions end for `reason`.
Result revoke_user(Service& svc, User& u, const json::object& body) {
    auto& st = svc.state;
    const std::string reason = str_field(body, "reason").value_or("");
    static const char* reasons[] = {"inactivity", "password_change", "consent_revoked", "mfa_required",
                                    "signin_frequency"};
    if (std::none_of(std::begin(reasons), std::end(reasons), [&](const char* r) { return reason == r; }))
        return error(400,
                     "reason must be inactivity, password_change, consent_revoked, mfa_required or signin_frequency");
    st.revocations[lower(u.upn)] = Revocation{reason, svc.now(), st.last_serial};
    if (reason == "consent_revoked")
        for (auto it = st.user_grants.begin(); it != st.user_grants.end();)
            it = it->first.first == lower(u.upn) ? st.user_grants.erase(it) : std::next(it);
    return ok(json::object{{"user", u.upn}, {"reason", reason}});
}

// POST /_sandbox/users/{upn}/mailbox: turn the user's mailbox on or off.
Result set_mailbox(User& u, const json::object& body) {
    u.mailbox_enabled = bool_field(body, "enabled", u.mailbox_enabled);
    return ok(json::object{{"user", u.upn}, {"mailbox_enabled", u.mailbox_enabled}});
}

// POST /_sandbox/users/{upn}/cae-event: a continuous access evaluation event for the user.
Result record_cae_event(Service& svc, const User& u, const json::object& body) {
    auto& st = svc.state;
    const std::string event = str_field(body, "event").value_or("");
    if (event != "password_reset" && event != "session_revoked" && event != "user_disabled")
        return error(400, "event must be password_reset, session_revoked or user_disabled");
    st.cae_events[lower(u.upn)] = CaeEvent{event, svc.now(), st.last_serial, false};
    return ok(json::object{{"user", u.upn}, {"event", event}});
}

// The canonical Graph scope names listed under `key` (none when the key is absent).
std::vector<std::string> scope_names(const json::object& body, const char* key) {
    std::vector<std::string> out;
    auto it = body.find(key);
    if (it == body.end()) return out;
    if (!it->value().is_array()) throw std::invalid_argument(std::string(key) + " must be an array of scope names");
    for (const auto& v : it->value().as_array()) {
        auto c = v.is_string() ? canonical_graph_scope(v.as_string()) : std::nullopt;
        if (!c) throw std::invalid_argument(std::string(key) + ": unknown Graph scope " + json::serialize(v));
        out.push_back(*c);
    }
    return out;
}

// POST /_sandbox/{users|tenants}/{id}/consents: an administrator adds or removes scopes
// consented for one user or for a whole tenant.
Result change_consents(Service& svc, const std::string& kind, const std::string& id, const json::object& body) {
    auto& st = svc.state;
    User* u = kind == "users" ? st.scenario.user(id) : nullptr;
    Tenant* t = kind == "tenants" ? st.scenario.tenant_by_id_or_domain(id) : nullptr;
    if (!u && !t) return error(404, "unknown " + kind.substr(0, kind.size() - 1) + " " + id);
    auto& consented = u ? u->consented_scopes : t->consented_scopes;
    auto& removed = u ? u->removed_scopes : t->removed_scopes;
    const auto add = scope_names(body, "add"), remove = scope_names(body, "remove");
    for (const auto& s : add) {
        std::erase_if(removed, [&](const std::string& r) { return iequals(r, s); });
        if (!contains(consented, s)) consented.push_back(s);
    }
    for (const auto& s : remove) {
        std::erase_if(consented, [&](const std::string& c) { return iequals(c, s); });
        if (!contains(removed, s)) removed.push_back(s);
        // The administrator removes the user's own grants too (one user, or the tenant's users).
        for (auto& [key, grant] : st.user_grants) {
            const User* owner = st.scenario.user(key.first);
            if (owner && (u ? owner == u : iequals(owner->tenant_id, t->id)))
                std::erase_if(grant, [&](const std::string& g) { return iequals(g, s); });
        }
    }
    return ok(json::object{{"consented_scopes", strings(consented)}, {"removed_scopes", strings(removed)}});
}

// POST /_sandbox/tenants/{id}/options: the work tenant's switches.
Result set_tenant_options(Service& svc, const std::string& id, const json::object& body) {
    Tenant* t = svc.state.scenario.tenant_by_id_or_domain(id);
    if (!t || t->consumers) return error(404, "unknown work tenant " + id);
    t->cancel_as_consent_required = bool_field(body, "cancel_as_consent_required", t->cancel_as_consent_required);
    return ok(json::object{{"tenant", t->id}, {"cancel_as_consent_required", t->cancel_as_consent_required}});
}

// /_sandbox/settings: read the scenario's settings, or change some of them.
Result settings_route(Service& svc, const json::value& body_value, bool get, bool post) {
    auto& st = svc.state;
    if (post) {
        try {
            st.scenario.settings = parse_settings(body_value, st.scenario.settings, "settings");
        } catch (const std::runtime_error& e) {
            return error(400, e.what());
        }
    } else if (!get) {
        return error(405, "GET or POST");
    }
    return ok(settings_json(st.scenario.settings));
}

// POST /_sandbox/apps/{client_id}/secret: make all the app's secrets expired, invalid or valid.
Result set_app_secret(Service& svc, const std::string& client_id, const json::object& body) {
    App* app = svc.state.scenario.app(client_id);
    if (!app) return error(404, "unknown app " + client_id);
    const std::string state = str_field(body, "state").value_or("");
    if (state != "expired" && state != "invalid" && state != "valid")
        return error(400, "state must be expired, invalid or valid");
    for (auto& s : app->secrets) {
        s.invalid = state == "invalid";
        if (state == "expired") s.expires_unix = svc.now() - 1;
        if (state == "valid") s.expires_unix = 0;
    }
    return ok(json::object{{"client_id", app->client_id}, {"state", state}});
}

// POST /_sandbox/tenants/{id}/admin-consent: grant or withdraw admin consent, for one app or all.
Result set_admin_consent(Service& svc, const std::string& id, const json::object& body) {
    auto& st = svc.state;
    Tenant* t = st.scenario.tenant_by_id_or_domain(id);
    if (!t || t->consumers) return error(404, "unknown work tenant " + id);
    const bool granted = bool_field(body, "granted", true);
    const auto client = str_field(body, "client_id");
    if (granted) {
        if (client)
            grant_admin_consent(svc, t->id, *client);
        else {
            t->admin_consent_all_apps = true;
            for (auto& a : st.scenario.apps) grant_admin_consent(svc, t->id, a.client_id);
        }
    } else if (client) {
        t->admin_consented_apps.erase(lower(*client));
        t->admin_consented_apps.erase(*client);
        t->admin_consent_all_apps = false;
    } else {
        t->admin_consented_apps.clear();
        t->admin_consent_all_apps = false;
    }
    return ok(json::object{{"tenant", t->id}, {"granted", granted}});
}

Result list_approval_requests(Service& svc) {
    json::array out;
    for (const auto& r : svc.state.approval_requests) out.push_back(approval_json(r));
    return ok(json::object{{"requests", std::move(out)}});
}

// POST /_sandbox/approval-requests/{id}/approve: the administrator approves the request.
Result approve_request(Service& svc, const std::string& id) {
    auto& st = svc.state;
    for (const auto& r : st.approval_requests) {
        if (r.id != id) continue;
        const std::string tenant = r.tenant_id, client = r.client_id;
        grant_admin_consent(svc, tenant, client);
        for (const auto& r2 : st.approval_requests)
            if (r2.id == id) return ok(approval_json(r2));
    }
    return error(404, "unknown approval request " + id);
}

Result reset_counters(Service& svc) {
    auto& st = svc.state;
    st.requests_by_endpoint.clear();
    st.token_requests_by_grant.clear();
    st.token_requests_by_user.clear();
    svc.reset_max_concurrent();
    return ok();
}

// /_sandbox/messages: the mail sent through Graph (of one sender with ?user=), or forget it all.
Result messages_route(Service& svc, const Params& query, bool del) {
    auto& st = svc.state;
    if (del) {
        st.messages.clear();
        st.message_tally = MessageTally{};
        return ok();
    }
    const auto user = param(query, "user");
    json::array out;
    for (const auto& m : st.messages)
        if (!user || iequals(m.at("sender").as_string(), *user)) out.push_back(m);
    return ok(json::object{{"messages", std::move(out)}});
}

// /_sandbox/message-tally: the compact ledger of every accepted sendMail (stateless users'
// messages are kept only here): totals and the keys seen more than once (at most 100 listed,
// most frequent first). DELETE forgets it.
Result message_tally_route(Service& svc, bool get, bool del) {
    auto& tally = svc.state.message_tally;
    if (del) {
        tally = MessageTally{};
        return ok();
    }
    if (!get) return error(405, "GET or DELETE");
    std::vector<std::pair<std::string, std::uint32_t>> duplicates;
    for (const auto& [key, count] : tally.by_key)
        if (count > 1) duplicates.emplace_back(key, count);
    const std::size_t duplicate_keys = duplicates.size();
    std::sort(duplicates.begin(), duplicates.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (duplicates.size() > 100) duplicates.resize(100);
    json::array listed;
    for (const auto& [key, count] : duplicates) listed.push_back(json::object{{"key", key}, {"count", count}});
    return ok(json::object{{"total", tally.total},
                           {"distinct", tally.by_key.size()},
                           {"duplicates", std::move(listed)},
                           {"duplicate_keys", duplicate_keys}});
}

Result issued_json(Service& svc) {
    auto& st = svc.state;
    return ok(json::object{{"codes", strings(st.issued_codes)},
                           {"access_tokens", strings(st.issued_access_tokens)},
                           {"refresh_tokens", strings(st.issued_refresh_tokens)},
                           {"id_tokens", strings(st.issued_id_tokens)}});
}
}  // namespace

Service::ControlResult handle_control(Service& svc, std::string_view method, const std::vector<std::string>& seg,
                                      const Params& query, const json::value& body_value) {
    auto& st = svc.state;
    const json::object& body = object_body(body_value);
    const std::string first = seg.empty() ? "" : seg[0];
    const bool get = method == "GET", post = method == "POST", del = method == "DELETE";
    const bool one = seg.size() == 1, three = seg.size() == 3;
    const std::string action = three ? seg[2] : "";

    if (first == "health" && one) return ok(json::object{{"ok", true}});
    if (first == "scenario" && one && get) return ok(scenario_json(svc));
    if (first == "clock" && one) return clock_route(svc, body, get, post);
    if (first == "faults" && one) return faults_route(svc, body_value, post, del);

    if (first == "users" && three && post) {
        User* u = st.scenario.user(seg[1]);
        if (!u) return error(404, "unknown user " + seg[1]);
        if (action == "revoke") return revoke_user(svc, *u, body);
        if (action == "mailbox") return set_mailbox(*u, body);
        if (action == "cae-event") return record_cae_event(svc, *u, body);
    }
    if ((first == "users" || first == "tenants") && action == "consents" && post)
        return change_consents(svc, first, seg[1], body);
    if (first == "tenants" && action == "options" && post) return set_tenant_options(svc, seg[1], body);
    if (first == "settings" && one) return settings_route(svc, body_value, get, post);
    if (first == "apps" && action == "secret" && post) return set_app_secret(svc, seg[1], body);
    if (first == "tenants" && action == "admin-consent" && post) return set_admin_consent(svc, seg[1], body);
    if (first == "approval-requests" && one && get) return list_approval_requests(svc);
    if (first == "approval-requests" && action == "approve" && post) return approve_request(svc, seg[1]);
    if (first == "counters" && one && get) return ok(counters_json(svc));
    if (first == "reset-counters" && one && post) return reset_counters(svc);
    if (first == "messages" && one) return messages_route(svc, query, del);
    if (first == "message-tally" && one) return message_tally_route(svc, get, del);
    if (first == "issued" && one && get) return issued_json(svc);
    if (first == "autopilot" && one && post) return autopilot(svc, body);
    if (first == "bulk-grants" && one && post) return bulk_grants(svc, body);

    return error(404, "unknown control endpoint " + std::string(method) + " /_sandbox/" + first);
}

}  // namespace ms_sandbox::detail
