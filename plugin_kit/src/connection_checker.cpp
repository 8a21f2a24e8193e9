#include "ep_kit/connection_checker.hpp"

#include "ep_kit/status_fields.hpp"

#include <boost/json.hpp>

namespace ep::kit {

namespace json = boost::json;

struct ConnectionChecker::Check {
    std::string account;
    ep::sdk::CheckCallback done;
    AccessToken token;
};

ConnectionChecker::ConnectionChecker(TokenManager& tokens, HttpEngine& http, ep::sdk::Host host,
                                     std::string provider_name, StatusBuilder status, Probe probe)
    : tokens_(tokens),
      http_(http),
      host_(host),
      provider_name_(std::move(provider_name)),
      status_(std::move(status)),
      probe_(std::move(probe)) {}

ConnectionChecker::~ConnectionChecker() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return in_flight_ == 0; });
}

void ConnectionChecker::check(std::string_view account, ep::sdk::CheckCallback done) {
    auto check = std::make_shared<Check>(Check{std::string(account), std::move(done), nullptr});
    {
        std::lock_guard lock(mutex_);
        ++in_flight_;
    }
    tokens_.refresh_now(check->account, [this, check](TokenOutcome t) { with_token(check, std::move(t)); });
}

void ConnectionChecker::with_token(const std::shared_ptr<Check>& check, TokenOutcome t) {
    using Kind = TokenOutcome::Kind;
    // No default: a new kind must decide whether it confirms a state or fails the check.
    switch (t.kind) {
        case Kind::ok:
            break;
        case Kind::not_connected:
        case Kind::expired:
            // What the provider said is in the store (or no grant is): the status reports it.
            return finish(check);
        case Kind::transient:
        case Kind::configuration_error:
            // The provider could not be asked, or refused the app itself: nothing was confirmed.
            return finish(check, t.code, t.message);
    }
    check->token = t.token;
    http_.submit(probe_.request(t.token->view()), [this, check](HttpResponse&& r) { on_answer(check, std::move(r)); });
}

void ConnectionChecker::on_answer(const std::shared_ptr<Check>& check, HttpResponse&& r) {
    ProbeVerdict verdict = probe_.read(r);
    switch (verdict.kind) {
        case ProbeVerdict::Kind::confirmed:
            return finish(check);
        case ProbeVerdict::Kind::failed:
            return finish(check, verdict.code, verdict.message);
        case ProbeVerdict::Kind::ended:
            return tokens_.end_connection(check->account, check->token, std::move(verdict.end),
                                          [this, check] { finish(check); });
    }
}

void ConnectionChecker::finish(const std::shared_ptr<Check>& check, std::string_view failed_code,
                               std::string_view failed_message) {
    try {
        json::object s = status_(check->account);
        mark_checked(s, host_.now_unix_ms(), failed_code, failed_message);
        check->done(json::serialize(s));
    } catch (const std::exception& e) {
        json::object s{{"schema", "ep.status/1"}, {"account", check->account}, {"provider", provider_name_}};
        mark_checked(s, 0, "storage", e.what());
        check->done(json::serialize(s));
    }
    // Last: the destructor waits for this, so nothing here may touch the provider afterwards.
    std::lock_guard lock(mutex_);
    --in_flight_;
    idle_.notify_all();
}

}  // namespace ep::kit
